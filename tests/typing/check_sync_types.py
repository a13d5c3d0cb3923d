"""What a type checker infers from the blocking clients, pinned for mypy --strict and pyright.

Their methods are made from the async ones (``uprock_async.sync._base.blocking``), so
these pin that the async signatures and overloads come through: type-checked by
`.ci/run`, never executed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from typing_extensions import assert_type

from uprock_async import Outcome, UprockAsyncError
from uprock_async.screenshotcenter import Crawl, Screenshot
from uprock_async.sync import BlockingIterator, ScreenshotCenterClient, UprockClient
from uprock_async.uprock import Job, JobDetail


def plain_calls_return_the_async_result(client: UprockClient, job_id: uuid.UUID) -> None:
    assert_type(client.job_detail(job_id, parse_cookies=True), JobDetail)
    assert_type(client.create_job("https://example.com/", method="POST"), Job)
    assert_type(client.download(job_id), bytes | Path)
    client.job_detail(job_id, parse_cookie=True)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]


def overloads_come_through(client: UprockClient, ids: list[str], flag: bool) -> None:
    assert_type(client.job_details(ids), list[JobDetail])
    assert_type(client.job_details(ids, return_exceptions=True), list[JobDetail | UprockAsyncError])
    assert_type(client.job_details(ids, return_exceptions=flag), list[JobDetail | UprockAsyncError])
    assert_type(client.job_details(ids, parse_cookies=True, per_second=2.0), list[JobDetail])
    client.job_details(ids, concurrency="many")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]


def streams_are_plain_iterators(client: UprockClient, ids: list[str], flag: bool) -> None:
    assert_type(client.iter_job_details(ids), BlockingIterator[Outcome[str, JobDetail]])
    for outcome in client.iter_job_details(ids, concurrency="auto"):
        assert_type(outcome.unwrap(), JobDetail)
    assert_type(client.watch_jobs(ids), BlockingIterator[Outcome[str, JobDetail]])
    assert_type(client.watch_jobs(ids, details=False), BlockingIterator[Outcome[str, Job]])
    assert_type(client.watch_jobs(ids, timeout=60.0), BlockingIterator[Outcome[str, JobDetail]])
    client.watch_jobs(ids, poll_interval="2")  # type: ignore[call-overload]  # pyright: ignore[reportCallIssue, reportArgumentType]
    assert_type(
        client.watch_jobs(ids, details=flag),
        BlockingIterator[Outcome[str, JobDetail]] | BlockingIterator[Outcome[str, Job]],
    )


def screenshotcenter(sc: ScreenshotCenterClient, ids: list[int], dest: Path) -> None:
    assert_type(sc.crawl_infos(ids), list[Crawl])
    assert_type(sc.crawl_infos(ids, return_exceptions=True), list[Crawl | UprockAsyncError])
    assert_type(sc.create_crawl("https://example.com/", max_urls=5, delay=2), Crawl)
    assert_type(sc.iter_screenshots(page_size=10), BlockingIterator[Screenshot])
    assert_type(sc.download_screenshot(1), bytes)
    assert_type(sc.download_screenshot(1, kind="pdf", dest=dest), Path)
    assert_type(sc.download_batch(1), bytes)
    assert_type(sc.download_batch(1, dest=dest), Path)
    assert_type(sc.delete_screenshot(1), None)


def streamed_downloads_are_plain_iterators(
    client: UprockClient, sc: ScreenshotCenterClient, job_id: uuid.UUID
) -> None:
    assert_type(client.stream_download(job_id), BlockingIterator[bytes])
    with client.stream_download(job_id) as body:
        for chunk in body:
            assert_type(chunk, bytes)
    assert_type(sc.stream_screenshot(1, kind="pdf"), BlockingIterator[bytes])
    assert_type(sc.stream_batch(1), BlockingIterator[bytes])


def constructors_take_the_async_options() -> None:
    with UprockClient("key", timeout=5.0, retry=2, max_body_size=1 << 20) as client:
        assert_type(client, UprockClient)
    assert_type(
        ScreenshotCenterClient(base_url="http://127.0.0.1:1", limits=None), ScreenshotCenterClient
    )
    UprockClient(timeout="5")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    UprockClient(retries=2)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
