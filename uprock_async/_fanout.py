"""fan_out: run an async function over many items, bounded, rate-limited, streaming.

One engine serves two sinks. :func:`fan_out` streams :class:`Outcome` objects
through a bounded memory stream (completion order, or input order within a
bounded window); :func:`gather` stores values in a list by index (the path
behind ``job_details``: no stream hop per item). Either way a fixed number of
worker tasks pull items lazily from the input, so a million items run in
constant memory, and everything runs inside one task group: leaving the
``async with`` (or cancelling the caller) cancels what is in flight.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sized
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._adaptive import AdaptiveConcurrency, Probe, current_probe, resolve_concurrency
from ._errors import APITimeoutError, RateLimitError, ServerError

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["FanOut", "Outcome", "fan_out", "gather"]

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result


class Outcome(Generic[I, R]):
    """The result of one call: ``index`` and ``item`` of the input, then either
    ``value`` or ``error`` (the exception the call raised)."""

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

    def unwrap(self) -> R:
        """The value, or raise the call's exception."""
        if self.error is not None:
            raise self.error
        return cast(R, self.value)

    def __repr__(self) -> str:
        result = f"value={self.value!r}" if self.error is None else f"error={self.error!r}"
        return f"Outcome(index={self.index}, item={self.item!r}, {result})"


# -- building blocks -----------------------------------------------------------


class _Rate:
    """A smooth rate limit: call ``n`` may start no earlier than ``n / per_second``."""

    __slots__ = ("_interval", "_next")

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        start = self._next if self._next > now else now
        self._next = start + self._interval
        if start > now:
            await anyio.sleep(start - now)


class _Progress:
    """Reports ``(done, total)`` to a callable, or drives a tqdm bar."""

    __slots__ = ("_bar", "_callback", "done", "total")

    def __init__(self, progress: Any, total: int | None) -> None:
        self.done = 0
        self.total = total
        self._bar: Any = None
        self._callback: Callable[[int, int | None], None] | None = None
        if progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "progress=True needs tqdm: pip install 'uprock-async[progress]' "
                    "(or pass a callable (done, total) -> None)"
                ) from None
            self._bar = tqdm(total=total, unit="call", dynamic_ncols=True)
        elif callable(progress):
            self._callback = progress
        elif progress not in (None, False):
            raise TypeError("progress must be True, False, None or a callable (done, total)")

    def advance(self) -> None:
        self.done += 1
        if self._callback is not None:
            self._callback(self.done, self.total)
        elif self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _validate_per_second(per_second: float | None) -> float | None:
    if per_second is None:
        return None
    if isinstance(per_second, bool) or not isinstance(per_second, (int, float)):
        raise TypeError(f"per_second must be a number, got {per_second!r}")
    if not (per_second > 0 and math.isfinite(per_second)):
        raise ValueError(f"per_second must be > 0, got {per_second!r}")
    return float(per_second)


def _is_overload(exc: BaseException | None) -> bool:
    if isinstance(exc, (RateLimitError, APITimeoutError)):
        return True
    return isinstance(exc, ServerError) and exc.status_code == 503


class _Engine(Generic[I, R]):
    """Workers that pull ``(index, item)`` lazily, call ``fn`` and hand outcomes to a sink."""

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
        self.rate = _Rate(rate) if (rate := _validate_per_second(per_second)) else None
        self.total = len(items) if isinstance(items, Sized) else None
        if isinstance(items, AsyncIterable):
            self._aiter: AsyncIterator[I] | None = items.__aiter__()
            self._lock: anyio.Lock | None = anyio.Lock()
            self._iter: Iterable[I] | None = None
        elif isinstance(items, Iterable):
            self._aiter, self._lock = None, None
            self._iter = iter(items)
        else:
            raise TypeError(
                f"items must be an iterable or async iterable, not {type(items).__name__}"
            )
        self.progress = _Progress(progress, self.total)
        self._index = 0
        self._exhausted = False
        self.window: anyio.Semaphore | None = None

    @property
    def workers(self) -> int:
        limit = self.limit
        return limit.maximum if isinstance(limit, AdaptiveConcurrency) else limit

    async def _pull(self) -> tuple[int, I] | None:
        if self._exhausted:
            return None
        if self._lock is None:
            try:
                item = next(self._iter)  # type: ignore[call-overload]
            except StopIteration:
                self._exhausted = True
                return None
        else:
            async with self._lock:
                if self._exhausted:
                    return None
                try:
                    item = await self._aiter.__anext__()  # type: ignore[union-attr]
                except StopAsyncIteration:
                    self._exhausted = True
                    return None
        index = self._index
        self._index += 1
        return index, item

    async def worker(self, sink: Callable[[Outcome[I, R]], Awaitable[None] | None]) -> None:
        """Pull, call, hand over — until the input runs out. ``sink`` may be sync."""
        fn, rate, window, progress = self.fn, self.rate, self.window, self.progress
        limiter = self.limit if isinstance(self.limit, AdaptiveConcurrency) else None
        while True:
            if window is not None:
                await window.acquire()
            pulled = await self._pull()
            if pulled is None:
                if window is not None:
                    window.release()
                return
            index, item = pulled
            if rate is not None:
                await rate.wait()
            if limiter is None:
                try:
                    outcome: Outcome[I, R] = Outcome(index, item, await fn(item), None)
                except Exception as exc:
                    outcome = Outcome(index, item, None, exc)
            else:
                outcome = await self._limited_call(limiter, index, item)
            progress.advance()
            pending = sink(outcome)
            if pending is not None:
                await pending

    async def _limited_call(
        self, limiter: AdaptiveConcurrency, index: int, item: I
    ) -> Outcome[I, R]:
        started = await limiter.acquire()
        probe = Probe(limiter)
        token = current_probe.set(probe)
        error: Exception | None = None
        try:
            return Outcome(index, item, await self.fn(item), None)
        except Exception as exc:
            error = exc
            return Outcome(index, item, None, exc)
        finally:
            current_probe.reset(token)
            if not probe.fed:  # fn made no HTTP attempt through a client: judge the call
                limiter.record(started, time.monotonic() - started, overloaded=_is_overload(error))
            limiter.release()


# -- streaming: fan_out --------------------------------------------------------


class FanOut(Generic[I, R]):
    """The async context manager returned by :func:`fan_out`; iterate it for outcomes."""

    def __init__(self, engine: _Engine[I, R], *, ordered: bool, buffer: int) -> None:
        self._engine = engine
        self._ordered = ordered
        send, receive = anyio.create_memory_object_stream[Outcome[I, R]](buffer)
        self._send: MemoryObjectSendStream[Outcome[I, R]] = send
        self._receive: MemoryObjectReceiveStream[Outcome[I, R]] = receive
        if ordered:
            engine.window = anyio.Semaphore(buffer)
        self._pending: dict[int, Outcome[I, R]] = {}
        self._next_index = 0
        self._tg: anyio.abc.TaskGroup | None = None

    async def __aenter__(self) -> FanOut[I, R]:
        if self._tg is not None:
            raise RuntimeError("a fan_out can be entered only once")
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._run)
        return self

    async def _run(self) -> None:
        engine, send = self._engine, self._send
        async with send, anyio.create_task_group() as workers:
            for _ in range(engine.workers):
                workers.start_soon(engine.worker, send.send)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()  # finished or left early: nothing may outlive the block
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            raise _single(group) from None
        finally:
            self._receive.close()
            self._engine.progress.close()

    def __aiter__(self) -> FanOut[I, R]:
        return self

    async def __anext__(self) -> Outcome[I, R]:
        if not self._ordered:
            try:
                return await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
        while self._next_index not in self._pending:
            try:
                outcome = await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
            self._pending[outcome.index] = outcome
        outcome = self._pending.pop(self._next_index)
        self._next_index += 1
        assert self._engine.window is not None
        self._engine.window.release()
        return outcome


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one real exception inside nested task-group wrappers (else the group)."""
    while len(group.exceptions) == 1 and isinstance(group.exceptions[0], BaseExceptionGroup):
        group = group.exceptions[0]
    return group.exceptions[0] if len(group.exceptions) == 1 else group


def fan_out(
    fn: Callable[[I], Awaitable[R]],
    items: Iterable[I] | AsyncIterable[I],
    *,
    concurrency: int | str | AdaptiveConcurrency = 64,
    per_second: float | None = None,
    ordered: bool = False,
    progress: bool | Callable[[int, int | None], None] | None = None,
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
    at most a window of ``2 * concurrency`` outcomes); ``progress`` is ``True``
    (a tqdm bar) or a callable ``(done, total)``. Exceptions raised by ``fn``
    become :attr:`Outcome.error`; cancellation and ``KeyboardInterrupt``
    propagate. Leaving the block early cancels every call still running.
    """
    engine: _Engine[I, R] = _Engine(
        fn, items, concurrency=concurrency, per_second=per_second, progress=progress
    )
    buffer = max(16, 2 * min(engine.workers, 1024))
    return FanOut(engine, ordered=ordered, buffer=buffer)


# -- collecting: gather --------------------------------------------------------


async def gather(
    fn: Callable[[I], Awaitable[R]],
    items: Iterable[I] | AsyncIterable[I],
    *,
    concurrency: int | str | AdaptiveConcurrency = 64,
    per_second: float | None = None,
    return_exceptions: bool = False,
    progress: bool | Callable[[int, int | None], None] | None = None,
) -> list[R | Exception]:
    """Call ``fn`` for every item; the results in input order.

    With ``return_exceptions=False`` the first exception cancels the calls still
    running and is raised; with ``True`` each failed item's exception takes its
    place in the list.
    """
    engine: _Engine[I, R] = _Engine(
        fn, items, concurrency=concurrency, per_second=per_second, progress=progress
    )
    results: list[Any] = [None] * engine.total if engine.total is not None else []
    first_error: list[Exception] = []

    def sink(outcome: Outcome[I, R]) -> None:
        index = outcome.index
        if index >= len(results):
            results.extend([None] * (index + 1 - len(results)))
        if outcome.error is None:
            results[index] = outcome.value
        elif return_exceptions:
            results[index] = outcome.error
        elif not first_error:
            first_error.append(outcome.error)
            tg.cancel_scope.cancel()  # the first failure cancels the rest

    try:
        async with anyio.create_task_group() as tg:
            for _ in range(engine.workers):
                tg.start_soon(engine.worker, sink)
    except BaseExceptionGroup as group:
        raise _single(group) from None
    finally:
        engine.progress.close()
    if first_error:
        raise first_error[0]
    return cast("list[R | Exception]", results)
