"""watch_jobs: many jobs followed to the end with batch status polls, one outcome each."""

from __future__ import annotations

import asyncio
import math

import anyio
import pytest

from uprock_async import (
    AuthenticationError,
    NotFoundError,
    Outcome,
    UprockClient,
    WaitTimeoutError,
)
from uprock_async.cli import build_parser
from uprock_async.testing import FakeServer
from uprock_async.uprock import Job, JobDetail

BATCH = "/crawl/v1/jobs/batch/status"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _finishing(server: FakeServer, n: int, *, within: float) -> list[str]:
    """``n`` pending jobs that complete at evenly spread times over ``within`` seconds."""
    ids = server.add_jobs(n, headers=4, cookies=0, status="pending")
    now = asyncio.get_running_loop().time()
    server.job_completion_delay = within
    for i, job_id in enumerate(ids):
        # refresh() completes a job once loop time - created >= job_completion_delay
        server.job_created[job_id] = now - within + within * (i + 1) / n
    return ids


def _client(server: FakeServer, **kw: object) -> UprockClient:
    return UprockClient(server.api_key, base_url=server.uprock_url, **kw)  # type: ignore[arg-type]


async def _collect(watch: object) -> list[Outcome[str, object]]:
    outcomes = []
    async with watch as stream:  # type: ignore[attr-defined]
        async for outcome in stream:
            outcomes.append(outcome)
    return outcomes


async def test_each_job_is_yielded_once_soon_after_it_finishes_with_batch_requests_only() -> None:
    async with FakeServer(seed=1) as server:
        done = server.add_jobs(1500, headers=2, cookies=0)
        later = _finishing(server, 20, within=0.6)
        ids = [*done, *later, done[0]]  # a duplicate yields once, at its first index
        async with _client(server) as client:
            server.requests.clear()
            outcomes = await _collect(client.watch_jobs(ids, poll_interval=0.1))

    assert sorted(o.item for o in outcomes) == sorted(set(ids))
    assert all(o.ok for o in outcomes)
    assert all(isinstance(o.value, JobDetail) for o in outcomes)
    assert {o.index for o in outcomes if o.item == done[0]} == {0}
    assert all(ids[o.index] == o.item for o in outcomes)
    paths = [r.path for r in server.requests]
    polls = [p for p in paths if p == BATCH]
    assert not [p for p in paths if p.startswith("/crawl/v1/status/")]  # never one per job
    assert sum(1 for p in paths if p.endswith("/detail")) == len(set(ids))  # each once
    # round 1: 1520 pending ids -> 2 requests; later rounds: only the 20 late ones -> 1 each
    assert polls[:2] == [BATCH, BATCH]
    assert 3 <= len(polls) <= 2 + 0.6 / 0.1 + 6  # loose: a busy machine stretches rounds


async def test_details_false_yields_jobs_and_fetches_no_detail() -> None:
    async with FakeServer(seed=2) as server:
        ids = _finishing(server, 5, within=0.2)
        async with _client(server) as client:
            server.requests.clear()
            outcomes = await _collect(client.watch_jobs(ids, poll_interval=0.05, details=False))
    assert sorted(o.item for o in outcomes) == sorted(ids)
    assert all(isinstance(o.value, Job) and o.value.is_terminal for o in outcomes)
    assert {r.path for r in server.requests} == {BATCH}


async def test_unknown_ids_and_timeouts_are_reported_in_place() -> None:
    async with FakeServer(seed=3) as server:
        done = server.add_jobs(2)
        stuck = server.add_jobs(2, status="running")
        async with _client(server) as client:
            outcomes = await _collect(
                client.watch_jobs([*done, UNKNOWN, *stuck], poll_interval=0.05, timeout=0.3)
            )
    by_id = {o.item: o for o in outcomes}
    assert len(outcomes) == 5
    assert all(by_id[i].ok for i in done)
    assert isinstance(by_id[UNKNOWN].error, NotFoundError)
    for job_id in stuck:
        error = by_id[job_id].error
        assert isinstance(error, WaitTimeoutError)
        assert error.last_status == "running"
        assert job_id in str(error)


async def test_an_id_the_answer_leaves_out_stays_pending_until_the_timeout() -> None:
    async with FakeServer(seed=4) as server:
        (job_id,) = server.add_jobs(1)
        server.inject(BATCH, status=200, times=None, body={"found_count": 0, "results": {}})
        async with _client(server) as client:
            outcomes = await _collect(client.watch_jobs([job_id], poll_interval=0.05, timeout=0.2))
    assert len(outcomes) == 1
    assert isinstance(outcomes[0].error, WaitTimeoutError)


async def test_a_failed_round_is_retried_next_round_and_loses_nothing() -> None:
    async with FakeServer(seed=5) as server:
        ids = server.add_jobs(3)
        server.inject(BATCH, status=503, times=3)
        async with _client(server, retry=0) as client:
            outcomes = await _collect(client.watch_jobs(ids, poll_interval=0.05, timeout=10))
    assert sorted(o.item for o in outcomes) == sorted(ids)
    assert all(o.ok for o in outcomes)


async def test_an_authentication_error_ends_the_watch() -> None:
    async with FakeServer(seed=6) as server:
        ids = server.add_jobs(2)
        async with UprockClient("wrong-key-0123456789", base_url=server.uprock_url) as client:
            with pytest.raises(AuthenticationError):
                await _collect(client.watch_jobs(ids, poll_interval=0.05))


async def test_leaving_the_block_early_cancels_the_watch() -> None:
    async with FakeServer(seed=7) as server:
        done = server.add_jobs(1)
        stuck = server.add_jobs(50, status="running")
        async with _client(server) as client:
            with anyio.fail_after(5):
                async with client.watch_jobs([*done, *stuck], poll_interval=0.05) as outcomes:
                    async for outcome in outcomes:
                        assert outcome.item == done[0]
                        break
            await asyncio.sleep(0)
            assert not [t for t in asyncio.all_tasks() if _runs_watch_code(t)]


def _runs_watch_code(task: asyncio.Task[object]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename.endswith("_watch.py")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"poll_interval": 0}, ValueError),
        ({"poll_interval": -1}, ValueError),
        ({"poll_interval": math.nan}, ValueError),
        ({"timeout": -1}, ValueError),
        ({"timeout": math.nan}, ValueError),
        ({"concurrency": 0}, ValueError),
        ({"poll_interval": "2"}, TypeError),
    ],
)
async def test_bad_arguments_raise_before_any_request(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    async with FakeServer(seed=8) as server:
        ids = server.add_jobs(1)
        async with _client(server) as client:
            server.requests.clear()
            with pytest.raises(error):
                client.watch_jobs(ids, **kwargs)  # type: ignore[call-overload]
            with pytest.raises(ValueError, match="job_id"):
                async with client.watch_jobs([ids[0], "../etc"]):
                    pass
            assert server.requests == []


async def test_progress_counts_every_outcome() -> None:
    seen: list[tuple[int, int | None]] = []
    async with FakeServer(seed=9) as server:
        ids = server.add_jobs(4)
        async with _client(server) as client:
            watch = client.watch_jobs(
                ids, poll_interval=0.05, progress=lambda d, t: seen.append((d, t))
            )
            await _collect(watch)
    assert seen[-1] == (4, 4)
    assert [d for d, _ in seen] == [1, 2, 3, 4]


async def test_detail_fetches_run_under_an_adaptive_limit_by_default() -> None:
    # 400 jobs finish at once: "auto" (the default) climbs past the fixed 16 it
    # replaced, as far as the service allows, and backs off at its capacity.
    async with FakeServer(seed=10, record=False, latency=0.01, capacity=60) as server:
        ids = _finishing(server, 400, within=0.05)
        async with _client(server) as client:
            outcomes = await _collect(client.watch_jobs(ids, poll_interval=0.05, timeout=30))
            stats = client.stats()
    assert len(outcomes) == 400
    assert all(o.ok for o in outcomes)
    assert server.max_in_flight > 16 + 4  # 4: the batch status polls of a round
    assert stats.responses.get(429, 0) <= 40


def test_the_cli_watch_fetches_details_under_auto_by_default() -> None:
    assert build_parser().parse_args(["watch"]).concurrency == "auto"
    assert build_parser().parse_args(["watch", "--concurrency", "8"]).concurrency == 8
