"""The chaos fan-out soak (issue 7): many lookups through ``iter_job_details`` under faults.

A FakeServer in another process injects, at random, 5% 503s, 2% 429 with
``Retry-After``, 1% dropped connections, 1% slow answers past the client's
timeout and 1% truncated bodies (see ``benchmarks._serve.CHAOS``). The client
retries with short backoffs. Printed: lookups, outcomes (ok / errors by class),
retries, outcomes lost and duplicated (both must be 0: every input id yields
exactly one outcome), errors that are not ours (must be 0), peak RSS, open
connections and tasks left at the end, elapsed time. Exits 1 if an invariant broke.

    python benchmarks/soak.py [--count 20000] [--concurrency 64] [--timeout 0.5]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000, help="lookups")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=0.5, help="client timeout, seconds")
    ns = parser.parse_args()
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
