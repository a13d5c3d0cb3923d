"""Meters: the limits the fan-out engine runs over, as aiometer's ``Meter``.

A :class:`Meter` may bound how many calls run at once (``bound``: the engine
starts no more worker tasks than the smallest bound) and may hand each worker
a :class:`MeterState`, which answers "may a task start?" (:meth:`~MeterState.wait`,
before the worker takes the next item), and hears "a task started" and "a task
finished". The engine knows none of them by name:

- :class:`Window`: at most ``n`` at once. The bound alone does it (``n``
  workers, each one call at a time), so it costs nothing per call.
- :class:`Rate`: calls start at least ``1 / per_second`` apart, no bursts.
- :class:`Adaptive`: an :class:`~uprock_async.AdaptiveConcurrency` slot per
  call. Its state is also the call's attempt observer (``_http._events``):
  it feeds every HTTP attempt to the limiter, and gives the slot back while
  the transport waits (a retry's backoff, a Retry-After pause, an open
  circuit breaker), taking it again, first in line, before the next attempt.
  A worker that goes straight on to its next call keeps its slot while the
  limit allows (no turn of the event loop in the queue); a state with a
  ``close()``, as this one, hears when its worker ends, to give back what it kept.

What a waiting call holds: under an adaptive limit, nothing (its slot is
released). Under an int ``concurrency`` the window is the number of worker
tasks, so a waiting call keeps its worker, which sends nothing meanwhile; no
other item of that fan-out starts in its place (it would wait on the same
client too).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar, cast

import anyio

from .._errors import is_overload
from .._http._events import AttemptEvent, CallObserver
from ._adaptive import AdaptiveConcurrency

__all__ = [
    "Adaptive",
    "Meter",
    "MeterState",
    "MovingBound",
    "Rate",
    "Window",
    "meters_for",
    "observer_of",
]

T = TypeVar("T")


class MeterState(Protocol):
    """One worker's view of a meter."""

    async def wait(self) -> None:
        """May a task start? Returns when it may (before the worker takes an item)."""

    def started(self) -> None:
        """A task started (the item is taken, the call begins)."""

    def finished(self, error: BaseException | None, *, ran: bool = True) -> None:
        """A task finished (``ran=False``: :meth:`wait` returned but no item came)."""


class Meter(Protocol):
    """A limit on when calls may start.

    A meter whose bound moves (an adaptive limit) also has ``current_bound()``
    (see :class:`MovingBound`): the engine then keeps its worker tasks in step
    with it instead of with ``bound``."""

    @property
    def bound(self) -> int | None:
        """The most calls it lets run at once, ever (``None``: no bound)."""

    def state(self) -> MeterState | None:
        """A new worker's state, or ``None`` when the meter does nothing per call."""


class MovingBound(Protocol):
    """A meter's bound that moves: the most calls it lets run at once now."""

    def current_bound(self) -> int:
        """The calls that may run at once now (at most ``bound``)."""


class Window:
    """At most ``n`` calls at once: ``n`` workers, nothing to do per call."""

    __slots__ = ("bound",)

    def __init__(self, n: int) -> None:
        self.bound: int | None = n

    def state(self) -> None:
        return None


class Rate:
    """A smooth rate limit: calls start at least ``1 / per_second`` apart, no bursts.

    Unlike a token bucket nothing accumulates while idle, so a pause is never
    followed by a burst above ``per_second``. One state shared by every worker.
    """

    __slots__ = ("_interval", "_next")

    bound = None

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next = 0.0

    def state(self) -> Rate:
        return self

    async def wait(self) -> None:
        now = time.monotonic()
        start = self._next if self._next > now else now
        self._next = start + self._interval
        if start > now:
            await anyio.sleep(start - now)

    def started(self) -> None:
        pass

    def finished(self, error: BaseException | None, *, ran: bool = True) -> None:
        pass


class Adaptive:
    """A slot of an :class:`~uprock_async.AdaptiveConcurrency` per call."""

    __slots__ = ("limiter",)

    def __init__(self, limiter: AdaptiveConcurrency) -> None:
        self.limiter = limiter

    @property
    def bound(self) -> int:
        return self.limiter.maximum

    def current_bound(self) -> int:
        return self.limiter.current

    def state(self) -> AdaptiveState:
        return AdaptiveState(self.limiter)


class AdaptiveState:
    """One worker's link to a limiter: its slot, and the observer of its call's attempts.

    Every HTTP attempt of the call (retries included) is fed to the limiter, so
    a 429 that a retry absorbed still slows the fan-out down. A call that made
    no attempt through a client is judged by its duration and error.
    """

    __slots__ = ("_fed", "_kept", "_overloaded", "_started", "held", "limiter")

    def __init__(self, limiter: AdaptiveConcurrency) -> None:
        self.limiter = limiter
        self.held = 0
        self._kept = False  # the slot of the call that finished, kept for the next one
        self._fed = False
        self._overloaded = False  # the call's last attempt was an overload signal
        self._started = 0.0

    async def wait(self) -> None:
        if self._kept:
            self._kept = False
            if self.limiter.reuse():
                return  # straight on with the slot the last call held
            self.held -= 1
        await self.limiter.acquire()
        self.held += 1

    def started(self) -> None:
        self._fed = self._overloaded = False
        self._started = time.monotonic()

    def finished(self, error: BaseException | None, *, ran: bool = True) -> None:
        if ran and not self._fed:  # no HTTP attempt through a client: judge the call
            now = time.monotonic()
            self.limiter.record(self._started, now - self._started, overloaded=is_overload(error))
        if ran and self.held == 1:
            # Keep the slot for this worker's next call (see AdaptiveConcurrency.reuse);
            # :meth:`wait` asks again, and :meth:`close` gives it back if none comes.
            if self.limiter.reuse():
                self._kept = True
                return
            self.held = 0
            return
        self._release()

    def close(self) -> None:
        """The worker ends: give back the slot it kept."""
        self._kept = False
        self._release()

    def _release(self) -> None:
        while self.held:
            self.held -= 1
            self.limiter.release()

    def on_attempt(self, event: AttemptEvent) -> None:
        self._fed = True
        overloaded = self._overloaded = is_overload(event.error, event.status)
        pause = event.retry_after if overloaded and event.retry_after else 0.0
        self.limiter.record(event.started, event.latency, overloaded=overloaded, pause=pause)

    async def idle(self, wait: Callable[[], Awaitable[T]]) -> T:
        """Run ``wait`` without the slot; then queue for it again, first in line.

        After an overload answer the retry waits at least the limiter's
        :meth:`~AdaptiveConcurrency.retry_delay` (about a round trip, jittered), even
        when the server said ``Retry-After: 0``: at once, it would hit the full
        service again before the limiter had seen the overload's other answers."""
        held = self.held
        self._release()
        began = time.monotonic()
        result = await wait()
        if self._overloaded:
            self._overloaded = False
            rest = self.limiter.retry_delay() - (time.monotonic() - began)
            if rest > 0:
                await anyio.sleep(rest)
        for _ in range(held):
            await self.limiter.acquire(first=True)
            self.held += 1
        return result


class _Observers:
    """Several call observers as one (each wait runs inside every ``idle``)."""

    __slots__ = ("_observers",)

    def __init__(self, observers: Sequence[CallObserver]) -> None:
        self._observers = observers

    def on_attempt(self, event: AttemptEvent) -> None:
        for observer in self._observers:
            observer.on_attempt(event)

    async def idle(self, wait: Callable[[], Awaitable[T]]) -> T:
        for observer in self._observers:
            wait = _wrap(observer, wait)
        return await wait()


def _wrap(observer: CallObserver, wait: Callable[[], Awaitable[T]]) -> Callable[[], Awaitable[T]]:
    return lambda: observer.idle(wait)


def observer_of(states: Sequence[MeterState]) -> CallObserver | None:
    """The call observer for a worker with these states: those that have
    ``on_attempt`` and ``idle`` (``None``: no state wants to see attempts)."""
    observers = [cast(CallObserver, s) for s in states if hasattr(s, "on_attempt")]
    if not observers:
        return None
    return observers[0] if len(observers) == 1 else _Observers(observers)


def meters_for(limit: int | AdaptiveConcurrency, per_second: float | None) -> list[Meter]:
    """The meters of a ``concurrency=`` (already resolved) and ``per_second=``."""
    meters: list[Meter] = [
        Adaptive(limit) if isinstance(limit, AdaptiveConcurrency) else Window(limit)
    ]
    if per_second is not None:
        meters.append(Rate(per_second))
    return meters
