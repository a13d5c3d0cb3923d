"""An outage in the middle of a long run: what the circuit breaker saves (issue 16).

20,000 job-detail lookups (``iter_job_details``, concurrency 64) against a
FakeServer in another process. When 40 % of them are done, the service answers
503 to every lookup (``--mode drop``: drops every connection unanswered) for
``--outage`` seconds (20 by default), then recovers. Printed per client setting
(the default ``CircuitBreaker(threshold=10, cooldown=1.0, max_wait=60.0)``, and
``circuit_breaker=None`` for comparison):

- attempts sent during the outage (server-side count), against the target of
  one per ``cooldown`` plus the requests already in flight;
- lookups lost (outcomes with an error; target 0 with ``max_wait=60``);
- time from recovery to full speed: from the end of the outage to the start of
  the first 0.5 s window that completes lookups at >= 90 % of the rate before
  the outage (target <= 2 s).

    python -m benchmarks.outage [--count 20000] [--outage 20] [--mode 503|drop]
                                [--concurrency 64] [--skip-off]

The server runs in a child process started by this script (``--serve``), with
two extra routes to begin and end the outage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from uprock_async import CircuitBreaker, UprockClient
from uprock_async.testing import FakeServer

DETAIL_GLOB = "/crawl/v1/jobs/*/detail"
ROOT = Path(__file__).resolve().parent.parent
BIN = 0.1  # seconds per completion-rate bin


# -- the server (child process) ---------------------------------------------------


async def _serve(jobs: int) -> None:
    server = FakeServer(seed=0, record=False)

    async def begin(request: web.Request) -> web.Response:
        mode = request.query.get("mode", "503")
        if mode == "drop":
            server.inject(DETAIL_GLOB, disconnect=True, times=None)
        else:
            server.inject(DETAIL_GLOB, status=503, times=None)
        return web.json_response({"requests": server.request_count})

    async def end(request: web.Request) -> web.Response:
        server.clear_faults()
        return web.json_response({"requests": server.request_count})

    server.app.router.add_post("/_outage/begin", begin)
    server.app.router.add_post("/_outage/end", end)
    await server.start()
    ids = server.add_jobs(jobs, headers=10, cookies=4)
    print(json.dumps({"url": server.uprock_url, "key": server.api_key, "ids": ids}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_reader(0, lambda: stop.set() if not os.read(0, 4096) else None)  # parent gone
    await stop.wait()
    loop.remove_reader(0)
    await server.close()


# -- the client --------------------------------------------------------------------


@dataclass
class Result:
    label: str
    sent_during: int
    in_flight_at_start: int
    lost: int
    errors: dict[str, int]
    recovery: float | None
    rate_before: float
    elapsed: float
    trips: int
    outage: float
    cooldown: float | None


async def run(
    info: dict[str, Any], count: int, outage: float, mode: str, concurrency: int, breaker: Any
) -> Result:
    ids = (info["ids"] * (count // len(info["ids"]) + 1))[:count]
    done_at: list[float] = []
    errors: dict[str, int] = {}
    marks: dict[str, float] = {}
    counts: dict[str, int] = {}
    start_after = int(count * 0.4)

    async with (
        aiohttp.ClientSession(
            info["url"], headers={"Authorization": f"Bearer {info['key']}"}
        ) as control,
        UprockClient(info["key"], base_url=info["url"], circuit_breaker=breaker) as client,
    ):

        async def call(path: str) -> int:
            async with control.post(path) as resp:
                return int((await resp.json())["requests"])

        async def outage_task() -> None:
            counts["begin"] = await call(f"/_outage/begin?mode={mode}")
            marks["begin"] = time.monotonic()
            await asyncio.sleep(outage)
            counts["end"] = await call("/_outage/end")
            marks["end"] = time.monotonic()

        started = time.monotonic()
        task: asyncio.Task[None] | None = None
        async with client.iter_job_details(ids, concurrency=concurrency) as outcomes:
            async for outcome in outcomes:
                done_at.append(time.monotonic())
                if outcome.error is not None:
                    name = type(outcome.error).__name__
                    errors[name] = errors.get(name, 0) + 1
                if task is None and len(done_at) >= start_after:
                    task = asyncio.create_task(outage_task())
        elapsed = time.monotonic() - started
        if task is not None:
            await task
        trips = client.stats().breaker_trips

    # completion rate before the outage, and when it is back
    before = [t for t in done_at if started + 1.0 <= t < marks["begin"]]
    rate_before = len(before) / max(1e-9, marks["begin"] - (started + 1.0))
    recovery: float | None = None
    after = [t for t in done_at if t >= marks["end"]]
    j = 0
    for i, t in enumerate(after):
        while after[j] < t - 0.5:
            j += 1
        if t - marks["end"] >= 0.5 and (i - j + 1) / 0.5 >= 0.9 * rate_before:
            recovery = max(0.0, t - 0.5 - marks["end"])  # full speed from the window's start
            break
    if recovery is None and after and len(after) < rate_before * 0.5:
        recovery = after[-1] - marks["end"]  # too few left to fill a window: all done by then
    label = "circuit_breaker=None" if breaker is None else repr(breaker)
    return Result(
        label,
        counts["end"] - counts["begin"] - 1,  # minus the "end" call itself
        concurrency,  # the most attempts that can be in flight when it begins
        sum(errors.values()),
        errors,
        recovery,
        rate_before,
        elapsed,
        trips,
        outage,
        None if breaker is None else breaker.cooldown,
    )


def report(r: Result) -> None:
    print(f"\n{r.label}")
    print(f"  elapsed                    {r.elapsed:.1f} s, {r.rate_before:.0f} lookups/s before")
    target = ""
    if r.cooldown is not None:
        allowed = r.outage / r.cooldown + r.in_flight_at_start
        target = (
            f"(target <= {allowed:.0f}: 1 per cooldown + up to {r.in_flight_at_start} in flight)"
        )
    print(f"  attempts during the outage {r.sent_during} {target}")
    print(f"  breaker trips              {r.trips}")
    print(f"  lookups lost               {r.lost} {r.errors or ''}  (target 0)")
    back = "-" if r.recovery is None else f"{r.recovery:.2f} s"
    print(f"  recovery to full speed     {back}  (target <= 2 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="lookups")
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the service is down")
    parser.add_argument("--mode", choices=("503", "drop"), default="503")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--skip-off", action="store_true", help="skip circuit_breaker=None")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=2000, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.serve:
        asyncio.run(_serve(ns.jobs))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.outage", "--serve", f"--jobs={ns.jobs}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        text=True,
    )
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        print(
            f"{ns.count} lookups at concurrency {ns.concurrency}; the service "
            f"{'answers 503' if ns.mode == '503' else 'drops every connection'} for "
            f"{ns.outage:g} s once 40 % are done"
        )
        settings: list[Any] = [CircuitBreaker()]
        if not ns.skip_off:
            settings.append(None)
        for breaker in settings:
            report(asyncio.run(run(info, ns.count, ns.outage, ns.mode, ns.concurrency, breaker)))
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()


if __name__ == "__main__":
    main()
