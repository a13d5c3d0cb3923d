"""Cancelling the consumer at random points leaks no task, connection or file,
and leaving a fan-out in any way closes a generator input before the block exits.

The FakeServer runs on its own event loop in a thread, so every task left on
the test's loop belongs to the client: after each cancelled trial the set of
tasks must be exactly what it was before the first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import pytest
from aiohttp import web
from yarl import URL

from tests.conftest import FAST_RETRY
from uprock_async import Limits, NotFoundError, UprockClient, fan_out
from uprock_async.concurrency._fanout import gather
from uprock_async.testing import FakeServer

TRIALS = 100  # random cancellation points over fan-outs of LOOKUPS lookups
LOOKUPS = 50
DOWNLOAD_TRIALS = 20
POOL = 16
DOWNLOAD_SIZE = 4 * 2**20
DOWNLOAD_CHUNK = 64 * 2**10


async def slow_download(request: web.Request) -> web.StreamResponse:
    """4 MiB with a declared length, 64 KiB every 4 ms: about 0.25 s in all."""
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = DOWNLOAD_SIZE
    await response.prepare(request)
    chunk = b"x" * DOWNLOAD_CHUNK
    for _ in range(DOWNLOAD_SIZE // DOWNLOAD_CHUNK):
        await response.write(chunk)
        await asyncio.sleep(0.004)
    return response


@contextlib.contextmanager
def threaded_server(**options: Any) -> Iterator[FakeServer]:
    """A FakeServer (plus a ``/slow-download`` route) serving from another thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-server", daemon=True)
    thread.start()
    server = FakeServer(**options)
    server.app.router.add_get("/slow-download", slow_download)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture
def remote() -> Iterator[FakeServer]:
    with threaded_server(seed=3, latency=0.01) as server:
        yield server


def connector_of(client: UprockClient) -> aiohttp.BaseConnector:
    session = client._transport.session()
    assert session.connector is not None
    return session.connector


async def settle_server(server: FakeServer) -> None:
    """Wait until the server finished the handlers of requests we abandoned."""
    deadline = time.monotonic() + 2.0
    # The counter lives on the server's thread: there is no event to wait on.
    while server.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110
        await anyio.sleep(0.01)
    assert server.in_flight == 0


async def test_cancelling_fan_outs_at_random_points_leaks_no_task_or_connection(
    remote: FakeServer,
) -> None:
    ids = remote.add_jobs(LOOKUPS, headers=8, cookies=4)
    rng = random.Random(2024)
    baseline = asyncio.all_tasks()
    cancelled_mid_way = 0
    async with UprockClient(
        remote.api_key,
        base_url=remote.uprock_url,
        retry=FAST_RETRY,
        timeout=5.0,
        limits=Limits(max_connections=POOL),
    ) as client:
        connector = connector_of(client)

        async def streamed() -> int:
            got = 0
            async with client.iter_job_details(ids, concurrency=16) as outcomes:
                async for _outcome in outcomes:
                    got += 1
            return got

        async def gathered() -> int:
            return len(await client.job_details(ids, concurrency=16))

        async def single() -> int:
            await client.job_detail(ids[0])
            return 1

        consumers: list[Callable[[], Awaitable[int]]] = [streamed, gathered, single]
        for trial in range(TRIALS):
            consume = consumers[trial % len(consumers)]
            with anyio.move_on_after(rng.uniform(0, 0.03)) as scope:
                await consume()
            cancelled_mid_way += scope.cancelled_caught
            await asyncio.sleep(0)  # let aiohttp run its release callbacks
            assert asyncio.all_tasks() == baseline, f"trial {trial} left a task behind"
            assert not connector._acquired, f"trial {trial} left a connection checked out"
            idle = sum(len(conns) for conns in connector._conns.values())
            assert idle <= POOL

        # The pool still works after 100 interruptions.
        assert len(await client.job_details(ids, concurrency=16)) == LOOKUPS
    await settle_server(remote)
    assert asyncio.all_tasks() == baseline
    assert connector.closed
    assert cancelled_mid_way >= TRIALS // 2  # the points really fell mid-flight


Progress = Callable[[int, "int | None"], None]
Download = Callable[[UprockClient, str, Path, Progress], Awaitable[object]]


async def _download_via_transport(
    client: UprockClient, url: str, dest: Path, progress: Progress
) -> object:
    return await client._transport.download(URL(url), dest=dest, progress=progress)


async def _download_via_client(
    client: UprockClient, url: str, dest: Path, progress: Progress
) -> object:
    download = getattr(client, "download", None)
    if download is None:
        pytest.skip("UprockClient.download is not implemented yet")
    return await download(url, dest=dest, progress=progress)


@pytest.mark.parametrize("via", [_download_via_transport, _download_via_client])
async def test_cancelling_a_download_mid_transfer_leaves_no_file_behind(
    remote: FakeServer,
    tmp_path: Path,
    via: Download,
) -> None:
    url = remote.uprock_url + "/slow-download"
    rng = random.Random(99)
    baseline = asyncio.all_tasks()
    folder = tmp_path / "out"
    received = [0]
    mid_transfer = 0

    def progress(done: int, total: int | None) -> None:
        received[0] = done

    async with UprockClient(
        remote.api_key, base_url=remote.uprock_url, retry=FAST_RETRY, timeout=10.0
    ) as client:
        connector = connector_of(client)
        for trial in range(DOWNLOAD_TRIALS):
            dest = folder / f"file-{trial}.bin"
            received[0] = 0
            with anyio.move_on_after(rng.uniform(0.0, 0.15)) as scope:
                await via(client, url, dest, progress)
            assert scope.cancelled_caught, "the download finished before the cancel"
            mid_transfer += 0 < received[0] < DOWNLOAD_SIZE
            await asyncio.sleep(0)
            assert not dest.exists()
            leftovers = list(folder.iterdir()) if folder.exists() else []
            assert leftovers == [], f"trial {trial} left {leftovers}"
            assert asyncio.all_tasks() == baseline
            assert not connector._acquired

        # Uninterrupted, the same download completes (the route really streams).
        whole = folder / "whole.bin"
        assert await via(client, url, whole, progress) == whole
        assert whole.stat().st_size == DOWNLOAD_SIZE
        assert [p.name for p in folder.iterdir()] == ["whole.bin"]
    await settle_server(remote)
    assert asyncio.all_tasks() == baseline
    assert mid_transfer >= DOWNLOAD_TRIALS // 2  # most cancels hit a half-written file


# -- a generator input is closed on the way out ------------------------------------------


class Source:
    """A generator input of ``values`` whose ``finally`` records when it ran
    (optionally awaiting first, as cleanup that closes a cursor would)."""

    def __init__(self, values: Sequence[Any] = range(1000), *, cleanup_awaits: bool = False):
        self.values = values
        self.cleanup_awaits = cleanup_awaits
        self.closed = False

    async def agen(self) -> AsyncIterator[Any]:
        try:
            for value in self.values:
                yield value
        finally:
            if self.cleanup_awaits:
                await anyio.lowlevel.checkpoint()
            self.closed = True

    def gen(self) -> Iterator[Any]:
        try:
            yield from self.values
        finally:
            self.closed = True


async def quick(x: int) -> int:
    await anyio.lowlevel.checkpoint()
    return x


@pytest.mark.parametrize("cleanup_awaits", [False, True])
@pytest.mark.parametrize("kind", ["async generator", "generator"])
async def test_leaving_fan_out_early_closes_a_generator_input_before_the_block_exits(
    kind: str, cleanup_awaits: bool
) -> None:
    source = Source(cleanup_awaits=cleanup_awaits)
    items = source.agen() if kind == "async generator" else source.gen()
    async with fan_out(quick, items, concurrency=4) as outcomes:
        async for _ in outcomes:
            break
    assert source.closed  # no await between the block's end and here


async def test_a_fan_out_that_runs_to_the_end_closes_its_input_too() -> None:
    source = Source(range(20))
    async with fan_out(quick, source.agen(), concurrency=4) as outcomes:
        assert len([o async for o in outcomes]) == 20
    assert source.closed


async def test_the_callers_timeout_closes_a_generator_input() -> None:
    source = Source()

    async def slow(x: int) -> int:
        await anyio.sleep(10)
        return x

    with anyio.move_on_after(0.02) as scope:
        async with fan_out(slow, source.agen(), concurrency=4) as outcomes:
            async for _ in outcomes:
                pass
    assert scope.cancelled_caught
    assert source.closed


async def test_gather_failing_fast_closes_a_generator_input_before_raising() -> None:
    source = Source()

    async def picky(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        if x == 7:
            raise LookupError(x)
        return x

    with pytest.raises(LookupError):
        await gather(picky, source.agen(), concurrency=4)
    assert source.closed


async def test_the_client_helpers_close_the_callers_async_generator(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(30, headers=2, cookies=0)

    source = Source(ids)
    async with uprock.iter_job_details(source.agen(), concurrency=4) as outcomes:
        async for outcome in outcomes:
            assert outcome.ok
            break
    assert source.closed

    server.inject(f"/crawl/v1/jobs/{ids[5]}/detail", status=404, times=1)
    source = Source(ids)
    with pytest.raises(NotFoundError):
        await uprock.job_details(source.agen(), concurrency=4)
    assert source.closed

    source = Source(ids)  # a plain generator, through the same id check
    async with uprock.iter_job_details(source.gen(), concurrency=4) as outcomes:
        async for _ in outcomes:
            break
    assert source.closed
