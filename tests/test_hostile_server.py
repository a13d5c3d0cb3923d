"""What a hostile or odd server (or a caller's odd session) must not get out of us.

A create that runs twice, a 404 read as a broken connection, a raw ``ValueError``
from a ``Location`` or ``download_url`` nobody should have followed, and the key
sent to a URL with ``user:password@`` in it. Every server here is real, on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIConnectionError,
    NotFoundError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    ServerError,
    UprockAsyncError,
    UprockClient,
)
from uprock_async._http._transport import _PER_REQUEST_MIDDLEWARES
from uprock_async.testing import FakeServer
from uprock_async.uprock import Job, JobDetail

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNKNOWN = "0f8b1c2e-0000-4000-8000-0000000000aa"

needs_middlewares = pytest.mark.skipif(
    not _PER_REQUEST_MIDDLEWARES, reason="aiohttp < 3.12 has no per-request middlewares"
)


def _drop_after_first_create(created: list[str]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Server middleware: the first ``screenshot/create`` is carried out (and billed),
    then its keep-alive connection is dropped before the answer goes out."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if request.path.endswith("/screenshot/create"):
            created.append(request.query["url"])
            if len(created) == 1:
                assert request.transport is not None
                request.transport.close()
                raise asyncio.CancelledError  # aiohttp drops the request quietly
        return response

    return middleware


@needs_middlewares
@pytest.mark.parametrize("own_session", [False, True], ids=["our session", "caller's session"])
async def test_a_create_dropped_after_it_arrived_is_never_sent_twice(own_session: bool) -> None:
    created: list[str] = []
    server = FakeServer(seed=21)
    server.app.middlewares.append(_drop_after_first_create(created))
    async with server, aiohttp.ClientSession() as session:
        client = ScreenshotCenterClient(
            server.api_key,
            base_url=server.screenshotcenter_url,
            retry=FAST_RETRY,
            session=None if own_session else session,
        )
        async with client:
            await client.account_info()  # the create then goes out on a kept-alive connection
            with pytest.raises(APIConnectionError) as info:
                await client.create_screenshot("https://example.com/")
            # The connection is fine again for the next call: nothing is stuck.
            await client.account_info()
    assert created == ["https://example.com/"]  # one billed screenshot, not two
    assert info.value.method == "GET"
    assert info.value.url is not None
    assert "/api/v1/screenshot/create?" in info.value.url
    assert "disconnected" in info.value.message.lower()


@needs_middlewares
async def test_the_callers_own_session_middlewares_still_run_for_a_create() -> None:
    seen: list[str] = []

    async def tag(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        request.headers["X-Caller"] = "yes"
        return await handler(request)

    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        seen.append(request.headers.get("X-Caller", "missing"))
        return await handler(request)

    server = FakeServer(seed=22)
    server.app.middlewares.append(web.middleware(record))
    async with server, aiohttp.ClientSession(middlewares=(tag,)) as session:
        client = ScreenshotCenterClient(
            server.api_key, base_url=server.screenshotcenter_url, session=session
        )
        async with client:
            shot = await client.create_screenshot("https://example.com/")
            await client.screenshot_info(shot.id)
    assert seen == ["yes", "yes"]


async def test_a_callers_session_with_raise_for_status_still_gets_our_errors(
    server: FakeServer,
) -> None:
    [job_id] = server.add_jobs(1)
    async with aiohttp.ClientSession(raise_for_status=True) as session:
        async with UprockClient(
            server.api_key, base_url=server.uprock_url, session=session, retry=FAST_RETRY
        ) as client:
            with pytest.raises(NotFoundError) as info:
                await client.job_detail(UNKNOWN)
            assert info.value.status_code == 404
            assert len(server.requests) == 1  # a 404 is an answer: never retried

            server.inject("/crawl/v1/jobs/*/detail", status=503, times=1)
            assert (await client.job_detail(job_id)).job_id == job_id  # retried by policy
            server.inject("/crawl/v1/jobs/*/detail", status=500, times=None)
            with pytest.raises(ServerError):
                await client.job_detail(job_id)
        assert not session.closed  # the caller's session is the caller's


# -- redirects and download URLs a server made up ----------------------------------------


def _redirecting(server: FakeServer, location: Callable[[], str]) -> None:
    """``GET /crawl/v1/jobs/<UNKNOWN>/detail`` answers 302 with ``location()``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == f"/crawl/v1/jobs/{UNKNOWN}/detail":
            return web.Response(status=302, headers={"Location": location()})
        return await handler(request)

    server.app.middlewares.append(middleware)


@pytest.mark.parametrize(
    "location",
    [
        "http://[::1",  # malformed: yarl raises ValueError
        "http://user:pass@{origin}/crawl/v1/jobs/{job}/detail",  # the API's own origin
        "http://{key}@{origin}/crawl/v1/jobs/{job}/detail",  # the key as the user name
        "ftp://{origin}/file",
        "http://127.0.0.1:99999/x",  # port out of range
    ],
)
async def test_a_redirect_to_an_unusable_location_is_our_error(location: str) -> None:
    server = FakeServer(seed=23)
    [job_id] = server.add_jobs(1)
    _redirecting(
        server,
        lambda: location.format(origin=f"127.0.0.1:{server.port}", job=job_id, key=server.api_key),
    )
    async with (
        server,
        UprockClient(server.api_key, base_url=server.uprock_url, retry=FAST_RETRY) as client,
    ):
        with pytest.raises(APIConnectionError) as info:
            await client.job_detail(UNKNOWN)
    error = info.value
    assert "not followed" in error.message
    assert server.api_key not in str(error)
    assert error.url == f"{server.uprock_url}/crawl/v1/jobs/{UNKNOWN}/detail"
    # Refused, not retried, and never followed anywhere.
    assert [r.path for r in server.requests] == [f"/crawl/v1/jobs/{UNKNOWN}/detail"]


TRICKY_URLS = [
    "https://evil.com@iad.edge.uprock.com/crawl/v1/jobs/x/download",
    "https://user:pw@edge.uprock.com/x",
    "http://[::1",
    "ftp://iad.edge.uprock.com/x",
    "https://iad.edge.uprock.com\\@evil.com/",
    "https://iad.edge.uprock.com/a b",
]


@pytest.mark.parametrize("download_url", TRICKY_URLS)
async def test_a_download_url_the_service_sent_is_checked_before_use(
    server: FakeServer, uprock: UprockClient, download_url: str
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.jobs[job_id]["download_url"] = download_url
    server.invalidate(job_id=job_id)
    detail = await uprock.job_detail(job_id)
    assert detail.download_url == download_url
    with pytest.raises(ResponseDecodeError, match="download_url") as info:
        await uprock.download(detail)
    assert job_id in str(info.value)
    assert ":pw@" not in str(info.value)  # a password is never quoted
    assert [r.path for r in server.requests] == [f"/crawl/v1/jobs/{job_id}/detail"]
    assert uprock.stats().errors  # counted like any other failure


@pytest.mark.parametrize("url", TRICKY_URLS)
async def test_a_tricky_url_from_the_caller_is_refused_before_any_request(
    server: FakeServer, uprock: UprockClient, url: str
) -> None:
    # The caller's own argument: a ValueError, as for any bad argument.
    with pytest.raises(ValueError, match=r"(?i)url|job_id") as info:
        await uprock.download(url)
    assert not isinstance(info.value, UprockAsyncError)
    assert server.requests == []


async def test_a_detail_built_by_hand_with_userinfo_is_refused_too(
    server: FakeServer, uprock: UprockClient
) -> None:
    detail = JobDetail(
        job=Job(job_id=UNKNOWN, status="completed"),
        download_url=f"http://{server.api_key}@127.0.0.1:{server.port}/crawl/v1/jobs/x/download",
    )
    with pytest.raises(ResponseDecodeError) as info:
        await uprock.download(detail)
    assert server.api_key not in str(info.value)
    assert server.requests == []
