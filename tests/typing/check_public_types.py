"""What a type checker infers from the public API, pinned for mypy --strict and pyright.

This file is type-checked by `.ci/run` (``mypy`` and ``pyright``), never executed:
each ``assert_type`` fails the check if an inferred type drifts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from typing_extensions import assert_type

from uprock_async import Outcome, ScreenshotCenterClient, UprockAsyncError, UprockClient
from uprock_async.screenshotcenter import Crawl
from uprock_async.uprock import Job, JobDetail, JobWatch


async def job_details_are_typed_by_return_exceptions(client: UprockClient, ids: list[str]) -> None:
    details = await client.job_details(ids)
    assert_type(details, list[JobDetail])
    assert_type(details[0].job.job_id, str)  # no narrowing needed by default

    failed_in_place = await client.job_details(ids, return_exceptions=True)
    assert_type(failed_in_place, list[JobDetail | UprockAsyncError])

    flag: bool = bool(ids)
    either = await client.job_details(ids, return_exceptions=flag)
    assert_type(either, list[JobDetail | UprockAsyncError])


async def crawl_infos_are_typed_by_return_exceptions(
    client: ScreenshotCenterClient, ids: list[int]
) -> None:
    assert_type(await client.crawl_infos(ids), list[Crawl])
    mixed = await client.crawl_infos(ids, return_exceptions=True)
    assert_type(mixed, list[Crawl | UprockAsyncError])


async def streamed_outcomes_narrow(client: UprockClient, ids: list[str]) -> None:
    async with client.iter_job_details(ids) as outcomes:
        async for outcome in outcomes:
            assert_type(outcome, Outcome[str, JobDetail])
            if (detail := outcome.value_or_none()) is not None:
                assert_type(detail, JobDetail)
            if (error := outcome.error) is not None:
                assert_type(error, Exception)
            assert_type(outcome.unwrap(), JobDetail)


async def watched_jobs_are_typed_by_details(client: UprockClient, ids: list[str]) -> None:
    async with client.watch_jobs(ids) as outcomes:
        async for outcome in outcomes:
            assert_type(outcome.unwrap(), JobDetail)
    async with client.watch_jobs(ids, details=False) as jobs:
        async for job_outcome in jobs:
            assert_type(job_outcome.unwrap(), Job)


async def options_behind_overloads_are_still_checked(
    client: UprockClient, sc: ScreenshotCenterClient, ids: list[str]
) -> None:
    # The overloads declare their options once (``**options: Unpack[...]``): a typed
    # option still takes its type, and a wrong one is still an error.
    assert_type(await client.job_details(ids, parse_cookies=True, per_second=5.0), list[JobDetail])
    assert_type(await sc.crawl_infos([1], concurrency="auto", progress=True), list[Crawl])
    async with client.watch_jobs(ids, poll_interval=0.5, timeout=None, details=False) as jobs:
        assert_type(jobs, JobWatch[Job])
    await client.job_details(ids, concurrency="many")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    await client.job_details(ids, parse_cookie=True)  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue]
    client.watch_jobs(ids, poll_interval="2")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


async def streamed_downloads_yield_bytes(client: UprockClient, sc: ScreenshotCenterClient) -> None:
    async with client.stream_download("https://edge.uprock.com/x") as body:
        assert_type(body, AsyncIterator[bytes])
        async for chunk in body:
            assert_type(chunk, bytes)
    async with sc.stream_screenshot(1, kind="html") as page, sc.stream_batch(1) as zipped:
        assert_type(page, AsyncIterator[bytes])
        assert_type(zipped, AsyncIterator[bytes])
    client.stream_download(1.5)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
