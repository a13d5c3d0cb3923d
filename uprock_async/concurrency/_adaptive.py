"""AdaptiveConcurrency: a concurrency limit that finds the service's capacity and
follows it: an edge search driven by overloads, with round-trip time as a guard.

**What the services do.** Above its capacity a service answers 429 (or 503) at
once; it does not queue. So the round-trip time stays at its minimum right up to
the capacity, and the only sign of the edge is the overload answer. That decides
between the algorithms that estimate queueing from latency:

- *Gradient2* (Netflix concurrency-limits): ``limit = limit * clamp(1.5 * longRtt
  / shortRtt, 0.5, 1) + 4``, smoothed; drops are not an input. With no queue the
  gradient is 1, so it adds ~4 slots per update for ever: the 429 share grows
  without bound (fast 429s even lower the average round trip).
- *Vegas* (Netflix ``VegasLimit``, TCP Vegas): ``queue = limit * (1 - rttNoLoad /
  rtt)``, grow while the queue is small. The queue reads 0 at every limit, so it
  grows by ``beta`` per sample until the overloads come, and a drop takes off only
  ``log10(limit)`` (one or two slots) per sample: the 40 -> 10 fall costs tens of
  429s, and it climbs straight back.
- *BBR*: ``BDP = max delivery rate * min RTT``, probing at 1.25x for one round in
  eight. Its estimate is right here (successes per second times the minimum round
  trip is the capacity), but the probe sends a quarter more than the capacity
  every eight rounds; against a bottleneck without a buffer that is several 429s
  per probe (~3 % at capacity 10).
- *AIMD* (this class before): cut by 0.7, then +1 per round. A sawtooth: at capacity
  10 the limit spent most of its time at 7-9 and crossed the edge every few rounds,
  0.91 of a fixed limit at the capacity (the oracle) and 2.9 % of attempts 429;
  0.88 and 0.86 at capacities 40 and 80 after the changes.

**The rule here.** Capacity is found the way a binary search finds an edge, and
then probed rarely:

1. Slow start: +1 per success (doubling per round trip) until the first overload,
   which cuts by ``decrease`` (0.7), or further, to no less than half, when the
   answers of the last round say the service holds less (the overload answers
   lag when the client is short of CPU, and the limit overshoots meanwhile).
2. After a cut, each round that holds raises the limit halfway to the level where
   the overload struck; a level that fails goes back to the one that held. At the
   edge (one below a level that failed) a failed probe costs nothing but its 429:
   the limit returns to the level that held, and the next probe of the edge waits
   2, 4, 8, 16, then 32 rounds. A steady edge costs one 429 per 32 rounds (0.3 %
   of attempts at capacity 10), and a limit that sits exactly at the capacity
   gets all of it, which a sawtooth cannot.
3. Two passes beyond the edge in a row mean the capacity grew: the limit ramps,
   each step larger than the last (x1.5, at most half the limit), 10 -> 80 in
   about a dozen rounds.
4. A level that held and then overloads means the capacity fell: a cut. Only an
   attempt sent after the last decrease counts (the others were sent under the
   higher limit); one cuts once a round has passed since, and a second one within
   the round cuts at once, so 40 -> 10 takes four quick cuts. An overload within
   four rounds of a level passing its probe is that probe failing late (a round
   without a 429 can be luck while answers queue in the client), not a fall.
5. Falls again and again (bursts of cuts 10 to 100 rounds apart) mean other
   clients share the capacity. The probe's own request is the one that finds the
   service full, so its 429 strikes the prober, whatever its share; if a failed
   probe cost nothing, the shares would freeze where the start left them (Jain's
   index 0.76 in a simulation of four clients). So while shared it is AIMD: every
   overload cuts (by ``decrease ** 0.5``) and the way back is one slot per seven
   rounds; as a cut takes more from a larger share, the shares even out.
6. Latency, as Vegas and Gradient2 read it, guards the growth: no ramp while the
   smoothed round trip is over 1.5x its minimum (the answers already queue, in
   the client when it is short of CPU, or at a service that queues: more at once
   would only wait; without this the limit once ramped to 202 against a capacity
   of 80 without a 429, then met a storm of them); and an answer slower than
   ``latency_factor`` times the minimum is an overload.

Measured with ``benchmarks/adaptive.py`` on a shared 2-core machine (issue 24;
each against the oracle or the best fixed limit in the same run, over 3 to 5
runs): capacity 40 -> 10 -> 80 at 0.99-1.00 / 0.99-1.01 / 0.97-0.99 of the
oracle (a fixed limit switched to each phase's capacity on time) with 0.4 /
0.6-0.8 / 0.2 % of attempts 429 and nothing failed; a static capacity of 40 at
0.93-0.99x the best fixed limit that fails nothing (0.97-0.99 in 3 of 4 runs;
a run lasts under 3 s, so the start-up's overshoot weighs in it); four
processes sharing 40 at 0.93-0.94 of the ideal, Jain's index 0.92-0.99, 0.6-0.9 %
of attempts 429, and in 2 of 5 runs one lookup in 11,000 failed with
``RateLimitError`` after its two retries met a full service three times (given
back in place, never lost). A worker going straight on to its next call keeps
its slot (:meth:`AdaptiveConcurrency.reuse`): at a limit equal to the capacity
that alone made ``auto`` as fast as the fixed limit (a hand-over to a waiter
cost a turn of the event loop per call, about 8 % at 2,000 calls/s). Three
more runs on 2026-12-08 (URLs built from parts): the phases at 1.00 / 1.00 /
1.01 of the oracle (0.94-0.95 of the ideal in all three), 0.2-0.4 / 0.7-1.9 /
0.1 % of attempts 429 over each whole phase (phase 2's are the fall from 40 to
10; 0.3 % after its first 3 s); static 0.97x; shared 0.90-0.91 of the ideal,
Jain's index 0.90-0.95, 0.6-0.8 % 429, nothing failed.

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

import math
import random
import time
from collections import deque
from typing import Literal, TypeAlias

import anyio

from ._gates import wait_in_line

__all__ = ["AdaptiveConcurrency", "ConcurrencyArg", "resolve_concurrency"]

_MIN_RTT_WINDOW = 10.0  # seconds a minimum-latency sample is remembered
_RECUT = 2  # overloads from attempts started after a decrease that cut again within a round
_HOLD_FIRST = 2  # rounds at the edge (one below a failed level) before probing it again
_HOLD_MAX = 32  # the longest hold, in rounds: how often a steady edge is probed
_HOLD_SHARED = 7  # rounds between probes while shared (AIMD's +1 per 7 rounds)
_SHARED_ROUNDS = 100  # bursts of cuts this many rounds apart or closer: a shared capacity
_SHARED_EXPONENT = 0.5  # while shared, each cut is decrease ** this (0.7 -> 0.84)
_BURST_ROUNDS = 10  # cuts this many rounds apart or closer: one burst (one fall)
_EDGE_PASSES = 2  # passes beyond the edge in a row before the limit ramps up
_YOUNG_ROUNDS = 4  # an overload this few rounds after a level passed: the probe failed late
_RAMP_TOLERANCE = 1.5  # no ramp while the round trip is this many times its minimum


class AdaptiveConcurrency:
    """A concurrency limit that adapts to the service: it finds the edge where 429s,
    503s, timeouts or far slower answers begin, holds just below it, and follows it.

    Pass it (or ``"auto"``) as ``concurrency=`` to :func:`~uprock_async.fan_out`,
    ``job_details``, ``iter_job_details``, ``watch_jobs`` or ``crawl_infos``. One instance may be
    shared by several concurrent calls: together they never exceed
    :attr:`current`. ``latency_factor``: a call slower than this many times the
    recent minimum latency counts as an overload signal; ``decrease``: the
    multiplicative cut.

    Do not nest: a call that holds a slot must not start a fan-out on the same
    limiter, or, with the limit small enough, every slot waits on itself.
    """

    __slots__ = (
        "_below",
        "_ceiling",
        "_changed",
        "_decrease",
        "_delivered",
        "_edge_passes",
        "_good",
        "_hold_rounds",
        "_hold_until",
        "_in_flight",
        "_last_drop",
        "_latency_factor",
        "_limit",
        "_min_rtt",
        "_min_rtt_prev",
        "_no_growth_until",
        "_passed_at",
        "_per_round",
        "_probe_start",
        "_recent",
        "_round_start",
        "_rtt_epoch",
        "_shared_until",
        "_slow_start",
        "_srtt",
        "_step",
        "_urgent",
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
        self._latency_factor = latency_factor
        self._in_flight = 0
        self._waiters: deque[anyio.Event] = deque()
        self._urgent = 0  # waiters queued first in line (a retry mid-call)
        self._slow_start = True  # until the first overload
        self._good = initial  # the highest level that ran a round without an overload
        self._below = initial  # the level before the last probe raised it
        self._passed_at = -math.inf  # when the level passed its probe
        self._ceiling = float("inf")  # the lowest level known to overload (inf: none)
        self._step = 1  # the next probe's step while no ceiling is known
        self._probe_start = -1.0  # when the level under test was raised (-1: no probe)
        self._hold_until = 0.0  # no probe before then
        self._hold_rounds = _HOLD_FIRST
        self._edge_passes = 0  # passes beyond the edge in a row
        self._shared_until = 0.0  # bursts of cuts again and again: others share the capacity
        self._last_drop = -math.inf  # the last cut
        self._changed = -1.0  # when the limit last came down
        self._recent = 0  # overloads from attempts started after that
        self._min_rtt = float("inf")
        self._min_rtt_prev = float("inf")
        self._rtt_epoch = time.monotonic()
        self._srtt: float | None = None
        self._no_growth_until = 0.0
        self._round_start = 0.0  # the round whose successes are being counted
        self._delivered = 0  # successes in that round
        self._per_round = 0  # successes in the round before

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
        self._urgent += first
        try:
            await wait_in_line(self._waiters, self.release, first=first)
        finally:
            self._urgent -= first
        return time.monotonic()

    def release(self) -> None:
        """Give a slot back, waking waiters while the limit allows."""
        self._in_flight -= 1
        self._wake()

    def reuse(self) -> bool:
        """Keep a slot its holder is done with for the holder's next call, when the
        limit still has room for it and no retry waits first in line; otherwise give
        it back (as :meth:`release`) and return ``False``.

        A worker that goes straight on to its next call thus skips the queue: handing
        the slot to a waiter would cost a turn of the event loop before that waiter
        sends, for nothing (a waiter holds no item yet)."""
        if self._in_flight <= int(self._limit) and not self._urgent:
            return True
        self.release()
        return False

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
            # smoothed round trip (as TCP's SRTT): how long one round lasts
            self._srtt = latency if self._srtt is None else self._srtt + (latency - self._srtt) / 8
            overloaded = base != float("inf") and latency > base * self._latency_factor + 0.005
            if self._slow_start:  # answers per round, as BBR counts them (read by _cut)
                if now - self._round_start >= self._srtt:
                    self._per_round, self._delivered, self._round_start = self._delivered, 0, now
                self._delivered += 1
        if overloaded:
            self._overload(started, now)
            return
        if now < self._no_growth_until:
            return  # the service asked for a pause (Retry-After): no growth until it ends
        if self._in_flight < int(self._limit) and not self._waiters:
            return  # the window is not in use: a success says nothing about a higher limit
        if self._slow_start:
            # +1 per success doubles the limit per round trip until the first overload
            self._limit = min(float(self.maximum), self._limit + 1.0)
            self._wake()
            return
        if self._probe_start >= 0:
            if started < self._probe_start:
                return  # sent before the probe: says nothing about the probed level
            self._probe_passed(now)
        if now >= self._hold_until:
            self._start_probe(now)

    def _overload(self, started: float, now: float) -> None:
        if started < self._changed:
            return  # sent under a higher limit, before the last decrease: old news
        srtt = self._srtt or 0.0
        if self._probe_start >= 0 and started >= self._probe_start:
            self._probe_failed(now)
        elif self._slow_start:
            self._cut(now)
        elif now - self._passed_at < _YOUNG_ROUNDS * srtt:
            # The level passed its probe only just: it did not really hold (a round
            # without a 429 can be luck when answers queue in the client). Back to the
            # level before it, as for a failed probe, not a cut.
            self._good = self._below
            self._probe_failed(now)
        else:
            # At a level that held: the capacity fell, or another client took a share.
            # One such overload cuts once a round trip has passed since the last
            # decrease; within that round trip it takes a second one (a single quick 429
            # right after a cut may be a straggler).
            self._recent += 1
            if now - self._changed >= srtt or self._recent >= _RECUT:
                self._cut(now)

    def _cut(self, now: float, *, held: bool = True) -> None:
        """Multiplicative decrease. ``held``: the level had held (not a probe)."""
        before = int(self._limit)
        srtt = self._srtt or 0.0
        shared = now < self._shared_until
        factor = self._decrease**_SHARED_EXPONENT if shared else self._decrease
        cut = self._limit * factor
        if self._slow_start and self._per_round and self._in_flight >= cut:
            # Slow start overshoots by as much as the overload answers lag (a client
            # short of CPU reads them late): cut to what the service answered in the
            # last round (BBR's estimate of what it holds), but not below half, as
            # that round ran at about half the limit.
            estimate = float(max(self._per_round, self._delivered))
            cut = max(self._limit / 2, min(cut, estimate))
        self._limit = max(float(self.minimum), cut)
        self._good = int(self._limit)
        if held and not self._slow_start:
            # A level that held stopped holding: the capacity fell, or another client
            # took a share. A fall comes as one burst of cuts; sharing as bursts again
            # and again.
            if _BURST_ROUNDS * srtt < now - self._last_drop < _SHARED_ROUNDS * srtt:
                self._shared_until = now + _SHARED_ROUNDS * srtt
            self._last_drop = now
        self._slow_start = False
        if now < self._shared_until:
            # Shared: AIMD. Every overload cuts, and the way back is one slot per
            # probe, for every client alike; as the cuts take from each client in
            # proportion to its share, the shares even out.
            self._ceiling = float(self._good + 1)
            self._end_probe(now, float(_HOLD_SHARED))
        else:  # a fall: search for the new edge between here and where it struck
            self._ceiling = float(max(before, self._good + 1))
            self._end_probe(now, 1.0)

    def _probe_failed(self, now: float) -> None:
        """Back to the last level that held; probe again later, rarely at the edge."""
        if now < self._shared_until:
            self._cut(now, held=False)
            return
        self._ceiling = float(int(self._limit))
        self._limit = float(max(self.minimum, self._good))
        hold = 1.0
        if self._ceiling - self._good <= 1:  # the edge: hold longer after each failure
            hold = float(self._hold_rounds)
            self._hold_rounds = min(_HOLD_MAX, 2 * self._hold_rounds)
        self._end_probe(now, hold)

    def _end_probe(self, now: float, hold: float) -> None:
        self._probe_start = -1.0
        self._passed_at = -math.inf
        self._step = 1
        self._edge_passes = 0
        self._hold_until = now + hold * (self._srtt or 0.0)
        self._changed = now
        self._recent = 0

    def _probe_passed(self, now: float) -> None:
        """A round at the probed level without an overload: it holds."""
        srtt = self._srtt or 0.0
        self._probe_start = -1.0
        self._passed_at = now
        self._good = int(self._limit)
        self._hold_until = now
        if self._ceiling == float("inf"):  # ramping up: each step larger than the last
            self._step = min(max(self._step + 1, self._step * 3 // 2), max(1, self._good // 2))
        elif self._good >= self._ceiling:  # past the edge: the capacity rose, or a share freed
            self._edge_passes += 1
            if now < self._shared_until:
                # Shared: a share freed by another client's cut. Take one slot at a time,
                # as rarely as the edge is probed, so every client gains alike while the
                # cuts (which strike in proportion to each one's share) even them out.
                self._ceiling = float(self._good + 1)
                self._hold_until = now + _HOLD_SHARED * srtt
            elif self._edge_passes >= _EDGE_PASSES:
                self._ceiling = float("inf")
                self._hold_rounds = _HOLD_FIRST
            else:
                self._ceiling = float(self._good + 1)
                self._hold_until = now + _HOLD_FIRST * srtt

    def _start_probe(self, now: float) -> None:
        level = int(self._limit)
        if self._ceiling == float("inf"):
            base = min(self._min_rtt, self._min_rtt_prev)
            if self._srtt is not None and self._srtt > base * _RAMP_TOLERANCE:
                # Answers already queue (in the client, or at a service that queues):
                # more at once would mostly wait. No ramp; one slot at a time.
                self._step = 1
            target = level + self._step
        else:  # halfway to the ceiling: a binary search for the edge
            target = level + max(1, (int(self._ceiling) - level) // 2)
        target = min(self.maximum, target)
        if target <= level:
            return
        self._good = self._below = level
        self._limit = float(target)
        self._probe_start = now
        self._wake()

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
