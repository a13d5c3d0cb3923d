"""Retry-After as a pause of the whole client.

A 429 or 503 answer that carries ``Retry-After`` stops every attempt of the
client that has not started yet until it expires (capped at
``RetryPolicy.max_retry_after``), not just the retry of the call that got it:
the service asked the client, not one request, to wait. A new pause is logged
at WARNING, at most once per 10 s (the others at INFO).
"""

from __future__ import annotations

import time

import anyio

from .._errors import is_overload
from ._events import AttemptEvent, log

__all__ = ["Pause"]

_WARN_EVERY = 10.0  # seconds between two WARNINGs about pauses (a busy service sends many)


class Pause:
    """An attempt observer that turns ``Retry-After`` into a client-wide pause."""

    __slots__ = ("_quiet", "_warned", "until")

    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() at which the pause ends (0: never paused)
        self._warned = -_WARN_EVERY  # when the last WARNING was written
        self._quiet = 0  # pauses begun since then, not logged at WARNING

    def on_attempt(self, event: AttemptEvent) -> None:
        seconds = event.retry_after
        if seconds is None or seconds <= 0 or not is_overload(event.error, event.status):
            return
        now = time.monotonic()
        until = now + seconds  # the transport capped it at RetryPolicy.max_retry_after
        if until <= self.until:
            return
        if self.until <= now:  # a new pause (extending one is not news)
            self._log(event.status, seconds, until - now, now)
        self.until = until

    def _log(self, status: int, seconds: float, pause: float, now: float) -> None:
        """WARNING for a new pause, at most one per ``_WARN_EVERY`` s (the rest at INFO)."""
        if now - self._warned < _WARN_EVERY:
            self._quiet += 1
            log.info("HTTP %d with Retry-After: %g s: pausing this client", status, seconds)
            return
        quiet, self._quiet, self._warned = self._quiet, 0, now
        log.warning(
            "HTTP %d with Retry-After: %g s: pausing every new attempt of this client for %.2f s%s",
            status,
            seconds,
            pause,
            f" ({quiet} more pauses since the last warning)" if quiet else "",
        )

    def remaining(self) -> float:
        """Seconds the pause still lasts (0 when there is none)."""
        until = self.until
        return max(0.0, until - time.monotonic()) if until else 0.0

    async def wait(self) -> None:
        """Return when no pause is on (it may be extended while we wait)."""
        while (left := self.remaining()) > 0:  # noqa: ASYNC110 - its end may move
            await anyio.sleep(left)
