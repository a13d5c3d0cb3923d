"""``CircuitBreaker.max_wait`` is a bound, timed end to end.

Against servers that drop every connection, never answer, answer slowly or say
``Retry-After`` forever, a call held by the open breaker ends ``max_wait`` after
it was first held (pause and failed probes included), and once the breaker has
been open ``max_wait`` seconds every call fails fast until a probe succeeds, as
the trusted breakers (resilience4j, pybreaker) do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import anyio
import pytest

from uprock_async import (
    APIConnectionError,
    APITimeoutError,
    CircuitBreaker,
    RetryPolicy,
    ServerError,
    UprockClient,
)
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

DETAIL = "/crawl/v1/jobs/*/detail"
JOB = "1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a"


@pytest.fixture
async def black_hole() -> AsyncIterator[str]:
    """The base URL of a loopback server that accepts connections and never answers."""
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while await reader.read(65536):
            pass

    hole = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = hole.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in writers:
            writer.close()
        hole.close()
        await hole.wait_closed()


async def test_a_fan_out_during_a_long_outage_fails_within_max_wait(server: FakeServer) -> None:
    # The case of the report: 50 lookups at concurrency=8 took 5 waves x 2 s.
    ids = server.add_jobs(50, headers=1, cookies=0)
    server.inject(DETAIL, disconnect=True, times=None)
    breaker = CircuitBreaker(max_wait=2.0)
    started = time.monotonic()
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, circuit_breaker=breaker
    ) as client:
        results = await client.job_details(ids, concurrency=8, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert len(results) == len(ids)
    assert all(isinstance(r, APIConnectionError) for r in results)
    assert elapsed < breaker.max_wait + 1.0, elapsed
    assert client.stats().errors == {"APIConnectionError": len(ids)}


async def test_once_open_longer_than_max_wait_new_calls_fail_at_once(server: FakeServer) -> None:
    ids = server.add_jobs(3, headers=1, cookies=0)
    server.inject(DETAIL, status=503, times=None)
    breaker = CircuitBreaker(threshold=1, cooldown=0.3, max_wait=0.4)
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, circuit_breaker=breaker
    ) as client:
        with pytest.raises(ServerError):
            await client.job_detail(ids[0])  # trips it, then held until max_wait
        fast = []
        for _ in range(20):
            started = time.monotonic()
            with pytest.raises(ServerError) as caught:
                await client.job_detail(ids[1])
            fast.append(time.monotonic() - started)
            assert caught.value.status_code == 503
        # at most a probe's round trip each, never a wait for the breaker
        assert max(fast) < 0.25, fast
        # the first success closes it and lets everyone through
        server.clear_faults()
        await anyio.sleep(breaker.cooldown)
        detail = await client.job_detail(ids[2])  # the probe
        assert detail.job_id == ids[2]
        started = time.monotonic()
        assert (await client.job_detail(ids[0])).job_id == ids[0]
        assert time.monotonic() - started < 0.25


async def test_probes_go_out_one_per_cooldown_while_failing_fast(server: FakeServer) -> None:
    ids = server.add_jobs(1, headers=1, cookies=0)
    server.inject(DETAIL, status=503, times=None)
    breaker = CircuitBreaker(threshold=1, cooldown=0.2, max_wait=0.2)
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, circuit_breaker=breaker
    ) as client:
        with pytest.raises(ServerError):
            await client.job_detail(ids[0])
        before = server.request_count
        started = time.monotonic()
        calls = 0
        while time.monotonic() - started < 1.0:
            with pytest.raises(ServerError):
                await client.job_detail(ids[0])
            calls += 1
            await anyio.sleep(0.005)
        sent = server.request_count - before
    assert calls > 50  # they all failed fast
    assert 2 <= sent <= 1.0 / breaker.cooldown + 2, sent  # one probe per cooldown


@pytest.mark.parametrize("retries", [2, 0])
async def test_a_single_call_against_a_black_hole_ends_within_the_bound(
    black_hole: str, retries: int
) -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.3, max_wait=1.0)
    timeout = 0.5
    started = time.monotonic()
    async with UprockClient(
        "k", base_url=black_hole, timeout=timeout, circuit_breaker=breaker, retry=retries
    ) as client:
        with pytest.raises(APITimeoutError):
            await client.job_detail(JOB)
    elapsed = time.monotonic() - started
    assert elapsed < breaker.max_wait + breaker.cooldown + timeout + 0.3, elapsed


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 503, "retry_after": "1"},  # Retry-After >= cooldown, forever
        {"status": 503, "delay": 0.4},  # slower than the cooldown
    ],
    ids=["retry-after forever", "slow 503"],
)
async def test_a_single_call_against_a_failing_server_ends_within_the_bound(
    server: FakeServer, fault: dict[str, object]
) -> None:
    ids = server.add_jobs(1, headers=1, cookies=0)
    server.inject(DETAIL, times=None, **fault)  # type: ignore[arg-type]
    breaker = CircuitBreaker(threshold=1, cooldown=0.3, max_wait=1.0)
    timeout = 2.0
    retry = RetryPolicy(max_retries=2, backoff_initial=0.01, max_retry_after=5.0)
    started = time.monotonic()
    async with UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        timeout=timeout,
        retry=retry,
        circuit_breaker=breaker,
    ) as client:
        with pytest.raises(ServerError):
            await client.job_detail(ids[0])
    elapsed = time.monotonic() - started
    assert elapsed < breaker.max_wait + breaker.cooldown + timeout, elapsed


async def test_the_retry_after_pause_counts_towards_max_wait(server: FakeServer) -> None:
    ids = server.add_jobs(20, headers=1, cookies=0)
    server.inject(DETAIL, status=503, retry_after="30", times=None)
    breaker = CircuitBreaker(threshold=2, cooldown=0.1, max_wait=0.8)
    retry = RetryPolicy(max_retries=2, backoff_initial=0.01, max_retry_after=30.0)
    started = time.monotonic()
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=retry, circuit_breaker=breaker
    ) as client:
        results = await client.job_details(ids, concurrency=4, return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(r, ServerError) for r in results)
    assert elapsed < breaker.max_wait + 1.0, elapsed
    # no probe went out during the 30 s pause
    assert server.request_count <= 4 + 2


async def test_a_short_outage_still_loses_nothing(server: FakeServer) -> None:
    ids = server.add_jobs(200, headers=1, cookies=0)
    server.inject(DETAIL, status=503, times=None)
    breaker = CircuitBreaker(threshold=5, cooldown=0.2, max_wait=5.0)

    async def end_outage() -> None:
        await anyio.sleep(1.5)
        server.clear_faults()

    async with (
        UprockClient(
            server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, circuit_breaker=breaker
        ) as client,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(end_outage)
        details = await client.job_details(ids, concurrency=16)
    assert [d.job_id for d in details] == ids
    assert client.stats().breaker_trips >= 1
