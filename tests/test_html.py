"""Notebook views (``_repr_html_``): tables and inline SVG, everything escaped."""

from __future__ import annotations

from datetime import datetime, timezone

import msgspec

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


# -- bounded, and never raising ------------------------------------------------------------


def test_job_detail_html_shows_the_first_headers_and_how_many_more() -> None:
    many = [Header(name=f"X-{i}", value="v" * 40) for i in range(100_000)]
    detail = JobDetail(job=Job(job_id="j", status="completed"), response_headers=many)
    html = detail._repr_html_()
    assert len(html) < 100_000  # was 26.6 MB
    assert "response headers (100000)" in html
    assert html.count("<tr><td") == 40
    assert ">X-39</td>" in html
    assert ">X-40</td>" not in html
    assert "… 99960 more" in html


def test_one_huge_header_value_is_cut_in_the_view() -> None:
    detail = JobDetail(
        job=Job(job_id="j", url="https://example.com/" + "a" * 100_000),
        request_headers=[Header(name="Cookie", value="<" * 5_000_000)],
    )
    html = detail._repr_html_()
    assert len(html) < 20_000  # a 5 MB value, a few kilobytes of HTML
    assert "(5,000,000 characters)" in html
    assert "<<" not in html


def test_a_malformed_timestamp_shows_its_wire_string_and_the_view_never_raises() -> None:
    body = {
        "job": {"job_id": "j", "status": "completed", "submitted_at": "yesterday <b>noon</b>"},
        "result": {"status_code": 200, "created_at": "2026-13-45T99:00:00Z"},
    }
    detail = msgspec.json.decode(msgspec.json.encode(body), type=JobDetail)
    html = detail._repr_html_()
    assert ">yesterday &lt;b&gt;noon&lt;/b&gt;</td>" in html  # the wire string, escaped
    assert ">2026-13-45T99:00:00Z</td>" in html
    crawl = msgspec.json.decode(
        b'{"id": 7, "created_at": "soon", "screenshots": [{"id": 1, "finished_at": "+01"}]}',
        type=Crawl,
    )
    html = crawl._repr_html_()
    assert ">soon</td>" in html
    assert ">+01</td>" in html


def test_a_view_of_an_object_no_table_fits_shows_its_repr_instead_of_raising() -> None:
    broken = JobDetail(job=None)  # type: ignore[arg-type]  # built by hand, never decoded
    html = broken._repr_html_()
    assert html.startswith("<pre>")
    assert "no table: AttributeError" in html
    stats = ClientStats(responses={200: 1, "<b>": 2})  # type: ignore[dict-item]
    html = stats._repr_html_()
    assert "<b>" not in html
    assert "no table: TypeError" in html  # 200 and "<b>" do not sort
