"""The chaos fan-out soak (issue 7): many lookups through ``iter_job_details`` under faults.

A FakeServer in another process injects, at random, 5% 503s, 2% 429 with
``Retry-After``, 1% dropped connections, 1% slow answers past the client's
timeout and 1% truncated bodies (see ``benchmarks._serve.CHAOS``). The client
retries with short backoffs. Printed: lookups, outcomes (ok / errors by class),
retries, outcomes lost and duplicated (both must be 0: every input id yields
exactly one outcome), errors that are not ours (must be 0), peak RSS, open
connections and tasks left at the end, elapsed time. Exits 1 if an invariant broke.

    python benchmarks/soak.py [--count 20000] [--concurrency 64] [--timeout 0.5]

With ``--minutes N`` it runs one long-lived client for N minutes instead (passes
over the ids, one after another, under the same faults, while the server's
capacity cycles 40 -> 10 -> 80 in 15 s phases, at ``concurrency="auto"`` unless
``--concurrency`` is given), and prints every minute: lookups so far, RSS, open
file descriptors, connections (client pool, and the process's sockets) and
asyncio tasks. Targets at 30 minutes: RSS growth after the first minute
<= 5 MB, descriptors flat, 0 lost.

    python -m benchmarks.soak --minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import warnings
from collections import Counter

import psutil

from benchmarks._serve import CHAOS, Served, serve
from uprock_async import RetryPolicy, Timeout, UprockAsyncError, UprockClient

MIB = 1024 * 1024


async def soak(server: Served, ids: list[str], concurrency: int, timeout: float) -> bool:
    """Run the fan-out, print the figures; False if an invariant broke."""
    proc = psutil.Process()
    rss_before = peak = proc.memory_info().rss
    retry = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.1, max_retry_after=0.1)
    seen = [0] * len(ids)
    wrong_item = 0
    kinds: Counter[str] = Counter()
    foreign: Counter[str] = Counter()
    started = time.perf_counter()
    client = UprockClient(
        server.key, base_url=server.url, timeout=Timeout(total=timeout), retry=retry
    )
    async with client:
        async with client.iter_job_details(ids, concurrency=concurrency) as outcomes:
            async for outcome in outcomes:
                seen[outcome.index] += 1
                wrong_item += outcome.item != ids[outcome.index]
                if outcome.error is None:
                    kinds["ok"] += 1
                else:
                    kinds[type(outcome.error).__name__] += 1
                    if not isinstance(outcome.error, UprockAsyncError):
                        foreign[type(outcome.error).__name__] += 1
                if outcome.index % 1000 == 0:
                    peak = max(peak, proc.memory_info().rss)
        elapsed = time.perf_counter() - started
        stats = client.stats()
        session = client._transport._session  # connector internals: a benchmark may look
        connector = session.connector if session is not None else None
        idle = sum(len(c) for c in connector._conns.values()) if connector is not None else 0
        in_use = len(connector._acquired) if connector is not None else 0
    peak = max(peak, proc.memory_info().rss)
    await asyncio.sleep(0.2)  # let the server notice the closed sockets
    tasks_left = len(asyncio.all_tasks()) - 1  # minus this one
    lost = sum(1 for n in seen if n == 0)
    duplicated = sum(1 for n in seen if n > 1)

    # A "slow" fault's handler sleeps on after the client gave up, holding its connection
    # server-side until it wakes: wait for those (at most the fault's delay) before counting.
    closed_at = time.perf_counter()
    server_side = await asyncio.to_thread(server.server_stats)
    while server_side["open_connections"] > 0 and time.perf_counter() - closed_at < 5:
        await asyncio.sleep(0.25)
        server_side = await asyncio.to_thread(server.server_stats)
    settle = time.perf_counter() - closed_at
    errors = {k: v for k, v in sorted(kinds.items()) if k != "ok"}
    print(f"lookups                 {len(ids)} at concurrency {concurrency}, timeout {timeout} s")
    print(f"elapsed                 {elapsed:.1f} s ({len(ids) / elapsed:.0f} lookups/s)")
    print(f"outcomes ok             {kinds['ok']}")
    print(f"errors by class         {errors or '-'}")
    print(f"errors not ours         {dict(foreign) or 0}")
    print(f"outcomes lost           {lost}")
    print(f"outcomes duplicated     {duplicated}")
    print(f"outcomes with wrong id  {wrong_item}")
    print(f"HTTP attempts           {stats.requests} (retries {stats.retries})")
    print(f"attempts by status      {dict(sorted(stats.responses.items()))}")
    hits = dict(zip((what for what, _ in CHAOS), server_side["fault_hits"], strict=True))
    print(f"faults injected         {hits}")
    print(f"peak RSS                {peak / MIB:.1f} MiB (+{(peak - rss_before) / MIB:.1f} MiB)")
    print(f"connections at the end  client pool: {idle} idle, {in_use} in use (limit 100)")
    print(
        f"                        server: {server_side['open_connections']} open"
        f" {settle:.1f} s after the client closed"
    )
    print(f"tasks left              {tasks_left}")
    return not (lost or duplicated or wrong_item or foreign or in_use or tasks_left)


CAPACITY_CYCLE = [(40, 15.0), (10, 15.0), (80, 15.0)]


def _pool(client: UprockClient) -> tuple[int, int]:
    """(idle, in use) connections of the client's pool (connector internals)."""
    session = client._transport._session
    connector = session.connector if session is not None else None
    if connector is None:
        return 0, 0
    return sum(len(c) for c in connector._conns.values()), len(connector._acquired)


async def soak_for(
    server: Served, ids: list[str], minutes: float, concurrency: int | str, timeout: float
) -> bool:
    """One client for ``minutes``: passes over ``ids``; a table row every minute."""
    proc = psutil.Process()
    retry = RetryPolicy(max_retries=2, backoff_initial=0.01, backoff_max=0.1, max_retry_after=0.1)
    client = UprockClient(
        server.key, base_url=server.url, timeout=Timeout(total=timeout), retry=retry
    )
    started = time.monotonic()
    end = started + minutes * 60
    next_row = started + 60
    next_cycle = started
    lookups = lost = duplicated = passes = 0
    kinds: Counter[str] = Counter()
    rows: list[tuple[int, int, float, int, int, int, int]] = []
    print(
        f"{'min':>4} {'lookups':>9} {'RSS MiB':>8} {'fds':>5} {'pool idle':>9}"
        f" {'in use':>6} {'sockets':>7} {'tasks':>5}"
    )

    def row(minute: int | str) -> None:
        idle, in_use = _pool(client)
        sockets = len(proc.net_connections(kind="inet"))
        rss = proc.memory_info().rss / MIB
        tasks = len(asyncio.all_tasks())
        rows.append((len(rows), lookups, rss, proc.num_fds(), idle + in_use, sockets, tasks))
        print(
            f"{minute:>4} {lookups:9d} {rss:8.1f} {proc.num_fds():5d} {idle:9d}"
            f" {in_use:6d} {sockets:7d} {tasks:5d}",
            flush=True,
        )

    async with client:
        row(0)
        while time.monotonic() < end:
            passes += 1
            seen = [0] * len(ids)
            stopped = False
            limit: int | str = concurrency
            async with client.iter_job_details(ids, concurrency=limit) as outcomes:  # type: ignore[arg-type]
                async for outcome in outcomes:
                    seen[outcome.index] += 1
                    lookups += 1
                    kinds["ok" if outcome.error is None else type(outcome.error).__name__] += 1
                    now = time.monotonic()
                    if now >= next_cycle:
                        next_cycle = now + sum(s for _, s in CAPACITY_CYCLE)
                        await asyncio.to_thread(server.schedule_capacity, CAPACITY_CYCLE)
                    if now >= next_row:
                        next_row += 60
                        row(len(rows))
                    if now >= end:
                        stopped = True
                        break
            if not stopped:  # a whole pass: every id must have come out exactly once
                lost += sum(1 for n in seen if n == 0)
            duplicated += sum(1 for n in seen if n > 1)
        row("end")
        stats = client.stats()
    first = rows[1] if len(rows) > 2 else rows[0]
    last = rows[-1]
    print(f"\npasses {passes}, lookups {lookups}, outcomes {dict(kinds)}")
    print(f"HTTP attempts {stats.requests} (retries {stats.retries}), by status {stats.responses}")
    print(
        f"RSS growth after the first minute {last[2] - first[2]:+.1f} MiB (target <= 5);"
        f" fds {first[3]} -> {last[3]}; lost {lost}, duplicated {duplicated} (target 0)"
    )
    return not (lost or duplicated)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="lookups")
    parser.add_argument(
        "--concurrency", default=None, help="an int or auto (default 64; auto with --minutes)"
    )
    parser.add_argument("--minutes", type=float, default=None, help="soak for N minutes")
    parser.add_argument("--timeout", type=float, default=0.5, help="client timeout, seconds")
    ns = parser.parse_args()
    if ns.minutes is not None:
        limit = ns.concurrency or "auto"
        concurrency: int | str = limit if limit == "auto" else int(limit)
        with serve(jobs=5000, chaos=True) as server:
            ids = (server.ids * (ns.count // len(server.ids) + 1))[: ns.count]
            if not asyncio.run(soak_for(server, ids, ns.minutes, concurrency, ns.timeout)):
                print("SOAK FAILED: outcomes lost or duplicated")
                sys.exit(1)
        return
    ns.concurrency = int(ns.concurrency or 64)
    gc.collect()
    with warnings.catch_warnings(record=True) as caught, serve(jobs=5000, chaos=True) as server:
        warnings.simplefilter("always")
        ids = (server.ids * (ns.count // len(server.ids) + 1))[: ns.count]
        ok = asyncio.run(soak(server, ids, ns.concurrency, ns.timeout))
        gc.collect()  # an unclosed session/connector warns from its finalizer
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning) or "nclosed" in str(w)]
    print(f"resource warnings       {len(leaks)}")
    for warning in leaks[:5]:
        print(f"  {warning.category.__name__}: {warning.message}")
    if not ok or leaks:
        print("SOAK FAILED: an invariant broke (see above)")
        sys.exit(1)


if __name__ == "__main__":
    main()
