"""Retries, timeouts, broken connections, bad bodies and redirects, on loopback."""

from __future__ import annotations

import time

import pytest
from aiohttp import web
from yarl import URL

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    NotFoundError,
    ResponseDecodeError,
    RetryPolicy,
    ScreenshotCenterClient,
    ServerError,
    UprockClient,
)
from uprock_async.testing import FakeServer

DETAIL = "/crawl/v1/jobs/*/detail"


def _hits(server: FakeServer, path: str) -> int:
    return sum(1 for r in server.requests if r.path == path)


def _client(server: FakeServer, **kw: object) -> UprockClient:
    options: dict[str, object] = {"base_url": server.uprock_url, "retry": FAST_RETRY}
    options.update(kw)
    return UprockClient(server.api_key, **options)  # type: ignore[arg-type]


async def test_two_503s_then_200_takes_three_requests(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=503, times=2)
    detail = await uprock.job_detail(job_id)
    assert detail.job_id == job_id
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 3
    stats = uprock.stats()
    assert stats.requests == 3
    assert stats.retries == 2
    assert stats.responses == {503: 2, 200: 1}


async def test_max_retries_zero_sends_exactly_one_request(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=503, times=5)
    async with _client(server, retry=0) as client:
        with pytest.raises(ServerError) as info:
            await client.job_detail(job_id)
    assert info.value.status_code == 503
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 1


async def test_retries_give_up_after_max_retries(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=502, times=None)
    with pytest.raises(ServerError):
        await uprock.job_detail(job_id)
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 1 + FAST_RETRY.max_retries


async def test_statuses_outside_the_policy_are_not_retried(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=400, times=5)
    with pytest.raises(Exception, match="invalid request"):
        await uprock.job_detail(job_id)
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 1


async def test_retry_after_is_honoured(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=429, times=1, retry_after=0.3)
    policy = RetryPolicy(max_retries=1, backoff_initial=0.001, jitter=False, max_retry_after=1.0)
    async with _client(server, retry=policy) as client:
        started = time.monotonic()
        await client.job_detail(job_id)
        elapsed = time.monotonic() - started
    assert elapsed >= 0.28
    assert elapsed < 3.0


async def test_retry_after_is_capped_by_the_policy(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=503, times=1, retry_after=3600)
    policy = RetryPolicy(max_retries=1, backoff_initial=0.001, max_retry_after=0.05)
    async with _client(server, retry=policy) as client:
        started = time.monotonic()
        await client.job_detail(job_id)
        assert time.monotonic() - started < 2.0


async def test_slow_answer_raises_api_timeout_error(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=200, times=None, delay=0.8)
    async with _client(server, timeout=0.2, retry=0) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await client.job_detail(job_id)
        assert time.monotonic() - started < 1.5
    assert isinstance(APITimeoutError("x"), APIConnectionError)


async def test_timed_out_get_is_retried(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=200, times=1, delay=0.8)
    async with _client(server, timeout=0.2) as client:
        detail = await client.job_detail(job_id)
    assert detail.job_id == job_id
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 2


async def test_dropped_connection_on_get_is_retried(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, times=1, disconnect=True)
    detail = await uprock.job_detail(job_id)
    assert detail.job_id == job_id
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 2
    # Our RetryPolicy did it (aiohttp's hidden one-shot resend is switched off).
    assert uprock.stats().retries == 1


async def test_always_dropped_connection_raises_api_connection_error(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, times=None, disconnect=True)
    async with _client(server) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.job_detail(job_id)
    assert not isinstance(info.value, APITimeoutError)
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 3


async def test_truncated_body_is_retried(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, status=200, times=1, truncate=True)
    detail = await uprock.job_detail(job_id)
    assert detail.job_id == job_id
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 2


async def test_truncated_crawl_info_is_retried(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(screenshots=50)
    server.inject("/api/v1/crawl/info", status=200, times=2, truncate=True)
    crawl = await sc.crawl_info(crawl_id)
    assert len(crawl.screenshots) == 50


async def test_malformed_json_raises_response_decode_error_with_an_excerpt(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1)
    garbage = '{"job": {"job_id": ' + "x" * 5000
    server.inject(DETAIL, status=200, times=None, body=garbage)
    with pytest.raises(ResponseDecodeError) as info:
        await uprock.job_detail(job_id)
    error = info.value
    assert error.body == garbage.encode()
    assert error.status_code == 200
    assert '{"job": {"job_id": ' in str(error)
    assert len(str(error)) < 600  # an excerpt, not the body
    assert "5019 bytes" in str(error)
    # A decode error is the server's answer, not a transient failure: no retry.
    assert _hits(server, f"/crawl/v1/jobs/{job_id}/detail") == 1


async def test_valid_json_of_the_wrong_shape_is_a_decode_error(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.inject("/api/v1/crawl/info", status=200, times=1, body={"success": True, "data": [1]})
    with pytest.raises(ResponseDecodeError, match="does not match"):
        await sc.crawl_info(5)


async def test_non_idempotent_request_is_not_retried_once_sent(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.inject("/crawl/v1/anything", status=503, times=5)
    with pytest.raises(ServerError):
        await uprock._transport.request("POST", "/crawl/v1/anything", json=b"{}", idempotent=False)
    assert _hits(server, "/crawl/v1/anything") == 1


async def test_idempotent_post_is_retried(server: FakeServer, uprock: UprockClient) -> None:
    server.inject("/crawl/v1/anything", status=503, times=5)
    with pytest.raises(ServerError):
        await uprock._transport.request("POST", "/crawl/v1/anything", json=b"{}", idempotent=True)
    assert _hits(server, "/crawl/v1/anything") == 3


async def test_non_idempotent_request_is_retried_when_it_never_left(server: FakeServer) -> None:
    # Nothing listens on the closed server's port: connect fails before sending.
    port = server.port
    await server.close()
    async with UprockClient("k", base_url=f"http://127.0.0.1:{port}", retry=FAST_RETRY) as client:
        with pytest.raises(APIConnectionError, match="cannot connect"):
            await client._transport.request("POST", "/crawl/v1/new", json=b"{}", idempotent=False)
        assert client.stats().requests == 3


async def _foreign_app() -> tuple[web.AppRunner, list[dict[str, str]], int]:
    """A second loopback origin that records the headers it receives."""
    seen: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"job": {"job_id": "moved", "status": "completed"}})

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    runner, port = await _serve(app)
    return runner, seen, port


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """``app`` on a loopback port of its own: its runner (to clean up) and the port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]


@pytest.mark.parametrize("service", ["uprock", "screenshotcenter"])
async def test_redirect_to_another_origin_never_carries_the_key(service: str) -> None:
    runner, seen, foreign_port = await _foreign_app()
    server = FakeServer(seed=1)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{foreign_port}/elsewhere?x=1")

    server.app.router.add_get("/redirect-me", redirect)
    server.app.router.add_get("/api/v1/redirect-me", redirect)
    try:
        async with server:
            client: UprockClient | ScreenshotCenterClient = (
                UprockClient(server.api_key, base_url=server.uprock_url)
                if service == "uprock"
                else ScreenshotCenterClient(server.api_key, base_url=server.screenshotcenter_url)
            )
            async with client:
                response = await client._transport.request("GET", "/redirect-me")
            assert response.status == 200
            # The first hop (our own origin) did get the key.
            first = server.requests[-1].headers
            assert server.api_key in (first.get("Authorization", "") + first.get("X-API-KEY", ""))
    finally:
        await runner.cleanup()
    [headers] = seen
    assert "Authorization" not in headers
    assert "X-API-KEY" not in headers
    assert server.api_key not in str(headers)


async def test_redirect_within_the_same_origin_keeps_the_key(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    extra = FakeServer(seed=0, api_key=server.api_key)
    target = f"/crawl/v1/jobs/{job_id}/detail"

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(target)

    extra.app.router.add_get("/old", redirect)
    extra.jobs.update(server.jobs)
    async with extra, _client(extra) as client:
        response = await client._transport.request("GET", "/old")
    assert response.status == 200
    assert extra.requests[-1].path == target
    assert extra.requests[-1].headers["Authorization"] == f"Bearer {server.api_key}"


# -- errors name the request that failed ------------------------------------------------


async def test_one_unknown_id_among_many_is_named_by_the_error(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(20, headers=1, cookies=0)
    unknown = "0f8b1c2e-0000-4000-8000-0000000000aa"
    with pytest.raises(NotFoundError) as info:
        await uprock.job_details([*ids[:10], unknown, *ids[10:]], concurrency=4)
    error = info.value
    assert error.method == "GET"
    assert error.url == f"{server.uprock_url}/crawl/v1/jobs/{unknown}/detail"
    assert str(error).startswith(f"GET /crawl/v1/jobs/{unknown}/detail: HTTP 404: not found")
    assert error.message.startswith("not found")  # still the service's own words


async def test_connection_failures_and_timeouts_name_the_request(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject(DETAIL, times=None, disconnect=True)
    async with _client(server, retry=0) as client:
        with pytest.raises(APIConnectionError) as dropped:
            await client.job_detail(job_id)
    assert dropped.value.method == "GET"
    assert dropped.value.url == f"{server.uprock_url}/crawl/v1/jobs/{job_id}/detail"
    assert str(dropped.value).startswith(f"GET /crawl/v1/jobs/{job_id}/detail: ")

    server.clear_faults()
    server.inject(DETAIL, status=200, times=None, delay=0.5)
    async with _client(server, timeout=0.1, retry=0) as client:
        with pytest.raises(APITimeoutError) as slow:
            await client.job_detail(job_id, parse_cookies=True)
    assert slow.value.method == "GET"
    assert str(slow.value).startswith(
        f"GET /crawl/v1/jobs/{job_id}/detail?parse_cookies=true: request to"
    )


async def test_error_envelopes_sent_with_200_name_their_own_request(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_ids = [server.add_crawl(screenshots=1) for _ in range(6)]
    bad = crawl_ids[3]
    envelope = {"success": False, "error": "Crawl not found", "code": "NOT_FOUND"}
    server.inject(
        "/api/v1/crawl/info", status=200, times=None, body=envelope, query={"id": str(bad)}
    )
    # Concurrent requests: each error must name its own id, not the last one sent.
    results = await sc.crawl_infos(crawl_ids, concurrency=6, return_exceptions=True)
    errors = [r for r in results if isinstance(r, NotFoundError)]
    assert len(errors) == 1
    assert errors[0].url == f"{server.screenshotcenter_url}/crawl/info?id={bad}"
    assert str(errors[0]).startswith(f"GET /api/v1/crawl/info?id={bad}: HTTP 200: ")


async def test_error_envelopes_name_single_requests_too(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    envelope = {"success": False, "error": "quota exceeded", "code": "QUOTA"}
    server.inject("/api/v1/crawl/create", status=200, times=1, body=envelope)
    with pytest.raises(APIStatusError) as created:
        await sc.create_crawl("https://example.com/")
    assert created.value.method == "POST"
    assert created.value.url == f"{server.screenshotcenter_url}/crawl/create"
    crawl_id = server.add_crawl(screenshots=1)
    server.inject("/api/v1/crawl/info", status=200, times=1, body=envelope)
    with pytest.raises(APIStatusError) as read:
        await sc.crawl_info(crawl_id)
    assert read.value.method == "GET"
    assert read.value.url == f"{server.screenshotcenter_url}/crawl/info?id={crawl_id}"


def test_error_urls_carry_no_credentials_and_no_foreign_query() -> None:
    client = UprockClient("k" * 20, base_url="https://edge.uprock.com")
    shown = client._transport.public_url
    own = URL("https://edge.uprock.com/crawl/v1/jobs/x/detail?parse_cookies=true#frag")
    assert shown(own) == "https://edge.uprock.com/crawl/v1/jobs/x/detail?parse_cookies=true"
    edge = URL("https://iad1.edge.uprock.com/c/x?part=2")
    assert shown(edge) == "https://iad1.edge.uprock.com/c/x?part=2"
    signed = URL("https://storage.example.com/bucket/obj?X-Amz-Signature=abc")
    assert shown(signed) == "https://storage.example.com/bucket/obj"
    userinfo = URL("https://user:pw@edge.uprock.com/crawl/v1/jobs/x/download?a=1")
    assert shown(userinfo) == "https://edge.uprock.com/crawl/v1/jobs/x/download?a=1"


@pytest.mark.parametrize("slash", ["", "/"])
async def test_a_base_url_with_a_path_prefixes_every_request_single_and_fanned_out(
    slash: str,
) -> None:
    """A gateway base URL (``https://gw/uprock``): one lookup and a fan-out's
    lookups (built from parts, not parsed) go to the same prefixed path and query,
    and carry the key."""
    seen: list[tuple[str, str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.query_string, request.headers.get("Authorization")))
        job_id = request.match_info["job_id"]
        return web.json_response({"job": {"job_id": job_id, "status": "completed"}})

    app = web.Application()
    app.router.add_get("/gw/uprock/crawl/v1/jobs/{job_id}/detail", record)
    runner, port = await _serve(app)
    base = f"http://127.0.0.1:{port}/gw/uprock{slash}"
    try:
        async with UprockClient("k-prefix", base_url=base, retry=FAST_RETRY) as client:
            one = await client.job_detail("solo", parse_cookies=True)
            many = await client.job_details(["a", "b-1", "c_2"], parse_cookies=True)
    finally:
        await runner.cleanup()
    assert [one.job_id, *(d.job_id for d in many)] == ["solo", "a", "b-1", "c_2"]
    assert sorted(seen) == sorted(
        (f"/gw/uprock/crawl/v1/jobs/{job_id}/detail", "parse_cookies=true", "Bearer k-prefix")
        for job_id in ["solo", "a", "b-1", "c_2"]
    )


@pytest.mark.parametrize("base", ["http://127.0.0.1:9", "https://gw.example:8443/uprock/"])
@pytest.mark.parametrize(
    "path", ["/crawl/v1/jobs/abc/detail", "/batch/download?id=7", "/a?x=1&y=%2F", "/s#part", ""]
)
async def test_urls_built_from_parts_are_the_urls_a_parse_gives(base: str, path: str) -> None:
    async with UprockClient("k", base_url=base) as client:
        built = client._transport.url(path)
    parsed = URL(base.rstrip("/") + path, encoded=True)
    assert built == parsed
    assert str(built) == str(parsed)
