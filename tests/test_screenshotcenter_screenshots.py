"""ScreenshotCenter screenshots: info, list, search, wait, delete, against FakeServer."""

from __future__ import annotations

import pytest

from uprock_async import NotFoundError, ScreenshotCenterClient, WaitTimeoutError
from uprock_async.testing import FakeServer


async def shot_ids(server: FakeServer, sc: ScreenshotCenterClient, n: int) -> list[int]:
    crawl = await sc.crawl_info(server.add_crawl(screenshots=n))
    return [s.id for s in crawl.screenshots]


async def test_screenshot_info_finds_a_screenshot_of_a_crawl(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    [first, _second] = await shot_ids(server, sc, 2)
    shot = await sc.screenshot_info(first)
    assert shot.id == first
    assert shot.is_finished
    assert shot.has_html is True
    assert shot.has_pdf is False
    with pytest.raises(NotFoundError):
        await sc.screenshot_info(5)


async def test_list_screenshots_and_iter_screenshots_page_through_everything(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    ids = await shot_ids(server, sc, 5)
    page = await sc.list_screenshots(limit=2, offset=3)
    assert [s.id for s in page] == ids[3:5]
    seen = [s.id async for s in sc.iter_screenshots(page_size=2)]
    assert seen == ids
    lists = [r.query for r in server.requests if r.path.endswith("/screenshot/list")]
    assert [q["offset"] for q in lists] == ["3", "0", "2", "4"]


async def test_list_arguments_are_checked_before_any_request(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    with pytest.raises(ValueError, match="limit"):
        await sc.list_screenshots(limit=0)
    with pytest.raises(ValueError, match="offset"):
        await sc.list_batches(offset=-1)
    with pytest.raises(TypeError, match="limit"):
        await sc.list_crawls(limit=True)
    with pytest.raises(TypeError, match="page_size"):
        sc.iter_screenshots(page_size=2.5)  # type: ignore[arg-type]
    assert server.requests == []


async def test_search_screenshots_matches_on_the_url(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.add_crawl(screenshots=3, domain="one.example")
    server.add_crawl(screenshots=2, domain="two.example")
    found = await sc.search_screenshots("two.example", limit=10)
    assert len(found) == 2
    assert all("two.example" in s.url for s in found)
    [sent] = [r for r in server.requests if r.path.endswith("/screenshot/search")]
    assert sent.query == {"url": "two.example", "limit": "10"}


@pytest.mark.parametrize("url", ["", "   "])
async def test_an_empty_search_is_refused_without_a_request(
    server: FakeServer, sc: ScreenshotCenterClient, url: str
) -> None:
    with pytest.raises(ValueError, match="empty"):
        await sc.search_screenshots(url)
    assert server.requests == []


async def test_wait_for_screenshot_returns_the_finished_screenshot(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.screenshot_completion_delay = 0.03
    shot = await sc.create_screenshot("https://example.com", video=True)
    done = await sc.wait_for_screenshot(shot.id, poll_interval=0.01, timeout=5)
    assert done.status == "finished"
    assert done.has_video is True


async def test_wait_for_screenshot_times_out_with_the_last_status(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.screenshot_completion_delay = 60
    shot = await sc.create_screenshot("https://example.com")
    with pytest.raises(WaitTimeoutError) as caught:
        await sc.wait_for_screenshot(shot.id, poll_interval=0.01, timeout=0.05)
    assert caught.value.last_status == "processing"


@pytest.mark.parametrize("data", ["all", "metadata"])
async def test_delete_screenshot_removes_it(
    server: FakeServer, sc: ScreenshotCenterClient, data: str
) -> None:
    [shot_id] = await shot_ids(server, sc, 1)
    await sc.delete_screenshot(shot_id, data=data)
    [sent] = [r for r in server.requests if r.path.endswith("/screenshot/delete")]
    assert sent.query == {"id": str(shot_id), "data": data}
    with pytest.raises(NotFoundError):
        await sc.screenshot_info(shot_id)


async def test_deleting_only_the_image_keeps_the_metadata(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    [shot_id] = await shot_ids(server, sc, 1)
    await sc.delete_screenshot(shot_id, data="image")
    assert (await sc.screenshot_info(shot_id)).id == shot_id
    with pytest.raises(NotFoundError):
        await sc.download_screenshot(shot_id)


@pytest.mark.parametrize("data", ["everything", "", "ALL"])
async def test_delete_screenshot_refuses_an_unknown_data_value(
    server: FakeServer, sc: ScreenshotCenterClient, data: str
) -> None:
    with pytest.raises(ValueError, match="data must be one of"):
        await sc.delete_screenshot(1, data=data)
    assert server.requests == []


@pytest.mark.parametrize("bad", [0, -3, "abc", 1.5, True, None])
async def test_every_screenshot_id_is_checked_before_any_request(
    server: FakeServer, sc: ScreenshotCenterClient, bad: object
) -> None:
    calls = [
        sc.screenshot_info,
        sc.wait_for_screenshot,
        sc.delete_screenshot,
        sc.download_screenshot,
        sc.batch_info,
        sc.cancel_batch,
        sc.download_batch,
        sc.crawl_info,
        sc.wait_for_batch,
    ]
    for call in calls:
        with pytest.raises((ValueError, TypeError)):
            await call(bad)  # type: ignore[operator]
    assert server.requests == []
