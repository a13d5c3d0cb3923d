"""Configuration value objects: :class:`Timeout`, :class:`Limits`, :class:`RetryPolicy`,
:class:`CircuitBreaker`.

They are small, frozen and validated at construction (by the rules of
:mod:`._validate`), so a bad value fails where it is written rather than deep
inside a request.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

from . import _validate

__all__ = ["DEFAULT_BREAKER", "CircuitBreaker", "Limits", "RetryPolicy", "Timeout"]


class Failed(Protocol):
    """What :meth:`RetryPolicy.allows` reads of a failed attempt."""

    @property
    def retryable(self) -> bool: ...  # the failure may go away if tried again

    @property
    def sent(self) -> bool: ...  # the request may have reached the server


_DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Timeout:
    """Time limits for one HTTP attempt, in seconds (``None`` = no limit).

    ``total`` bounds the whole attempt (connect, send, wait, read the body);
    ``connect`` bounds getting a connection from the pool and opening it;
    ``read`` bounds the wait between two reads from the socket.
    A retried request gets a fresh budget for each attempt.
    """

    total: float | None = 30.0
    connect: float | None = 10.0
    read: float | None = None

    def __post_init__(self) -> None:
        for name in ("total", "connect", "read"):
            _validate.positive_seconds(getattr(self, name), f"Timeout.{name}")

    @classmethod
    def coerce(cls, value: float | Timeout | None) -> Timeout:
        """Accept a number (total seconds), a :class:`Timeout` or ``None`` (no limits)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, read=None)
        _validate.positive_seconds(value, "timeout")
        return cls(total=float(value), connect=min(10.0, float(value)))


@dataclass(frozen=True, slots=True)
class Limits:
    """Connection pool limits for the client's single ``aiohttp`` connector, and
    the size cap of files it downloads.

    ``max_connections``: open connections in total (0 = unlimited);
    ``max_connections_per_host``: per host (0 = unlimited);
    ``keepalive_expiry``: seconds an idle connection stays in the pool;
    ``max_download_size``: bytes a download streamed to ``dest`` may write,
    counted after ``gzip``/``deflate`` are undone (``None`` = no cap). A larger
    file is refused with :class:`~uprock_async.ResponseDecodeError` and nothing is
    left on disk. Downloads returned as ``bytes`` are capped by the client's
    ``max_body_size`` instead, like every other answer.
    """

    max_connections: int = 100
    max_connections_per_host: int = 0
    keepalive_expiry: float = 30.0
    max_download_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_host"):
            _validate.size(getattr(self, name), f"Limits.{name}", 0, " (0 = unlimited)")
        _validate.positive_seconds(
            self.keepalive_expiry, "Limits.keepalive_expiry", allow_none=False
        )
        if self.max_download_size is not None:
            _validate.size(self.max_download_size, "Limits.max_download_size", 1, " bytes, or None")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    Attempt ``n`` (0-based) that failed with a connection error or one of
    ``retry_statuses`` waits ``min(backoff_max, backoff_initial * 2**n)``
    seconds, scaled by a random factor in ``[0.5, 1.0]`` when ``jitter`` is on,
    unless the server sent ``Retry-After``: that is honoured, capped at
    ``max_retry_after``. ``max_retries=0`` disables retries.
    """

    max_retries: int = 2
    backoff_initial: float = 0.5
    backoff_max: float = 8.0
    jitter: bool = True
    retry_statuses: frozenset[int] = field(default=_DEFAULT_RETRY_STATUSES)
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        _validate.at_least(self.max_retries, "max_retries", 0)
        for name in ("backoff_initial", "backoff_max", "max_retry_after"):
            _validate.finite_seconds(getattr(self, name), name)
        object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    @classmethod
    def coerce(cls, value: RetryPolicy | int | None) -> RetryPolicy:
        """Accept a policy, an int (``max_retries``) or ``None`` (the default policy)."""
        if value is None:
            return cls()
        if isinstance(value, RetryPolicy):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(max_retries=value)
        raise TypeError(f"retry must be a RetryPolicy, an int or None, got {type(value).__name__}")

    def allows(
        self, failure: Failed, retries: int, idempotent: bool, *, free: bool = False
    ) -> bool:
        """May a call whose attempt failed with ``failure`` go again, with
        ``retries`` retries used so far? Only a retryable failure (a connection
        error, a timeout, one of ``retry_statuses``), within ``max_retries``
        (``free``: the attempt was a circuit-breaker probe, which uses none), and
        for a request that must not run twice (``idempotent=False``) only if it
        cannot have reached the server."""
        return (
            failure.retryable
            and (free or retries < self.max_retries)
            and (idempotent or not failure.sent)
        )

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # The exponent is capped so a huge attempt number cannot overflow a float.
        delay = min(self.backoff_max, self.backoff_initial * (2.0 ** min(attempt, 64)))
        if self.jitter:
            delay *= 0.5 + random.random() / 2
        return delay


@dataclass(frozen=True, slots=True)
class CircuitBreaker:
    """Stop sending while the service is down, then resume by itself.

    After ``threshold`` consecutive failed attempts (connection errors, timeouts
    and 5xx answers; never 4xx) the client stops sending: attempts wait, holding
    no concurrency slot, and one waiting attempt goes out as a probe every
    ``cooldown`` seconds (never during a Retry-After pause). The first success
    closes the breaker and releases everyone. Waiting does not use up retries,
    and neither does a probe that fails.

    ``max_wait`` is a bound in wall-clock seconds: a call held by the open
    breaker (its Retry-After pause and failed probes included) fails with its
    last error ``max_wait`` seconds after it was first held, and once the
    breaker has been open ``max_wait`` seconds every call fails at once with a
    copy of the last error, as resilience4j and pybreaker fail fast while open,
    until a probe succeeds. So a fan-out over N items during a long outage
    ends in about ``max_wait`` plus the time to hand out N failures. On by
    default (``UprockClient(circuit_breaker=None)`` turns it off);
    :attr:`ClientStats.breaker_trips` counts how often it opened; trips and
    recoveries are logged at WARNING.

    "Holding no slot": under an :class:`~uprock_async.AdaptiveConcurrency` a
    waiting call gives its slot back and queues for one again, first in line,
    when released. Under an int ``concurrency`` the limit is the number of
    worker tasks: a waiting call keeps its worker (which sends nothing), and
    no other item of that fan-out starts in its place until it is released or
    fails.
    """

    threshold: int = 10
    cooldown: float = 1.0
    max_wait: float = 60.0

    def __post_init__(self) -> None:
        _validate.at_least(self.threshold, "threshold", 1)
        for name in ("cooldown", "max_wait"):
            _validate.positive_finite(getattr(self, name), name)


#: What a client gets unless it passes ``circuit_breaker=`` (``None`` turns it off).
DEFAULT_BREAKER = CircuitBreaker()
