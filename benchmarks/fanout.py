"""Job-detail fan-out throughput against a FakeServer in another process (issue 4).

Fetches N (default 5,000) ~17 KB job details at concurrency 64 with:

  (a) raw aiohttp ``read()`` — the ceiling (one session, 64 worker tasks)
  (b) aiohttp + stdlib ``json.loads``
  (c) httpx ``AsyncClient`` + pydantic v2 models equivalent to ``JobDetail``
  (d) ``UprockClient.job_details``
  (e) ``UprockClient.iter_job_details``, results discarded
  (f) a hand-written aiohttp + msgspec loop that keeps the same ``JobDetail`` s
      (``msgspec.json.Decoder(JobDetail)``, kept in a list): the honest ceiling
      for the work (d) does; (d)/(f) should be >= 0.95

in interleaved rounds (best round counts), then runs 1,000,000 items through
``fan_out`` with a trivial async function (peak RSS growth, items/s), measures
``gc.freeze()`` / raised GC thresholds on (d), and with ``--profile`` prints a
cProfile of (d).

    python benchmarks/fanout.py [--count 5000] [--rounds 3] [--profile] [--only df]

``--only df`` runs just (d) and (f), for the paired (d)/(f) figure: the median over
rounds of each round's ratio, which wanders less than best-of on a noisy machine.

``--instructions`` counts what wall-clock ratios cannot resolve on a noisy machine:
the client process's instructions per request under ``valgrind --tool=callgrind``
(the server runs outside valgrind). Each variant runs with 1,200 and with 200 ids;
the difference over 1,000 cancels start-up, imports and connects, leaving the
per-request cost (deterministic to a few hundred instructions). Skipped, with a
message, when valgrind is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import aiohttp
import httpx
import msgspec
import psutil

from benchmarks._pydantic_models import PJobDetail
from benchmarks._serve import Served, serve
from uprock_async import UprockClient, fan_out
from uprock_async.concurrency import gather
from uprock_async.uprock import JobDetail

CONCURRENCY = 64
CONNECTIONS = 100  # the same pool size as our client's default Limits


# -- the contenders ---------------------------------------------------------------------


def _paths(ids: list[str]) -> list[str]:
    return [f"/crawl/v1/jobs/{job_id}/detail?parse_cookies=true" for job_id in ids]


async def raw_aiohttp(server: Served, ids: list[str], parse: bool) -> int:
    """(a)/(b): the least code that fetches the bodies (and, for (b), parses them)."""
    headers = {"Authorization": f"Bearer {server.key}"}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(server.url, connector=connector, headers=headers) as session:
        paths = iter(_paths(ids))
        done = 0

        async def worker() -> None:
            nonlocal done
            for path in paths:
                async with session.get(path) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                if parse:
                    json.loads(body)
                done += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done


async def aiohttp_msgspec(server: Served, ids: list[str]) -> int:
    """(f): the same work as (d) written by hand: fetch, check, decode, keep."""
    headers = {"Authorization": f"Bearer {server.key}"}
    decode = msgspec.json.Decoder(JobDetail).decode
    details: list[JobDetail] = []
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(server.url, connector=connector, headers=headers) as session:
        paths = iter(_paths(ids))

        async def worker() -> None:
            for path in paths:
                async with session.get(path) as resp:
                    body = await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"HTTP {resp.status}")
                details.append(decode(body))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return len(details)


async def httpx_pydantic(server: Served, ids: list[str]) -> int:
    """(c): the common "modern" stack."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    headers = {"Authorization": f"Bearer {server.key}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits) as client:
        paths = iter(_paths(ids))
        done = 0

        async def worker() -> None:
            nonlocal done
            for path in paths:
                resp = await client.get(path)
                resp.raise_for_status()
                PJobDetail.model_validate_json(resp.content)
                done += 1

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done


async def ours_job_details(server: Served, ids: list[str]) -> int:
    """(d)."""
    async with UprockClient(server.key, base_url=server.url) as client:
        details = await client.job_details(ids, parse_cookies=True, concurrency=CONCURRENCY)
        return len(details)


async def ours_iter(server: Served, ids: list[str]) -> int:
    """(e): streaming, each outcome dropped on arrival."""
    done = 0
    async with UprockClient(server.key, base_url=server.url) as client:
        stream = client.iter_job_details(ids, parse_cookies=True, concurrency=CONCURRENCY)
        async with stream as outcomes:
            async for outcome in outcomes:
                if outcome.error is not None:
                    raise outcome.error
                done += 1
    return done


Runner = Callable[[Served, list[str]], Awaitable[int]]


def contenders(c_count: int) -> dict[str, tuple[Runner, int | None]]:
    """label -> (runner, how many ids it fetches; None = all)."""

    async def a(s: Served, ids: list[str]) -> int:
        return await raw_aiohttp(s, ids, parse=False)

    async def b(s: Served, ids: list[str]) -> int:
        return await raw_aiohttp(s, ids, parse=True)

    return {
        "(a) aiohttp read() [ceiling]": (a, None),
        "(b) aiohttp + json.loads": (b, None),
        "(c) httpx + pydantic v2": (httpx_pydantic, c_count),
        "(d) ours: job_details": (ours_job_details, None),
        "(e) ours: iter_job_details": (ours_iter, None),
        "(f) aiohttp + msgspec JobDetail": (aiohttp_msgspec, None),
    }


class Timing(NamedTuple):
    """One run: wall-clock requests per second, and this process's user CPU per request."""

    rate: float
    cpu_us: float


def _user_cpu() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


async def timed(runner: Runner, server: Served, ids: list[str]) -> Timing:
    """Time one run. On a shared (virtual) machine wall-clock rates swing with whatever
    else runs, and so does the kernel time of loopback sends; the client's *user* CPU per
    request — the Python work each contender does — barely moves, so it is printed too."""
    started, cpu = time.perf_counter(), _user_cpu()
    done = await runner(server, ids)
    elapsed, cpu = time.perf_counter() - started, _user_cpu() - cpu
    assert done == len(ids), (done, len(ids))
    return Timing(done / elapsed, cpu / done * 1e6)


# -- the phases ---------------------------------------------------------------------------


def throughput(
    server: Served, count: int, rounds: int, c_count: int, only: str = ""
) -> tuple[dict[str, Timing], list[dict[str, Timing]]]:
    """Interleaved rounds of every contender (or of those whose letters ``only`` lists);
    per contender the best rate and least CPU, and every round's timings."""
    ids = (server.ids * (count // len(server.ids) + 1))[:count]
    table = {k: v for k, v in contenders(c_count).items() if not only or k[1] in only}
    best = dict.fromkeys(table, Timing(0.0, float("inf")))
    log: list[dict[str, Timing]] = []
    for runner, _n in table.values():  # warm-up: imports, first connections, caches
        asyncio.run(timed(runner, server, ids[:200]))
    labels = list(table)
    for round_no in range(rounds):
        # Each round in another order, each run from a clean heap: a contender must
        # not pay for the garbage, or benefit from the warm caches, of the one before.
        order = labels[round_no % len(labels) :] + labels[: round_no % len(labels)]
        log.append({})
        for label in order:
            runner, n = table[label]
            gc.collect()
            rate, cpu_us = asyncio.run(timed(runner, server, ids[:n] if n else ids))
            log[-1][label] = Timing(rate, cpu_us)
            best[label] = Timing(max(best[label].rate, rate), min(best[label].cpu_us, cpu_us))
            print(
                f"  round {round_no + 1}: {label:<32} {rate:8.0f} req/s"
                f" {cpu_us:7.0f} µs user CPU/req",
                flush=True,
            )
    return best, log


def paired(log: list[dict[str, Timing]], ours: str, theirs: str) -> str:
    """The median over rounds of one round's ratio: on a noisy machine the two runs of
    one round share its conditions, so their ratio wanders less than best-of-rounds."""
    rates = statistics.median(r[ours].rate / r[theirs].rate for r in log)
    cpus = statistics.median(r[theirs].cpu_us / r[ours].cpu_us for r in log)
    return f"{rates:.2f} by req/s, {cpus:.2f} by user CPU (median of {len(log)} paired rounds)"


def print_throughput(
    best: dict[str, Timing], log: list[dict[str, Timing]], count: int, c_count: int
) -> None:
    d_label, f_label = "(d) ours: job_details", "(f) aiohttp + msgspec JobDetail"
    if len(best) < len(contenders(c_count)):  # --only: the paired (d)/(f) figure alone
        print(f"\n  (d)/(f) = {paired(log, d_label, f_label)}  (target >= 0.95)")
        return
    a = best["(a) aiohttp read() [ceiling]"]
    print(f"\nBest of rounds, {count} details at concurrency {CONCURRENCY} ((c) on {c_count}):")
    print(
        f"  {'contender':<32} {'req/s':>8} {'x (a)':>7} {'user CPU/req':>15} {'x (a) by CPU':>13}"
    )
    for label, t in best.items():
        print(
            f"  {label:<32} {t.rate:8.0f} {t.rate / a.rate:7.2f}"
            f" {t.cpu_us:12.0f} µs {a.cpu_us / t.cpu_us:13.2f}"
        )
    c, d, e = (
        best[k]
        for k in ("(c) httpx + pydantic v2", "(d) ours: job_details", "(e) ours: iter_job_details")
    )
    print(
        f"  (d)/(a) = {d.rate / a.rate:.2f} by req/s, {a.cpu_us / d.cpu_us:.2f} by user CPU"
        "  (target >= 0.85)"
    )
    print(
        f"  (d)/(c) = {d.rate / c.rate:.1f} by req/s, {c.cpu_us / d.cpu_us:.1f} by user CPU"
        "  (target >= 15)"
    )
    print(f"  (e)/(a) = {e.rate / a.rate:.2f} by req/s, {a.cpu_us / e.cpu_us:.2f} by user CPU")
    f = best[f_label]
    print(
        f"  (d)/(f) = {d.rate / f.rate:.2f} by req/s, {f.cpu_us / d.cpu_us:.2f} by user CPU"
        " (best of rounds)  (target >= 0.95)"
    )
    print(f"  (d)/(f) = {paired(log, d_label, f_label)}")


class _GCClock:
    """Wall time spent inside collections, via ``gc.callbacks`` (exact, not sampled)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started
            self.collections += 1


def gc_effect(server: Served, count: int, rounds: int) -> None:
    """job_details with default GC, after gc.freeze(), and with raised thresholds."""
    ids = (server.ids * (count // len(server.ids) + 1))[:count]
    default = gc.get_threshold()
    variants: dict[str, Callable[[], None]] = {
        f"default thresholds {default}": lambda: gc.set_threshold(*default),
        "gc.freeze() before the run": gc.freeze,
        "gc.set_threshold(100_000, 50, 50)": lambda: gc.set_threshold(100_000, 50, 50),
    }
    best = dict.fromkeys(variants, Timing(0.0, float("inf")))
    in_gc = dict.fromkeys(variants, float("inf"))
    for _ in range(rounds):
        for label, setup in variants.items():
            gc.collect()
            clock = _GCClock()
            setup()
            gc.callbacks.append(clock)
            try:
                rate, cpu_us = asyncio.run(timed(ours_job_details, server, ids))
            finally:
                gc.callbacks.remove(clock)
                gc.unfreeze()
                gc.set_threshold(*default)
            best[label] = Timing(max(best[label].rate, rate), min(best[label].cpu_us, cpu_us))
            in_gc[label] = min(in_gc[label], clock.seconds / len(ids) * 1e6)
    base = best[f"default thresholds {default}"]
    print(f"\nGC settings, (d) job_details, best of {rounds}:")
    for label, t in best.items():
        print(
            f"  {label:<38} {t.rate:8.0f} req/s {t.rate / base.rate:5.2f}x"
            f" {t.cpu_us:6.0f} µs user CPU/req {base.cpu_us / t.cpu_us:5.2f}x"
            f"  in GC {in_gc[label]:5.1f} µs/req"
        )


def million(n: int) -> None:
    """n items through fan_out with a trivial async fn: items/s and peak RSS growth."""
    proc = psutil.Process()

    async def trivial(item: int) -> int:
        return item

    async def run() -> tuple[int, int]:
        peak = proc.memory_info().rss
        done = 0
        async with fan_out(trivial, range(n), concurrency=CONCURRENCY) as outcomes:
            async for _outcome in outcomes:
                done += 1
                if done % 20_000 == 0:
                    peak = max(peak, proc.memory_info().rss)
        return done, max(peak, proc.memory_info().rss)

    gc.collect()
    before_rss = proc.memory_info().rss
    before_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    done, peak = asyncio.run(run())
    elapsed = time.perf_counter() - started
    after_max = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert done == n
    mib = 1024 * 1024
    print(f"\nfan_out over {n:,} items (trivial async fn, concurrency {CONCURRENCY}):")
    print(f"  {n / elapsed:,.0f} items/s ({elapsed:.1f} s)")
    print(
        f"  peak RSS growth {(peak - before_rss) / mib:.1f} MiB sampled "
        f"(ru_maxrss growth {(after_max - before_max) / mib:.1f} MiB)  (target < 50 MB)"
    )


def profile(server: Served, count: int) -> None:
    ids = (server.ids * (count // len(server.ids) + 1))[:count]
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(timed(ours_job_details, server, ids))
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    print("\ncProfile of (d), top 25 by own time:")
    print(out.getvalue())


# -- instructions per request (callgrind) -----------------------------------------------


async def engine_raw(server: Served, ids: list[str]) -> int:
    """(g): the fan-out engine (``gather``) driving (f)'s per-request code."""
    headers = {"Authorization": f"Bearer {server.key}"}
    decode = msgspec.json.Decoder(JobDetail).decode
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(server.url, connector=connector, headers=headers) as session:

        async def one(path: str) -> JobDetail:
            async with session.get(path) as resp:
                body = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
            return decode(body)

        return len(await gather(one, _paths(ids), concurrency=CONCURRENCY))


async def engine_transport(server: Served, ids: list[str]) -> int:
    """(t): the fan-out engine driving our transport's per-request path (the
    getter job_details uses), without job_details' id checks."""
    from uprock_async.uprock._details import detail_fetcher

    async with UprockClient(server.key, base_url=server.url) as client:
        get = detail_fetcher(client._api, True)
        return len(await gather(get, ids, concurrency=CONCURRENCY))


_INSTRUCTION_VARIANTS = {
    "f": ("(f) hand-written aiohttp + msgspec loop", aiohttp_msgspec),
    "d": ("(d) ours: job_details", ours_job_details),
    "g": ("(g) our engine driving (f)'s request code", engine_raw),
    "t": ("(t) our engine driving our transport", engine_transport),
}
_LONG, _SHORT = 1200, 200


def _client_run(variant: str, url: str, key: str, ids: list[str]) -> None:
    """The client side of one callgrind measurement (``--_client``): one run, no server."""
    served = Served(url=url, key=key, ids=ids, pid=0, detail_bytes=0)
    asyncio.run(timed(_INSTRUCTION_VARIANTS[variant][1], served, ids))


def _instructions(server: Served, variant: str, count: int) -> int:
    """Instructions the client process executes for ``count`` details of ``variant``."""
    ids = (server.ids * (count // len(server.ids) + 1))[:count]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        ids_file = os.path.join(tmp, "ids")
        with open(ids_file, "w") as f:
            f.write("\n".join(ids))
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            "-m",
            "benchmarks.fanout",
            "--_client",
            variant,
            server.url,
            server.key,
            ids_file,
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, env=env, capture_output=True)
        with open(out) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    return int(line.split()[1])
    raise RuntimeError("callgrind wrote no instruction total")


def instructions(server: Served, only: str) -> None:
    """Per-request instructions of (f) and (d) (see the module docstring)."""
    if shutil.which("valgrind") is None:
        print("\n--instructions: valgrind is not installed; skipped (apt install valgrind)")
        return
    print(f"\nInstructions per request under callgrind ({_LONG:,} minus {_SHORT:,} ids, / 1,000):")
    per: dict[str, float] = {}
    for variant in only or "fd":  # g and t on request: where (d)'s extra goes
        label = _INSTRUCTION_VARIANTS[variant][0]
        long_run = _instructions(server, variant, _LONG)
        short_run = _instructions(server, variant, _SHORT)
        per[variant] = (long_run - short_run) / (_LONG - _SHORT)
        print(f"  {label:<42} {per[variant] / 1000:8.1f} k instructions / request", flush=True)
    if "f" in per and "d" in per:
        extra = per["d"] / per["f"] - 1
        print(f"  (d) vs (f): {extra:+.1%} instructions per request  (target <= +2 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="details per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best counts)")
    parser.add_argument("--c-count", type=int, default=1000, help="ids for (c), which is slow")
    parser.add_argument("--items", type=int, default=1_000_000, help="fan_out items")
    parser.add_argument("--no-gc", action="store_true", help="skip the GC-settings phase")
    parser.add_argument("--profile", action="store_true", help="cProfile one (d) run")
    parser.add_argument("--only", default="", help="contender letters to run, e.g. df")
    parser.add_argument(
        "--instructions", action="store_true", help="instructions per request of (d) and (f)"
    )
    parser.add_argument("--_client", nargs=4, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns._client:
        variant, url, key, ids_file = ns._client
        with open(ids_file) as f:
            _client_run(variant, url, key, f.read().split("\n"))
        return
    if ns.instructions:
        with serve(jobs=_LONG) as server:
            instructions(server, ns.only)
        return

    if not ns.only:
        million(ns.items)  # first, so nothing else has raised the process's peak yet
    with serve(jobs=min(ns.count, 5000)) as server:
        print(
            f"\nserver pid {server.pid} at {server.url}; job detail ~{server.detail_bytes:,} bytes"
        )
        best, log = throughput(server, ns.count, ns.rounds, ns.c_count, ns.only)
        print_throughput(best, log, ns.count, ns.c_count)
        if ns.only:
            return
        if not ns.no_gc:
            gc_effect(server, ns.count, ns.rounds)
        if ns.profile:
            profile(server, ns.count)


if __name__ == "__main__":
    main()
