"""AdaptiveConcurrency: a concurrency limit that finds the service's capacity (AIMD).

The limit is a congestion window, as in TCP. Until the first overload it grows
by one per successful call (slow start: it doubles every round trip, so the
capacity is found in a few round trips); after that every call that completes at
steady latency adds ``1/limit`` (about +1 per round trip while the window is in
use), three times slower from two below to one above the limit at the last cut
(where the last overload struck, the capacity most likely still is: probe gently).
An overload signal multiplies the limit by ``decrease`` (0.7; the first one, which
ends slow start, halves it). Only an attempt that *started after* the last cut is
evidence for another cut (the others were sent under the old limit): one such
overload cuts once a smoothed round trip has passed since the last cut, and a
second one within that round trip cuts at once (the overload persists: when the
capacity drops 4x, the limit follows in a few quick steps instead of one step per
round trip). After a lone cut the limit returns quickly (+1 per success) to 0.8x
where it was (a service's capacity rarely moves much); after cuts close together
(within two round trips, or before that return was done) it does not: the
capacity really dropped. Overload signals are a 429 or 503 answer (retried
attempts included), an :class:`~uprock_async.APITimeoutError`, or a latency far
above the recent minimum.

A ``Retry-After`` on an overload answer also stops growth until it expires.
A call under a limiter gives its slot back while it waits (a retry's backoff,
the client's Retry-After pause, an open circuit breaker) and queues for one
again, first in line, so after a cut it waits until the lower limit has room
rather than hitting a full server again at once. After an overload answer the
retry waits at least half to one and a half smoothed round trips (jittered; see
:meth:`AdaptiveConcurrency.retry_delay`) even under ``Retry-After: 0``, so it
comes after the overload's other answers (see ``_meters.py``).
"""

from __future__ import annotations

import random
import time
from collections import deque
from typing import Literal, TypeAlias

import anyio

from ._gates import wait_in_line

__all__ = ["AdaptiveConcurrency", "ConcurrencyArg", "resolve_concurrency"]

_MIN_RTT_WINDOW = 10.0  # seconds a minimum-latency sample is remembered
_RECOVER = 0.8  # after a cut, return fast to this share of the limit before it
_RECUT = 2  # overloads from attempts started after a cut that cut again within a round trip
_PLATEAU = 3.0  # near the limit at the last cut (-2 .. +1), grow this many times slower
_CLOSE = 2.0  # a cut within this many smoothed round trips of the last: no quick return


class AdaptiveConcurrency:
    """A concurrency limit that adapts to the service: AIMD on 429/503/timeouts/latency.

    Pass it (or ``"auto"``) as ``concurrency=`` to :func:`~uprock_async.fan_out`,
    ``job_details``, ``iter_job_details`` or ``crawl_infos``. One instance may be
    shared by several concurrent calls: together they never exceed
    :attr:`current`. ``latency_factor``: a call slower than this many times the
    recent minimum latency counts as an overload signal; ``decrease``: the
    multiplicative cut.

    Do not nest: a call that holds a slot must not start a fan-out on the same
    limiter, or, with the limit small enough, every slot waits on itself.
    """

    __slots__ = (
        "_cut_at",
        "_decrease",
        "_in_flight",
        "_last_cut",
        "_latency_factor",
        "_limit",
        "_min_rtt",
        "_min_rtt_prev",
        "_no_growth_until",
        "_overloaded_once",
        "_recent",
        "_rtt_epoch",
        "_srtt",
        "_ssthresh",
        "_waiters",
        "maximum",
        "minimum",
    )

    def __init__(
        self,
        initial: int = 8,
        minimum: int = 1,
        maximum: int = 256,
        *,
        latency_factor: float = 4.0,
        decrease: float = 0.7,
    ) -> None:
        for name, value in (("initial", initial), ("minimum", minimum), ("maximum", maximum)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"AdaptiveConcurrency {name} must be an int, got {value!r}")
        if minimum < 1:
            raise ValueError(f"AdaptiveConcurrency minimum must be >= 1, got {minimum}")
        if maximum < minimum:
            raise ValueError(f"AdaptiveConcurrency maximum ({maximum}) < minimum ({minimum})")
        if not minimum <= initial <= maximum:
            raise ValueError(
                f"AdaptiveConcurrency initial ({initial}) must be within "
                f"[minimum, maximum] = [{minimum}, {maximum}]"
            )
        if not 0 < decrease < 1:
            raise ValueError(f"decrease must be in (0, 1), got {decrease}")
        if latency_factor <= 1:
            raise ValueError(f"latency_factor must be > 1, got {latency_factor}")
        self.minimum = minimum
        self.maximum = maximum
        self._limit = float(initial)
        self._decrease = decrease
        self._ssthresh = float(maximum)
        self._cut_at = float("inf")  # the limit when the last cut came
        self._overloaded_once = False
        self._latency_factor = latency_factor
        self._in_flight = 0
        self._waiters: deque[anyio.Event] = deque()
        self._last_cut = -1.0
        self._recent = 0  # overloads from attempts started after the last cut
        self._min_rtt = float("inf")
        self._min_rtt_prev = float("inf")
        self._rtt_epoch = time.monotonic()
        self._srtt: float | None = None
        self._no_growth_until = 0.0

    def __repr__(self) -> str:
        return (
            f"AdaptiveConcurrency(current={self.current}, in_flight={self._in_flight}, "
            f"minimum={self.minimum}, maximum={self.maximum})"
        )

    @property
    def current(self) -> int:
        """The limit now: calls that may run at once."""
        return int(self._limit)

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        return self._in_flight

    # -- slots ---------------------------------------------------------------

    async def acquire(self, *, first: bool = False) -> float:
        """Wait for a slot; returns the start time to pass to :meth:`record`.

        ``first=True`` queues ahead of the other waiters (a retry of a call that
        already waited its turn)."""
        if self._in_flight < int(self._limit) and not self._waiters:
            self._in_flight += 1
            return time.monotonic()
        await wait_in_line(self._waiters, self.release, first=first)
        return time.monotonic()

    def release(self) -> None:
        """Give a slot back, waking waiters while the limit allows."""
        self._in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        limit = int(self._limit)
        while self._waiters and self._in_flight < limit:
            self._in_flight += 1  # reserved for the waiter we wake
            self._waiters.popleft().set()

    # -- signals -------------------------------------------------------------

    def record(
        self, started: float, latency: float, *, overloaded: bool = False, pause: float = 0.0
    ) -> None:
        """Feed one completed attempt: its start time, latency and overload verdict;
        ``pause``: the seconds of a ``Retry-After`` it carried (no growth until then)."""
        now = started + latency
        if pause > 0:
            self._no_growth_until = max(self._no_growth_until, now + pause)
        if now - self._rtt_epoch > _MIN_RTT_WINDOW:
            self._min_rtt_prev, self._min_rtt = self._min_rtt, float("inf")
            self._rtt_epoch = now
        if not overloaded:
            base = min(self._min_rtt, self._min_rtt_prev)
            if latency < self._min_rtt:
                self._min_rtt = latency
            # smoothed round trip (as TCP's SRTT): how long one "round" lasts
            self._srtt = latency if self._srtt is None else self._srtt + (latency - self._srtt) / 8
            overloaded = base != float("inf") and latency > base * self._latency_factor + 0.005
        if overloaded:
            # Evidence counts only from an attempt that started after the last cut (the
            # others were sent under the old limit). One such overload cuts again once a
            # round trip has passed; within the round trip it takes a second one (the
            # overload persists: the capacity really dropped), since a single quick 429
            # right after a cut may be a straggler.
            if started >= self._last_cut:
                self._recent += 1
                if now - self._last_cut >= (self._srtt or 0.0) or self._recent >= _RECUT:
                    self._cut(now)
        elif now < self._no_growth_until:
            pass  # the service asked for a pause (Retry-After): no growth until it ends
        elif self._in_flight >= int(self._limit) or self._waiters:
            # Grow only while the window is in use, so an idle limiter does not drift up.
            # Until the first overload, slow start (+1 per success: doubling per round
            # trip) finds the capacity in a few round trips; then +1 per round trip
            # (+1 per success while returning to 0.8x after a lone cut), a third of
            # that around the level of the last cut.
            step = 1.0 if self._limit < self._ssthresh else 1.0 / self._limit
            if self._cut_at - 2 < self._limit < self._cut_at + 1:
                step /= _PLATEAU  # near where the last overload struck: probe gently
            self._limit = min(float(self.maximum), self._limit + step)
            self._wake()

    def _cut(self, now: float) -> None:
        # Slow start overshoots by up to 2x before its first overload: halve then (as
        # TCP does), and cut by ``decrease`` afterwards. After a lone cut the limit
        # returns quickly to 0.8x where it was (the capacity barely moved), then probes
        # by +1 per round trip, gently near ``_cut_at``; a cut within two round trips of
        # the last one or while that return is still under way (cuts close together:
        # the capacity really dropped) gets no quick return.
        before = self._limit
        first = not self._overloaded_once
        close = now - self._last_cut < _CLOSE * (self._srtt or 0.0) or before < self._ssthresh
        self._limit = max(float(self.minimum), before * (0.5 if first else self._decrease))
        self._ssthresh = self._limit if first or close else before * _RECOVER
        self._overloaded_once = True
        self._last_cut = now
        self._recent = 0
        self._cut_at = before

    def retry_delay(self) -> float:
        """Seconds a retry of an overloaded attempt waits (without its slot) before it
        queues again: half to one and a half smoothed round trips, at random, so the
        retries of one overload neither hit the full service again at once nor all
        come back together. 0 until a round trip has been measured."""
        return (self._srtt or 0.0) * random.uniform(0.5, 1.5)


ConcurrencyArg: TypeAlias = int | Literal["auto"] | AdaptiveConcurrency


def resolve_concurrency(value: object) -> int | AdaptiveConcurrency:
    """Validate a ``concurrency=`` argument: a positive int, ``"auto"`` or a limiter."""
    if isinstance(value, AdaptiveConcurrency):
        return value
    if value == "auto":
        return AdaptiveConcurrency()
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"concurrency must be a positive int, 'auto' or an AdaptiveConcurrency, got {value!r}"
        )
    if value < 1:
        raise ValueError(f"concurrency must be >= 1, got {value}")
    return value
