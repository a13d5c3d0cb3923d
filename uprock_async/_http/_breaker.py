"""The circuit breaker: stop sending while the service is down, resume by itself.

After ``threshold`` consecutive failed attempts (connection errors, timeouts,
5xx answers; never a 4xx, which proves the service is up) the breaker opens:
attempts wait before sending. One waiting attempt is let through as a probe
every ``cooldown`` seconds (counted from the last failure, so a slow probe is
not joined by others), never during the client's Retry-After pause; the first
attempt that does not fail closes the breaker and releases everyone.

``max_wait`` is a bound, measured in wall-clock time, like the trusted breakers
(resilience4j, pybreaker) that fail fast while open:

- a call held by the open breaker fails with its last error once it has been
  held ``max_wait`` seconds in all, counted from the first time it found the
  breaker open: time waiting out a Retry-After pause and time spent sending a
  probe that failed count too;
- once the breaker has been open for ``max_wait`` seconds, every held call and
  every new call fails at once (a copy of the last error, never the key), until
  a probe succeeds. Probes still go out, one per ``cooldown``: the call that
  arrives when one is due is sent.

So a fan-out during a long outage ends in about ``max_wait`` plus the time to
hand out its failures, and a single call ends within ``max_wait`` plus one
attempt's timeout after the breaker opened.

The breaker only sees attempts (it is an attempt observer) and answers "may
an attempt go out?" (:func:`wait_turn`). Which concurrency slot a waiting
call gives back is the fan-out's business: the transport runs the wait through
the call's observer (see ``_events.CallObserver.idle``).
"""

from __future__ import annotations

import copy
import time

import anyio

from .._config import CircuitBreaker
from .._errors import APIConnectionError, UprockAsyncError
from .._stats import StatsRecorder
from ._events import AttemptEvent, log
from ._pause import Pause

__all__ = ["Breaker", "BreakerExhausted", "is_failure", "wait_turn"]


class BreakerExhausted(Exception):
    """Internal: a call has been held ``max_wait`` seconds, or the breaker has been
    open that long (then every call fails fast until a probe succeeds)."""


def is_failure(event: AttemptEvent) -> bool:
    """Does this attempt count towards opening the breaker? A connection error,
    a timeout or a 5xx answer; never a 4xx (nor a 2xx/3xx)."""
    return event.status >= 500 or isinstance(event.error, APIConnectionError)


class Breaker:
    """The run-time state of one client's :class:`~uprock_async.CircuitBreaker`."""

    __slots__ = (
        "_closed",
        "_next_probe",
        "_opened_at",
        "_tripped",
        "config",
        "failures",
        "is_open",
        "last_error",
        "stats",
    )

    def __init__(self, config: CircuitBreaker, stats: StatsRecorder) -> None:
        self.config = config
        self.stats = stats
        self.failures = 0  # consecutive failed attempts
        self.is_open = False
        self.last_error: UprockAsyncError | None = None
        self._next_probe = 0.0
        self._opened_at = 0.0
        self._closed: anyio.Event | None = None
        self._tripped: anyio.Event | None = None

    def on_attempt(self, event: AttemptEvent) -> None:
        if is_failure(event):
            self.failures += 1
            self.last_error = event.error
            if not self.is_open:
                if self.failures >= self.config.threshold:
                    self._trip()
            else:  # a failed probe (or a late attempt): the next probe one cooldown on
                self._next_probe = max(self._next_probe, time.monotonic() + self.config.cooldown)
        else:
            self.on_success()

    def on_success(self) -> None:
        """An attempt that did not count as a failure (the transport's success path
        calls this directly, without building an event)."""
        self.failures = 0
        if self.is_open:
            self._close()

    def _trip(self) -> None:
        now = time.monotonic()
        self.is_open = True
        self._opened_at = now
        self._next_probe = now + self.config.cooldown
        self._closed = anyio.Event()
        if self._tripped is not None:
            self._tripped.set()
            self._tripped = None
        self.stats.breaker_tripped()
        error = self.last_error
        log.warning(
            "circuit breaker open after %d consecutive failed attempts (last: %s: %s); "
            "holding new attempts, one probe every %g s, failing fast after %g s",
            self.failures,
            type(error).__name__,
            error,
            self.config.cooldown,
            self.config.max_wait,
        )

    def _close(self) -> None:
        self.is_open = False
        if self._closed is not None:
            self._closed.set()
            self._closed = None
        log.warning(
            "circuit breaker closed: the service answers again after %.1f s",
            time.monotonic() - self._opened_at,
        )

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the breaker opens meanwhile (a retry's
        backoff or a pause then becomes a wait on the breaker, with its bound)."""
        if self.is_open:
            await anyio.sleep(seconds)
            return
        if self._tripped is None:
            self._tripped = anyio.Event()
        with anyio.move_on_after(seconds):
            await self._tripped.wait()

    def deadline(self, held_since: float) -> float:
        """When a call first held at ``held_since`` (a ``time.monotonic()`` stamp)
        must fail: ``max_wait`` after that, or after the breaker opened, if sooner."""
        return min(held_since, self._opened_at) + self.config.max_wait

    async def wait(self, deadline: float) -> bool:
        """Wait while the breaker is open: ``True`` when let through as the probe,
        ``False`` once it closed. Raises :class:`BreakerExhausted` at ``deadline``
        (a ``time.monotonic()`` stamp; see :meth:`deadline`); a probe that is due
        goes out even then."""
        while self.is_open:
            now = time.monotonic()
            if now >= self._next_probe:
                self._next_probe = now + self.config.cooldown
                return True
            if now >= deadline:
                raise BreakerExhausted
            closed = self._closed
            assert closed is not None
            with anyio.move_on_after(min(self._next_probe, deadline) - now):
                await closed.wait()
        return False

    def copy_last_error(self) -> UprockAsyncError:
        """A fresh copy of the last failure (another call's: an exception is raised once)."""
        error = self.last_error
        if error is None:  # pragma: no cover - the breaker opens only after a failure
            return APIConnectionError("the circuit breaker is open")
        clone = copy.copy(error)
        clone.__traceback__ = None
        return clone


async def wait_turn(pause: Pause, breaker: Breaker | None, held_since: float) -> bool:
    """Wait out the client's pause and its open breaker before an attempt.

    Returns whether the attempt goes out as the breaker's probe. While the
    breaker is open, the whole wait (the pause included) ends by
    :meth:`Breaker.deadline` of ``held_since``: then :class:`BreakerExhausted`.
    """
    if breaker is None:
        await pause.wait()
        return False
    while True:
        if not breaker.is_open:
            while (left := pause.remaining()) > 0 and not breaker.is_open:
                await breaker.sleep(left)
            if not breaker.is_open:
                return False
            continue
        deadline = breaker.deadline(held_since)
        if pause.remaining() > 0:  # no probe during a pause, but the bound holds
            with anyio.move_on_after(deadline - time.monotonic()):
                await pause.wait()
            if pause.remaining() > 0 and breaker.is_open and time.monotonic() >= deadline:
                raise BreakerExhausted
            continue
        if await breaker.wait(deadline) and pause.remaining() <= 0:
            return True
