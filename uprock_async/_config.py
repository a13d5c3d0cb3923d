"""Configuration value objects: :class:`Timeout`, :class:`Limits`, :class:`RetryPolicy`,
:class:`CircuitBreaker`.

They are small, frozen and validated at construction, so a bad value fails where
it is written rather than deep inside a request.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

__all__ = ["DEFAULT_BREAKER", "CircuitBreaker", "Limits", "RetryPolicy", "Timeout"]

_DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _check_positive(name: str, value: float | None, *, allow_none: bool = True) -> None:
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} must be a number, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")


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
            _check_positive(f"Timeout.{name}", getattr(self, name))

    @classmethod
    def coerce(cls, value: float | Timeout | None) -> Timeout:
        """Accept a number (total seconds), a :class:`Timeout` or ``None`` (no limits)."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, connect=None, read=None)
        _check_positive("timeout", value)
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
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(
                    f"Limits.{name} must be an int >= 0 (0 = unlimited), got {value!r}"
                )
        _check_positive("Limits.keepalive_expiry", self.keepalive_expiry, allow_none=False)
        cap = self.max_download_size
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(
                f"Limits.max_download_size must be a positive int of bytes or None, got {cap!r}"
            )


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
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be an int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("backoff_initial", "backoff_max", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a number of seconds, got {value!r}")
            # `not 0 <= v < inf` also refuses NaN, which every comparison lets through.
            if not 0 <= value < math.inf:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
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
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, int):
            raise TypeError(f"threshold must be an int, got {type(self.threshold).__name__}")
        if self.threshold < 1:
            raise ValueError(f"threshold must be >= 1, got {self.threshold}")
        for name in ("cooldown", "max_wait"):
            value = getattr(self, name)
            _check_positive(name, value, allow_none=False)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")


#: What a client gets unless it passes ``circuit_breaker=`` (``None`` turns it off).
DEFAULT_BREAKER = CircuitBreaker()
