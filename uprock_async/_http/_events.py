"""Attempt events: what the transport tells its observers after every HTTP attempt.

The transport sends each attempt, retries included, and then hands one
:class:`AttemptEvent` to each of its observers: the client's stats, the
Retry-After pause, the circuit breaker, the DEBUG log (:class:`LogObserver`)
and, when a fan-out runs the call under a limit that wants to see attempts
(:class:`~uprock_async.AdaptiveConcurrency`), the observer that the fan-out put
in :data:`current_observer` for the task running the call. The transport knows
none of them by name; the concurrency layer imports this module, never the
other way round.

Logging lives here too: one DEBUG record per attempt, INFO per retry, and
``UPROCK_ASYNC_LOG=debug|info`` (read once, at import) attaches a stderr handler
at that level to the ``uprock_async`` logger, like ``ANTHROPIC_LOG``.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Protocol, TypeVar

import msgspec
from yarl import URL

from .._errors import APIStatusError, UprockAsyncError

__all__ = [
    "emit",
    "AttemptEvent",
    "AttemptObserver",
    "CallObserver",
    "LogObserver",
    "current_observer",
    "idle",
    "log",
    "log_retry",
]

log = logging.getLogger("uprock_async")

T = TypeVar("T")


class AttemptEvent(msgspec.Struct):
    """One finished HTTP attempt.

    ``number`` counts from 1 (retries included); ``status`` is 0 when no answer
    came (then ``error`` says why); ``error`` is what the attempt failed with
    (``None`` for a usable answer); ``started`` is a ``time.monotonic()`` stamp;
    ``nbytes`` the body bytes read; ``retry_after`` the server's ``Retry-After``
    in seconds (capped at ``RetryPolicy.max_retry_after``), if any; ``headers``
    the answer's headers (empty without an answer).
    """

    method: str
    url: URL
    number: int
    status: int
    error: UprockAsyncError | None
    started: float
    latency: float
    headers: Mapping[str, str]
    nbytes: int = 0
    retry_after: float | None = None

    @property
    def request_id(self) -> str | None:
        """The server's request id (``X-Request-Id``, or the error body's), unredacted."""
        request_id = self.headers.get("X-Request-Id") if self.headers else None
        if request_id is None and isinstance(self.error, APIStatusError):
            request_id = self.error.request_id
        return request_id

    def __repr__(self) -> str:
        outcome = self.status if self.error is None else type(self.error).__name__
        return f"AttemptEvent({self.method} {self.url.path} #{self.number} -> {outcome})"


class AttemptObserver(Protocol):
    """Anything that wants to see every attempt (stats, breaker, pause, log, a limiter)."""

    def on_attempt(self, event: AttemptEvent) -> None: ...


class CallObserver(AttemptObserver, Protocol):
    """The observer a fan-out sets for the task running one call (see :data:`current_observer`).

    Besides seeing attempts, it is asked to run every wait of the transport
    (a retry's backoff, a Retry-After pause, an open circuit breaker) with
    :meth:`idle`, so it can give back what the call holds (a concurrency slot)
    while the call sends nothing, and take it again before the next attempt.
    """

    async def idle(self, wait: Callable[[], Awaitable[T]]) -> T: ...


#: Set by the concurrency layer in the task that runs a call; ``None`` elsewhere.
current_observer: ContextVar[CallObserver | None] = ContextVar(
    "uprock_async_call_observer", default=None
)


async def idle(wait: Callable[[], Awaitable[T]]) -> T:
    """Run a wait of the current call through its task's observer, if any (a
    fan-out gives the call's concurrency slot back meanwhile)."""
    observer = current_observer.get()
    if observer is None:
        return await wait()
    return await observer.idle(wait)


class LogObserver:
    """One DEBUG record per attempt: method, path, status or exception, ms, attempt, request id.

    ``describe`` turns a URL into what logs may show (no key, no foreign query).
    """

    __slots__ = ("_describe", "_redact")

    def __init__(self, describe: Callable[[URL], str], redact: Callable[[str], str]) -> None:
        self._describe = describe
        self._redact = redact

    def on_attempt(self, event: AttemptEvent) -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        request_id = event.request_id
        if request_id is not None:  # a hostile server may echo the key in it
            request_id = self._redact(request_id)
        error, status = event.error, event.status
        outcome: object = (
            status
            if error is None
            else (f"{status} {type(error).__name__}" if status else type(error).__name__)
        )
        log.debug(
            "%s %s -> %s in %.1f ms (attempt %d, request_id=%s)",
            event.method,
            self._describe(event.url),
            outcome,
            event.latency * 1000,
            event.number,
            request_id,
        )


def log_retry(error: UprockAsyncError, retry: int, retries: int, delay: float) -> None:
    """INFO: a failed attempt is retried (the error names its request, without the key)."""
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s: %s; retry %d of %d in %.2f s",
            type(error).__name__,
            _short(str(error)),
            retry,
            retries,
            delay,
        )


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_ENV = "UPROCK_ASYNC_LOG"


def configure_from_env() -> None:
    """``UPROCK_ASYNC_LOG=debug|info``: a stderr handler at that level on the
    ``uprock_async`` logger, attached once (read when the package is imported)."""
    level = _LEVELS.get(os.environ.get(_ENV, "").strip().lower())
    if level is None or any(getattr(h, "_uprock_async_env", False) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler._uprock_async_env = True  # type: ignore[attr-defined]
    handler.setLevel(level)
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > level:
        log.setLevel(level)


configure_from_env()


def emit(
    observers: list[AttemptObserver],
    method: str,
    url: URL,
    attempt: int,
    started: float,
    status: int,
    headers: Mapping[str, str],
    error: UprockAsyncError | None,
    retry_after: float | None = None,
    nbytes: int = 0,
) -> None:
    """Hand one finished attempt (0-based ``attempt``) to every observer, then to
    the calling task's (:data:`current_observer`)."""
    event = AttemptEvent(
        method,
        url,
        attempt + 1,
        status,
        error,
        started,
        time.monotonic() - started,
        headers,
        nbytes,
        retry_after,
    )
    for observer in observers:
        observer.on_attempt(event)
    caller = current_observer.get()
    if caller is not None:
        caller.on_attempt(event)
