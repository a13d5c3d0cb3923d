"""The fake, the spec and the client follow ScreenshotCenter's endpoint pages
(screenshotcenter.com/developers/endpoint) and the official SDKs' fixtures
(Python, JS, .NET) where those say more than the pages.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from tests.spec_support import RESOLVED
from uprock_async import (
    BadRequestError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ScreenshotCenterClient,
)
from uprock_async._errors import status_error
from uprock_async.screenshotcenter import Batch
from uprock_async.testing import FakeServer

ACCOUNT = "/api/v1/account/info"
DOCUMENTED_400 = {
    "error": "Request validation failed",
    "code": "VALIDATION_ERROR",
    "fields": {
        "url": ["URL is required"],
        "country": ["Country code must be ISO 3166-1 alpha-2"],
    },
}
SDK_429 = {"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED", "retry_after": 60}


async def raw(server: FakeServer, path: str) -> tuple[int, Any]:
    """``GET`` a path of the fake with the key, the body decoded."""
    headers = {"X-API-KEY": server.api_key}
    async with (
        aiohttp.ClientSession() as session,
        session.get(server.screenshotcenter_url + path, headers=headers) as answer,
    ):
        return answer.status, msgspec.json.decode(await answer.read())


# -- validation errors -------------------------------------------------------------------


async def test_the_fake_sends_each_field_a_list_of_messages(server: FakeServer) -> None:
    status, body = await raw(server, "/screenshot/create?country=us")
    assert status == 400
    assert set(body) == {"error", "code", "fields"}  # no "success", as documented
    assert body["code"] == "VALIDATION_ERROR"
    assert body["fields"]
    assert all(
        isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        for messages in body["fields"].values()
    )


@pytest.mark.parametrize(
    "fields",
    [DOCUMENTED_400["fields"], {"url": "URL is required", "country": "Country code must be"}],
    ids=["lists, as documented", "bare strings"],
)
async def test_the_client_shows_every_validation_message_in_the_error_text(
    server: FakeServer, sc: ScreenshotCenterClient, fields: dict[str, Any]
) -> None:
    server.inject(
        "/api/v1/screenshot/info", status=400, times=1, body={**DOCUMENTED_400, "fields": fields}
    )
    with pytest.raises(BadRequestError) as info:
        await sc.screenshot_info(1)
    error = info.value
    assert error.code == "VALIDATION_ERROR"
    assert error.message == "Request validation failed"
    assert error.fields == fields
    assert "url: URL is required" in str(error)
    assert "country: Country code must be" in str(error)


def test_validation_messages_are_one_bounded_line_without_the_key() -> None:
    body = msgspec.json.encode(
        {
            **DOCUMENTED_400,
            "fields": {
                "url": ["bad\r\nX-Injected: 1", "key sk-SECRET echoed"],
                "body": ["x" * 100_000],
                "nested": [{"deep": ["sk-SECRET"]}, 7, None],
            },
        }
    )
    error = status_error(400, body, redact="sk-SECRET")
    text = str(error)
    assert "\n" not in text
    assert "\r" not in text
    assert "sk-SECRET" not in text
    assert "sk-SECRET" not in repr(error.fields)
    assert "url: bad X-Injected: 1, key [redacted] echoed" in text
    assert len(text) < 800


# -- an artifact not ready yet -------------------------------------------------------


async def test_the_thumbnail_of_an_unfinished_screenshot_is_a_documented_404(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.screenshot_completion_delay = 60
    shot = await sc.create_screenshot("https://example.com/")
    status, body = await raw(server, f"/screenshot/thumbnail?id={shot.id}")
    assert status == 404
    assert body["error"] == "Screenshot not found or not ready"
    with pytest.raises(NotFoundError) as info:
        await sc.download_screenshot(shot.id)
    assert "not ready" in str(info.value)
    assert f"wait_for_screenshot({shot.id})" in str(info.value)
    assert sc.stats().errors == {"NotFoundError": 1}


async def test_after_wait_for_screenshot_the_download_succeeds(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.screenshot_completion_delay = 0.05
    shot = await sc.create_screenshot("https://example.com/")
    finished = await sc.wait_for_screenshot(shot.id, poll_interval=0.01)
    assert finished.is_finished
    assert (await sc.download_screenshot(shot.id)).startswith(b"\x89PNG")


# -- rate limits ---------------------------------------------------------------------


async def test_the_fakes_429_has_the_sdk_fixtures_shape(server: FakeServer) -> None:
    server.inject(ACCOUNT, status=429, times=1, retry_after=3)
    status, body = await raw(server, "/account/info")
    assert (status, body) == (429, {**SDK_429, "retry_after": 3})
    server.inject(ACCOUNT, status=429, times=1)
    status, body = await raw(server, "/account/info")
    assert (status, body) == (429, {"error": "Rate limit exceeded", "code": "RATE_LIMIT_EXCEEDED"})


def client_for(server: FakeServer, retry: RetryPolicy) -> ScreenshotCenterClient:
    return ScreenshotCenterClient(
        server.api_key, base_url=server.screenshotcenter_url, retry=retry, timeout=5.0
    )


async def test_a_body_retry_after_is_honoured_when_the_header_is_missing(
    server: FakeServer,
) -> None:
    server.inject(ACCOUNT, status=429, times=1, body={**SDK_429, "retry_after": 0.4})
    async with client_for(server, RetryPolicy(max_retries=0)) as client:
        with pytest.raises(RateLimitError) as info:
            await client.account_info()
    assert info.value.retry_after == 0.4


async def test_a_body_retry_after_pauses_the_whole_client(server: FakeServer) -> None:
    server.inject(ACCOUNT, status=429, times=1, body={**SDK_429, "retry_after": 0.6})
    retry = RetryPolicy(max_retries=2, backoff_initial=0.001, max_retry_after=5.0)
    done: dict[str, float] = {}
    async with client_for(server, retry) as client:
        started = time.monotonic()

        async def call(name: str, delay: float) -> None:
            await anyio.sleep(delay)
            await client.account_info()
            done[name] = time.monotonic() - started

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "limited", 0.0)
            tg.start_soon(call, "other", 0.15)  # after the 429 came back
        stats = client.stats()
    assert done["limited"] >= 0.55  # its retry waited the body's 0.6 s
    assert done["other"] >= 0.5  # held by the same client-wide pause, never failed itself
    assert stats.responses == {429: 1, 200: 2}


async def test_a_body_retry_after_has_the_same_cap(server: FakeServer) -> None:
    server.inject(ACCOUNT, status=429, times=1, body=SDK_429)  # 60 s
    retry = RetryPolicy(max_retries=1, backoff_initial=0.001, max_retry_after=0.2)
    started = time.monotonic()
    async with client_for(server, retry) as client:
        await client.account_info()
    assert time.monotonic() - started < 3


# -- batches and crawls --------------------------------------------------------------


async def test_batches_come_in_each_documented_form_and_all_decode(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    batches = [await sc.create_batch([f"https://e{i}.example/"], country="us") for i in range(3)]
    forms = set()
    for batch in batches:
        _, body = await raw(server, f"/batch/info?id={batch.id}")
        forms.add(repr(body["data"].get("error", "absent")))
        assert batch.error in ("", None)
    assert forms == {"''", "'absent'", "None"}  # the page's "", the fixtures' none, null
    status, body = await raw(server, "/batch/list")
    assert status == 200
    assert all("zip_url" not in entry for entry in body["data"])  # as the list page shows
    listed = await sc.list_batches()
    assert all(isinstance(b, Batch) and b.zip_url is None for b in listed)


def test_the_spec_says_what_each_source_sends_for_a_batch() -> None:
    document = RESOLVED["screenshotcenter"]
    described = document["info"]["description"]
    assert "a batch in them has no `error` key at all" in described
    assert '`"error": ""` and no `zip_url`' in described
    listed = document["paths"]["/batch/list"]["get"]["responses"]["200"]["content"]
    [entry] = listed["application/json"]["examples"]["reference"]["value"]["data"]
    assert entry["error"] == ""
    assert "zip_url" not in entry


async def test_a_cancelled_batch_is_terminal(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.batch_completion_delay = 60
    batch = await sc.create_batch(["https://a.example/"], country="us")
    await sc.cancel_batch(batch.id)
    waited = await sc.wait_for_batch(batch.id, poll_interval=0.01, timeout=5)
    assert (waited.status, waited.is_terminal) == ("cancelled", True)


async def test_wait_for_crawl_stops_on_cancelled_as_the_js_sdk_does(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.crawl_completion_delay = 60
    crawl = await sc.create_crawl("https://example.com")
    await sc.cancel_crawl(crawl.id)
    before = len(server.requests)
    waited = await sc.wait_for_crawl(crawl.id, poll_interval=0.01, timeout=5)
    assert waited.status == "cancelled"
    assert len(server.requests) == before + 1  # one look, no polling on
