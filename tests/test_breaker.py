"""The circuit breaker: an outage loses nothing and costs about one request per cooldown."""

from __future__ import annotations

import time

import anyio
import pytest

from uprock_async import (
    AdaptiveConcurrency,
    BadRequestError,
    CircuitBreaker,
    RateLimitError,
    ServerError,
    UprockClient,
)
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

DETAIL = "/crawl/v1/jobs/*/detail"
CONCURRENCY = 16


def client_for(server: FakeServer, breaker: CircuitBreaker | None) -> UprockClient:
    return UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        retry=FAST_RETRY,
        timeout=5.0,
        circuit_breaker=breaker,
    )


async def outage(server: FakeServer, seconds: float, counts: dict[str, int]) -> None:
    """Let the outage run for ``seconds``, then end it; count what arrived meanwhile."""
    await anyio.sleep(seconds)
    counts["during"] = server.request_count
    server.clear_faults()


@pytest.mark.parametrize("disconnect", [False, True], ids=["503", "dropped connections"])
async def test_an_outage_of_1_5_s_loses_nothing_and_sends_few_requests(
    server: FakeServer, disconnect: bool
) -> None:
    ids = server.add_jobs(300, headers=2, cookies=0)
    if disconnect:
        server.inject(DETAIL, disconnect=True, times=None)
    else:
        server.inject(DETAIL, status=503, times=None)
    breaker = CircuitBreaker(threshold=10, cooldown=0.25, max_wait=30.0)
    counts: dict[str, int] = {}
    async with client_for(server, breaker) as client, anyio.create_task_group() as tg:
        tg.start_soon(outage, server, 1.5, counts)
        details = await client.job_details(ids, concurrency=CONCURRENCY)
    assert [d.job_id for d in details] == ids  # nothing lost
    stats = client.stats()
    assert stats.breaker_trips >= 1
    # Without the breaker: 300 ids x 3 attempts. With it: the first wave and its
    # retries until `threshold` failures, the attempts already in flight, then
    # about one probe per cooldown (1.5 / 0.25 = 6).
    assert counts["during"] <= 2 * CONCURRENCY + 10 + 6 + 15, counts
    assert stats.errors == {}


async def test_waiting_calls_hold_no_adaptive_slot(server: FakeServer) -> None:
    ids = server.add_jobs(100, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=None)
    limiter = AdaptiveConcurrency(initial=8, maximum=32)
    breaker = CircuitBreaker(threshold=5, cooldown=0.2, max_wait=30.0)
    seen: list[int] = []

    async def watch() -> None:
        await anyio.sleep(0.8)  # the breaker is open by now, every call waits on it
        seen.append(limiter.in_flight)
        server.clear_faults()

    async with client_for(server, breaker) as client, anyio.create_task_group() as tg:
        tg.start_soon(watch)
        details = await client.job_details(ids, concurrency=limiter)
    assert len(details) == len(ids)
    assert seen[0] <= 1  # at most the probe being sent holds a slot
    assert limiter.in_flight == 0


async def test_answers_4xx_never_trip_it(server: FakeServer) -> None:
    ids = server.add_jobs(30, headers=2, cookies=0)
    server.inject(DETAIL, status=400, times=None)
    breaker = CircuitBreaker(threshold=2, cooldown=5.0, max_wait=30.0)
    async with client_for(server, breaker) as client:
        results = await client.job_details(ids, concurrency=4, return_exceptions=True)
        assert all(isinstance(r, BadRequestError) for r in results)
        server.clear_faults()
        server.inject(DETAIL, status=429, times=None)
        results = await client.job_details(ids, concurrency=4, return_exceptions=True)
        assert all(isinstance(r, RateLimitError) for r in results)
        server.clear_faults()
        started = time.monotonic()
        await client.job_detail(ids[0])
        assert time.monotonic() - started < 1.0  # nothing waits
    assert client.stats().breaker_trips == 0


async def test_a_call_that_waited_max_wait_fails_with_the_last_error(server: FakeServer) -> None:
    ids = server.add_jobs(6, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=None)
    breaker = CircuitBreaker(threshold=2, cooldown=0.1, max_wait=0.5)
    started = time.monotonic()
    async with client_for(server, breaker) as client:
        results = await client.job_details(ids, concurrency=3, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, ServerError) and r.status_code == 503 for r in results)
    assert str(results[0]).startswith("GET /crawl/v1/jobs/")
    assert 0.4 < elapsed < 10
    stats = client.stats()
    assert stats.breaker_trips == 1
    assert stats.errors == {"ServerError": len(ids)}
    # about one probe per cooldown while open, not 3 attempts per call
    assert stats.requests <= 3 * 3 + 0.5 / 0.1 + 4


async def test_without_a_breaker_every_call_burns_its_retries_at_once(server: FakeServer) -> None:
    ids = server.add_jobs(20, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=None)
    started = time.monotonic()
    async with client_for(server, None) as client:
        results = await client.job_details(ids, concurrency=4, return_exceptions=True)
    assert time.monotonic() - started < 5
    assert all(isinstance(r, ServerError) for r in results)
    stats = client.stats()
    assert (stats.requests, stats.breaker_trips) == (60, 0)


def test_bad_breaker_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        CircuitBreaker(threshold=0)
    with pytest.raises(ValueError, match="cooldown"):
        CircuitBreaker(cooldown=0)
    with pytest.raises(ValueError, match="max_wait"):
        CircuitBreaker(max_wait=-1.0)
