"""ScreenshotCenter crawls, screenshot creation and the account, against FakeServer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from tests.conftest import FAST_RETRY
from uprock_async import (
    BadRequestError,
    NotFoundError,
    ScreenshotCenterClient,
    WaitTimeoutError,
)
from uprock_async.screenshotcenter import Account
from uprock_async.screenshotcenter._core import options_query
from uprock_async.testing import FakeServer


def paths(server: FakeServer, suffix: str) -> list[dict[str, str]]:
    """The queries of the requests whose path ends with ``suffix``."""
    return [r.query for r in server.requests if r.path.endswith(suffix)]


async def test_a_created_crawl_finishes_and_its_screenshots_can_be_read(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.crawl_completion_delay = 0.05
    crawl = await sc.create_crawl("https://example.com/start", max_urls=7)
    assert crawl.status == "processing"
    assert not crawl.is_terminal
    [sent] = [r for r in server.requests if r.path.endswith("/crawl/create")]
    assert msgspec.json.decode(sent.body) == {
        "url": "https://example.com/start",
        "domain": "example.com",
        "max_urls": 7,
    }
    done = await sc.wait_for_crawl(crawl.id, poll_interval=0.01, timeout=5)
    assert done.is_finished
    assert done.start_url == "https://example.com/start"
    assert len(done.screenshots) == 7
    assert len(paths(server, "/crawl/info")) >= 2  # it polled


async def test_create_crawl_sends_extra_options_in_the_json_body(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    await sc.create_crawl("https://example.org", domain="example.org", country="fr", html=True)
    [sent] = [r for r in server.requests if r.path.endswith("/crawl/create")]
    assert msgspec.json.decode(sent.body) == {
        "url": "https://example.org",
        "domain": "example.org",
        "country": "fr",
        "html": True,
    }


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("ftp://example.com",), {}, ValueError),
        (("example.com",), {}, ValueError),
        ((42,), {}, TypeError),
        (("https://example.com",), {"max_urls": 0}, ValueError),
        (("https://example.com",), {"max_urls": "10"}, TypeError),
        (("https://example.com",), {"domain": "a/b"}, ValueError),
        (("https://example.com",), {"key": "leak"}, ValueError),
    ],
)
async def test_create_crawl_rejects_bad_arguments_before_any_request(
    server: FakeServer,
    sc: ScreenshotCenterClient,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        await sc.create_crawl(*args, **kwargs)
    assert server.requests == []


async def test_list_crawls_passes_limit_and_offset(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    ids = [server.add_crawl(screenshots=1) for _ in range(5)]
    page = await sc.list_crawls(limit=2, offset=1)
    assert [c.id for c in page] == ids[1:3]
    assert page[0].screenshots == []  # the list shape has no screenshots
    assert paths(server, "/crawl/list") == [{"limit": "2", "offset": "1"}]


async def test_iter_crawls_pages_until_a_short_page(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    ids = [server.add_crawl(screenshots=1) for _ in range(5)]
    seen = [crawl.id async for crawl in sc.iter_crawls(page_size=2)]
    assert seen == ids
    assert paths(server, "/crawl/list") == [
        {"limit": "2", "offset": "0"},
        {"limit": "2", "offset": "2"},
        {"limit": "2", "offset": "4"},
    ]


async def test_iter_crawls_fetches_nothing_more_after_an_early_break(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    for _ in range(6):
        server.add_crawl(screenshots=1)
    pages = sc.iter_crawls(page_size=2)
    async for crawl in pages:
        assert crawl.id > 0
        break
    assert len(paths(server, "/crawl/list")) == 1
    with pytest.raises(ValueError, match="page_size"):
        sc.iter_crawls(page_size=0)


async def test_cancel_crawl_stops_a_running_crawl(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.crawl_completion_delay = 60
    crawl = await sc.create_crawl("https://example.com")
    cancelled = await sc.cancel_crawl(crawl.id)
    assert cancelled.id == crawl.id
    assert cancelled.status == "cancelled"
    assert cancelled.is_terminal
    [sent] = [r for r in server.requests if r.path.endswith("/crawl/cancel")]
    assert msgspec.json.decode(sent.body) == {"id": crawl.id}
    assert (await sc.wait_for_crawl(crawl.id, poll_interval=0.01)).status == "cancelled"


async def test_cancel_crawl_answered_with_null_data_fetches_the_crawl(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(screenshots=2)
    server.inject("*/crawl/cancel", status=200, times=1, body={"success": True, "data": None})
    crawl = await sc.cancel_crawl(crawl_id)
    assert crawl.id == crawl_id
    assert len(crawl.screenshots) == 2
    assert paths(server, "/crawl/info") == [{"id": str(crawl_id)}]


async def test_an_unknown_crawl_is_not_found(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    with pytest.raises(NotFoundError):
        await sc.cancel_crawl(99)
    with pytest.raises(ValueError, match="positive"):
        await sc.cancel_crawl(0)
    with pytest.raises(TypeError):
        await sc.wait_for_crawl("x")  # type: ignore[arg-type]
    assert len(server.requests) == 1


async def test_wait_for_crawl_times_out_with_the_last_status(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.crawl_completion_delay = 60
    crawl = await sc.create_crawl("https://example.com")
    with pytest.raises(WaitTimeoutError) as caught:
        await sc.wait_for_crawl(crawl.id, poll_interval=0.01, timeout=0.1)
    assert caught.value.last_status == "processing"
    with pytest.raises(ValueError, match="poll_interval"):
        await sc.wait_for_crawl(crawl.id, poll_interval=0)


async def test_create_screenshot_encodes_options_as_the_service_expects(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    shot = await sc.create_screenshot(
        "https://example.com/a b", html=True, pdf=False, delay=3, country="de", cache=None
    )
    assert shot.status == "processing"
    [sent] = [r for r in server.requests if r.path.endswith("/screenshot/create")]
    assert sent.query == {
        "url": "https://example.com/a b",
        "html": "true",
        "pdf": "false",
        "delay": "3",
        "country": "de",
    }
    done = await sc.wait_for_screenshot(shot.id, poll_interval=0.01, timeout=5)
    assert done.is_finished
    assert (done.has_html, done.has_pdf, done.has_video) == (True, False, False)


def test_options_repeat_list_names_and_send_structures_as_json() -> None:
    assert options_query({"tag": ["a", "b"], "x": None, "ok": True}) == "?tag=a&tag=b&ok=true"
    assert options_query({"steps": [{"click": "#go"}]}) == (
        "?steps=%5B%7B%22click%22%3A%22%23go%22%7D%5D"
    )


async def test_create_screenshot_checks_its_url_and_options(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    # Not resent once sent: tests/test_creates.py.
    with pytest.raises(ValueError, match="http"):
        await sc.create_screenshot("javascript:alert(1)")
    with pytest.raises(ValueError, match="API key"):
        await sc.create_screenshot("https://example.com", key="abc")
    assert server.requests == []


async def test_a_validation_error_from_the_service_is_a_bad_request(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.inject(
        "*/screenshot/create",
        status=400,
        times=1,
        body={"error": "Request validation failed", "code": "VALIDATION_ERROR", "fields": {}},
    )
    with pytest.raises(BadRequestError) as caught:
        await sc.create_screenshot("https://example.com")
    assert caught.value.code == "VALIDATION_ERROR"


async def test_account_info_decodes_a_balance_only_answer(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    account = await sc.account_info()
    assert account == Account(balance=500)
    assert msgspec.json.encode(account) == b'{"balance":500}'
    await sc.create_screenshot("https://example.com")
    assert (await sc.account_info()).balance == 499


async def test_no_request_carries_the_key_in_its_query(server: FakeServer) -> None:
    async with ScreenshotCenterClient(
        server.api_key, base_url=server.screenshotcenter_url, retry=FAST_RETRY
    ) as client:
        crawl = await client.create_crawl("https://example.com", max_urls=2)
        await client.wait_for_crawl(crawl.id, poll_interval=0.01)
        await client.list_crawls()
        await client.account_info()
        await client.create_screenshot("https://example.com")
    assert server.requests
    for request in server.requests:
        assert "key" not in request.query
        assert server.api_key not in str(request.query)
        assert request.headers["X-API-KEY"] == server.api_key


async def test_crawl_infos_refuses_a_bare_string_and_checks_async_ids_lazily(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    with pytest.raises(TypeError, match="crawl_ids"):
        await sc.crawl_infos("123")  # type: ignore[arg-type]  # would fetch crawls 1, 2, 3
    assert server.requests == []
    crawl_ids = [server.add_crawl(screenshots=1) for _ in range(3)]

    async def ids() -> AsyncIterator[int]:
        for crawl_id in crawl_ids:
            yield crawl_id

    crawls = await sc.crawl_infos(ids())
    assert [c.id for c in crawls if not isinstance(c, Exception)] == crawl_ids
