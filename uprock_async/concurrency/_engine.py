"""The fan-out engine: worker tasks that pull items lazily, call ``fn`` under the
meters (``_meters.py``), and hand each :class:`Outcome` to a sink.

Workers start as items arrive, not all at once: a worker that takes an item
while every worker is busy in a call starts as many more as are busy (so the
count doubles, reaching 64 in 7 turns of the event loop), up to the smallest
meter bound. So 3 items at ``concurrency=200_000`` cost 4 tasks, a call that
never suspends runs on 2, and an input that trickles in (stdin) needs at most
twice as many tasks as there are calls really running at once.

Under a bound that moves (``"auto"``: an adaptive limit) the workers follow the
limit as it is now, not its ``maximum``: as many start as the limit allows at
once, they grow while all are busy up to two per call the limit allows (plus
one), and a worker that finishes a call while there are more than that ends.

Per item, a worker asks each meter's state "may a task start?" (before it
pulls, so no pulled item waits on a limit), tells them "started" and
"finished", and otherwise knows none of them. The hot loop avoids anyio's
memory streams and semaphores on purpose: each of their operations is a
checkpoint (an event-loop round trip), which made a trivial call cost ~20 µs.
Workers checkpoint every ``_CHECKPOINT_EVERY`` items so a call that never
suspends cannot starve the loop.
"""

from __future__ import annotations

import inspect
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
    Sized,
)
from typing import Any, Generic, TypeVar, cast

import anyio
from anyio.lowlevel import checkpoint

from .. import _validate
from .._http._events import current_observer
from ._adaptive import resolve_concurrency
from ._gates import Progress, Slots
from ._meters import Meter, MeterState, MovingBound, meters_for, observer_of
from ._outcome import Outcome

__all__ = ["Engine"]

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result

_CHECKPOINT_EVERY = 128  # items a worker may run without yielding to the event loop


class Engine(Generic[I, R]):
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
        meters: Sequence[Meter] = (),
    ) -> None:
        if not callable(fn):
            raise TypeError("fn must be an async callable")
        self.fn = fn
        self.limit = resolve_concurrency(concurrency)
        #: The limits calls run under; the engine asks them, and knows none by name.
        self.meters = [*meters_for(self.limit, _validate.per_second(per_second)), *meters]
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
        most = min(m.bound for m in self.meters if m.bound is not None)
        #: The most worker tasks there will ever be: the most calls that may run at once.
        self.workers = max(1, min(most, self.total)) if self.total is not None else most
        #: Meters whose bound moves (an adaptive limit): the workers follow them.
        self.moving = [cast(MovingBound, m) for m in self.meters if hasattr(m, "current_bound")]
        self.started = 0  # worker tasks alive (started, and not ended as surplus)
        self.busy = 0  # workers inside a call of fn
        self.growing = True  # started < workers, or a bound that moves: busy is counted
        self._spawn: Callable[[], object] | None = None

    def start(self, spawn: Callable[[], object]) -> None:
        """Start the first workers with ``spawn``: one, or as many calls as a moving
        bound lets run now; each further one starts when an item arrives and every
        worker so far is busy in a call (see :meth:`grow`)."""
        self._spawn = spawn
        if self.moving:
            first = min(self.workers, *(m.current_bound() for m in self.moving))
            self._add(max(1, first))
        else:
            self.grow()

    def room(self) -> int:
        """The most worker tasks to keep now.

        Under a moving bound: two per call it lets run, plus one. A call waiting
        without its slot (a retry's backoff, a Retry-After pause, an open breaker)
        keeps its worker and lets another item start in its place, so with a
        bound of ``n`` there are up to ``n`` such waits, ``n`` calls running and a
        spare worker ready for the next slot; more workers than that would only
        wait. A fixed bound: :attr:`workers`.
        """
        most = self.workers
        for meter in self.moving:
            most = min(most, 2 * meter.current_bound() + 1)
        return most

    def grow(self) -> None:
        """Start as many more workers as are busy (at least one), up to the limit.

        Doubling, not one at a time: a task started now first runs on the next
        turn of the event loop, so one at a time would take 64 turns to reach
        ``concurrency=64`` while the first calls already complete. At most one
        idle worker per busy one is the price.
        """
        self._add(min(max(1, self.busy), self.room() - self.started))

    def _add(self, more: int) -> None:
        assert self._spawn is not None
        if more <= 0:
            return
        self.started += more
        self.growing = self.started < self.workers or bool(self.moving)
        for _ in range(more):
            self._spawn()

    def surplus(self) -> bool:
        """Should a worker that just finished a call end? Only under a moving bound
        that came down: more workers alive than :meth:`room`. It ends between calls,
        holding nothing; :meth:`grow` starts workers again when the bound rises."""
        if self.moving and self.started > self.room():
            self.started -= 1
            return True
        return False

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
        states: list[MeterState] = []
        try:
            fn, window, progress = self.fn, self.window, self.progress
            states = [s for m in self.meters if (s := m.state()) is not None]
            observer = observer_of(states)
            if observer is not None:
                # This task's own context: the transport tells it of every HTTP attempt.
                current_observer.set(observer)
            iterator = self._iter
            report = progress.active
            since_checkpoint = 0
            while not self.stopped:
                if window is not None:
                    await window.acquire()
                if states:  # may a task start? (before pulling: no item waits)
                    for state in states:
                        await state.wait()
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
                    for state in states:
                        state.finished(None, ran=False)
                    if window is not None:
                        window.release()
                    return
                index, item = pulled
                # -- call it --------------------------------------------------------
                # Once every worker has started the busy count has no use: the hot
                # path skips it.
                counted = self.growing
                if counted:
                    busy = self.busy + 1
                    self.busy = busy
                    if busy >= self.started and not self.stopped:
                        self.grow()  # all are in a call: the next item needs a new one
                if not states:  # the hot path: nothing to tell any meter
                    try:
                        outcome: Outcome[I, R] = Outcome(index, item, await fn(item), None)
                    except Exception as exc:
                        outcome = Outcome(index, item, None, exc)
                else:
                    outcome = await self._metered_call(states, index, item)
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
                if counted and self.surplus():
                    return  # the limit came down: fewer workers now
        except BaseException as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()) and _scope_cancelled():
                raise
            self.fail(exc)
        finally:
            for state in states:  # a state that kept a slot for the next call gives it back
                close = getattr(state, "close", None)
                if close is not None:
                    close()

    async def _metered_call(self, states: list[MeterState], index: int, item: I) -> Outcome[I, R]:
        """Call ``fn(item)``, telling each meter state it started and finished."""
        error: BaseException | None = None
        for state in states:
            state.started()
        try:
            return Outcome(index, item, await self.fn(item), None)
        except Exception as exc:
            error = exc
            return Outcome(index, item, None, exc)
        except BaseException as exc:
            error = exc
            raise
        finally:
            for state in states:
                state.finished(error)


def _scope_cancelled() -> bool:
    """True when a cancel scope around the current task was cancelled (or is past
    its deadline): a ``CancelledError`` is then a real cancellation of the run,
    not one that ``fn`` raised by itself."""
    return anyio.current_effective_deadline() <= anyio.current_time()
