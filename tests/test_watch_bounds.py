"""``watch_jobs(timeout=T)`` ends at T, whatever is in flight; one 408 round is retried;
a status quoted in a ``WaitTimeoutError`` is redacted, on one line and bounded."""

from __future__ import annotations

import time

import pytest

from uprock_async import (
    CircuitBreaker,
    RetryPolicy,
    UprockAsyncError,
    UprockClient,
    WaitTimeoutError,
)
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY
from .test_breaker_bounds import black_hole  # noqa: F401 - a fixture

BATCH = "/crawl/v1/jobs/batch/status"
DETAIL = "/crawl/v1/jobs/*/detail"
STATUS = "/crawl/v1/status/*"
KEY = "sk-live-watch-0123456789abcdef0123456789"


async def watch_all(client: UprockClient, ids: list[str], **options: object) -> list[object]:
    results: list[object] = []
    async with client.watch_jobs(ids, **options) as outcomes:  # type: ignore[call-overload]
        async for outcome in outcomes:
            results.append(outcome.value if outcome.ok else outcome.error)
    return results


async def test_the_deadline_cancels_a_batch_status_poll_in_flight(server: FakeServer) -> None:
    ids = server.add_jobs(5, headers=1, cookies=0, status="pending")
    server.inject(BATCH, status=200, delay=2.0, times=None)  # answers, but far too late
    started = time.monotonic()
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, circuit_breaker=None
    ) as client:
        results = await watch_all(client, ids, timeout=0.5, poll_interval=0.1)
    elapsed = time.monotonic() - started
    assert elapsed < 0.5 + 0.5, elapsed  # was 3.1 s: checked only between rounds
    assert len(results) == len(ids)
    assert all(isinstance(r, WaitTimeoutError) for r in results)


async def test_a_watch_against_a_server_that_never_answers_ends_at_its_timeout(
    black_hole: str,  # noqa: F811 - the fixture
) -> None:
    ids = [f"1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e{n:02d}" for n in range(3)]
    started = time.monotonic()
    async with UprockClient("k", base_url=black_hole) as client:  # default breaker, timeout 30
        results = await watch_all(client, ids, timeout=1.0, poll_interval=0.2)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 0.5, elapsed
    assert [type(r) for r in results] == [WaitTimeoutError] * 3


async def test_the_deadline_cancels_detail_fetches_and_reports_each_job(
    server: FakeServer,
) -> None:
    ids = server.add_jobs(4, headers=1, cookies=0)
    server.inject(DETAIL, status=200, delay=2.0, times=None)
    started = time.monotonic()
    async with UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        retry=FAST_RETRY,
        circuit_breaker=CircuitBreaker(),
    ) as client:
        results = await watch_all(client, ids, timeout=0.6, poll_interval=0.1)
    elapsed = time.monotonic() - started
    assert elapsed < 0.6 + 0.5, elapsed
    assert len(results) == len(ids)  # nothing lost: every job has its outcome
    for error in results:
        assert isinstance(error, WaitTimeoutError)
        assert error.last_status == "completed"
        assert "detail did not arrive" in str(error)


@pytest.mark.parametrize("status", [408, 429, 502, 504])
async def test_one_retryable_failure_of_a_round_does_not_end_the_watch(
    server: FakeServer, status: int
) -> None:
    ids = server.add_jobs(3, headers=1, cookies=0)
    server.inject(BATCH, status=status, times=1)
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=0, circuit_breaker=None
    ) as client:
        results = await watch_all(client, ids, timeout=10.0, poll_interval=0.05)
    assert sorted(r.job_id for r in results) == sorted(ids)  # type: ignore[attr-defined]


def hostile_status() -> str:
    return f"Authorization: Bearer {KEY}\r\nX-Injected: yes\n" + "x" * 10_000


def assert_quoted_safely(error: WaitTimeoutError) -> None:
    for text in (str(error), repr(error), error.message, str(error.args), error.last_status):
        assert KEY not in str(text)
        assert "\n" not in str(text)
        assert "\r" not in str(text)
    assert len(str(error)) < 400
    assert error.last_status is not None
    assert len(error.last_status) <= 120


async def test_wait_for_job_quotes_a_hostile_status_redacted_and_bounded() -> None:
    async with FakeServer(seed=3, api_key=KEY) as server:
        ids = server.add_jobs(1, headers=1, cookies=0)
        server.inject(
            STATUS, status=200, times=None, body={"job_id": ids[0], "status": hostile_status()}
        )
        async with UprockClient(KEY, base_url=server.uprock_url, retry=FAST_RETRY) as client:
            with pytest.raises(WaitTimeoutError) as caught:
                await client.wait_for_job(ids[0], poll_interval=0.05, timeout=0.3)
    assert_quoted_safely(caught.value)


async def test_watch_jobs_quotes_a_hostile_status_redacted_and_bounded() -> None:
    async with FakeServer(seed=4, api_key=KEY) as server:
        ids = server.add_jobs(1, headers=1, cookies=0)
        job = {"job_id": ids[0], "status": hostile_status()}
        body = {"results": {ids[0]: {"job": job}}}
        server.inject(BATCH, status=200, times=None, body=body)
        async with UprockClient(KEY, base_url=server.uprock_url, retry=FAST_RETRY) as client:
            results = await watch_all(client, ids, timeout=0.3, poll_interval=0.05)
    [error] = results
    assert isinstance(error, WaitTimeoutError), error
    assert_quoted_safely(error)


async def test_a_retry_policy_without_408_ends_the_watch_on_408(server: FakeServer) -> None:
    ids = server.add_jobs(2, headers=1, cookies=0)
    server.inject(BATCH, status=408, times=None)
    retry = RetryPolicy(max_retries=0, retry_statuses=frozenset({503}))
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=retry, circuit_breaker=None
    ) as client:
        with pytest.raises(UprockAsyncError) as caught:
            await watch_all(client, ids, timeout=5.0, poll_interval=0.05)
    assert getattr(caught.value, "status_code", None) == 408
