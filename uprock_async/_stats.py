"""Client statistics in constant memory: counters and a log-bucket latency histogram."""

from __future__ import annotations

import math
from typing import Protocol

import msgspec

__all__ = ["ClientStats", "StatsRecorder"]

# Latency buckets grow by 5 %: a percentile is within ~2.5 % of the true value,
# from 10 µs to about a day, in under 500 integers whatever the request count.
_MIN_LATENCY = 1e-5
_GROWTH = 1.05
_LOG_GROWTH = math.log(_GROWTH)
_BUCKETS = 480


class ClientStats(msgspec.Struct, frozen=True, gc=False):
    """A snapshot of what one client has done since it was created.

    ``requests`` counts HTTP attempts sent (a retried call counts each attempt);
    ``retries`` the attempts that were retries; ``responses`` attempts by HTTP
    status; ``errors`` exceptions raised to the caller, by class name;
    ``bytes_received`` response body bytes; ``breaker_trips`` how often the
    circuit breaker opened; ``latency_p50/p90/p99`` attempt latency in seconds
    (``None`` before the first response); ``latency_histogram`` the non-empty
    latency buckets as ``(upper bound in seconds, count)``, in order.

    In Jupyter it renders as a table with a latency histogram (``_repr_html_``).
    """

    requests: int = 0
    retries: int = 0
    responses: dict[int, int] = {}
    errors: dict[str, int] = {}
    bytes_received: int = 0
    breaker_trips: int = 0
    latency_p50: float | None = None
    latency_p90: float | None = None
    latency_p99: float | None = None
    latency_histogram: tuple[tuple[float, int], ...] = ()

    def __str__(self) -> str:
        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value * 1000:.1f} ms"

        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.responses.items())) or "-"
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "-"
        return (
            f"requests        {self.requests}\n"
            f"retries         {self.retries}\n"
            f"responses       {statuses}\n"
            f"errors          {errors}\n"
            f"bytes received  {self.bytes_received}\n"
            f"breaker trips   {self.breaker_trips}\n"
            f"latency p50     {ms(self.latency_p50)}\n"
            f"latency p90     {ms(self.latency_p90)}\n"
            f"latency p99     {ms(self.latency_p99)}"
        )

    def __repr__(self) -> str:
        # The histogram is up to 480 pairs: shown as a count, the rest as fields.
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if name != "latency_histogram"
        )
        return f"ClientStats({fields}, latency_histogram=<{len(self.latency_histogram)} buckets>)"

    def _repr_html_(self) -> str:
        """A table and an inline-SVG latency histogram for Jupyter (no JavaScript)."""
        from ._html import stats_html, view  # only notebooks pay for the HTML code

        return view(stats_html, self)


class _Attempt(Protocol):
    """What the recorder reads of a transport's attempt event."""

    status: int
    latency: float
    nbytes: int


class StatsRecorder:
    """Mutable counters behind :meth:`UprockClient.stats`; every update is O(1)."""

    __slots__ = (
        "_buckets",
        "_errors",
        "_latency_count",
        "_responses",
        "breaker_trips",
        "bytes_received",
        "requests",
        "retries",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.retries = 0
        self.bytes_received = 0
        self.breaker_trips = 0
        self._responses: dict[int, int] = {}
        self._errors: dict[str, int] = {}
        self._buckets = [0] * _BUCKETS
        self._latency_count = 0

    def attempt(self, retry: bool) -> None:
        self.requests += 1
        if retry:
            self.retries += 1

    def response(self, status: int, latency: float, nbytes: int) -> None:
        """An answer: its status, body bytes and latency (once per request: inline)."""
        responses = self._responses
        responses[status] = responses.get(status, 0) + 1
        self.bytes_received += nbytes
        if latency <= _MIN_LATENCY:
            index = 0
        else:
            index = int(math.log(latency / _MIN_LATENCY) / _LOG_GROWTH) + 1
            if index >= _BUCKETS:
                index = _BUCKETS - 1
        self._buckets[index] += 1
        self._latency_count += 1

    def latency(self, seconds: float) -> None:
        """A latency without an answer to count (see :meth:`response`)."""
        if seconds <= _MIN_LATENCY:
            index = 0
        else:
            index = min(_BUCKETS - 1, int(math.log(seconds / _MIN_LATENCY) / _LOG_GROWTH) + 1)
        self._buckets[index] += 1
        self._latency_count += 1

    def error(self, exc: BaseException) -> None:
        name = type(exc).__name__
        self._errors[name] = self._errors.get(name, 0) + 1

    def on_attempt(self, event: _Attempt) -> None:
        """Attempt observer: the answer's status, latency and body bytes."""
        if event.status:
            self.response(event.status, event.latency, event.nbytes)

    def breaker_tripped(self) -> None:
        self.breaker_trips += 1

    def _histogram(self) -> tuple[tuple[float, int], ...]:
        return tuple(
            (_MIN_LATENCY * _GROWTH**index, count)
            for index, count in enumerate(self._buckets)
            if count
        )

    def _percentile(self, q: float) -> float | None:
        if not self._latency_count:
            return None
        rank = max(1, math.ceil(q * self._latency_count))
        seen = 0
        for index, count in enumerate(self._buckets):
            seen += count
            if seen >= rank:
                if index == 0:
                    return _MIN_LATENCY
                # geometric middle of the bucket [min*g^(i-1), min*g^i)
                return float(_MIN_LATENCY * _GROWTH ** (index - 0.5))
        return None  # pragma: no cover - rank <= count always finds a bucket

    def snapshot(self) -> ClientStats:
        return ClientStats(
            requests=self.requests,
            retries=self.retries,
            responses=dict(self._responses),
            errors=dict(self._errors),
            bytes_received=self.bytes_received,
            breaker_trips=self.breaker_trips,
            latency_p50=self._percentile(0.50),
            latency_p90=self._percentile(0.90),
            latency_p99=self._percentile(0.99),
            latency_histogram=self._histogram(),
        )
