"""client.stats(): exact counters, latency percentiles, constant memory, frozen snapshots."""

from __future__ import annotations

import random
import sys

import msgspec
import pytest

from uprock_async import (
    ClientStats,
    NotFoundError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    ServerError,
    UprockClient,
)
from uprock_async._stats import StatsRecorder
from uprock_async.testing import FakeServer

DETAIL = "/crawl/v1/jobs/*/detail"
MISSING = "00000000-0000-0000-0000-00000000dead"


async def test_a_new_client_has_empty_stats(uprock: UprockClient) -> None:
    stats = uprock.stats()
    assert isinstance(stats, ClientStats)
    assert (stats.requests, stats.retries, stats.bytes_received) == (0, 0, 0)
    assert stats.responses == {}
    assert stats.errors == {}
    assert (stats.latency_p50, stats.latency_p90, stats.latency_p99) == (None, None, None)


async def test_attempts_retries_and_statuses_are_counted_exactly(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=2)
    await uprock.job_detail(job_id)
    stats = uprock.stats()
    assert stats.requests == 3
    assert stats.retries == 2
    assert stats.responses == {503: 2, 200: 1}
    assert stats.errors == {}

    server.inject(DETAIL, status=503, times=3)  # more than the two retries absorb
    with pytest.raises(ServerError):
        await uprock.job_detail(job_id)
    stats = uprock.stats()
    assert (stats.requests, stats.retries) == (6, 4)
    assert stats.responses == {503: 5, 200: 1}
    assert stats.errors == {"ServerError": 1}


async def test_errors_raised_to_the_caller_are_counted_once_by_class_name(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    with pytest.raises(NotFoundError):
        await uprock.job_detail(MISSING)
    server.inject(DETAIL, status=200, times=1, body="this is not json")
    with pytest.raises(ResponseDecodeError):
        await uprock.job_detail(job_id)
    server.inject(DETAIL, disconnect=True, times=3)
    with pytest.raises(Exception, match="disconnect"):
        await uprock.job_detail(job_id)
    stats = uprock.stats()
    assert stats.errors == {
        "NotFoundError": 1,
        "ResponseDecodeError": 1,
        "APIConnectionError": 1,
    }
    assert stats.responses == {404: 1, 200: 1}  # a dropped connection has no status
    assert stats.requests == 5
    assert stats.retries == 2


async def test_errors_of_the_screenshotcenter_client_are_counted_too(
    sc: ScreenshotCenterClient,
) -> None:
    with pytest.raises(NotFoundError):
        await sc.crawl_info(424242)
    assert sc.stats().errors == {"NotFoundError": 1}
    assert sc.stats().responses == {404: 1}


async def test_bytes_received_are_the_bodies_of_the_answers(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(5)
    await uprock.job_details(ids)
    expected = sum(len(server.job_detail_bytes(i, False) or b"") for i in ids)
    assert expected > 5 * 1000
    assert uprock.stats().bytes_received == expected


async def test_latency_percentiles_are_sane_after_responses(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(10, headers=2, cookies=0)
    server.latency = 0.02
    await uprock.job_details(ids, concurrency=10)
    stats = uprock.stats()
    assert stats.latency_p50 is not None
    assert stats.latency_p90 is not None
    assert stats.latency_p99 is not None
    assert 0.019 <= stats.latency_p50 <= stats.latency_p90 <= stats.latency_p99 < 5.0


async def test_a_snapshot_is_not_changed_by_later_requests(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(3, headers=2, cookies=0)
    await uprock.job_detail(ids[0])
    snapshot = uprock.stats()
    frozen = msgspec.json.encode(snapshot)
    await uprock.job_details(ids)
    with pytest.raises(NotFoundError):
        await uprock.job_detail(MISSING)
    assert msgspec.json.encode(snapshot) == frozen
    assert snapshot.requests == 1
    assert uprock.stats().requests == 5
    with pytest.raises(AttributeError):
        snapshot.requests = 9  # type: ignore[misc]


async def test_stats_render_as_a_readable_table(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    await uprock.job_detail(job_id)
    text = str(uprock.stats())
    assert "requests        1" in text
    assert "200: 1" in text
    assert "latency p99" in text
    assert " ms" in text
    assert server.api_key not in text + repr(uprock.stats())


# -- the recorder itself ------------------------------------------------------------


def test_the_recorder_stays_the_same_size_over_100k_latencies() -> None:
    recorder = StatsRecorder()
    recorder.latency(0.01)
    sizes = (len(recorder._buckets), sys.getsizeof(recorder._buckets))
    rng = random.Random(7)
    for _ in range(100_000):
        recorder.response(rng.choice((200, 200, 200, 404, 429)), rng.expovariate(20), 100)
        recorder.attempt(retry=False)
    assert (len(recorder._buckets), sys.getsizeof(recorder._buckets)) == sizes
    assert len(recorder._responses) == 3
    assert recorder.requests == 100_000
    assert recorder.bytes_received == 10_000_000


def test_the_recorder_percentiles_are_within_a_few_percent() -> None:
    recorder = StatsRecorder()
    samples = [i / 1000 for i in range(1, 1001)]  # 1 ms .. 1 s, evenly
    random.Random(3).shuffle(samples)
    for value in samples:
        recorder.latency(value)
    snapshot = recorder.snapshot()
    for got, true in (
        (snapshot.latency_p50, 0.5),
        (snapshot.latency_p90, 0.9),
        (snapshot.latency_p99, 0.99),
    ):
        assert got is not None
        assert abs(got - true) / true < 0.05


def test_the_recorder_copes_with_extreme_latencies() -> None:
    recorder = StatsRecorder()
    for value in (0.0, -1.0, 1e-9, 1e9):
        recorder.latency(value)
    snapshot = recorder.snapshot()
    assert snapshot.latency_p50 is not None
    assert snapshot.latency_p50 <= 1e-4
    assert snapshot.latency_p99 is not None
    assert snapshot.latency_p99 > 1e4
