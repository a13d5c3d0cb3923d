"""Job-detail lookups/s: one process vs a Dask LocalCluster (issue 8).

The FakeServer runs in its own process (``benchmarks._serve``). In the same run:

  (1) one process: ``UprockClient.job_details(ids, concurrency=64)``
  (2) ``job_details_on_cluster`` on a ``LocalCluster`` of ``--workers`` processes
      (default 2, one thread each), ``concurrency_per_worker=64``

Cluster start-up and the first (plugin/connection) warm-up are outside the
timed section; each side gets the same ids, warmed once. The server's CPU use
during each timed section is printed too: on a machine with as many cores as
workers, the server competes with them for the same cores, which caps the
ratio well under the worker count.

    python benchmarks/dask_cluster.py [--count 10000] [--workers 2] [--rounds 2]

(``-m``, not a path: run by path, this file would shadow the ``distributed`` package.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import distributed
import psutil

from benchmarks._serve import Served, serve
from uprock_async import UprockClient
from uprock_async.distributed import job_details_on_cluster
from uprock_async.uprock.models import JobDetail

CONCURRENCY = 64


def _one_process(served: Served, ids: list[str]) -> int:
    async def run() -> int:
        async with UprockClient(served.key, base_url=served.url) as client:
            results = await client.job_details(ids, concurrency=CONCURRENCY)
        return sum(isinstance(r, JobDetail) for r in results)

    return asyncio.run(run())


def _on_cluster(client: Any, ids: list[str], partition_size: int) -> int:
    results = job_details_on_cluster(
        ids,
        client=client,
        partition_size=partition_size,
        concurrency_per_worker=CONCURRENCY,
    )
    return sum(isinstance(r, JobDetail) for r in results)


def _timed(
    what: str, fn: Callable[[], int], server: psutil.Process, expected: int
) -> tuple[float, float]:
    """Run ``fn`` once; lookups/s and the server's CPU share over that time."""
    cpu_before = server.cpu_times()
    start = time.perf_counter()
    done = fn()
    elapsed = time.perf_counter() - start
    cpu_after = server.cpu_times()
    if done != expected:
        raise RuntimeError(f"{what}: {done} of {expected} details arrived")
    server_cpu = (cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / elapsed
    return expected / elapsed, server_cpu


def main() -> None:
    """Parse arguments, serve, measure both sides in the same run, print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="ids per measurement")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--partition-size", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    ns = parser.parse_args()

    with serve(jobs=ns.count) as served:
        ids = served.ids[: ns.count]
        server = psutil.Process(served.pid)
        # Workers read the key from their environment, as in production.
        os.environ["UPROCK_API_KEY"] = served.key
        os.environ["UPROCK_BASE_URL"] = served.url
        print(
            f"{len(ids)} ids, ~{served.detail_bytes} B per detail, {os.cpu_count()} cores, "
            f"{ns.workers} workers, partitions of {ns.partition_size}"
        )
        started = time.perf_counter()
        with (
            distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=ns.workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
            ) as cluster,
            distributed.Client(cluster) as client,  # type: ignore[no-untyped-call]
        ):
            print(f"cluster started in {time.perf_counter() - started:.1f} s (not timed)")
            _one_process(served, ids[:1000])  # warm-up: imports, first connections
            _on_cluster(client, ids[: 2 * ns.partition_size], ns.partition_size)
            best: dict[str, tuple[float, float]] = {}
            for _ in range(ns.rounds):
                sides: dict[str, Callable[[], int]] = {
                    "1 process": lambda: _one_process(served, ids),
                    f"cluster x{ns.workers}": lambda: _on_cluster(client, ids, ns.partition_size),
                }
                for what, fn in sides.items():
                    rate, server_cpu = _timed(what, fn, server, len(ids))
                    if rate > best.get(what, (0.0, 0.0))[0]:
                        best[what] = (rate, server_cpu)
        for what, (rate, server_cpu) in best.items():
            print(f"{what:>12}: {rate:8.0f} lookups/s   server CPU {server_cpu:4.0%} of one core")
        (base, _), (scaled, _) = best.values()
        print(f"ratio cluster / 1 process: {scaled / base:.2f}x")


if __name__ == "__main__":
    main()
