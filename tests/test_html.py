"""Notebook views (``_repr_html_``): tables and inline SVG, everything escaped."""

from __future__ import annotations

from datetime import datetime, timezone

from uprock_async import ClientStats, UprockClient
from uprock_async.screenshotcenter import Crawl, Screenshot
from uprock_async.testing import FakeServer
from uprock_async.uprock import Header, Job, JobDetail, JobResult


async def test_client_stats_render_a_table_and_a_latency_histogram() -> None:
    async with FakeServer(seed=0) as server:
        ids = server.add_jobs(20)
        async with UprockClient(server.api_key, base_url=server.uprock_url) as client:
            await client.job_details(ids)
            stats = client.stats()
    html = stats._repr_html_()
    assert html.startswith("<table")
    assert ">20</td>" in html  # 20 requests
    assert "<svg" in html
    assert html.count("<rect") >= 1
    assert "<script" not in html
    assert sum(count for _, count in stats.latency_histogram) == 20
    uppers = [upper for upper, _ in stats.latency_histogram]
    assert uppers == sorted(uppers)
    assert "breaker trips   0" in str(stats)


def test_client_stats_html_escapes_every_value() -> None:
    stats = ClientStats(errors={"<script>alert(1)</script>": 1}, requests=1)
    html = stats._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<svg" not in html  # no latency yet, no histogram


def _detail(value: str = "ok") -> JobDetail:
    return JobDetail(
        job=Job(job_id="f2bf9f8b-10ee-4c61-9633-4eacc3e8aac8", status="completed", url=value),
        request_headers=[Header(name="Accept", value="*/*")],
        response_headers=[Header(name="X-Evil", value=value)] * 40,
        result=JobResult(
            status_code=200,
            time_ms=1234,
            created_at=datetime(2026, 2, 17, 11, 39, 5, tzinfo=timezone.utc),
        ),
    )


def test_job_detail_renders_job_status_and_timings_with_headers_collapsed() -> None:
    html = _detail()._repr_html_()
    assert "f2bf9f8b-10ee-4c61-9633-4eacc3e8aac8" in html
    assert ">completed</td>" in html
    assert ">1234</td>" in html
    assert "2026-02-17 11:39:05+00:00" in html  # the timestamp as read
    assert "<details><summary" in html
    assert "response headers (40)" in html


def test_job_detail_html_escapes_header_values_and_urls() -> None:
    evil = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
    html = _detail(evil)._repr_html_()
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;" in html


def test_crawl_renders_status_counts_and_truncates_its_screenshots() -> None:
    evil = '"><img src=x onerror=alert(1)>'
    shots = [Screenshot(id=i, status="finished" if i % 4 else "error", url=evil) for i in range(50)]
    html = Crawl(id=7, status="finished", domain="example.com", screenshots=shots)._repr_html_()
    assert "error: 13, finished: 37" in html
    assert html.count("<tr><td") == 20  # the first 20 screenshots, one row each
    assert "… 30 more" in html
    assert "<img" not in html


def test_big_structs_have_short_reprs() -> None:
    details = [_detail() for _ in range(2000)]
    assert len(repr(details)) < 400 * 2000  # kilobytes, not megabytes
    assert repr(details[0]).startswith("JobDetail(job_id='f2bf9f8b")
    crawl = Crawl(
        id=1, screenshots=[Screenshot(id=i, url="https://example.com") for i in range(1000)]
    )
    assert len(repr(crawl)) < 200
    assert repr(crawl.screenshots[0]) == "Screenshot(id=0, status='', url='https://example.com')"
