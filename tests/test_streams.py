"""Streamed downloads (``stream_download``, ``stream_screenshot``, ``stream_batch``):
the bytes of the ``download_*`` methods, chunk by chunk, under the same rules.

FakeServer serves the real endpoints; a small aiohttp server on loopback serves
what FakeServer cannot: a gigabyte, a body that breaks at a chosen point, one
that never ends.
"""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from tests.conftest import FAST_RETRY
from tests.test_secrets_reachable import reachable
from uprock_async import (
    APIConnectionError,
    APIStatusError,
    Limits,
    NotFoundError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    ServerError,
    Timeout,
    UprockClient,
    sync,
)
from uprock_async.testing import FakeServer
from uprock_async.testing._uprock import download_content
from uprock_async.uprock import Job, JobDetail

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB


Stream = AbstractAsyncContextManager[AsyncIterator[bytes]]


async def read_all(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])


async def drain(stream: Stream, on_chunk: Callable[[bytes], object] = len) -> bytes:
    """Enter ``stream`` and read it to the end, calling ``on_chunk`` on each chunk."""
    chunks = []
    async with stream as body:
        async for chunk in body:
            chunks.append(chunk)
            on_chunk(chunk)
    return b"".join(chunks)


def downloads(server: FakeServer) -> int:
    return len([r for r in server.requests if r.path.endswith("/download")])


# -- the same bytes as download_* ---------------------------------------------------------


async def test_stream_download_gives_the_bytes_download_gives(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    expected = download_content(server, job_id)
    detail = await uprock.job_detail(job_id)
    assert detail.download_url is not None
    for job in (job_id, uuid.UUID(job_id), detail, detail.job, detail.download_url):
        async with uprock.stream_download(job) as body:
            assert await read_all(body) == expected
    assert await uprock.download(job_id) == expected
    # FakeServer sent it gzipped: the chunks are the decompressed content.
    assert all("gzip" in r.headers["Accept-Encoding"] for r in server.requests)
    assert uprock.stats().errors == {}


async def test_stream_screenshot_gives_the_bytes_download_screenshot_gives(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl = await sc.crawl_info(server.add_crawl(screenshots=1))
    shot_id = crawl.screenshots[0].id
    cases: list[tuple[str, dict[str, Any]]] = [
        ("image", {}),
        ("image", {"width": 200, "format": "png"}),
        ("html", {}),
    ]
    for kind, options in cases:
        async with sc.stream_screenshot(shot_id, kind=kind, **options) as body:
            streamed = await read_all(body)
        assert streamed == await sc.download_screenshot(shot_id, kind=kind, **options)
    [*_, sent] = [r for r in server.requests if r.path.endswith("/screenshot/thumbnail")]
    assert sent.query == {"id": str(shot_id), "width": "200", "format": "png"}
    for request in server.requests:
        assert "key" not in request.query
        assert request.headers["X-API-KEY"] == server.api_key


async def test_stream_batch_gives_the_zip_download_batch_gives(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.batch_completion_delay = 0.0
    batch = await sc.create_batch(["https://example.com/", "https://example.org/"], country="us")
    await sc.wait_for_batch(batch.id, poll_interval=0.01, timeout=5)
    async with sc.stream_batch(batch.id) as body:
        chunks = [chunk async for chunk in body]
    assert all(isinstance(chunk, bytes) and chunk for chunk in chunks)
    assert b"".join(chunks) == await sc.download_batch(batch.id)
    assert b"".join(chunks).startswith(b"PK")


async def test_bad_arguments_raise_at_the_call_before_any_request(
    server: FakeServer, uprock: UprockClient, sc: ScreenshotCenterClient
) -> None:
    with pytest.raises(TypeError):
        uprock.stream_download(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="job"):
        uprock.stream_download("../../etc/passwd")
    with pytest.raises(ValueError, match="kind must be one of"):
        sc.stream_screenshot(7, kind="png")
    with pytest.raises(ValueError, match="unknown option"):
        sc.stream_screenshot(7, kind="html", width=3)
    with pytest.raises(ValueError, match="positive"):
        sc.stream_batch(0)
    assert server.requests == []


# -- error answers, not ready, retries before the first chunk -----------------------------


async def test_an_error_answer_raises_on_entering_the_block(
    server: FakeServer, uprock: UprockClient, sc: ScreenshotCenterClient
) -> None:
    entered = False
    with pytest.raises(NotFoundError):
        async with uprock.stream_download(str(uuid.uuid4())):
            entered = True
    crawl = await sc.crawl_info(server.add_crawl(screenshots=1))
    with pytest.raises(NotFoundError, match="wait_for_screenshot"):  # as download_screenshot says
        async with sc.stream_screenshot(crawl.screenshots[0].id, kind="pdf"):
            entered = True
    server.batch_completion_delay = 60
    batch = await sc.create_batch(["https://example.com/"], country="us")
    with pytest.raises(APIStatusError, match="not finished"):
        async with sc.stream_batch(batch.id):
            entered = True
    assert not entered


@pytest.mark.parametrize("status", [202, 409])
async def test_a_not_ready_answer_is_retried_then_the_content_streams(
    server: FakeServer, uprock: UprockClient, status: int
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/jobs/*/download", status=status, times=2, body='"not yet"')
    async with uprock.stream_download(job_id) as body:
        assert await read_all(body) == download_content(server, job_id)
    assert downloads(server) == 3
    assert uprock.stats().errors == {}


@pytest.mark.parametrize("status", [202, 409])
async def test_a_job_never_ready_raises_as_download_does_and_streams_nothing(
    server: FakeServer, uprock: UprockClient, status: int
) -> None:
    server.uprock.not_ready_status = status
    server.job_completion_delay = 60
    job = await uprock.create_job("https://example.com/")
    with pytest.raises(APIStatusError) as streamed:
        async with uprock.stream_download(job.job_id) as body:
            await read_all(body)
    with pytest.raises(APIStatusError) as downloaded:
        await uprock.download(job.job_id)
    assert streamed.value.status_code == downloaded.value.status_code == status
    assert streamed.value.message == downloaded.value.message
    assert "not ready" in streamed.value.message
    assert downloads(server) == 2 * (1 + FAST_RETRY.max_retries)


async def test_a_gone_job_is_not_retried(server: FakeServer, uprock: UprockClient) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.uprock.archived.add(job_id)
    with pytest.raises(NotFoundError, match="the content is gone") as info:
        async with uprock.stream_download(job_id):
            pass
    assert info.value.status_code == 410
    assert downloads(server) == 1


async def test_a_server_error_before_the_first_chunk_is_retried(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/jobs/*/download", status=503, times=2)
    async with uprock.stream_download(job_id) as body:
        assert await read_all(body) == download_content(server, job_id)
    assert downloads(server) == 3
    assert uprock.stats().retries == 2


async def test_server_errors_past_the_retries_raise_on_entering(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/jobs/*/download", status=502, times=None)
    with pytest.raises(ServerError):
        async with uprock.stream_download(job_id):
            pass
    assert downloads(server) == 1 + FAST_RETRY.max_retries


# -- caps: max_download_size, after decompression ------------------------------------------

BOMB_SIZE = 8 * MIB
BOMB = gzip.compress(b"\0" * BOMB_SIZE, mtime=0)  # about 8 KiB on the wire
PLAIN = b"p" * (2 * MIB)


@pytest.fixture
async def files() -> AsyncIterator[FakeServer]:
    """A FakeServer that also serves ``/files/bomb`` (gzip) and ``/files/plain``."""

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=BOMB, headers={"Content-Encoding": "gzip"})

    async def plain(request: web.Request) -> web.Response:
        return web.Response(body=PLAIN)  # with a Content-Length, no encoding

    server = FakeServer(seed=31)
    server.app.router.add_get("/files/bomb", bomb)
    server.app.router.add_get("/files/plain", plain)
    async with server:
        yield server


def capped(server: FakeServer, cap: int | None, **options: object) -> UprockClient:
    return UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        retry=FAST_RETRY,
        limits=Limits(max_download_size=cap),
        **options,  # type: ignore[arg-type]
    )


async def test_a_gzip_bomb_stops_at_max_download_size_as_a_file_download_does(
    files: FakeServer, tmp_path: Path
) -> None:
    url = f"{files.uprock_url}/files/bomb"
    sizes: list[int] = []
    async with capped(files, MIB) as client:
        with pytest.raises(ResponseDecodeError) as streamed:
            await drain(client.stream_download(url), lambda chunk: sizes.append(len(chunk)))
        with pytest.raises(ResponseDecodeError) as downloaded:
            await client.download(url, dest=tmp_path / "bomb.bin")
    assert type(streamed.value) is type(downloaded.value)
    assert streamed.value.message == downloaded.value.message
    assert "max_download_size" in streamed.value.message
    assert streamed.value.status_code == 200
    assert sum(sizes) <= MIB  # what reached the caller never passed the cap
    assert len(files.requests) == 2  # too big is an answer, not a glitch: no retry


async def test_a_declared_length_over_the_cap_is_refused_on_entering(files: FakeServer) -> None:
    async with capped(files, MIB) as client:
        with pytest.raises(ResponseDecodeError, match=f"{len(PLAIN)} bytes"):
            async with client.stream_download(f"{files.uprock_url}/files/plain"):
                pytest.fail("entered a stream over its cap")


async def test_a_body_exactly_at_the_cap_streams_whole(files: FakeServer) -> None:
    async with capped(files, BOMB_SIZE) as client:
        streamed = await drain(client.stream_download(f"{files.uprock_url}/files/bomb"))
    assert streamed == bytes(BOMB_SIZE)


async def test_streams_are_not_limited_by_max_body_size(files: FakeServer) -> None:
    # max_body_size is for answers held in memory; a stream holds one chunk.
    async with capped(files, None, max_body_size=MIB) as client:
        async with client.stream_download(f"{files.uprock_url}/files/bomb") as body:
            assert len(await read_all(body)) == BOMB_SIZE
        with pytest.raises(ResponseDecodeError, match="max_body_size"):
            await client.download(f"{files.uprock_url}/files/bomb")


# -- the key goes only where download sends it ---------------------------------------------


async def test_the_key_is_not_sent_to_a_foreign_download_host(
    server: FakeServer, uprock: UprockClient
) -> None:
    async with FakeServer(seed=1) as foreign:
        # A fault rule answers before the auth check, like a pre-signed storage URL.
        foreign.inject("/files/*", status=200, body=b"foreign bytes", times=None)
        detail = JobDetail(
            job=Job(job_id=str(uuid.uuid4()), status="completed"),
            download_url=f"{foreign.uprock_url}/files/result.bin",
        )
        async with uprock.stream_download(detail) as body:
            assert await read_all(body) == b"foreign bytes"
        [request] = foreign.requests
        assert "Authorization" not in request.headers
        assert server.api_key not in str(request.headers)


async def test_a_redirect_to_another_host_drops_the_key(server: FakeServer) -> None:
    foreign, home = Loopback(), Loopback()

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{foreign.url}/file")

    foreign.route("/file", lambda request: answer(b"moved bytes"))
    home.route("/to/file", bounce)
    async with foreign, home:
        async with UprockClient("k" * 24, base_url=home.url, retry=FAST_RETRY) as client:
            assert await drain(client.stream_download(f"{home.url}/to/file")) == b"moved bytes"
        assert home.headers[0]["Authorization"] == "Bearer " + "k" * 24
        [headers] = foreign.headers
        assert "Authorization" not in headers
        assert "k" * 24 not in str(headers)


# -- a loopback server for the bodies FakeServer does not serve ----------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Loopback:
    """An aiohttp server on 127.0.0.1 with the routes a test adds before entering;
    ``headers`` of every request it received, in order."""

    def __init__(self, *, handler_cancellation: bool = False) -> None:
        self.app = web.Application()
        self.runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=handler_cancellation,
        )
        self.url = ""
        self.headers: list[dict[str, str]] = []

    def route(self, path: str, handler: Handler) -> None:
        async def recorded(request: web.Request) -> web.StreamResponse:
            self.headers.append(dict(request.headers))
            return await handler(request)

        self.app.router.add_get(path, recorded)

    async def __aenter__(self) -> Loopback:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()


async def answer(body: bytes) -> web.Response:
    return web.Response(body=body)


def client_for(loopback: Loopback, **options: object) -> UprockClient:
    defaults: dict[str, object] = {"retry": FAST_RETRY, "timeout": 10.0}
    return UprockClient("k" * 24, base_url=loopback.url, **{**defaults, **options})  # type: ignore[arg-type]


async def endless(request: web.Request, closed: anyio.Event, block: bytes) -> web.StreamResponse:
    """Writes ``block`` until the client goes away, then sets ``closed``."""
    response = web.StreamResponse()
    response.content_length = 1 << 40  # a terabyte: never reached
    await response.prepare(request)
    try:
        while True:
            await response.write(block)
    except ConnectionError:  # aiohttp's ClientConnectionResetError is one
        closed.set()
    return response


async def test_a_transfer_broken_before_the_first_chunk_is_retried() -> None:
    content = bytes(range(256)) * 1024

    async def flaky(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = len(content)
        await response.prepare(request)
        if len(server.headers) == 1:  # the first attempt: headers, then the line drops
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write(content)
        return response

    server = Loopback()
    server.route("/file", flaky)
    async with server, client_for(server) as client:
        assert await drain(client.stream_download(f"{server.url}/file")) == content
        assert client.stats().retries == 1
    assert len(server.headers) == 2


async def test_a_transfer_broken_after_the_first_chunk_raises_and_is_not_retried() -> None:
    first_seen = anyio.Event()
    block = b"a" * (64 * KIB)

    async def breaking(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = 16 * len(block)
        await response.prepare(request)
        await response.write(block)
        await first_seen.wait()
        assert request.transport is not None
        request.transport.close()  # mid-body, 15 blocks short
        return response

    sizes: list[int] = []

    def seen(chunk: bytes) -> None:
        sizes.append(len(chunk))
        first_seen.set()

    server = Loopback()
    server.route("/file", breaking)
    async with server, client_for(server) as client:
        with anyio.fail_after(10), pytest.raises(APIConnectionError) as info:
            await drain(client.stream_download(f"{server.url}/file"), seen)
        assert client.stats().errors == {"APIConnectionError": 1}
        assert client.stats().retries == 0
    assert len(server.headers) == 1  # never retried: the caller already had bytes
    assert 0 < sum(sizes) < 16 * len(block)
    assert "not retried" in info.value.message
    assert info.value.method == "GET"
    assert str(info.value.url).endswith("/file")
    assert not [text for text in reachable(info.value) if "k" * 24 in text]  # nor Authorization


async def test_leaving_the_block_early_closes_the_connection() -> None:
    closed = anyio.Event()
    block = b"e" * (256 * KIB)
    server = Loopback()
    server.route("/endless", lambda request: endless(request, closed, block))
    async with server:
        baseline = asyncio.all_tasks()
        # One connection in the pool: a leaked one would hang the second stream.
        async with client_for(server, limits=Limits(max_connections=1)) as client:
            for _ in range(2):
                async with client.stream_download(f"{server.url}/endless") as body:
                    async for chunk in body:
                        assert chunk
                        break
                connector = client._transport.session().connector
                assert connector is not None
                assert not connector._acquired
                with anyio.fail_after(5):
                    await closed.wait()  # the server saw the connection close
                closed = anyio.Event()
            assert client.stats().errors == {}
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == baseline
    assert len(server.headers) == 2


async def test_cancelling_a_stream_mid_transfer_closes_the_connection() -> None:
    closed = anyio.Event()
    block = b"c" * (64 * KIB)
    server = Loopback()
    server.route("/endless", lambda request: endless(request, closed, block))
    async with server:
        baseline = asyncio.all_tasks()
        async with client_for(server) as client:
            received = 0
            with anyio.CancelScope() as scope:
                async with client.stream_download(f"{server.url}/endless") as body:
                    async for chunk in body:
                        received += len(chunk)
                        if received > MIB:
                            scope.cancel()  # as a deadline or a task group would
            assert scope.cancelled_caught
            with anyio.fail_after(5):
                await closed.wait()
            connector = client._transport.session().connector
            assert connector is not None
            assert not connector._acquired
            assert client.stats().errors == {}  # a cancellation is no failure
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == baseline


async def test_cancelling_while_entering_leaks_nothing() -> None:
    dropped = anyio.Event()

    async def slow(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:  # the client hung up (handler_cancellation)
            dropped.set()
            raise
        return web.Response(body=b"late")

    server = Loopback(handler_cancellation=True)
    server.route("/slow", slow)
    async with server:
        baseline = asyncio.all_tasks()
        async with client_for(server) as client:
            with anyio.move_on_after(0.1) as scope:
                async with client.stream_download(f"{server.url}/slow"):
                    pytest.fail("entered before the answer came")
            assert scope.cancelled_caught
            connector = client._transport.session().connector
            assert connector is not None
            assert not connector._acquired
            assert client.stats().errors == {}
            with anyio.fail_after(5):
                await dropped.wait()  # the server saw the connection close
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == baseline


async def test_an_error_raised_in_the_block_propagates_as_itself() -> None:
    closed = anyio.Event()
    server = Loopback()
    server.route("/endless", lambda request: endless(request, closed, b"x" * KIB))

    async def fail_inside(stream: Stream) -> None:
        async with stream as body:
            await anext(body)
            raise KeyError("mine")

    async with server, client_for(server) as client:
        with pytest.raises(KeyError, match="mine"):  # not an ExceptionGroup
            await fail_inside(client.stream_download(f"{server.url}/endless"))
        with anyio.fail_after(5):
            await closed.wait()


async def test_a_stream_is_entered_once_and_read_inside_its_block(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    stream = uprock.stream_download(job_id)
    async with stream as body:
        pass
    with pytest.raises(RuntimeError, match="inside the block"):
        await anext(body)
    with pytest.raises(RuntimeError, match="only once"):
        async with stream:
            pass


@pytest.mark.timeout(60)
async def test_memory_stays_flat_over_a_gigabyte() -> None:
    block = b"g" * MIB  # one buffer, written 1024 times: the server allocates nothing

    async def gigabyte(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = GIB
        await response.prepare(request)
        for _ in range(GIB // len(block)):
            await response.write(block)
        return response

    server = Loopback()
    server.route("/gigabyte", gigabyte)
    async with server:
        timeout = Timeout(total=None, connect=5.0, read=10.0)
        async with client_for(server, timeout=timeout) as client:
            received = chunks = 0
            tracemalloc.start()
            try:
                async with client.stream_download(f"{server.url}/gigabyte") as body:
                    async for chunk in body:
                        received += len(chunk)
                        chunks += 1
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert received == GIB
    assert chunks > 1000
    assert peak < 16 * MIB, f"{peak / MIB:.1f} MiB held at the peak"


# -- the blocking twins ----------------------------------------------------------------------


def test_the_blocking_twins_are_context_managers_of_plain_iterators() -> None:
    with FakeServer.in_thread(seed=7) as server:
        [job_id] = server.add_jobs(1, headers=0, cookies=0)
        options = {"api_key": server.api_key, "retry": FAST_RETRY, "timeout": 5.0}
        with sync.UprockClient(base_url=server.uprock_url, **options) as client:  # type: ignore[arg-type]
            with client.stream_download(job_id) as body:
                assert b"".join(body) == client.download(job_id)
            with pytest.raises(NotFoundError), client.stream_download(str(uuid.uuid4())) as body:
                next(body)
        with sync.ScreenshotCenterClient(base_url=server.screenshotcenter_url, **options) as sc:  # type: ignore[arg-type]
            crawl = sc.crawl_info(server.add_crawl(screenshots=1))
            shot_id = crawl.screenshots[0].id
            with sc.stream_screenshot(shot_id, kind="html") as body:
                assert b"".join(body) == sc.download_screenshot(shot_id, kind="html")
            with sc.stream_screenshot(shot_id) as body:
                assert next(body).startswith(b"\x89PNG")  # and leaving early is fine
            with pytest.raises(ValueError, match="positive"):
                sc.stream_batch(0)
