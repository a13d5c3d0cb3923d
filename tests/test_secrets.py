"""The API key never leaks: not in reprs, messages, causes, logs or CLI output,
and never to a host other than the configured one (redirects included).

The servers here are hostile on purpose: they echo the key back in error
bodies, messages, codes and request ids.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    NotFoundError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    ServerError,
    Timeout,
    UprockAsyncError,
    UprockClient,
)
from uprock_async._errors import status_error
from uprock_async._http._transport import Transport
from uprock_async.testing import FakeServer

KEY = "sk-live-0123456789abcdef0123456789abcdef"
DETAIL = "/crawl/v1/jobs/*/detail"
JOB = "1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a"


def assert_no_key(text: object, key: str = KEY) -> None:
    assert key not in str(text), f"the API key leaked into: {str(text)[:300]!r}"


def assert_error_is_clean(exc: BaseException) -> None:
    """Message, str, repr and the whole cause/context chain are free of the key."""
    seen: BaseException | None = exc
    while seen is not None:
        assert_no_key(str(seen))
        assert_no_key(repr(seen))
        assert_no_key(seen.args)
        seen = seen.__cause__ or seen.__context__


@pytest.fixture
async def hostile() -> AsyncIterator[FakeServer]:
    async with FakeServer(seed=11, api_key=KEY) as server:
        yield server


def client_for(server: FakeServer, *, timeout: float | Timeout = 5.0) -> UprockClient:
    return UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=timeout
    )


def test_the_key_is_not_in_the_repr_of_either_client() -> None:
    for client in (
        UprockClient(KEY, base_url="http://127.0.0.1:9"),
        ScreenshotCenterClient(KEY, base_url="http://127.0.0.1:9/api/v1"),
    ):
        assert_no_key(repr(client))
        assert_no_key(str(client))
        assert_no_key(repr(client._transport))


ECHOES = {
    "bare string": json.dumps(f"unauthorized: key {KEY} is not valid"),
    "error field": json.dumps({"error": f"bad key {KEY}", "code": "INVALID_API_KEY"}),
    "code and request id": json.dumps(
        {"error": "denied", "code": KEY, "details": {"request_id": f"req-{KEY}"}}
    ),
    "html page": f"<html><body>Your key {KEY} was rejected</body></html>",
}


@pytest.mark.parametrize("shape", list(ECHOES))
async def test_a_status_error_never_repeats_the_key_a_server_echoed(
    hostile: FakeServer, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    hostile.inject(DETAIL, status=401, body=ECHOES[shape], times=None)
    caplog.set_level(logging.DEBUG)
    async with client_for(hostile) as client:
        with pytest.raises(UprockAsyncError) as caught:
            await client.job_detail(JOB)
    assert isinstance(caught.value, AuthenticationError)
    assert_error_is_clean(caught.value)
    for record in caplog.records:
        assert_no_key(record.getMessage())


async def test_the_key_is_redacted_from_the_x_request_id_header_too(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def echo(request: web.Request) -> web.Response:
        status = 200 if request.query.get("ok") else 500
        return web.Response(status=status, text="boom", headers={"X-Request-Id": KEY})

    # Routes must exist before the server starts: a fresh one for this test.
    server = FakeServer(seed=12, api_key=KEY)
    server.app.router.add_get("/echo-id", echo)
    caplog.set_level(logging.DEBUG)
    async with server, client_for(server) as client:
        with pytest.raises(ServerError) as caught:
            await client._transport.request("GET", "/echo-id")
        await client._transport.request("GET", "/echo-id?ok=1")
    assert_error_is_clean(caught.value)
    assert len(caplog.records) >= 2
    for record in caplog.records:
        assert_no_key(record.getMessage())
    assert caught.value.request_id is None or KEY not in caught.value.request_id


async def test_a_decode_error_never_quotes_the_key_from_the_body(hostile: FakeServer) -> None:
    hostile.inject(DETAIL, status=200, body=f'{{"job": "{KEY}"', times=None)
    async with client_for(hostile) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.job_detail(JOB)
    assert_error_is_clean(caught.value)


async def test_connection_errors_and_timeouts_never_carry_the_key(hostile: FakeServer) -> None:
    hostile.inject(DETAIL, disconnect=True, times=None)
    async with client_for(hostile) as client:
        with pytest.raises(APIConnectionError) as dropped:
            await client.job_detail(JOB)
    assert_error_is_clean(dropped.value)

    hostile.clear_faults()
    hostile.inject(DETAIL, status=200, delay=0.5, times=None)
    async with client_for(hostile, timeout=Timeout(total=0.1)) as client:
        with pytest.raises(APITimeoutError) as slow:
            await client.job_detail(JOB)
    assert_error_is_clean(slow.value)

    # Nobody listens on the port of a closed server: "cannot connect".
    port = hostile.port
    await hostile.close()
    async with UprockClient(KEY, base_url=f"http://127.0.0.1:{port}", retry=0) as client:
        with pytest.raises(APIConnectionError) as refused:
            await client.job_detail(JOB)
    assert_error_is_clean(refused.value)


async def test_debug_logs_never_contain_the_key(
    hostile: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = hostile.add_jobs(3, headers=2, cookies=0)
    hostile.inject(DETAIL, status=503, body=json.dumps(f"overloaded for {KEY}"), times=2)
    caplog.set_level(logging.DEBUG)
    async with client_for(hostile) as client:
        results = await client.job_details([*ids, JOB], return_exceptions=True)
    assert isinstance(results[-1], NotFoundError)
    assert any(r.name.startswith("uprock_async") for r in caplog.records)
    for record in caplog.records:
        assert_no_key(record.getMessage())
        assert_no_key(record.exc_text or "")


@settings(max_examples=100, deadline=None)
@given(
    where=st.sampled_from(["error", "message", "code", "request_id", "details", "header"]),
    prefix=st.text(max_size=20),
    status=st.integers(100, 599),
)
def test_status_error_redacts_the_key_wherever_the_body_puts_it(
    where: str, prefix: str, status: int
) -> None:
    value = prefix + KEY
    headers = {"X-Request-Id": value} if where == "header" else {}
    if where == "details":
        body: object = {"error": "x", "details": {"request_id": value}}
    elif where == "header":
        body = "not found: nothing"
    else:
        body = {where: value}
    exc = status_error(status, json.dumps(body).encode(), headers, redact=KEY)
    assert_error_is_clean(exc)
    assert exc.code is None or KEY not in exc.code
    assert exc.request_id is None or KEY not in exc.request_id


# -- echoes the old order missed: across the excerpt's cut, or escaped ------------------

# Legal in a header (printable ASCII), and escaped by both JSON and repr().
ODD_KEY = "sk-live-ab\\cd\"ef'gh-0123456789abcdef0123456789"


def assert_no_fragment(text: object, key: str, size: int = 8) -> None:
    """Not even part of the key, in any spelling it may take in a message."""
    text = str(text)
    for spelling in (key, repr(key)[1:-1], key.replace("\\", "\\\\").replace('"', '\\"')):
        for i in range(len(spelling) - size + 1):
            fragment = spelling[i : i + size]
            assert fragment not in text, f"{fragment!r} of the key leaked into {text[:300]!r}"


def _echo_server(key: str, where: str) -> FakeServer:
    """A server whose ``/echo`` answers 500 with the key in ``where``."""

    async def echo(request: web.Request) -> web.Response:
        headers = {"X-Request-Id": f"req-{key}"} if where == "x-request-id" else {}
        if where == "across the cut":
            # The key starts 10 bytes before the 200-byte excerpt ends.
            body = ("<html>" + "x" * 184 + key + "y" * 300 + "</html>").encode()
        elif where == "html":
            body = f"<html>your key {key} is revoked</html>".encode()
        elif where == "json body":  # no message field: the body itself is quoted
            body = json.dumps({"detail": f"key {key}", "pad": "z" * 300}).encode()
        elif where == "code":
            body = json.dumps({"error": "denied", "code": key}).encode()
        elif where == "request id":
            body = json.dumps({"error": "denied", "details": {"request_id": key}}).encode()
        else:
            body = b"boom"
        return web.Response(status=500, body=body, headers=headers)

    server = FakeServer(seed=15, api_key=key)
    server.app.router.add_get("/echo", echo)
    return server


@pytest.mark.parametrize("key", [KEY, ODD_KEY], ids=["plain key", "key with \\ and quotes"])
@pytest.mark.parametrize(
    "where", ["across the cut", "html", "json body", "code", "request id", "x-request-id"]
)
async def test_no_part_of_an_echoed_key_survives_in_an_error_or_a_log(
    key: str, where: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        _echo_server(key, where) as server,
        UprockClient(key, base_url=server.uprock_url, retry=0) as client,
    ):
        with pytest.raises(ServerError) as caught:
            await client._transport.request("GET", "/echo")
    error = caught.value
    for text in (str(error), repr(error), error.args, error.code, error.request_id):
        assert_no_fragment(text, key)
    for record in caplog.records:
        assert_no_fragment(record.getMessage(), key)


async def test_a_decode_error_quoting_an_odd_key_across_the_cut_is_clean() -> None:
    server = FakeServer(seed=16, api_key=ODD_KEY)
    server.inject(DETAIL, status=200, body='{"job": "' + "x" * 185 + ODD_KEY + '"', times=None)
    async with server, UprockClient(ODD_KEY, base_url=server.uprock_url, retry=0) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.job_detail(JOB)
    assert_no_fragment(str(caught.value), ODD_KEY)


# -- the command line ------------------------------------------------------------


async def test_cli_output_never_contains_the_key(hostile: FakeServer, tmp_path: Path) -> None:
    pytest.importorskip("uprock_async.cli")
    hostile.inject(DETAIL, status=404, body=json.dumps(f"not found: {JOB} for {KEY}"), times=None)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{JOB}\n")
    env = {**os.environ, "UPROCK_API_KEY": KEY, "UPROCK_BASE_URL": hostile.uprock_url}
    for extra in ([], ["--debug"]):
        # The server lives on this event loop: run the CLI without blocking it.
        done = await anyio.run_process(
            [sys.executable, "-m", "uprock_async", "job-details", str(ids), *extra],
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        out, err = done.stdout.decode(), done.stderr.decode()
        assert done.returncode == 1, (out, err)
        assert JOB in out  # the failed id is reported …
        assert_no_key(out)  # … without the key
        assert_no_key(err)


# -- the host policy -----------------------------------------------------------


@pytest.fixture
async def foreign() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """Another host (same IP, other port, no auth) recording the headers it receives."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(body=b"foreign bytes", content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/{rest:.*}", record)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def redirector(foreign: tuple[str, list[dict[str, str]]]) -> AsyncIterator[FakeServer]:
    """The configured host: every ``/to/<path>`` redirects to the foreign host."""
    other, _seen = foreign

    async def bounce(request: web.Request) -> web.Response:
        target = other + "/" + request.match_info["rest"]
        raise web.HTTPFound(target)

    async def home(request: web.Request) -> web.Response:
        return web.Response(body=request.headers.get("Authorization", "none").encode())

    server = FakeServer(seed=14, api_key=KEY)
    server.app.router.add_get("/to/{rest:.*}", bounce)
    server.app.router.add_get("/api/v1/to/{rest:.*}", bounce)  # ScreenshotCenter's side
    server.app.router.add_get("/home", home)
    async with server:
        yield server


async def test_a_redirect_to_another_host_drops_the_authorization_header(
    redirector: FakeServer, foreign: tuple[str, list[dict[str, str]]]
) -> None:
    other, seen = foreign
    async with client_for(redirector) as client:
        body = await client._transport.download(URL(redirector.uprock_url + "/to/file"), dest=None)
        assert body == b"foreign bytes"
        # The key does go to the configured host itself, and to nowhere else.
        assert await client._transport.download(
            URL(redirector.uprock_url + "/home"), dest=None
        ) == (f"Bearer {KEY}".encode())
        download = getattr(client, "download", None)
        if download is not None:
            assert await download(redirector.uprock_url + "/to/file") == b"foreign bytes"
            assert await download(other + "/file") == b"foreign bytes"
    assert len(seen) >= 1
    for headers in seen:
        assert "Authorization" not in headers
        assert "X-API-KEY" not in headers
        assert_no_key(headers)


async def test_a_redirect_to_another_host_drops_x_api_key(
    redirector: FakeServer, foreign: tuple[str, list[dict[str, str]]]
) -> None:
    _other, seen = foreign
    async with ScreenshotCenterClient(
        KEY, base_url=redirector.screenshotcenter_url, retry=FAST_RETRY
    ) as client:
        url = URL(redirector.screenshotcenter_url + "/to/file")
        assert await client._transport.download(url, dest=None) == b"foreign bytes"
    assert len(seen) == 1
    assert "X-API-KEY" not in seen[0]
    assert "Authorization" not in seen[0]
    assert_no_key(seen[0])


def test_only_the_base_origin_and_https_edge_hosts_are_trusted() -> None:
    transport = Transport(
        base_url="https://edge.uprock.com",
        auth_headers={"Authorization": f"Bearer {KEY}"},
        secret=KEY,
        timeout=Timeout(),
        limits=UprockClient(KEY)._transport.limits,
        retry=FAST_RETRY,
        trusted_host_suffixes=(".edge.uprock.com",),
    )
    trusted = [
        "https://edge.uprock.com/crawl/v1/jobs/x/download",
        "https://iad001.edge.uprock.com/c/abc",
        "https://IAD001.EDGE.UPROCK.COM/c/abc",
    ]
    foreign = [
        "http://edge.uprock.com/x",  # same host, plain http
        "https://edge.uprock.com:8443/x",  # same host, other port
        "http://iad001.edge.uprock.com/c/abc",  # edge host over http
        "https://edge.uprock.com.evil.example/x",
        "https://evil-edge.uprock.com/x",
        "https://xedge.uprock.com/x",
        "https://uprock.com/x",
        "https://storage.example.com/bucket/obj?sig=1",
        "https://evil.com@iad001.edge.uprock.com/c/abc",  # user:password@ never gets it
        "https://user:pw@edge.uprock.com/x",
    ]
    for url in trusted:
        assert transport.is_trusted(URL(url)), url
    for url in foreign:
        assert not transport.is_trusted(URL(url)), url
