"""No item is lost silently: whatever a call raises is an outcome, or it is raised.

An ``Exception`` from ``fn`` becomes that item's ``Outcome.error`` (or its slot
with ``return_exceptions=True``). Any other ``BaseException`` — a
``CancelledError`` that ``fn`` raised itself (a library that turns a timeout
into cancellation), ``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``, a
custom one — cancels the other calls and is raised as itself by ``fan_out``,
``gather``, ``job_details`` and ``crawl_infos``: a stream never just ends early,
and a list never holds ``None`` for an item or has fewer entries than items. A
cancellation of the caller's own scope still just cancels.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import anyio
import anyio.lowlevel
import pytest

from uprock_async import ScreenshotCenterClient, UprockAsyncError, UprockClient, fan_out
from uprock_async.concurrency._fanout import gather
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY
from .test_fanout import other_tasks

N = 20
FAILING = 3  # the item whose call raises


class Flaky(Exception):
    """An exception of the caller's own, outside the library's tree."""


class Abort(BaseException):
    """A custom BaseException, like a framework's own 'stop everything'."""


#: Exceptions: they stay with their item.
EXCEPTIONS: list[Callable[[], Exception]] = [
    lambda: ValueError("bad item"),
    lambda: Flaky("flaky item"),
    lambda: UprockAsyncError("the service said no"),
]
#: Everything else: it ends the run and reaches the caller as itself.
BASE_EXCEPTIONS: list[Callable[[], BaseException]] = [
    lambda: asyncio.CancelledError("fn gave up"),
    lambda: KeyboardInterrupt(),
    lambda: SystemExit(3),
    lambda: GeneratorExit(),
    lambda: Abort("stop"),
]
EXCEPTION_IDS = ["ValueError", "Flaky", "UprockAsyncError"]
BASE_EXCEPTION_IDS = ["CancelledError", "KeyboardInterrupt", "SystemExit", "GeneratorExit", "Abort"]

Run = Callable[[Callable[[int], Awaitable[int]], list[int]], Awaitable[list[Any]]]


async def stream(fn: Callable[[int], Awaitable[int]], items: list[int], ordered: bool) -> list[Any]:
    """Every outcome of a fan_out, as ``(index, value, error)``, in the order yielded."""
    got = []
    async with fan_out(fn, items, concurrency=4, ordered=ordered) as outcomes:
        async for outcome in outcomes:
            got.append((outcome.index, outcome.value, outcome.error))
    return got


async def unordered(fn: Callable[[int], Awaitable[int]], items: list[int]) -> list[Any]:
    return sorted(await stream(fn, items, ordered=False), key=lambda t: t[0])


async def ordered(fn: Callable[[int], Awaitable[int]], items: list[int]) -> list[Any]:
    return await stream(fn, items, ordered=True)


def triples(results: list[Any]) -> list[Any]:
    """A gathered list as ``(index, value, error)``, like the streamed outcomes."""
    return [
        (i, None, r) if isinstance(r, BaseException) else (i, r, None)
        for i, r in enumerate(results)
    ]


async def gathered(fn: Callable[[int], Awaitable[int]], items: list[int]) -> list[Any]:
    return triples(await gather(fn, items, concurrency=4, return_exceptions=True))


async def gathered_fail_fast(fn: Callable[[int], Awaitable[int]], items: list[int]) -> list[Any]:
    return list(enumerate(await gather(fn, items, concurrency=4)))


async def gathered_from_a_generator(
    fn: Callable[[int], Awaitable[int]], items: list[int]
) -> list[Any]:
    async def source() -> AsyncIterator[int]:
        for item in items:
            yield item

    return triples(await gather(fn, source(), concurrency=4, return_exceptions=True))


RUNS: list[Run] = [unordered, ordered, gathered, gathered_from_a_generator]
RUN_IDS = ["fan_out", "fan_out ordered", "gather", "gather over an async generator"]


class Calls:
    """``fn`` for the tests: item FAILING raises, the items after it are still
    running when it does; counts what ran and what was cancelled."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        # Long when the failure cancels them anyway, so that a loaded machine cannot
        # let them finish first; short when every call runs to the end.
        self.slow = 0.05 if isinstance(error, Exception) else 5.0
        self.running = 0
        self.finished = 0
        self.cancelled = 0

    async def __call__(self, x: int) -> int:
        self.running += 1
        try:
            if x == FAILING:
                await anyio.sleep(0.01)
                raise self.error
            await anyio.sleep(0 if x < FAILING else self.slow)
            self.finished += 1
            return x * 10
        except anyio.get_cancelled_exc_class():
            if x != FAILING:
                self.cancelled += 1
            raise
        finally:
            self.running -= 1


# -- the engine --------------------------------------------------------------------


@pytest.mark.parametrize("make", EXCEPTIONS, ids=EXCEPTION_IDS)
@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
async def test_an_exception_from_fn_stays_with_its_item_and_the_rest_complete(
    run: Run, make: Callable[[], Exception]
) -> None:
    calls = Calls(make())
    got = await run(calls, list(range(N)))
    assert [index for index, _, _ in got] == list(range(N))  # every item, once
    for index, value, error in got:
        if index == FAILING:
            assert error is calls.error
            assert value is None
        else:
            assert error is None
            assert value == index * 10
    assert calls.finished == N - 1


@pytest.mark.parametrize("make", EXCEPTIONS, ids=EXCEPTION_IDS)
async def test_gather_without_return_exceptions_raises_the_first_exception_itself(
    make: Callable[[], Exception],
) -> None:
    calls = Calls(make())
    with pytest.raises(type(calls.error)) as info:
        await gathered_fail_fast(calls, list(range(N)))
    assert info.value is calls.error
    assert calls.running == 0


@pytest.mark.parametrize("make", BASE_EXCEPTIONS, ids=BASE_EXCEPTION_IDS)
@pytest.mark.parametrize("run", [*RUNS, gathered_fail_fast], ids=[*RUN_IDS, "gather fail-fast"])
async def test_any_other_base_exception_from_fn_is_raised_after_the_rest_are_cancelled(
    run: Run, make: Callable[[], BaseException]
) -> None:
    calls = Calls(make())
    before = other_tasks()
    with pytest.raises(type(calls.error)) as info:
        await run(calls, list(range(N)))
    assert info.value is calls.error  # the very object, not a group or a copy
    assert calls.cancelled >= 1  # items after it were in flight, and were cancelled
    assert calls.running == 0
    assert calls.finished < N - 1
    assert other_tasks() <= before


async def test_a_stream_that_ends_early_always_ends_with_an_exception() -> None:
    """The issue's measurement: 20 items, item 3 raising CancelledError, 4 at once."""
    error = asyncio.CancelledError("a timeout library's cancellation")

    async def fn(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        if x == FAILING:
            raise error
        return x

    seen = 0

    async def consume() -> None:
        nonlocal seen
        async with fan_out(fn, range(N), concurrency=4) as outcomes:
            async for _ in outcomes:
                seen += 1

    with pytest.raises(asyncio.CancelledError) as info:
        await consume()
    assert info.value is error
    assert seen < N


async def test_fns_cancelled_error_is_not_swallowed_by_a_scope_around_the_call() -> None:
    error = asyncio.CancelledError("raised by fn")

    async def fn(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        if x == FAILING:
            raise error
        return x

    with pytest.raises(asyncio.CancelledError) as info:
        with anyio.CancelScope() as scope:  # not cancelled: it must let fn's error through
            await gather(fn, range(N), concurrency=4)
    assert info.value is error
    assert not scope.cancelled_caught


# -- a cancellation of the caller still just cancels --------------------------------


async def slow(x: int) -> int:
    await anyio.sleep(10)
    return x


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
async def test_the_callers_timeout_cancels_cleanly(run: Run) -> None:
    before = other_tasks()
    with anyio.move_on_after(0.05) as scope:
        await run(slow, list(range(N)))
    assert scope.cancelled_caught
    assert other_tasks() <= before


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
async def test_the_caller_cancelling_its_scope_cancels_cleanly(run: Run) -> None:
    before = other_tasks()

    async def go() -> None:
        await run(slow, list(range(N)))

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(go)
            await anyio.sleep(0.02)
            scope.cancel()
    assert scope.cancelled_caught
    assert other_tasks() <= before


async def test_the_body_cancelling_the_callers_scope_cancels_cleanly() -> None:
    with anyio.CancelScope() as scope:
        async with fan_out(Calls(ValueError()), range(N), concurrency=4) as outcomes:
            async for outcome in outcomes:
                if outcome.index == 1:
                    scope.cancel()
    assert scope.cancelled_caught


@pytest.mark.parametrize("run", RUNS, ids=RUN_IDS)
async def test_an_asyncio_timeout_around_the_call_raises_timeout_error(run: Run) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await run(slow, list(range(N)))


# -- the client helpers ---------------------------------------------------------------


def raising_hook(error: BaseException, marker: str) -> aiohttp.TraceConfig:
    """A tracing hook (as OpenTelemetry installs) that raises ``error`` inside the
    request whose URL contains ``marker``, while other requests are in flight."""

    async def on_request_start(
        session: aiohttp.ClientSession,
        context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        if marker in str(params.url):
            await anyio.sleep(0.01)
            raise error

    config = aiohttp.TraceConfig()
    config.on_request_start.append(on_request_start)
    return config


ALL_KINDS = [*EXCEPTIONS, *BASE_EXCEPTIONS]
ALL_IDS = [*EXCEPTION_IDS, *BASE_EXCEPTION_IDS]


@pytest.mark.parametrize("make", ALL_KINDS, ids=ALL_IDS)
async def test_job_details_returns_every_item_or_raises(
    server: FakeServer, make: Callable[[], BaseException]
) -> None:
    ids = server.add_jobs(N, headers=2, cookies=0)
    server.latency = 0.02  # the other requests are in flight when one fails
    error = make()
    hook = raising_hook(error, ids[FAILING])
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, trace_configs=[hook]
    ) as client:
        if isinstance(error, Exception):
            results = await client.job_details(ids, concurrency=4, return_exceptions=True)
            assert len(results) == N
            assert results[FAILING] is error
            assert [getattr(r, "job_id", None) for r in results] == [
                None if i == FAILING else job_id for i, job_id in enumerate(ids)
            ]
        else:
            before = other_tasks()
            with pytest.raises(type(error)) as info:
                await client.job_details(ids, concurrency=4, return_exceptions=True)
            assert info.value is error
            assert other_tasks() <= before
            assert len(server.requests) < N  # the rest were cancelled, never sent


@pytest.mark.parametrize("make", ALL_KINDS, ids=ALL_IDS)
async def test_iter_job_details_yields_every_item_or_raises(
    server: FakeServer, make: Callable[[], BaseException]
) -> None:
    ids = server.add_jobs(N, headers=2, cookies=0)
    server.latency = 0.02
    error = make()
    hook = raising_hook(error, ids[FAILING])
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, trace_configs=[hook]
    ) as client:
        got: dict[int, Any] = {}

        async def consume() -> None:
            async with client.iter_job_details(ids, concurrency=4) as outcomes:
                async for outcome in outcomes:
                    got[outcome.index] = outcome.error or outcome.value

        if isinstance(error, Exception):
            await consume()
            assert sorted(got) == list(range(N))
            assert got[FAILING] is error
        else:
            with pytest.raises(type(error)) as info:
                await consume()
            assert info.value is error
            assert len(got) < N


@pytest.mark.parametrize("make", ALL_KINDS, ids=ALL_IDS)
async def test_crawl_infos_return_every_item_or_raise(
    server: FakeServer, make: Callable[[], BaseException]
) -> None:
    crawls = [server.add_crawl(screenshots=2) for _ in range(N)]
    server.latency = 0.02
    error = make()
    hook = raising_hook(error, f"id={crawls[FAILING]}")
    async with ScreenshotCenterClient(
        server.api_key,
        base_url=server.screenshotcenter_url,
        retry=FAST_RETRY,
        trace_configs=[hook],
    ) as client:
        if isinstance(error, Exception):
            results = await client.crawl_infos(crawls, concurrency=4, return_exceptions=True)
            assert len(results) == N
            assert results[FAILING] is error
            assert [getattr(r, "id", None) for r in results] == [
                None if i == FAILING else crawl_id for i, crawl_id in enumerate(crawls)
            ]
        else:
            with pytest.raises(type(error)) as info:
                await client.crawl_infos(crawls, concurrency=4, return_exceptions=True)
            assert info.value is error


@pytest.mark.parametrize("make", ALL_KINDS, ids=ALL_IDS)
async def test_a_progress_callable_that_raises_ends_job_details_with_its_error(
    server: FakeServer, uprock: UprockClient, make: Callable[[], BaseException]
) -> None:
    """The caller's own callback failing is no item's failure: it ends the call,
    whatever ``return_exceptions`` says, and nothing returns a short list."""
    ids = server.add_jobs(N, headers=2, cookies=0)
    error = make()

    def progress(done: int, total: int | None) -> None:
        if done == FAILING:
            raise error

    with pytest.raises(type(error)) as info:
        await uprock.job_details(ids, concurrency=4, return_exceptions=True, progress=progress)
    assert info.value is error
