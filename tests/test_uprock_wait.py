"""UprockClient.wait_for_job against FakeServer: polling, backoff, 202, timeouts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from uprock_async import NotFoundError, UprockClient, WaitTimeoutError
from uprock_async.testing import FakeServer
from uprock_async.uprock import JobDetail


async def test_wait_for_job_polls_until_completed_then_returns_the_detail(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.job_completion_delay = 0.1
    job = await uprock.create_job("https://example.com/")
    detail = await uprock.wait_for_job(job.job_id, poll_interval=0.01, timeout=5)
    assert isinstance(detail, JobDetail)
    assert detail.job.is_completed
    assert detail.result is not None
    polls = [r for r in server.requests if r.path == f"/crawl/v1/status/{job.job_id}"]
    assert 2 <= len(polls) < 15  # the interval grew instead of hammering the service


async def test_wait_for_job_times_out_with_the_last_status(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.job_completion_delay = 60
    job = await uprock.create_job("https://example.com/")
    with pytest.raises(WaitTimeoutError) as info:
        await uprock.wait_for_job(job.job_id, poll_interval=0.01, timeout=0.1)
    assert info.value.last_status == "pending"
    assert job.job_id in str(info.value)
    assert "pending" in str(info.value)


async def test_wait_for_job_treats_202_as_not_yet(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/status/*", status=202, times=2, body="processing incomplete")
    detail = await uprock.wait_for_job(job_id, poll_interval=0.001)
    assert detail.job_id == job_id
    assert len([r for r in server.requests if r.path == f"/crawl/v1/status/{job_id}"]) == 3


async def test_wait_for_job_returns_a_failed_job_without_raising(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0, status="failed")
    detail = await uprock.wait_for_job(job_id, poll_interval=0.001)
    assert detail.status == "failed"
    assert detail.job.is_terminal
    assert not detail.job.is_completed


async def test_wait_for_job_raises_not_found_for_an_unknown_job(uprock: UprockClient) -> None:
    with pytest.raises(NotFoundError):
        await uprock.wait_for_job(str(uuid.uuid4()), poll_interval=0.001)


@pytest.mark.parametrize(
    "kwargs",
    [{"poll_interval": 0}, {"timeout": -1}, {"timeout": float("nan")}, {"poll_interval": "1"}],
    ids=repr,
)
async def test_wait_for_job_rejects_bad_timing_without_a_request(
    server: FakeServer, uprock: UprockClient, kwargs: dict[str, Any]
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await uprock.wait_for_job(str(uuid.uuid4()), **kwargs)
    assert server.requests == []
