"""A FakeServer in a separate process, for benchmarks that must not share a core with it.

Run by hand (prints one JSON line with ``url``, ``key``, ``ids``, ``pid``,
``detail_bytes``, then serves until SIGTERM/SIGINT or until stdin closes)::

    python -m benchmarks._serve --jobs 5000 --latency 0.02 --capacity 40

or from a benchmark::

    with serve(jobs=5000, capacity=40, latency=0.02) as server:
        ...  # server.url, server.key, server.ids

``chaos=True`` injects the fault mix of ``benchmarks/soak.py``. ``GET /_bench/stats``
(with the key) answers the server-side counters, including open connections and
requests by kind (``status``, ``batch``, ``detail``, ``other``).

``--pending N --spread S`` (``serve(pending=N, spread=S)``) also adds ``N``
pending jobs, each finishing at a seeded random offset in ``[0, S]`` seconds:
``Served.pending`` are their ids, ``Served.finish`` the offsets and
``Served.t0`` the wall time (``time.time()``) of offset 0, so job ``i`` finishes
at ``t0 + finish[i]``. ``Served.restart_jobs()`` (``POST /_bench/restart``)
turns them all pending again on a fresh clock and returns the new ``t0``.

``--capacity-schedule 40:15,10:15,80:15`` (``serve(capacity_schedule=[(40, 15),
...])``) changes the capacity over time (the last one stays);
``Served.schedule_capacity(...)`` (``POST /_bench/capacity``) starts a new
schedule now. The server snapshots its counters at each phase's start, ``marks``
seconds into it and at its end (``phases`` in the stats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from uprock_async.testing import FakeServer

__all__ = ["CHAOS", "Served", "serve"]

DETAIL_GLOB = "/crawl/v1/jobs/*/detail"
ROOT = Path(__file__).resolve().parent.parent

# (what, FakeServer.inject keyword arguments): the soak's fault mix, each drawn at random.
CHAOS: list[tuple[str, dict[str, Any]]] = [
    ("503", {"status": 503, "probability": 0.05}),
    ("429 + Retry-After", {"status": 429, "retry_after": 0.05, "probability": 0.02}),
    ("dropped connection", {"disconnect": True, "probability": 0.01}),
    ("slow (past timeout)", {"status": 200, "delay": 2.0, "probability": 0.01}),
    ("truncated body", {"truncate": True, "probability": 0.01}),
]


@dataclass(frozen=True)
class Served:
    """What the child process told us: where it listens and which job ids it knows."""

    url: str
    key: str
    ids: list[str]
    pid: int
    detail_bytes: int
    pending: list[str] = field(default_factory=list)  # ids of the --pending jobs
    finish: list[float] = field(default_factory=list)  # their finish offsets from t0 (s)
    t0: float = 0.0  # time.time() of offset 0 (see restart_jobs)

    def _call(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            headers={"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def server_stats(self) -> dict[str, Any]:
        """The child's counters (blocking HTTP call; use only outside a timed section)."""
        return self._call("/_bench/stats")

    def restart_jobs(self) -> float:
        """Turn every pending job pending again, on a clock starting now; the new ``t0``."""
        t0 = float(self._call("/_bench/restart", {})["t0"])
        object.__setattr__(self, "t0", t0)
        return t0

    def schedule_capacity(
        self, phases: Sequence[tuple[int, float]], marks: Sequence[float] = ()
    ) -> float:
        """Start a capacity schedule now: ``(capacity, seconds)`` per phase; its ``t0``."""
        payload = {"phases": [list(p) for p in phases], "marks": list(marks)}
        return float(self._call("/_bench/capacity", payload)["t0"])


@contextlib.contextmanager
def serve(
    *,
    jobs: int = 5000,
    latency: float = 0.0,
    capacity: int | None = None,
    cookies: int = 26,
    headers: int = 40,
    chaos: bool = False,
    seed: int = 0,
    pending: int = 0,
    spread: float = 0.0,
    capacity_schedule: Sequence[tuple[int, float]] | None = None,
) -> Iterator[Served]:
    """Start the server in a child process; stop it (by pid) when the block ends."""
    args = [
        sys.executable,
        "-m",
        "benchmarks._serve",
        f"--jobs={jobs}",
        f"--latency={latency}",
        f"--cookies={cookies}",
        f"--headers={headers}",
        f"--seed={seed}",
    ]
    if capacity is not None:
        args.append(f"--capacity={capacity}")
    if chaos:
        args.append("--chaos")
    if pending:
        args += [f"--pending={pending}", f"--spread={spread}"]
    if capacity_schedule:
        args.append("--capacity-schedule=" + ",".join(f"{c}:{s}" for c, s in capacity_schedule))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    child = subprocess.Popen(
        args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark server exited early (code {child.wait()})")
        info = json.loads(line)
        yield Served(
            info["url"],
            info["key"],
            info["ids"],
            child.pid,
            info["detail_bytes"],
            pending=info.get("pending", []),
            finish=info.get("finish", []),
            t0=info.get("t0", 0.0),
        )
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()


def _open_connections(server: FakeServer) -> int:
    runner = server._runner
    web_server = runner.server if runner is not None else None
    return len(web_server.connections) if web_server is not None else -1


def _kind(path: str) -> str:
    if path.startswith("/crawl/v1/status/"):
        return "status"
    if path == "/crawl/v1/jobs/batch/status":
        return "batch"
    if path.endswith("/detail"):
        return "detail"
    return "other"


def _parse_schedule(text: str) -> list[tuple[int, float]]:
    """``"40:15,10:15"`` -> ``[(40, 15.0), (10, 15.0)]``."""
    phases = []
    for part in text.split(","):
        capacity, _, seconds = part.partition(":")
        phases.append((int(capacity), float(seconds)))
    if not phases or any(c < 1 or not s > 0 for c, s in phases):
        raise ValueError(f"bad capacity schedule {text!r}: want CAPACITY:SECONDS,...")
    return phases


class _Bench:
    """The benchmark-only state of the child: pending jobs, capacity schedule, counters."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.by_kind: dict[str, int] = {"status": 0, "batch": 0, "detail": 0, "other": 0}
        self.pending: list[str] = []
        self.finish: list[float] = []
        self.t0 = 0.0
        self.schedule_task: asyncio.Task[None] | None = None
        self.phases: list[dict[str, Any]] = []

    @web.middleware
    async def count(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith("/_bench/"):
            # Control requests skip FakeServer's pipeline: not counted, never a 429.
            if request.headers.get("Authorization") != f"Bearer {self.server.api_key}":
                raise web.HTTPUnauthorized()
            return await request.match_info.handler(request)
        self.by_kind[_kind(request.path)] += 1
        return await handler(request)

    def add_pending(self, n: int, spread: float, seed: int, headers: int, cookies: int) -> None:
        self.pending = self.server.add_jobs(n, headers=headers, cookies=cookies, status="pending")
        rng = random.Random(f"pending:{seed}")
        self.finish = [round(rng.uniform(0.0, spread), 3) for _ in self.pending]
        self.server.job_completion_delay = max(spread, 1.0)
        self.restart()

    def restart(self) -> float:
        """Every pending job pending again; job i finishes ``finish[i]`` s from now."""
        loop_now = asyncio.get_running_loop().time()
        self.t0 = time.time()
        delay = self.server.job_completion_delay
        for job_id, offset in zip(self.pending, self.finish, strict=True):
            self.server.jobs[job_id]["job"]["status"] = "pending"
            self.server.job_created[job_id] = loop_now + offset - delay
            self.server.invalidate(job_id=job_id)
        return self.t0

    def snapshot(self, phase: int, at: str) -> None:
        self.phases.append(
            {
                "phase": phase,
                "at": at,
                "time": time.time(),
                "capacity": self.server.capacity,
                "requests": self.server.request_count,
                "rejected_for_capacity": self.server.rejected_for_capacity,
            }
        )

    def schedule(self, phases: list[tuple[int, float]], marks: list[float]) -> float:
        if self.schedule_task is not None:
            self.schedule_task.cancel()
        self.phases = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.server.capacity = phases[0][0]
        self.snapshot(0, "start")
        self.schedule_task = loop.create_task(self._run(phases, marks, start))
        return float(self.phases[0]["time"])

    async def _run(self, phases: list[tuple[int, float]], marks: list[float], start: float) -> None:
        loop = asyncio.get_running_loop()
        for i, (capacity, seconds) in enumerate(phases):
            if i:
                self.server.capacity = capacity
                self.snapshot(i, "start")
            for mark in sorted(m for m in marks if 0 < m < seconds):
                await asyncio.sleep(max(0.0, start + mark - loop.time()))
                self.snapshot(i, f"+{mark:g}")
            start += seconds
            await asyncio.sleep(max(0.0, start - loop.time()))
            self.snapshot(i, "end")


async def _main(ns: argparse.Namespace) -> None:
    server = FakeServer(seed=ns.seed, latency=ns.latency, capacity=ns.capacity, record=False)
    bench = _Bench(server)
    server.app.middlewares.insert(0, bench.count)  # outermost: counts 429s too

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": server.request_count,
                "max_in_flight": server.max_in_flight,
                "rejected_for_capacity": server.rejected_for_capacity,
                "open_connections": _open_connections(server) - 1,  # not this request's own
                "fault_hits": [fault.hits for fault in server.faults],  # in CHAOS order
                "by_kind": bench.by_kind,
                "capacity": server.capacity,
                "phases": bench.phases,
            }
        )

    async def restart(request: web.Request) -> web.Response:
        return web.json_response({"t0": bench.restart()})

    async def capacity(request: web.Request) -> web.Response:
        body = await request.json()
        phases = [(int(c), float(s)) for c, s in body["phases"]]
        marks = [float(m) for m in body.get("marks", [])]
        return web.json_response({"t0": bench.schedule(phases, marks)})

    server.app.router.add_get("/_bench/stats", stats)
    server.app.router.add_post("/_bench/restart", restart)
    server.app.router.add_post("/_bench/capacity", capacity)
    await server.start()
    ids = server.add_jobs(ns.jobs, headers=ns.headers, cookies=ns.cookies)
    if ns.chaos:
        # Rules are tried in order and the first that fires wins, so each rule's own
        # probability is conditional on the earlier ones not firing: then every fault
        # kind hits its nominal share of all requests.
        left = 1.0
        for _what, fault in CHAOS:
            share = fault["probability"]
            server.inject(DETAIL_GLOB, times=None, **{**fault, "probability": share / left})
            left -= share
    sizes = [len(server.job_detail_bytes(i, True) or b"") for i in ids[:200]]
    if ns.pending:
        bench.add_pending(ns.pending, ns.spread, ns.seed, ns.headers, ns.cookies)
    if ns.capacity_schedule:
        bench.schedule(_parse_schedule(ns.capacity_schedule), [])
    info = {
        "url": server.uprock_url,
        "key": server.api_key,
        "ids": ids,
        "pid": os.getpid(),
        "detail_bytes": sum(sizes) // max(1, len(sizes)),
        "pending": bench.pending,
        "finish": bench.finish,
        "t0": bench.t0,
    }
    print(json.dumps(info), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The parent holds our stdin (a pipe): when it dies without stopping us, EOF stops us.
    # A regular file such as /dev/null cannot be watched; then only signals stop us.
    watching = True
    try:
        loop.add_reader(0, lambda: stop.set() if not os.read(0, 4096) else None)
    except (OSError, ValueError):
        watching = False
    await stop.wait()
    if watching:
        loop.remove_reader(0)
    if bench.schedule_task is not None:
        bench.schedule_task.cancel()
    await server.close()


def main() -> None:
    """Parse the command line and serve until told to stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--capacity", type=int, default=None)
    parser.add_argument("--cookies", type=int, default=26, help="26 gives ~17 KB details")
    parser.add_argument("--headers", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chaos", action="store_true")
    parser.add_argument("--pending", type=int, default=0, help="also add N pending jobs")
    parser.add_argument(
        "--spread", type=float, default=60.0, help="pending jobs finish at random in [0, S] s"
    )
    parser.add_argument(
        "--capacity-schedule", default=None, help="e.g. 40:15,10:15,80:15 (capacity:seconds)"
    )
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
