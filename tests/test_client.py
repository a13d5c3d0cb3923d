"""Client lifetime, authentication, environment, secrecy of the key, bad input."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIConnectionError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    UprockAsyncError,
    UprockClient,
)
from uprock_async.testing import FakeServer


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or during."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


# -- lifetime ----------------------------------------------------------------------


async def test_caller_session_is_left_open_after_close(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    async with aiohttp.ClientSession() as session:
        async with UprockClient(
            server.api_key, base_url=server.uprock_url, session=session
        ) as client:
            detail = await client.job_detail(job_id)
        assert detail.job_id == job_id
        assert client.closed
        assert not session.closed
        async with session.get(server.uprock_url + "/nowhere") as resp:
            assert resp.status == 401  # the session still works for its owner


async def test_closed_client_raises_a_clear_error(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    async with UprockClient(server.api_key, base_url=server.uprock_url) as client:
        await client.job_detail(job_id)
    with pytest.raises(RuntimeError, match="closed"):
        await client.job_detail(job_id)
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass
    assert "closed" in repr(client)


async def test_closed_client_with_caller_session_also_refuses(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    async with aiohttp.ClientSession() as session:
        client = UprockClient(server.api_key, base_url=server.uprock_url, session=session)
        await client.job_detail(job_id)
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await client.job_detail(job_id)
        assert not session.closed


async def test_lazy_session_without_async_with_then_aclose(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    client = UprockClient(server.api_key, base_url=server.uprock_url)
    assert client._transport._session is None  # nothing opened at construction
    assert (await client.job_detail(job_id)).job_id == job_id
    session = client._transport._session
    assert session is not None
    await client.aclose()
    assert session.closed
    assert client.closed
    await client.aclose()  # idempotent


async def test_one_client_serves_many_concurrent_tasks(
    server: FakeServer, uprock: UprockClient
) -> None:
    import anyio

    ids = server.add_jobs(50)
    found: list[str] = []

    async def one(job_id: str) -> None:
        found.append((await uprock.job_detail(job_id)).job_id)

    async with anyio.create_task_group() as tg:
        for job_id in ids:
            tg.start_soon(one, job_id)
    assert sorted(found) == sorted(ids)


# -- keys, env, base URLs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "env"),
    [(UprockClient, "UPROCK_API_KEY"), (ScreenshotCenterClient, "SCREENSHOTCENTER_API_KEY")],
)
def test_missing_api_key_names_the_env_variable(
    monkeypatch: pytest.MonkeyPatch, cls: type[UprockClient], env: str
) -> None:
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(ValueError, match=env):
        cls()
    with pytest.raises(ValueError, match=env):
        cls("")


async def test_env_key_and_base_url_are_honoured(
    monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    [job_id] = server.add_jobs(1)
    crawl_id = server.add_crawl(screenshots=3)
    monkeypatch.setenv("UPROCK_API_KEY", server.api_key)
    monkeypatch.setenv("UPROCK_BASE_URL", server.uprock_url)
    monkeypatch.setenv("SCREENSHOTCENTER_API_KEY", server.api_key)
    monkeypatch.setenv("SCREENSHOTCENTER_BASE_URL", server.screenshotcenter_url)
    async with UprockClient() as uprock, ScreenshotCenterClient() as sc:
        assert uprock.base_url == server.uprock_url
        assert sc.base_url == server.screenshotcenter_url
        assert (await uprock.job_detail(job_id)).job_id == job_id
        assert (await sc.crawl_info(crawl_id)).id == crawl_id


def test_default_base_urls_are_the_public_apis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPROCK_BASE_URL", raising=False)
    monkeypatch.delenv("SCREENSHOTCENTER_BASE_URL", raising=False)
    assert UprockClient("k").base_url == "https://edge.uprock.com"
    assert ScreenshotCenterClient("k").base_url == "https://api.screenshotcenter.com/api/v1"


def test_bad_base_url_is_refused() -> None:
    with pytest.raises(ValueError, match="base_url"):
        UprockClient("k", base_url="edge.uprock.com")


async def test_uprock_sends_a_bearer_token(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1)
    await uprock.job_detail(job_id, parse_cookies=True)
    request = server.requests[-1]
    assert request.headers["Authorization"] == f"Bearer {server.api_key}"
    assert "X-API-KEY" not in request.headers
    assert request.query == {"parse_cookies": "true"}
    assert request.headers["User-Agent"].startswith("uprock-async/")


async def test_screenshotcenter_sends_x_api_key_and_never_a_key_param(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(screenshots=1)
    await sc.crawl_info(crawl_id)
    request = server.requests[-1]
    assert request.headers["X-API-KEY"] == server.api_key
    assert "Authorization" not in request.headers
    assert "key" not in request.query
    assert request.query == {"id": str(crawl_id)}


async def test_wrong_key_is_an_authentication_error(server: FakeServer) -> None:
    from uprock_async import AuthenticationError

    async with UprockClient("wrong", base_url=server.uprock_url) as client:
        with pytest.raises(AuthenticationError):
            await client.job_detail(str(uuid.uuid4()))


async def test_the_key_never_appears_in_reprs_or_errors(server: FakeServer) -> None:
    key = server.api_key
    [job_id] = server.add_jobs(1)
    errors: list[BaseException] = []
    async with (
        UprockClient(key, base_url=server.uprock_url, retry=0) as uprock,
        ScreenshotCenterClient(key, base_url=server.screenshotcenter_url, retry=0) as sc,
    ):
        assert key not in repr(uprock)
        assert key not in repr(sc)
        assert key not in str(vars(uprock))
        # A server that echoes the key back in its error message.
        server.inject("/crawl/v1/jobs/*", status=401, times=1, body=f'"unauthorized: {key}"')
        server.inject("/api/v1/*", status=400, times=1, body={"error": f"bad key {key}"})
        server.inject("/crawl/v1/jobs/*", status=200, times=1, body=f"not json {key}")
        server.inject("/crawl/v1/jobs/*", status=502, times=1, body=f"<html>{key}</html>")
        for call in (
            lambda: uprock.job_detail(job_id),
            lambda: sc.crawl_info(1),
            lambda: uprock.job_detail(job_id),
            lambda: uprock.job_detail(job_id),
        ):
            with pytest.raises(UprockAsyncError) as info:
                await call()
            errors.append(info.value)
    async with UprockClient(key, base_url="http://127.0.0.1:9", retry=0) as dead:
        with pytest.raises(APIConnectionError) as refused:
            await dead.job_detail(job_id)
        errors.append(refused.value)
    assert isinstance(errors[2], ResponseDecodeError)
    for error in errors:
        for link in _chain(error):
            assert key not in str(link), type(link)
            assert key not in repr(link), type(link)


# -- bad input: refused before any request ----------------------------------------------


@pytest.mark.parametrize(
    "job_id",
    ["", "a/b", "../x", "a?b", "a b", "a#b", "%2e%2e", "x" * 200, 123, None, b"abc", 1.5],
)
async def test_bad_job_ids_are_refused_before_any_request(
    server: FakeServer, uprock: UprockClient, job_id: Any
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await uprock.job_detail(job_id)
    assert server.requests == []


async def test_uuid_job_ids_are_accepted(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1)
    assert (await uprock.job_detail(uuid.UUID(job_id))).job_id == job_id


@pytest.mark.parametrize("crawl_id", ["abc", "", "1/2", "1 ", 0, -1, True, False, 1.0, None])
async def test_bad_crawl_ids_are_refused_before_any_request(
    server: FakeServer, sc: ScreenshotCenterClient, crawl_id: Any
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await sc.crawl_info(crawl_id)
    assert server.requests == []


async def test_bad_ids_in_a_batch_fail_before_any_request(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = [*server.add_jobs(3), "../etc"]
    with pytest.raises(ValueError, match="job_id"):
        await uprock.job_details(ids)
    assert server.requests == []


async def test_garbage_answers_never_leak_connections(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject("/crawl/v1/jobs/*", status=200, times=None, body="\x00\xff garbage")
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=FAST_RETRY) as c:
        for _ in range(20):
            with pytest.raises(ResponseDecodeError):
                await c.job_detail(job_id)
        connector = c._transport.session().connector
        assert connector is not None
        # Every connection went back to the pool or was closed: nothing is held.
        assert len(connector._acquired) == 0


def test_using_a_client_from_a_second_event_loop_is_a_clear_error() -> None:
    import asyncio

    from uprock_async import UprockClient
    from uprock_async.testing import FakeServer

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        server = FakeServer()
        first.run_until_complete(server.start())
        [job_id] = server.add_jobs(1)
        client = UprockClient(server.api_key, base_url=server.uprock_url)
        first.run_until_complete(client.job_detail(job_id))  # the pool opens in `first`
        with pytest.raises(RuntimeError, match="another event loop"):
            second.run_until_complete(client.job_detail(job_id))
        first.run_until_complete(client.job_detail(job_id))  # still fine where it belongs
        first.run_until_complete(client.aclose())
        first.run_until_complete(server.close())
    finally:
        first.close()
        second.close()
