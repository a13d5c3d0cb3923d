"""fan_out: run an async function over many items, bounded, rate-limited, streaming.

One engine serves two sinks. :func:`fan_out` streams :class:`Outcome` objects
through a bounded queue (completion order, or input order within a bounded
window); :func:`gather` stores values in a list by index (the path behind
``job_details``: no queue hop per item). Either way worker tasks pull items
lazily from the input, so a million items run in constant memory, and
everything runs inside one task group: leaving the ``async with`` (or
cancelling the caller) cancels what is in flight.

Workers start as items arrive, not all at once: a worker that takes an item
while every worker is busy in a call starts as many more as are busy (so the
count doubles, reaching 64 in 7 turns of the event loop), up to the limit. So 3
items at ``concurrency=200_000`` cost 4 tasks, a call that never suspends runs
on 2, and an input that trickles in (stdin) needs at most twice as many tasks
as there are calls really running at once.

Nothing is lost silently. An exception from ``fn`` becomes an outcome; any
``BaseException`` from it (``CancelledError`` a library raised, ``KeyboardInterrupt``,
a custom one) ends the run and is raised as itself once the other calls are
cancelled. Only a cancellation of a scope around the workers (the caller's, or
the fan-out's own) is taken as a cancellation. A generator input is closed when
the run ends, so its ``finally`` has run by the time ``fan_out``/``gather`` returns.

The hot loop avoids anyio's memory streams and semaphores on purpose: each of
their operations is a checkpoint (an event-loop round trip), which made a
trivial call cost ~20 µs. The gates in ``_gates.py`` (:class:`Slots`, :class:`Queue`)
only suspend when they must wait, and workers checkpoint every
``_CHECKPOINT_EVERY`` items so a call that never suspends cannot starve the loop.
"""

from __future__ import annotations

import inspect
import sys
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from types import TracebackType
from typing import Any, Generic, TypeAlias, TypeVar, cast

import anyio
import anyio.abc
from anyio.lowlevel import checkpoint

from ._adaptive import (
    AdaptiveConcurrency,
    ConcurrencyArg,
    Probe,
    current_probe,
    resolve_concurrency,
)
from ._gates import Progress, Queue, Rate, Slots, is_overload, validate_per_second

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["FanOut", "Outcome", "ProgressArg", "fan_out", "gather"]

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result
T = TypeVar("T")

#: ``progress=``: ``True`` for a tqdm bar, or a callable ``(done, total)``.
ProgressArg: TypeAlias = "bool | Callable[[int, int | None], None] | None"

_CHECKPOINT_EVERY = 128  # items a worker may run without yielding to the event loop


class Outcome(Generic[I, R]):
    """The result of one call: ``index`` and ``item`` of the input, then either
    ``value`` or ``error`` (the exception the call raised).

    To a type checker, ``value`` is ``R | None`` whatever ``ok`` says; narrow with
    :meth:`value_or_none` (``if (detail := outcome.value_or_none()) is not None``)
    or :meth:`unwrap`, which both type as ``R``.
    """

    __slots__ = ("error", "index", "item", "value")

    def __init__(self, index: int, item: I, value: R | None, error: Exception | None) -> None:
        self.index = index
        self.item = item
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        """True when the call returned a value."""
        return self.error is None

    def value_or_none(self) -> R | None:
        """The value when the call succeeded, else ``None`` (never raises)."""
        return self.value if self.error is None else None

    def unwrap(self) -> R:
        """The value, or raise the call's exception."""
        if self.error is not None:
            raise self.error
        return cast(R, self.value)

    def __repr__(self) -> str:
        result = f"value={self.value!r}" if self.error is None else f"error={self.error!r}"
        return f"Outcome(index={self.index}, item={self.item!r}, {result})"


# -- building blocks -----------------------------------------------------------


class _Engine(Generic[I, R]):
    """Workers that pull ``(index, item)`` lazily, call ``fn`` and hand outcomes to a sink.

    ``failure`` is what must end the whole run and reach the caller as itself:
    an exception raised by the input iterator or a callback, any ``BaseException``
    raised by ``fn`` (a ``CancelledError`` too, unless the workers' own scope was
    cancelled), or :func:`gather`'s first error.
    """

    def __init__(
        self,
        fn: Callable[[I], Awaitable[R]],
        items: Iterable[I] | AsyncIterable[I],
        *,
        concurrency: object,
        per_second: float | None,
        progress: Any,
    ) -> None:
        if not callable(fn):
            raise TypeError("fn must be an async callable")
        self.fn = fn
        self.limit = resolve_concurrency(concurrency)
        rate = validate_per_second(per_second)
        self.rate = Rate(rate) if rate is not None else None
        self.total = len(items) if isinstance(items, Sized) else None
        self._iter: Iterator[I] | None = None
        self._aiter: AsyncIterator[I] | None = None
        self._lock: anyio.Lock | None = None
        if isinstance(items, AsyncIterable):
            self._aiter = items.__aiter__()
            self._lock = anyio.Lock()  # one __anext__ at a time: async generators demand it
        elif isinstance(items, Iterable):
            self._iter = iter(items)
        else:
            raise TypeError(
                f"items must be an iterable or async iterable, not {type(items).__name__}"
            )
        self.progress = Progress(progress, self.total)
        self.count = 0  # items pulled so far; the next item's index
        self.stopped = False
        self.failure: BaseException | None = None
        self.cancel: Callable[[], None] | None = None
        self.window: Slots | None = None
        limit = self.limit
        most = limit.maximum if isinstance(limit, AdaptiveConcurrency) else limit
        #: The most worker tasks there will ever be: the most calls that may run at once.
        self.workers = max(1, min(most, self.total)) if self.total is not None else most
        self.started = 0  # worker tasks started so far
        self.busy = 0  # workers inside a call of fn
        self.growing = True  # started < workers
        self._spawn: Callable[[], object] | None = None

    def start(self, spawn: Callable[[], object]) -> None:
        """Start the first worker with ``spawn``; each further one starts when an
        item arrives and every worker so far is busy in a call (see :meth:`grow`)."""
        self._spawn = spawn
        self.grow()

    def grow(self) -> None:
        """Start as many more workers as are busy (at least one), up to the limit.

        Doubling, not one at a time: a task started now first runs on the next
        turn of the event loop, so one at a time would take 64 turns to reach
        ``concurrency=64`` while the first calls already complete. At most one
        idle worker per busy one is the price.
        """
        assert self._spawn is not None
        more = min(max(1, self.busy), self.workers - self.started)
        self.started += more
        self.growing = self.started < self.workers
        for _ in range(more):
            self._spawn()

    def fail(self, exc: BaseException) -> None:
        """Stop pulling, cancel what runs, and make ``exc`` the run's result."""
        if self.failure is None:
            self.failure = exc
        self.stopped = True
        if self.cancel is not None:
            self.cancel()

    async def close_input(self) -> None:
        """Close a generator input, so its ``finally`` has run when the run ends.

        An async generator left suspended would otherwise be finalised later by
        the event loop, after the caller has moved on. Call only once no worker
        runs: a generator cannot be closed while another task is inside it.
        """
        source: object = self._aiter if self._aiter is not None else self._iter
        self._aiter = self._iter = None
        if inspect.isasyncgen(source):
            await source.aclose()
        elif inspect.isgenerator(source):
            source.close()

    async def _pull_async(self) -> tuple[int, I] | None:
        assert self._lock is not None
        async with self._lock:
            if self.stopped or self._aiter is None:
                return None
            try:
                item = await self._aiter.__anext__()
            except StopAsyncIteration:
                self.stopped = True
                return None
            index = self.count
            self.count = index + 1
            return index, item

    async def worker(self, sink: Any, *, async_sink: bool = False) -> None:
        """Pull, call, hand over — until the input runs out or the run stops.

        ``sink`` is a :class:`Queue` when ``async_sink``, else a plain callable.
        Whatever escapes the loop ends the run as :attr:`failure`, except a real
        cancellation: a task group would drop a ``CancelledError`` without a
        trace (and asyncio lets ``KeyboardInterrupt`` escape the event loop).
        """
        # The try wraps the loop in place rather than in a second coroutine: every
        # resumption of a suspended call passes through each frame of the await chain.
        try:
            fn, rate, window, progress = self.fn, self.rate, self.window, self.progress
            limiter = self.limit if isinstance(self.limit, AdaptiveConcurrency) else None
            probe: Probe | None = None
            if limiter is not None:
                # This task's own context: the transport feeds every HTTP attempt to it.
                probe = Probe(limiter)
                current_probe.set(probe)
            iterator = self._iter
            report = progress.active
            since_checkpoint = 0
            while not self.stopped:
                if window is not None:
                    await window.acquire()
                if probe is not None:
                    await probe.acquire()  # before pulling: no pulled item waits on the limiter
                # -- pull one item ------------------------------------------------
                pulled: tuple[int, I] | None = None
                try:
                    if iterator is not None:
                        if not self.stopped:
                            try:
                                item = next(iterator)
                            except StopIteration:
                                self.stopped = True
                            else:
                                pulled = (self.count, item)
                                self.count += 1
                    else:
                        pulled = await self._pull_async()
                except Exception as exc:  # the input itself is broken: that ends the run
                    self.fail(exc)
                if pulled is None:
                    if probe is not None:
                        probe.release()
                    if window is not None:
                        window.release()
                    return
                index, item = pulled
                # -- call it --------------------------------------------------------
                try:
                    if rate is not None:
                        await rate.wait()
                    # Counted after the rate wait: a worker waiting to start holds the
                    # next item, so no other worker is needed for it. Once every
                    # worker has started the count has no use: the hot path skips it.
                    counted = self.growing
                    if counted:
                        busy = self.busy + 1
                        self.busy = busy
                        if busy >= self.started and not self.stopped:
                            self.grow()  # all are in a call: the next item needs a new one
                    try:
                        if probe is None:
                            outcome: Outcome[I, R] = Outcome(index, item, await fn(item), None)
                        else:
                            outcome = await self._limited_call(probe, index, item)
                    except Exception as exc:
                        outcome = Outcome(index, item, None, exc)
                finally:
                    if probe is not None:
                        probe.release()
                if counted:
                    self.busy -= 1
                if report:
                    progress.advance()
                if async_sink:
                    if not sink.put_nowait(outcome):
                        await sink.put(outcome)
                else:
                    sink(outcome)
                    since_checkpoint += 1
                    if since_checkpoint >= _CHECKPOINT_EVERY:
                        since_checkpoint = 0
                        await checkpoint()  # a call that never suspends must not starve the loop
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()) and _scope_cancelled():
                raise
            self.fail(exc)

    async def _limited_call(self, probe: Probe, index: int, item: I) -> Outcome[I, R]:
        probe.fed = False
        started = time.monotonic()
        error: Exception | None = None
        try:
            return Outcome(index, item, await self.fn(item), None)
        except Exception as exc:
            error = exc
            return Outcome(index, item, None, exc)
        finally:
            if not probe.fed:  # fn made no HTTP attempt through a client: judge the call
                probe.limiter.record(
                    started, time.monotonic() - started, overloaded=is_overload(error)
                )


def _scope_cancelled() -> bool:
    """True when a cancel scope around the current task was cancelled (or is past
    its deadline): a ``CancelledError`` is then a real cancellation of the run,
    not one that ``fn`` raised by itself."""
    return anyio.current_effective_deadline() <= anyio.current_time()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real exception inside nested task-group wrappers (else the group)."""
    while len(group.exceptions) == 1 and isinstance(group.exceptions[0], BaseExceptionGroup):
        group = group.exceptions[0]
    return group.exceptions[0] if len(group.exceptions) == 1 else group


# -- streaming: fan_out --------------------------------------------------------


class FanOut(Generic[I, R]):
    """The async context manager returned by :func:`fan_out`; iterate it for outcomes."""

    def __init__(self, engine: _Engine[I, R], *, ordered: bool, buffer: int) -> None:
        self._engine = engine
        self._ordered = ordered
        self._queue: Queue[Outcome[I, R]] = Queue(buffer)
        if ordered:
            # At most `buffer` items between "pulled" and "yielded in order".
            engine.window = Slots(buffer)
        self._pending: dict[int, Outcome[I, R]] = {}
        self._next_index = 0
        self._tg: anyio.abc.TaskGroup | None = None
        self._live = 0

    async def __aenter__(self) -> FanOut[I, R]:
        if self._tg is not None:
            raise RuntimeError("a fan_out can be entered only once")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._engine.cancel = tg.cancel_scope.cancel
        self._engine.start(self._spawn)
        return self

    def _spawn(self) -> None:
        assert self._tg is not None
        self._live += 1  # counted now: the queue closes when the last worker ends
        self._tg.start_soon(self._work)

    async def _work(self) -> None:
        try:
            await self._engine.worker(self._queue, async_sink=True)
        finally:
            self._live -= 1
            if not self._live:
                self._queue.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # finished or left early: nothing may outlive the block
        # A worker spawned just now runs its first step before the cancellation
        # reaches it: it must not pull another item from the caller's input.
        self._engine.stopped = True
        error: BaseException | None = None
        try:
            suppress = await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            error = _single(group)
            if error is group:
                raise
        finally:
            self._queue.close()
            self._engine.progress.close()
            await self._engine.close_input()  # every worker has ended: no one is inside it
        if self._engine.failure is not None:
            raise self._engine.failure
        if error is not None:
            raise error  # outside the except block, so its own cause/context survive
        return suppress

    def __aiter__(self) -> FanOut[I, R]:
        return self

    async def __anext__(self) -> Outcome[I, R]:
        if self._tg is None:
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
    engine: _Engine[I, R] = _Engine(
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
    engine: _Engine[I, R] = _Engine(
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
        error = _single(group)
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
