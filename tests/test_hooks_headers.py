"""default_headers, with_options(headers=, api_key=, base_url=) and event_hooks,
against the real FakeServer on loopback."""

from __future__ import annotations

import logging
import platform
import time
from typing import Any

import aiohttp
import pytest

from uprock_async import (
    APIStatusError,
    AuthenticationError,
    RequestInfo,
    ResponseInfo,
    RetryPolicy,
    ScreenshotCenterClient,
    ServerError,
    UprockClient,
)
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

DETAIL = "/crawl/v1/jobs/*/detail"


def _client(server: FakeServer, **options: Any) -> UprockClient:
    options.setdefault("retry", FAST_RETRY)
    return UprockClient(server.api_key, base_url=server.uprock_url, timeout=5.0, **options)


def _header(server: FakeServer, name: str, index: int = -1) -> str | None:
    headers = {k.lower(): v for k, v in server.requests[index].headers.items()}
    return headers.get(name.lower())


# -- default headers and the User-Agent ------------------------------------------------


async def test_the_user_agent_names_library_python_and_aiohttp(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    async with _client(server) as client:
        await client.job_detail(job_id)
    agent = _header(server, "User-Agent")
    assert agent is not None
    python = ".".join(platform.python_version().split(".")[:2])
    aio = ".".join(aiohttp.__version__.split(".")[:2])
    parts = agent.split(" ")
    assert parts[0].startswith("uprock-async/")
    assert parts[1:] == [f"python/{python}", f"aiohttp/{aio}"]


async def test_default_headers_go_with_every_request_and_a_user_agent_replaces_ours(
    server: FakeServer,
) -> None:
    [job_id] = server.add_jobs(1)
    headers = {"X-Team": "monitoring", "User-Agent": "my-worker/2"}
    async with _client(server, default_headers=headers) as client:
        await client.job_detail(job_id)
        await client.job_status(job_id)
    for index in (-2, -1):
        assert _header(server, "X-Team", index) == "monitoring"
        assert _header(server, "User-Agent", index) == "my-worker/2"
        assert _header(server, "Authorization", index) == f"Bearer {server.api_key}"


async def test_screenshotcenter_takes_default_headers_too(server: FakeServer) -> None:
    crawl_id = server.add_crawl(screenshots=1)
    async with ScreenshotCenterClient(
        server.api_key,
        base_url=server.screenshotcenter_url,
        default_headers={"X-Team": "sc"},
        retry=FAST_RETRY,
    ) as client:
        await client.crawl_info(crawl_id)
    assert _header(server, "X-Team") == "sc"
    assert _header(server, "X-API-KEY") == server.api_key


@pytest.mark.parametrize("name", ["Authorization", "authorization", "X-API-KEY", "x-api-key"])
def test_the_auth_header_in_default_headers_points_to_api_key(name: str) -> None:
    for cls in (UprockClient, ScreenshotCenterClient):
        with pytest.raises(ValueError, match="api_key=") as caught:
            cls("k", default_headers={name: "Bearer secret-value"})
        assert "secret-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"X-Bad": "a\r\nX-Injected: 1"}, ValueError),
        ({"X-Bad": "a\nb"}, ValueError),
        ({"X-Bad": "a\x00b"}, ValueError),
        ({"Bad Name": "a"}, ValueError),
        ({"X-Bad\r\n": "a"}, ValueError),
        ({"": "a"}, ValueError),
        ({"X-Num": 1}, TypeError),
        (["X-A", "b"], TypeError),
    ],
)
def test_header_names_and_values_are_checked(headers: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        UprockClient("k", default_headers=headers)
    with pytest.raises(error):
        UprockClient("k").with_options(headers=headers)


# -- with_options: headers, api_key, base_url ------------------------------------------


async def test_with_options_headers_merge_over_the_defaults(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    async with _client(server, default_headers={"X-A": "1", "X-B": "1"}) as client:
        await client.with_options(headers={"X-B": "2", "X-C": "3"}).job_detail(job_id)
        assert (_header(server, "X-A"), _header(server, "X-B"), _header(server, "X-C")) == (
            "1",
            "2",
            "3",
        )
        await client.job_detail(job_id)  # the original is unchanged
        assert (_header(server, "X-B"), _header(server, "X-C")) == ("1", None)


async def test_a_copy_for_another_account_shares_the_pool_and_keeps_keys_apart(
    server: FakeServer,
) -> None:
    [job_id] = server.add_jobs(1)
    other_key = "tenant-two-key-0123456789"
    async with _client(server, retry=0) as client:
        tenant = client.with_options(api_key=other_key)
        with pytest.raises(AuthenticationError) as caught:  # the fake knows one key
            await tenant.job_detail(job_id)
        assert _header(server, "Authorization") == f"Bearer {other_key}"
        assert other_key not in repr(tenant)
        assert other_key not in str(caught.value)
        await client.job_detail(job_id)
        assert _header(server, "Authorization") == f"Bearer {server.api_key}"
        assert tenant._transport.session() is client._transport.session()  # one pool
        assert client.stats().requests == 2  # one stats for the pool


async def test_a_copy_with_another_base_url_sends_its_key_only_there(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    other_host = server.uprock_url.replace("127.0.0.1", "localhost")
    async with _client(server, retry=0) as client:
        regional = client.with_options(base_url=other_host, api_key="regional-key-0123456789")
        assert regional.base_url == other_host
        with pytest.raises(AuthenticationError):
            await regional.job_detail(job_id)
        assert _header(server, "Host", -1).startswith("localhost")  # type: ignore[union-attr]
        assert _header(server, "Authorization") == "Bearer regional-key-0123456789"
        # The original's host is foreign to the copy: no key goes there.
        # (The fake then answers 401: that is how we know no key came.)
        with pytest.raises(AuthenticationError):
            await regional.download(f"{server.uprock_url}/crawl/v1/jobs/{job_id}/detail")
        assert _header(server, "Authorization") is None
        # And the copy's host is foreign to the original.
        with pytest.raises(AuthenticationError):
            await client.download(f"{other_host}/crawl/v1/jobs/{job_id}/detail")
        assert _header(server, "Authorization") is None


def test_a_copy_checks_its_key_and_url() -> None:
    client = UprockClient("k")
    with pytest.raises(ValueError, match="printable ASCII"):
        client.with_options(api_key="bad key\n")
    with pytest.raises(ValueError, match="base_url"):
        client.with_options(base_url="edge.uprock.com")


async def test_an_error_of_any_copy_hides_every_key_of_the_pool(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    other_key = "tenant-two-key-0123456789"
    echo = {"error": f"bad keys {server.api_key} and {other_key}"}
    server.inject(DETAIL, status=400, times=2, body=echo)
    async with _client(server, retry=0) as client:
        tenant = client.with_options(api_key=other_key)
        for who in (client, tenant):
            with pytest.raises(APIStatusError) as caught:
                await who.job_detail(job_id)
            text = str(caught.value) + repr(caught.value.body)
            assert server.api_key not in text
            assert other_key not in text


# -- event hooks -------------------------------------------------------------------------


async def test_hooks_see_every_attempt_successes_included_without_the_key(
    server: FakeServer,
) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=503, times=1)
    requests: list[RequestInfo] = []
    responses: list[ResponseInfo] = []

    async def on_response(info: ResponseInfo) -> None:  # an async hook
        responses.append(info)

    hooks = {"request": [requests.append], "response": [on_response]}
    async with _client(server, event_hooks=hooks) as client:
        await client.job_detail(job_id)
    assert [r.attempt for r in requests] == [1, 2]
    assert [(r.status_code, r.attempt) for r in responses] == [(503, 1), (200, 2)]
    for info in requests:
        assert info.method == "GET"
        assert info.url.endswith(f"/jobs/{job_id}/detail")
        assert info.headers["Authorization"] == "[redacted]"
        assert server.api_key not in repr(info) + str(dict(info.headers))
    ok = responses[-1]
    assert ok.request_id == ok.headers.get("X-Request-Id")
    assert 0 < ok.elapsed < 5
    assert server.api_key not in repr(ok)


async def test_a_hook_exception_reaches_the_caller_as_itself_and_counts_for_nothing(
    server: FakeServer,
) -> None:
    [job_id] = server.add_jobs(1)

    class Stop(Exception):
        pass

    class Boom(aiohttp.ClientConnectionError):  # even an aiohttp type is not mapped
        pass

    for kind, raised in (("request", Stop), ("response", Stop), ("request", Boom)):
        seen = 0

        def hook(info: object, raised: type[Exception] = raised) -> None:
            nonlocal seen
            seen += 1
            raise raised("from the hook")

        async with _client(server, event_hooks={kind: [hook]}) as client:
            with pytest.raises(raised, match="from the hook"):
                await client.job_detail(job_id)
            assert seen == 1  # not retried
            stats = client.stats()
            assert stats.errors == {}
            assert stats.retries == 0
            assert client._transport.breaker is not None
            assert client._transport.breaker.failures == 0


async def test_a_response_hook_sees_an_error_answer_that_is_raised(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=500, times=None)
    statuses: list[int] = []
    hooks = {"response": [lambda info: statuses.append(info.status_code)]}
    async with _client(
        server,
        event_hooks=hooks,
        retry=RetryPolicy(max_retries=1, backoff_initial=0.001, jitter=False),
    ) as client:
        with pytest.raises(ServerError):
            await client.job_detail(job_id)
    assert statuses == [500, 500]


@pytest.mark.parametrize(
    ("hooks", "error"),
    [
        ({"requests": []}, ValueError),
        ({"request": print}, TypeError),
        ({"request": ["not callable"]}, TypeError),
        ([print], TypeError),
    ],
)
def test_event_hooks_are_checked(hooks: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        UprockClient("k", event_hooks=hooks)


def test_a_copy_is_cheap_and_makes_no_connector() -> None:
    client = UprockClient("k", base_url="http://127.0.0.1:9")
    start = time.perf_counter()
    for _ in range(1000):
        copy = client.with_options(headers={"X-T": "1"}, api_key="other-key-1")
    assert time.perf_counter() - start < 5  # generous: speed is benchmarked, not tested
    assert copy._transport._session is None
    assert copy._transport._origin is client._transport


async def test_debug_log_still_sees_successes(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    [job_id] = server.add_jobs(1)
    async with _client(server) as client:
        with caplog.at_level(logging.DEBUG, logger="uprock_async"):
            await client.job_detail(job_id)
    assert any("-> 200" in r.getMessage() for r in caplog.records)
