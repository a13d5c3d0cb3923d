"""A FakeServer in a separate process, for benchmarks that must not share a core with it.

Run by hand (prints one JSON line with ``url``, ``key``, ``ids``, ``pid``,
``detail_bytes``, then serves until SIGTERM/SIGINT or until stdin closes)::

    python -m benchmarks._serve --jobs 5000 --latency 0.02 --capacity 40

or from a benchmark::

    with serve(jobs=5000, capacity=40, latency=0.02) as server:
        ...  # server.url, server.key, server.ids

``chaos=True`` injects the fault mix of ``benchmarks/soak.py``. ``GET /_bench/stats``
(with the key) answers the server-side counters, including open connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
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

    def server_stats(self) -> dict[str, Any]:
        """The child's counters (blocking HTTP call; use only outside a timed section)."""
        request = urllib.request.Request(
            self.url + "/_bench/stats", headers={"Authorization": f"Bearer {self.key}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            stats: dict[str, Any] = json.loads(answer.read())
            return stats


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
        yield Served(info["url"], info["key"], info["ids"], child.pid, info["detail_bytes"])
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


async def _main(ns: argparse.Namespace) -> None:
    server = FakeServer(seed=ns.seed, latency=ns.latency, capacity=ns.capacity, record=False)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": server.request_count,
                "max_in_flight": server.max_in_flight,
                "rejected_for_capacity": server.rejected_for_capacity,
                "open_connections": _open_connections(server) - 1,  # not this request's own
                "fault_hits": [fault.hits for fault in server.faults],  # in CHAOS order
            }
        )

    server.app.router.add_get("/_bench/stats", stats)
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
    info = {
        "url": server.uprock_url,
        "key": server.api_key,
        "ids": ids,
        "pid": os.getpid(),
        "detail_bytes": sum(sizes) // max(1, len(sizes)),
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
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
