"""The two reference endpoints work end to end against FakeServer."""

from __future__ import annotations

from datetime import timezone

from uprock_async import ScreenshotCenterClient, UprockClient
from uprock_async.testing import FakeServer


async def test_job_detail_decodes_a_generated_job(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1)
    detail = await uprock.job_detail(job_id, parse_cookies=True)
    assert detail.job.job_id == job_id
    assert detail.job.submitted_at is not None
    assert detail.job.submitted_at.tzinfo == timezone.utc
    assert len(detail.request_headers) + len(detail.response_headers) == 40
    assert len(detail.request_cookies) + len(detail.response_cookies) == 20


async def test_crawl_info_decodes_every_screenshot(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(screenshots=120)
    crawl = await sc.crawl_info(crawl_id)
    assert crawl.id == crawl_id
    assert crawl.created_at is None  # "" on the wire
    assert len(crawl.screenshots) == 120
    assert crawl.screenshots[0].apps[0].updated_at is None


async def test_job_details_returns_input_order(server: FakeServer, uprock: UprockClient) -> None:
    ids = server.add_jobs(300)
    details = await uprock.job_details(ids, concurrency=16)
    assert [d.job.job_id for d in details if not isinstance(d, Exception)] == ids
