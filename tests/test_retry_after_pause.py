"""Retry-After is a pause for the whole client, not just for the call that got it."""

from __future__ import annotations

import time

import anyio

from uprock_async import AdaptiveConcurrency, RetryPolicy, UprockClient
from uprock_async.testing import FakeServer

DETAIL = "/crawl/v1/jobs/*/detail"
RETRY = RetryPolicy(max_retries=2, backoff_initial=0.001, backoff_max=0.01, max_retry_after=5.0)


def client_for(server: FakeServer, retry: RetryPolicy = RETRY) -> UprockClient:
    return UprockClient(server.api_key, base_url=server.uprock_url, retry=retry, timeout=5.0)


class Arrivals:
    """Samples ``server.request_count`` to find the longest time nothing arrived."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.samples: list[tuple[float, int]] = []

    async def run(self) -> None:
        while True:
            self.samples.append((time.monotonic(), self.server.request_count))
            await anyio.sleep(0.005)

    def longest_silence(self) -> float:
        longest, since, last = 0.0, self.samples[0][0], self.samples[0][1]
        for at, count in self.samples:
            if count != last:
                since, last = at, count
            longest = max(longest, at - since)
        return longest


async def test_a_429_with_retry_after_pauses_every_call_of_the_client(server: FakeServer) -> None:
    ids = server.add_jobs(300, headers=2, cookies=0)
    server.latency = 0.03  # 300 ids at 8 at once: ~1.1 s of work, so the others had work
    server.inject(DETAIL, status=429, retry_after=1, times=1)
    arrivals = Arrivals(server)
    started = time.monotonic()
    async with client_for(server) as client, anyio.create_task_group() as tg:
        tg.start_soon(arrivals.run)
        details = await client.job_details(ids, concurrency=8)
        tg.cancel_scope.cancel()
    elapsed = time.monotonic() - started
    assert [d.job_id for d in details] == ids  # nothing failed
    assert client.stats().responses.get(429) == 1
    # The other 7 workers sent nothing while the pause lasted (without the pause,
    # they would have kept the server busy the whole second).
    assert arrivals.longest_silence() >= 0.8
    assert elapsed >= 0.9


async def test_a_call_started_during_the_pause_waits_for_its_end(server: FakeServer) -> None:
    first, second = server.add_jobs(2, headers=2, cookies=0)
    server.inject(f"/crawl/v1/jobs/{first}/detail", status=503, retry_after=0.6, times=1)
    done: dict[str, float] = {}
    async with client_for(server) as client:
        started = time.monotonic()

        async def fetch(job_id: str, delay: float) -> None:
            await anyio.sleep(delay)
            await client.job_detail(job_id)
            done[job_id] = time.monotonic() - started

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, first, 0.0)
            tg.start_soon(fetch, second, 0.15)  # after the 503 came back
    assert done[second] >= 0.5  # held until the pause ended, though it never failed
    assert client.stats().requests == 3  # 503, its retry, and the other call once


async def test_the_pause_is_capped_by_max_retry_after(server: FakeServer) -> None:
    ids = server.add_jobs(10, headers=2, cookies=0)
    server.inject(DETAIL, status=429, retry_after=30, times=1)
    retry = RetryPolicy(max_retries=2, backoff_initial=0.001, max_retry_after=0.3)
    started = time.monotonic()
    async with client_for(server, retry) as client:
        details = await client.job_details(ids, concurrency=4)
    assert len(details) == len(ids)
    assert time.monotonic() - started < 3


async def test_a_retry_after_of_zero_pauses_nothing(server: FakeServer) -> None:
    ids = server.add_jobs(20, headers=2, cookies=0)
    server.inject(DETAIL, status=429, retry_after=0, times=3)
    started = time.monotonic()
    async with client_for(server) as client:
        await client.job_details(ids, concurrency=4)
    assert time.monotonic() - started < 2


def test_an_adaptive_limit_does_not_grow_while_the_service_asked_for_a_pause() -> None:
    limiter = AdaptiveConcurrency(initial=10, maximum=100)
    limiter._in_flight = 10  # the window is in use
    t = time.monotonic()
    limiter.record(t, 0.010, overloaded=True, pause=1.0)  # a 429 with Retry-After: 1
    cut = limiter.current
    for i in range(50):
        limiter.record(t + 0.1 + i * 0.01, 0.010)  # within the pause: no growth
    assert limiter.current == cut
    for i in range(50):
        limiter.record(t + 1.1 + i * 0.01, 0.010)  # after it: growth again
    assert limiter.current > cut
    limiter._in_flight = 0


async def test_a_fan_out_limiter_sees_the_retry_after(server: FakeServer) -> None:
    ids = server.add_jobs(40, headers=2, cookies=0)
    server.inject(DETAIL, status=429, retry_after=0.5, times=1)
    limiter = AdaptiveConcurrency(initial=4, maximum=64)
    async with client_for(server) as client:
        await client.job_details(ids, concurrency=limiter)
    assert limiter._no_growth_until > 0
