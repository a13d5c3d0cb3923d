"""Following many jobs to the end: ``watch_jobs`` vs one ``wait_for_job`` per job (issue 16).

A FakeServer in another process holds ``--jobs`` (20,000; the issue's full size
is 100,000) pending jobs, each finishing at a seeded random moment within
``--spread`` (30; full size 60) seconds of the start. In the same run, one after
the other, on the same jobs (turned pending again on a fresh clock):

  (a) ``async with client.watch_jobs(ids, poll_interval=P)``: batch status rounds,
      detail fetches at ``--concurrency`` (``auto``, the default of ``watch_jobs``)
  (b) ``fan_out(client.wait_for_job(id, poll_interval=P), ids, concurrency=256)``:
      one status poll per job per interval, at most 256 jobs followed at once

Each is stopped ``--grace`` (30) seconds after the last job finished; (b) never
gets through 100,000 jobs in that time, and only what it measured is printed.
Printed per contender: outcomes, requests the server received (status polls and
detail fetches apart), the delay from a job finishing to its outcome arriving
(median, p99), and the client's peak RSS and its growth during the run. For (b)
the delay of jobs that had finished but were never reported by the stop is a
lower bound (stop - finish); the "all finished" median counts them that way.

    python benchmarks/watch.py [--jobs 20000] [--spread 30] [--poll-interval 2]
    python benchmarks/watch.py --jobs 100000 --spread 60      # the issue's size
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import anyio

from benchmarks._serve import Served, serve
from uprock_async import UprockClient, fan_out
from uprock_async.uprock import Job, JobDetail, JobWatch

_PAGE = os.sysconf("SC_PAGE_SIZE")
MiB = 2**20


def rss() -> int:
    """Resident set size of this process now, in bytes (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


@dataclass
class Run:
    """One contender's figures."""

    label: str
    jobs: int
    outcomes: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    delays: list[float] = field(default_factory=list)  # outcome arrival - job finish (s)
    unreported: list[float] = field(default_factory=list)  # stop - finish, finished not reported
    reported: set[int] = field(default_factory=set)  # indexes with an outcome
    requests: dict[str, int] = field(default_factory=dict)  # server-side, by kind
    elapsed: float = 0.0
    stopped: bool = False
    rss_before: int = 0
    rss_peak: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def status_polls(self) -> int:
        return self.requests.get("status", 0) + self.requests.get("batch", 0)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _sample_rss(run: Run, stop: anyio.Event) -> None:
    while not stop.is_set():
        run.rss_peak = max(run.rss_peak, rss())
        with anyio.move_on_after(0.2):
            await stop.wait()
    run.rss_peak = max(run.rss_peak, rss())


async def _contend(served: Served, run: Run, ns: argparse.Namespace) -> None:
    """Run one contender over every pending job, bounded to spread + grace seconds."""
    ids, finish = served.pending, served.finish
    async with UprockClient(served.key, base_url=served.url) as client:
        before = (await anyio.to_thread.run_sync(served.server_stats))["by_kind"]
        t0 = await anyio.to_thread.run_sync(served.restart_jobs)
        run.rss_before = run.rss_peak = rss()
        stop_sampling = anyio.Event()
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            group.start_soon(_sample_rss, run, stop_sampling)
            with anyio.move_on_after(t0 + ns.spread + ns.grace - time.time()) as scope:
                if run.label == "watch_jobs":
                    # (two calls: watch_jobs has no overload for a plain `details: bool`)
                    watch: JobWatch[JobDetail] | JobWatch[Job] = (
                        client.watch_jobs(ids, poll_interval=ns.poll_interval, details=False)
                        if ns.no_details
                        else client.watch_jobs(
                            ids, poll_interval=ns.poll_interval, concurrency=ns.concurrency
                        )
                    )
                    async with watch as outcomes:
                        async for outcome in outcomes:
                            _record(run, outcome.index, outcome.error, t0, finish)
                else:
                    wait = partial(client.wait_for_job, poll_interval=ns.poll_interval)
                    async with fan_out(wait, ids, concurrency=ns.baseline_concurrency) as out:
                        async for outcome in out:
                            _record(run, outcome.index, outcome.error, t0, finish)
            stop_sampling.set()
        run.elapsed = time.perf_counter() - started
        run.stopped = scope.cancelled_caught
        stopped_at = time.time() - t0
    after = served.server_stats()["by_kind"]
    run.requests = {kind: after[kind] - before[kind] for kind in after}
    run.unreported = [
        stopped_at - offset
        for i, offset in enumerate(finish)
        if offset <= stopped_at and i not in run.reported
    ]
    run.reported.clear()


def _record(
    run: Run, index: int, error: BaseException | None, t0: float, finish: list[float]
) -> None:
    now = time.time()
    run.outcomes += 1
    run.reported.add(index)
    if error is not None:
        run.errors[type(error).__name__] += 1
    run.delays.append(now - (t0 + finish[index]))


def _report(runs: list[Run], ns: argparse.Namespace) -> None:
    def cells(fn: Callable[[Run], str]) -> str:
        return "".join(f"{fn(r):>22}" for r in runs)

    def seconds(value: float) -> str:
        return f"{value:.2f} s"

    print(f"\n  {'':34}" + "".join(f"{r.label:>22}" for r in runs))
    rows: list[tuple[str, Callable[[Run], str]]] = [
        ("jobs", lambda r: f"{r.jobs}"),
        ("outcomes", lambda r: f"{r.outcomes}"),
        ("errors", lambda r: ", ".join(f"{k} {v}" for k, v in r.errors.items()) or "0"),
        ("finished but not reported", lambda r: f"{len(r.unreported)}"),
        ("elapsed", lambda r: seconds(r.elapsed) + (" (stopped)" if r.stopped else "")),
        ("requests (server-side)", lambda r: f"{r.total_requests}"),
        ("  status polls", lambda r: f"{r.status_polls}"),
        ("  detail fetches", lambda r: f"{r.requests.get('detail', 0)}"),
        ("status polls per outcome", lambda r: f"{r.status_polls / max(1, r.outcomes):.4f}"),
        ("requests per outcome", lambda r: f"{r.total_requests / max(1, r.outcomes):.4f}"),
        ("median delay (reported)", lambda r: seconds(_quantile(r.delays, 0.5))),
        ("p99 delay (reported)", lambda r: seconds(_quantile(r.delays, 0.99))),
        (
            "median delay (all finished) *",
            lambda r: (
                ("≥ " if r.unreported else "") + seconds(_quantile(r.delays + r.unreported, 0.5))
            ),
        ),
        ("peak RSS", lambda r: f"{r.rss_peak / MiB:.1f} MiB"),
        ("RSS growth during the run", lambda r: f"{(r.rss_peak - r.rss_before) / MiB:+.1f} MiB"),
    ]
    for name, fn in rows:
        print(f"  {name:34}" + cells(fn))
    print(
        "  * jobs that finished but were not reported by the stop count with stop - finish"
        " (a lower bound)"
    )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process peak RSS (ru_maxrss): {maxrss:.1f} MiB")

    watch = runs[0]
    if not watch.delays:
        print("\nwatch_jobs reported nothing: no verdicts")
        return
    median = _quantile(watch.delays, 0.5)
    growth = (watch.rss_peak - watch.rss_before) / MiB
    lost = watch.jobs - watch.outcomes
    print()
    print(
        f"verdicts (watch_jobs, {watch.jobs} jobs over {ns.spread:g} s,"
        f" poll_interval {ns.poll_interval:g} s):"
    )
    if len(runs) > 1:
        base = runs[1]
        per_watch = watch.status_polls / max(1, watch.outcomes)
        per_base = base.status_polls / max(1, base.outcomes)
        ratio = per_base / per_watch if per_watch else float("inf")
        total_ratio = (base.total_requests / max(1, base.outcomes)) / (
            watch.total_requests / max(1, watch.outcomes)
        )
        print(
            f"  {_mark(ratio >= 100)} status polls per job followed: {ratio:.0f}x fewer"
            f" ({per_watch:.4f} vs {per_base:.2f}; target >= 100x)."
            f" All requests, detail fetches included: {total_ratio:.1f}x fewer per job"
        )
    print(
        f"  {_mark(median <= ns.poll_interval)} median delay {median:.2f} s"
        f" (target <= poll_interval = {ns.poll_interval:g} s);"
        f" p99 {_quantile(watch.delays, 0.99):.2f} s"
    )
    print(f"  {_mark(growth < 100)} RSS growth {growth:+.1f} MiB (target < 100 MB)")
    print(f"  {_mark(lost == 0)} every job reported once: {watch.outcomes} of {watch.jobs}")


def _mark(ok: bool) -> str:
    return "✓" if ok else "✗"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000, help="pending jobs (full: 100000)")
    parser.add_argument(
        "--spread", type=float, default=30.0, help="they finish within S s (full: 60)"
    )
    parser.add_argument("--poll-interval", type=float, default=2.0, help="P for both contenders")
    parser.add_argument("--grace", type=float, default=30.0, help="stop S + grace s after start")
    parser.add_argument("--baseline-concurrency", type=int, default=256)
    parser.add_argument("--no-details", action="store_true", help="watch_jobs(details=False)")
    parser.add_argument(
        "--concurrency",
        type=lambda text: text if text == "auto" else int(text),
        default="auto",
        help="watch_jobs detail fetches at once: an int or auto (auto, its default)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    ns = parser.parse_args()
    if ns.jobs < 1 or ns.spread <= 0 or ns.poll_interval <= 0 or ns.grace < 0:
        parser.error("--jobs >= 1, --spread > 0, --poll-interval > 0, --grace >= 0")

    setup = time.perf_counter()
    with serve(
        jobs=0, pending=ns.jobs, spread=ns.spread, headers=4, cookies=0, seed=ns.seed
    ) as served:
        print(
            f"server pid {served.pid}: {ns.jobs} pending jobs finishing at random within"
            f" {ns.spread:g} s (set up in {time.perf_counter() - setup:.1f} s);"
            f" poll_interval {ns.poll_interval:g} s; watch_jobs"
            + (" details=False" if ns.no_details else f" concurrency={ns.concurrency}")
            + "; each contender stopped"
            f" {ns.spread + ns.grace:g} s after its start",
            flush=True,
        )
        labels = ["watch_jobs"]
        if not ns.skip_baseline:
            labels.append(f"wait_for_job x{ns.baseline_concurrency}")
        runs = []
        for label in labels:
            run = Run(label, ns.jobs)
            asyncio.run(_contend(served, run, ns))
            print(f"  {label}: {run.outcomes} outcomes in {run.elapsed:.1f} s", flush=True)
            runs.append(run)
    _report(runs, ns)


if __name__ == "__main__":
    main()
