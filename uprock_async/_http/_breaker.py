"""The circuit breaker: stop sending while the service is down, resume by itself.

After ``threshold`` consecutive failed attempts (connection errors, timeouts,
5xx answers; never a 4xx, which proves the service is up) the breaker opens:
attempts wait before sending. One waiting attempt is let through as a probe
every ``cooldown`` seconds; the first attempt that does not fail closes the
breaker and releases everyone. How long a call may wait in all is
``max_wait``; the transport then raises the call's last error.

The breaker only sees attempts (it is an attempt observer) and answers "may
an attempt go out?" (:meth:`Breaker.wait`). Which concurrency slot a waiting
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
    """Internal: a call has waited ``max_wait`` seconds on the open breaker."""


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

    def on_attempt(self, event: AttemptEvent) -> None:
        if is_failure(event):
            self.failures += 1
            self.last_error = event.error
            if not self.is_open and self.failures >= self.config.threshold:
                self._trip()
        else:
            self.failures = 0
            if self.is_open:
                self._close()

    def _trip(self) -> None:
        now = time.monotonic()
        self.is_open = True
        self._opened_at = now
        self._next_probe = now + self.config.cooldown
        self._closed = anyio.Event()
        self.stats.breaker_tripped()
        error = self.last_error
        log.warning(
            "circuit breaker open after %d consecutive failed attempts (last: %s: %s); "
            "holding new attempts, one probe every %g s",
            self.failures,
            type(error).__name__,
            error,
            self.config.cooldown,
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

    async def wait(self, deadline: float) -> bool:
        """Wait while the breaker is open: ``True`` when let through as the probe,
        ``False`` once it closed. Raises :class:`BreakerExhausted` at ``deadline``
        (a ``time.monotonic()`` stamp)."""
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


async def wait_turn(pause: Pause, breaker: Breaker | None, held: float) -> tuple[bool, float]:
    """Wait out the client's pause and its open breaker before an attempt.

    Returns (let through as the breaker's probe?, seconds held by the breaker in
    all, ``held`` included); raises :class:`BreakerExhausted` once that reaches
    ``max_wait``.
    """
    while True:
        await pause.wait()
        if breaker is None or not breaker.is_open:
            return False, held
        started = time.monotonic()
        try:
            probe = await breaker.wait(started + breaker.config.max_wait - held)
        finally:
            held += time.monotonic() - started
        if probe:
            return True, held
