"""fan_out and gather: run an async function over many items, bounded, streaming.

One engine (``_engine.py``) serves two sinks. :func:`fan_out` streams
:class:`Outcome` objects through a bounded queue (completion order, or input
order within a bounded window); :func:`gather` stores values in a list by index
(the path behind ``job_details``: no queue hop per item). Either way worker
tasks pull items lazily from the input, so a million items run in constant
memory, and everything runs inside one task group: leaving the ``async with``
(or cancelling the caller) cancels what is in flight.

Nothing is lost silently. An exception from ``fn`` becomes an outcome; any
``BaseException`` from it (``CancelledError`` a library raised, ``KeyboardInterrupt``,
a custom one) ends the run and is raised as itself once the other calls are
cancelled. Only a cancellation of a scope around the workers (the caller's, or
the fan-out's own) is taken as a cancellation. A generator input is closed when
the run ends, so its ``finally`` has run by the time ``fan_out``/``gather`` returns.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, Generic, TypeAlias, TypedDict, TypeVar, cast

import anyio
import anyio.abc
from anyio.lowlevel import checkpoint

from ._adaptive import ConcurrencyArg
from ._engine import Engine
from ._gates import Queue, Slots
from ._outcome import Outcome
from ._scope import TaskScope, single

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["FanOut", "FanOutOptions", "Outcome", "ProgressArg", "fan_out", "gather"]

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result

#: ``progress=``: ``True`` for a tqdm bar, or a callable ``(done, total)``.
ProgressArg: TypeAlias = bool | Callable[[int, int | None], None] | None


class FanOutOptions(TypedDict, total=False):
    """The keyword options every fan-out method takes; typed overloads unpack them
    (``**options: Unpack[FanOutOptions]``) so each option is declared once."""

    concurrency: ConcurrencyArg
    per_second: float | None
    progress: ProgressArg


# -- streaming: fan_out --------------------------------------------------------


class FanOut(TaskScope, Generic[I, R]):
    """The async context manager returned by :func:`fan_out`; iterate it for outcomes."""

    def __init__(self, engine: Engine[I, R], *, ordered: bool, buffer: int) -> None:
        self._engine = engine
        self._ordered = ordered
        self._queue: Queue[Outcome[I, R]] = Queue(buffer)
        if ordered:
            # At most `buffer` items between "pulled" and "yielded in order".
            engine.window = Slots(buffer)
        self._pending: dict[int, Outcome[I, R]] = {}
        self._next_index = 0
        self._live = 0

    async def __aenter__(self) -> FanOut[I, R]:
        self._enter_once("fan_out")
        group = await self._open()
        self._engine.cancel = group.cancel_scope.cancel
        self._engine.start(self._spawn)
        return self

    def _spawn(self) -> None:
        assert self._group is not None
        self._live += 1  # counted now: the queue closes when the last worker ends
        self._group.start_soon(self._work)

    async def _work(self) -> None:
        try:
            await self._engine.worker(self._queue, async_sink=True)
        finally:
            self._live -= 1
            if not self._live:
                self._queue.close()

    def _stopping(self) -> None:
        # A worker spawned just now runs its first step before the cancellation
        # reaches it: it must not pull another item from the caller's input.
        self._engine.stopped = True

    async def _closed(self) -> None:
        self._queue.close()
        self._engine.progress.close()
        await self._engine.close_input()  # every worker has ended: no one is inside it

    def _failure(self) -> BaseException | None:
        return self._engine.failure

    def __aiter__(self) -> FanOut[I, R]:
        return self

    async def __anext__(self) -> Outcome[I, R]:
        if self._group is None:
            raise RuntimeError("use fan_out inside `async with`: async with fan_out(...) as o:")
        if self._engine.failure is not None:
            await checkpoint()  # deliver the cancellation that failure caused
            raise StopAsyncIteration
        if not self._ordered:
            return await self._queue.get()
        pending = self._pending
        while self._next_index not in pending:
            outcome = await self._queue.get()
            pending[outcome.index] = outcome
        outcome = pending.pop(self._next_index)
        self._next_index += 1
        assert self._engine.window is not None
        self._engine.window.release()
        return outcome


def fan_out(
    fn: Callable[[I], Awaitable[R]],
    items: Iterable[I] | AsyncIterable[I],
    *,
    concurrency: ConcurrencyArg = 64,
    per_second: float | None = None,
    ordered: bool = False,
    progress: ProgressArg = None,
) -> FanOut[I, R]:
    """Call ``fn(item)`` for every item, at most ``concurrency`` at once; stream the outcomes.

    ::

        async with fan_out(client.job_detail, ids, concurrency=64) as outcomes:
            async for outcome in outcomes:
                print(outcome.index, outcome.item, outcome.value or outcome.error)

    ``items`` (iterable or async iterable) is pulled lazily, and at most a bounded
    number of finished outcomes wait for the consumer, so memory stays constant
    however many items there are. ``concurrency`` is an int, ``"auto"`` or an
    :class:`AdaptiveConcurrency`; ``per_second`` caps how many calls start per
    second (smoothly, no bursts); ``ordered=True`` yields in input order (holding
    at most a window of 256 to 1024 outcomes); ``progress`` is ``True``
    (a tqdm bar) or a callable ``(done, total)``. Exceptions raised by ``fn``
    become :attr:`Outcome.error`. Any other ``BaseException`` from ``fn`` (a
    ``CancelledError`` it raised itself, ``KeyboardInterrupt``, ``SystemExit``)
    cancels the other calls and is raised as itself by the ``async with``, as is
    an exception raised by the ``items`` iterator or the ``progress`` callable:
    the stream never just ends early. Cancelling the caller cancels the calls.
    Leaving the block early cancels every call still running, and a generator
    input is closed (``aclose()`` for an async generator) before the block exits,
    so its ``finally`` has run. Worker tasks start as items arrive, so a large
    ``concurrency`` over a few items costs a few tasks. Bad arguments raise
    ``ValueError``/``TypeError`` here, before any call.
    """
    engine: Engine[I, R] = Engine(
        fn, items, concurrency=concurrency, per_second=per_second, progress=progress
    )
    # Room for 8 outcomes per worker: a worker that finds the queue full suspends,
    # and each suspension costs ~10x a trivial call, so a deeper queue keeps a
    # fast producer from suspending on every other item. Capped: bounded memory.
    buffer = min(max(256, 8 * engine.workers), 1024)
    return FanOut(engine, ordered=ordered, buffer=buffer)


# -- collecting: gather --------------------------------------------------------


async def gather(
    fn: Callable[[I], Awaitable[R]],
    items: Iterable[I] | AsyncIterable[I],
    *,
    concurrency: ConcurrencyArg = 64,
    per_second: float | None = None,
    return_exceptions: bool = False,
    progress: ProgressArg = None,
) -> list[R | Exception]:
    """Call ``fn`` for every item; the results in input order.

    With ``return_exceptions=False`` the first exception cancels the calls still
    running and is raised (itself, not an exception group); with ``True`` each
    failed item's exception takes its place in the list. A ``BaseException``
    raised by ``fn`` (``CancelledError`` included) is always raised, after the
    other calls are cancelled: the list never holds ``None`` for a failed item,
    nor fewer entries than there were items. A generator input is closed before
    this returns.
    """
    engine: Engine[I, R] = Engine(
        fn, items, concurrency=concurrency, per_second=per_second, progress=progress
    )
    results: list[Any] = [None] * engine.total if engine.total is not None else []

    def sink(outcome: Outcome[I, R]) -> None:
        index = outcome.index
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        if outcome.error is None:
            results[index] = outcome.value
        elif return_exceptions:
            results[index] = outcome.error
        else:
            engine.fail(outcome.error)  # the first failure cancels the rest

    error: BaseException | None = None
    try:
        async with anyio.create_task_group() as tg:
            engine.cancel = tg.cancel_scope.cancel
            engine.start(lambda: tg.start_soon(engine.worker, sink))
    except BaseExceptionGroup as group:
        error = single(group)
        if error is group:
            raise
    finally:
        engine.progress.close()
        await engine.close_input()
    if engine.failure is not None:
        raise engine.failure
    if error is not None:
        raise error
    del results[engine.count :]  # a sized input that yielded fewer items than its len()
    return cast("list[R | Exception]", results)
