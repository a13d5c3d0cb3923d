"""AdaptiveConcurrency: AIMD that finds the service's capacity, shared limits, no leaks."""

from __future__ import annotations

import itertools
import time
from functools import partial
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from uprock_async import (
    AdaptiveConcurrency,
    APITimeoutError,
    RateLimitError,
    RetryPolicy,
    ScreenshotCenterClient,
    UprockClient,
    fan_out,
)
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

# -- construction ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": 300},
        {"initial": 1, "minimum": 2},
        {"minimum": 0},
        {"minimum": -1, "initial": 1},
        {"minimum": 10, "maximum": 5, "initial": 7},
        {"decrease": 1.0},
        {"latency_factor": 1.0},
    ],
)
def test_bad_limiter_values_raise_value_error(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"minimum|maximum|initial|decrease|latency_factor"):
        AdaptiveConcurrency(**kwargs)


def test_limiter_values_must_be_ints() -> None:
    with pytest.raises(TypeError):
        AdaptiveConcurrency(initial="fast")  # type: ignore[arg-type]


async def test_bad_values_send_no_request(server: FakeServer, uprock: UprockClient) -> None:
    ids = server.add_jobs(2, headers=2, cookies=0)
    for bad in ("fast", 0, -3, "AUTO", None):
        with pytest.raises(ValueError, match="concurrency"):
            await uprock.job_details(ids, concurrency=bad)  # type: ignore[arg-type]
    assert server.requests == []


def test_a_fresh_limiter_reports_its_state() -> None:
    limiter = AdaptiveConcurrency(initial=5, minimum=2, maximum=9)
    assert (limiter.current, limiter.in_flight, limiter.minimum, limiter.maximum) == (5, 0, 2, 9)
    assert "current=5" in repr(limiter)


# -- the rule, fed by hand ---------------------------------------------------------
#
# Every success below takes one round (2**-7 s, about 8 ms), so the smoothed round
# trip stays one round; ``_in_flight`` is set high so the window counts as in use.
# The clock starts at a whole second and every step is a power of two, so every
# sum is exact: no comparison turns on a rounding error (which depended on the
# machine's monotonic clock reading when the clock started at time.monotonic()).

RTT = 2.0**-7
QUICK = 2.0**-10  # a 429 answered at once


class Feed:
    """A limiter fed attempts on a clock of its own, one round (``RTT``) apart."""

    def __init__(self, limiter: AdaptiveConcurrency) -> None:
        self.limiter = limiter
        self.t = float(int(time.monotonic()))
        limiter._rtt_epoch = self.t  # the minimum-latency window starts with the feed
        limiter._in_flight = limiter.maximum  # the window is in use
        limiter.record(self.t, RTT)  # one measured round trip

    def round(self, n: int = 1) -> None:
        """``n`` rounds, each an attempt sent now that succeeds a round trip later."""
        for _ in range(n):
            self.limiter.record(self.t, RTT)
            self.t += RTT

    def overload(self, latency: float = QUICK) -> None:
        """An attempt sent now, answered 429 at once."""
        self.t += latency
        self.limiter.record(self.t - latency, latency, overloaded=True)

    def done(self) -> None:
        self.limiter._in_flight = 0


def levels(feed: Feed, steps: str) -> list[int]:
    """Feed ``steps`` (``r`` a round that succeeds, ``o`` a 429 at once, ``w`` 30
    rounds with no answer) and the limit after each."""
    out = []
    for step in steps:
        if step == "o":
            feed.overload()
        elif step == "w":
            feed.t += 30 * RTT
        else:
            feed.round()
        out.append(feed.limiter.current)
    return out


def test_slow_start_doubles_the_limit_per_round_trip_until_the_first_overload() -> None:
    limiter = AdaptiveConcurrency(initial=4, minimum=1, maximum=64)
    feed = Feed(limiter)  # its success already added one
    for _ in range(3):  # +1 per success: a round of 4 answers doubles the limit
        limiter.record(feed.t, RTT)
    assert limiter.current == 8
    feed.overload()  # the first overload ends slow start with one cut (x0.7)
    assert limiter.current == 5
    feed.done()


def test_after_a_fall_the_limit_searches_halfway_back_to_where_it_struck() -> None:
    feed = Feed(AdaptiveConcurrency(initial=20, minimum=1, maximum=100))  # 21 after a success
    # struck at 21: cut to 14, then halfway back each round that holds, up to 21
    assert levels(feed, "orrrr") == [14, 17, 19, 20, 21]
    # 21 fails: back to 20, the level that held; no cut
    assert levels(feed, "o") == [20]
    feed.done()


def test_a_failed_probe_at_the_edge_waits_twice_as_long_each_time() -> None:
    limiter = AdaptiveConcurrency(initial=10, minimum=1, maximum=100)
    feed = Feed(limiter)
    assert levels(feed, "orrr") == [7, 9, 10, 11]  # struck at 11; 10 holds, 11 is probed
    waits = []
    for _ in range(6):
        feed.overload()  # 11 fails: back to 10, no cut
        assert limiter.current == 10
        rounds = 0
        while limiter.current == 10:
            feed.round()
            rounds += 1
        waits.append(rounds)
    # A steady edge costs one 429 per 32 rounds at most, and a capacity that grows
    # is found within 32 rounds.
    assert waits == [2, 4, 8, 16, 32, 32]
    feed.done()


def test_a_level_that_held_and_overloads_is_cut_once_per_round_trip() -> None:
    limiter = AdaptiveConcurrency(initial=20, minimum=2, maximum=100)
    feed = Feed(limiter)
    assert levels(feed, "orrrro") == [14, 17, 19, 20, 21, 20]  # the edge: 20 holds
    feed.round()
    before = feed.t
    feed.overload()  # now 20 overloads: the capacity fell (or someone took a share)
    assert limiter.current == 14
    # a 429 to an attempt sent before that cut is the same overload
    limiter.record(before - RTT, RTT, overloaded=True)
    # one quick 429 to an attempt sent after it may be a straggler, a second one
    # within the round says the overload persists
    assert levels(feed, "oo") == [14, 9]
    for _ in range(20):  # an overload now and then for a while
        feed.t += 1.0
        feed.overload()
    assert limiter.current == 2  # never below minimum
    feed.done()


def test_two_passes_beyond_the_edge_start_a_ramp_of_growing_steps() -> None:
    feed = Feed(AdaptiveConcurrency(initial=10, minimum=1, maximum=200))
    assert levels(feed, "orrro") == [7, 9, 10, 11, 10]  # the edge: 10 holds, 11 does not
    # The capacity grows: 11 passes (the edge moved up), 12 passes (again), then the
    # limit ramps with each step larger than the last, up to maximum.
    seen = levels(feed, "r" * 20)
    ladder = sorted(set(seen))
    assert ladder[:4] == [10, 11, 12, 13]
    steps = [b - a for a, b in itertools.pairwise(ladder[3:-1])]
    assert steps == sorted(steps)
    assert steps[-1] >= 16
    assert seen[-1] == 200
    feed.done()


def test_the_ramp_stops_while_answers_queue() -> None:
    limiter = AdaptiveConcurrency(initial=10, minimum=1, maximum=200)
    feed = Feed(limiter)
    levels(feed, "orrro" + "r" * 8)  # ramping, as above
    ramping = limiter.current
    assert limiter._ceiling == float("inf")
    for _ in range(30):  # now round trips take 3x their minimum: answers queue
        limiter.record(feed.t, 3 * RTT)
        feed.t += 3 * RTT
    # more at once would mostly wait: one slot per round, no longer growing steps
    assert limiter.current - ramping <= 30 + 8
    feed.done()


def test_an_overload_just_after_a_probe_passed_undoes_that_probe() -> None:
    feed = Feed(AdaptiveConcurrency(initial=20, minimum=1, maximum=100))
    # 21 passes its round (the edge moved up: no probe for two rounds) ...
    assert levels(feed, "orrrrr") == [14, 17, 19, 20, 21, 21]
    # ... and then overloads: it never really held. Back to 20, not cut to 14.
    assert levels(feed, "o") == [20]
    feed.done()


def test_falls_again_and_again_mark_a_shared_capacity_where_every_overload_cuts() -> None:
    limiter = AdaptiveConcurrency(initial=20, minimum=1, maximum=100)
    feed = Feed(limiter)
    # the edge at 20; it falls (cut to 14), and 30 rounds later falls again (9):
    # falls apart like this are other clients taking shares
    assert levels(feed, "orrrroro") == [14, 17, 19, 20, 21, 20, 20, 14]
    assert levels(feed, "wo") == [14, 9]
    assert limiter._shared_until > feed.t
    # shared: the way back is one slot per few rounds, no search back toward 14 ...
    assert levels(feed, "r" * 15) == [9] * 6 + [10] * 8 + [11]
    # ... and a failed probe cuts as well (gently: by decrease ** 0.5)
    assert levels(feed, "o") == [int(11 * 0.7**0.5)]
    feed.done()


def test_the_limit_grows_only_up_to_maximum() -> None:
    limiter = AdaptiveConcurrency(initial=4, minimum=1, maximum=6)
    feed = Feed(limiter)
    feed.round(100)
    assert limiter.current == 6
    feed.done()


def test_an_idle_limiter_does_not_drift_up() -> None:
    limiter = AdaptiveConcurrency(initial=4)
    for _ in range(100):
        limiter.record(time.monotonic(), 0.01)  # window not in use
    assert limiter.current == 4


def test_latency_far_above_the_recent_minimum_is_an_overload_signal() -> None:
    limiter = AdaptiveConcurrency(initial=10)
    t = time.monotonic()
    limiter.record(t, 0.010)
    limiter.record(t, 0.012)
    assert limiter.current == 10
    limiter.record(t + 0.1, 0.5)  # 50x the minimum: the first overload cuts (x0.7)
    assert limiter.current == 7
    limiter.record(t + 1.0, 0.5)  # a later one, at a level that held, cuts again
    assert limiter.current == 4


# -- against the FakeServer -------------------------------------------------------


async def _lookups(server: FakeServer, ids: list[str], concurrency: object) -> tuple[float, int]:
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=10.0
    ) as client:
        began = time.monotonic()
        results = await client.job_details(ids, concurrency=concurrency)  # type: ignore[call-overload]
        elapsed = time.monotonic() - began
        assert len(results) == len(ids)  # none failed (the first failure would raise)
        stats = client.stats()
        assert stats.requests == len(ids) + stats.retries
        return elapsed, stats.responses.get(429, 0)


@pytest.mark.slow
async def test_auto_finds_the_capacity_with_few_429s() -> None:
    async with FakeServer(seed=1, record=False, capacity=20, latency=0.01) as server:
        ids = server.add_jobs(50, headers=2, cookies=0)
        work = [ids[i % 50] for i in range(1200)]
        _, fixed_429 = await _lookups(server, work, 20)  # the hand-tuned optimum
        assert fixed_429 == 0
        server.max_in_flight = 0
        _, auto_429 = await _lookups(server, work, "auto")
        found = server.max_in_flight
    share = auto_429 / (len(work) + auto_429)
    # measured on an idle 2-core box: ~1% answered 429. How close auto comes to
    # the fixed optimum's time is a speed figure: benchmarks/adaptive.py reports it.
    assert share <= 0.05
    assert found >= 10  # it climbed to at least half the capacity, not stuck low


async def test_the_limit_grows_when_nothing_is_overloaded(server: FakeServer) -> None:
    ids = server.add_jobs(20, headers=2, cookies=0)
    server.latency = 0.005
    limiter = AdaptiveConcurrency(initial=2, minimum=1, maximum=64)
    await _lookups(server, ids * 20, limiter)
    assert limiter.current >= 6
    assert server.max_in_flight >= 6
    assert limiter.in_flight == 0


async def test_a_429_absorbed_by_a_retry_still_cuts_the_limit(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(30, headers=2, cookies=0)
    limiter = AdaptiveConcurrency(initial=16, minimum=1, maximum=16)
    server.inject("/crawl/v1/jobs/*/detail", status=429, times=1, retry_after=0)
    details = await uprock.job_details(ids, concurrency=limiter)
    assert len(details) == 30
    assert uprock.stats().responses[429] == 1
    assert limiter.current < 16


async def test_auto_follows_a_capacity_drop_without_failing_lookups() -> None:
    async with FakeServer(seed=2, record=False, capacity=32, latency=0.02) as server:
        ids = server.add_jobs(50, headers=2, cookies=0)
        limiter = AdaptiveConcurrency(initial=8, minimum=1, maximum=64)
        failed = done = 0
        retry = RetryPolicy(max_retries=3, backoff_initial=0.001, jitter=False)
        async with UprockClient(
            server.api_key, base_url=server.uprock_url, retry=retry, timeout=10.0
        ) as client:
            work = [ids[i % 50] for i in range(2400)]
            async with client.iter_job_details(work, concurrency=limiter) as outcomes:
                async for outcome in outcomes:
                    done += 1
                    failed += not outcome.ok
                    if done == 800:  # the limit has found 32: the capacity drops 4x
                        assert limiter.current >= 16
                        server.capacity = 8
                        attempts_before = client.stats().requests
                        rejected_before = server.rejected_for_capacity
            attempts = client.stats().requests - attempts_before
        rejected = server.rejected_for_capacity - rejected_before
    # Before, the limit came down by one cut per round trip, and the retries of the
    # excess attempts (Retry-After: 0) hit the full server at once: four 429s in a
    # row failed a lookup. Now every lookup succeeds and the 429s stay few.
    assert failed == 0
    assert rejected / attempts <= 0.10
    assert limiter.current <= 12


async def test_a_retry_after_a_429_waits_about_a_round_trip_without_its_slot() -> None:
    # A limiter pinned at 8 above a capacity of 4: it cannot adapt, so the retries of
    # the 429s decide. At once (Retry-After: 0) they would all be answered 429 again
    # while the first four are still running, until their retries run out.
    retry = RetryPolicy(max_retries=4, backoff_initial=0.001, jitter=False)
    async with FakeServer(seed=3, record=False, capacity=4, latency=0.05) as server:
        ids = server.add_jobs(8, headers=2, cookies=0)
        limiter = AdaptiveConcurrency(initial=8, minimum=8, maximum=8)
        async with UprockClient(
            server.api_key, base_url=server.uprock_url, retry=retry, timeout=10.0
        ) as client:
            await client.job_details(ids[:4], concurrency=limiter)  # learns the round trip
            results = await client.job_details(ids, concurrency=limiter, return_exceptions=True)
    assert not [r for r in results if isinstance(r, BaseException)]
    # each of the four turned away waits half to one and a half round trips per retry
    assert server.rejected_for_capacity <= 4 * 3
    assert limiter.in_flight == 0


async def test_a_shared_limiter_bounds_two_concurrent_calls_together(
    server: FakeServer, uprock: UprockClient, sc: ScreenshotCenterClient
) -> None:
    ids = server.add_jobs(20, headers=2, cookies=0)
    crawls = [server.add_crawl(screenshots=2) for _ in range(10)]
    server.latency = 0.004
    limiter = AdaptiveConcurrency(initial=4, minimum=4, maximum=4)
    async with anyio.create_task_group() as tg:
        tg.start_soon(partial(uprock.job_details, ids * 3, concurrency=limiter))
        tg.start_soon(partial(uprock.job_details, ids * 3, concurrency=limiter))
        tg.start_soon(partial(sc.crawl_infos, crawls * 3, concurrency=limiter))
    assert server.max_in_flight == 4
    assert limiter.in_flight == 0


async def test_a_limiter_cut_to_minimum_still_makes_progress() -> None:
    limiter = AdaptiveConcurrency(initial=8, minimum=1, maximum=8)
    running = peak_late = 0

    async def overloaded_at_first(x: int) -> int:
        nonlocal running, peak_late
        running += 1
        if x >= 100:
            peak_late = max(peak_late, running)
        await anyio.sleep(0.0005)
        running -= 1
        if x < 60:
            raise RateLimitError("slow down", status_code=429)
        return x

    async with fan_out(overloaded_at_first, range(150), concurrency=limiter) as outcomes:
        results = [o async for o in outcomes]
    assert len(results) == 150
    assert sum(1 for o in results if o.ok) == 90
    assert peak_late <= 8
    assert limiter.in_flight == 0


async def test_fan_out_judges_any_fn_by_its_errors() -> None:
    limiter = AdaptiveConcurrency(initial=10, minimum=1, maximum=10)

    async def throttled(x: int) -> int:
        await anyio.sleep(0.001)
        raise RateLimitError("slow down", status_code=429)

    async with fan_out(throttled, range(200), concurrency=limiter) as outcomes:
        assert all([not o.ok async for o in outcomes])
    assert limiter.current == 1


async def test_cancelling_a_fan_out_waiting_on_the_limiter_leaks_nothing() -> None:
    limiter = AdaptiveConcurrency(initial=2, minimum=1, maximum=2)

    async def forever(x: int) -> int:
        await anyio.sleep(60)
        return x

    with anyio.move_on_after(0.05) as scope:
        async with fan_out(forever, range(100), concurrency=limiter) as outcomes:
            async for _ in outcomes:
                pass
    assert scope.cancelled_caught
    assert limiter.in_flight == 0
    assert limiter.current == 2

    async def quick(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return x

    async with fan_out(quick, range(5), concurrency=limiter) as outcomes:  # still usable
        assert sorted([o.unwrap() async for o in outcomes]) == list(range(5))
    assert limiter.in_flight == 0


async def test_concurrency_auto_makes_a_fresh_limiter_per_call() -> None:
    async def double(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return 2 * x

    async with fan_out(double, range(50), concurrency="auto", ordered=True) as outcomes:
        assert [o.unwrap() async for o in outcomes] == [2 * x for x in range(50)]


# -- a worker going straight on keeps its slot --------------------------------------


async def test_reuse_keeps_a_slot_within_the_limit_and_gives_it_back_above_it() -> None:
    limiter = AdaptiveConcurrency(initial=2, minimum=1, maximum=4)
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.reuse()  # 2 held, limit 2: the holder may go straight on
    assert limiter.in_flight == 2
    limiter._limit = 1.0  # the limit came down meanwhile (a cut)
    assert not limiter.reuse()  # over the limit: given back, no one woken
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0


async def test_reuse_gives_the_slot_to_a_retry_waiting_first_in_line() -> None:
    limiter = AdaptiveConcurrency(initial=1, minimum=1, maximum=1)
    await limiter.acquire()
    got = anyio.Event()

    async def retry() -> None:
        await limiter.acquire(first=True)
        got.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(retry)
        await anyio.lowlevel.checkpoint()  # the retry queues first in line
        assert not limiter.reuse()  # so the slot goes to it, not to the holder's next call
        with anyio.fail_after(1):
            await got.wait()
    assert limiter.in_flight == 1
    limiter.release()
    assert limiter.in_flight == 0


async def test_a_kept_slot_is_given_back_when_the_caller_stops_reading_early() -> None:
    limiter = AdaptiveConcurrency(initial=3, minimum=1, maximum=3)
    calls = 0

    async def quick(x: int) -> int:
        nonlocal calls
        calls += 1
        await anyio.lowlevel.checkpoint()
        return x

    async with fan_out(quick, range(1000), concurrency=limiter) as outcomes:
        async for outcome in outcomes:
            if outcome.index >= 10:
                break
    assert limiter.in_flight == 0  # the workers' kept slots came back as they ended
    assert calls < 1000

    async with fan_out(quick, range(200), concurrency=limiter) as outcomes:  # still usable
        assert len([o async for o in outcomes]) == 200
    assert limiter.in_flight == 0
    assert limiter.current == 3


# -- a service that never gives: every bound still holds under auto ------------------

_THREE_ATTEMPTS = RetryPolicy(max_retries=2, backoff_initial=0.001, jitter=False)


async def _timed_details(
    server: FakeServer, ids: list[str], limiter: AdaptiveConcurrency, **client_options: Any
) -> tuple[list[object], float, int]:
    """``ids`` looked up under ``limiter`` (failures returned, within 20 s at most):
    the results, the seconds they took and the HTTP attempts the client made."""
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=_THREE_ATTEMPTS, **client_options
    ) as client:
        started = time.monotonic()
        with anyio.fail_after(20):
            results = await client.job_details(ids, concurrency=limiter, return_exceptions=True)
        return list(results), time.monotonic() - started, client.stats().requests


async def test_under_auto_a_service_that_429s_forever_fails_each_call_on_time() -> None:
    """``Retry-After: 0`` on every answer: the limit comes down to its minimum and
    each lookup ends in ``RateLimitError`` after its three attempts, within seconds."""
    async with FakeServer(seed=4, record=False, capacity=0, latency=0.0) as server:
        ids = server.add_jobs(16, headers=2, cookies=0)
        limiter = AdaptiveConcurrency(initial=16, minimum=1, maximum=16)
        results, took, attempts = await _timed_details(server, ids, limiter, timeout=5.0)
    assert all(isinstance(r, RateLimitError) for r in results)
    assert attempts == 3 * len(ids)
    assert took < 10
    assert limiter.current == 1
    assert limiter.in_flight == 0


async def test_under_auto_a_service_that_never_answers_fails_each_call_on_time() -> None:
    """Timeouts cut the limit too; each call still ends after its three attempts'
    timeouts (the circuit breaker off: its own bound is timed in test_breaker_bounds)."""
    async with FakeServer(seed=5, record=False, latency=3.0) as server:
        ids = server.add_jobs(4, headers=2, cookies=0)
        limiter = AdaptiveConcurrency(initial=4, minimum=1, maximum=4)
        results, took, attempts = await _timed_details(
            server, ids, limiter, timeout=0.2, circuit_breaker=None
        )
    assert all(isinstance(r, APITimeoutError) for r in results)
    assert attempts == 3 * len(ids)
    assert took < 4 * 3 * 0.2 + 2  # at worst one call after another, at a limit of 1
