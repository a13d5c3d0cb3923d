"""Fixed concurrency vs ``concurrency="auto"`` against a server with a capacity (issue 10).

A FakeServer in another process answers at most ``--capacity`` (40) requests at
once (429 with ``Retry-After: 0`` above that), each after ``--latency`` (20 ms).
For each setting a fresh client runs ``job_details(ids, concurrency=...,
return_exceptions=True)`` over ``--count`` (5,000) ids, with the default retry
policy (429s are retried). Printed per setting: lookups/s (failed ones
included), successful lookups/s, the share of HTTP
attempts answered 429, and lookups that failed (an exception in the result list).

    python benchmarks/adaptive.py [--count 5000] [--capacity 40] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import dataclass

from benchmarks._serve import Served, serve
from uprock_async import AdaptiveConcurrency, UprockClient

FIXED = (8, 16, 32, 40, 64, 128, 256)


@dataclass
class Result:
    """One setting's figures."""

    label: str
    rate: float
    ok_rate: float
    attempts: int
    answered_429: int
    failed: int
    final_limit: int | None = None

    @property
    def share_429(self) -> float:
        return self.answered_429 / self.attempts if self.attempts else 0.0


async def run(server: Served, ids: list[str], concurrency: int | AdaptiveConcurrency) -> Result:
    """One fresh client, one job_details call."""
    async with UprockClient(server.key, base_url=server.url) as client:
        started = time.perf_counter()
        results = await client.job_details(ids, concurrency=concurrency, return_exceptions=True)
        elapsed = time.perf_counter() - started
        stats = client.stats()
    failed = sum(isinstance(r, BaseException) for r in results)
    limit = concurrency.current if isinstance(concurrency, AdaptiveConcurrency) else None
    return Result(
        label="auto" if limit is not None else str(concurrency),
        rate=len(ids) / elapsed,
        ok_rate=(len(ids) - failed) / elapsed,
        attempts=stats.requests,
        answered_429=stats.responses.get(429, 0),
        failed=failed,
        final_limit=limit,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="lookups per setting")
    parser.add_argument("--capacity", type=int, default=40, help="server's concurrent capacity")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per lookup")
    parser.add_argument(
        "--fixed", type=int, nargs="*", default=list(FIXED), help="fixed concurrencies to try"
    )
    ns = parser.parse_args()

    with serve(jobs=min(ns.count, 5000), capacity=ns.capacity, latency=ns.latency) as server:
        ids = (server.ids * (ns.count // len(server.ids) + 1))[: ns.count]
        print(
            f"server pid {server.pid}: capacity {ns.capacity}, latency {ns.latency * 1000:.0f} ms;"
            f" {ns.count} lookups per setting (ideal ~{ns.capacity / ns.latency:.0f}/s)\n"
        )
        head = ("concurrency", "lookups/s", "ok/s", "attempts", "429 share", "failed")
        print("  {:>11} {:>10} {:>7} {:>9} {:>10} {:>7}".format(*head))
        results: list[Result] = []
        settings: list[int | AdaptiveConcurrency] = [*ns.fixed, AdaptiveConcurrency()]
        for setting in settings:
            result = asyncio.run(run(server, ids, setting))
            results.append(result)
            extra = f"  (limit at the end: {result.final_limit})" if result.final_limit else ""
            print(
                f"  {result.label:>11} {result.rate:10.0f} {result.ok_rate:7.0f}"
                f" {result.attempts:9d}"
                f" {result.share_429:9.1%} {result.failed:7d}{extra}",
                flush=True,
            )

    fixed = [r for r in results if r.label != "auto"]
    auto = results[-1]
    best = max(fixed, key=lambda r: r.rate)
    print(
        f"\nbest fixed: {best.label} at {best.rate:.0f}/s; auto {auto.rate:.0f}/s ="
        f" {auto.rate / best.rate:.2f}x best (target >= 0.85),"
        f" 429 share {auto.share_429:.1%} (target <= 2%), failed {auto.failed} (target 0)"
    )
    clean = [r for r in fixed if r.failed == 0]
    if clean and clean != [best]:
        safe = max(clean, key=lambda r: r.rate)
        print(
            f"best fixed with no failed lookup: {safe.label} at {safe.rate:.0f}/s;"
            f" auto = {auto.rate / safe.rate:.2f}x that"
        )
    # A failed lookup is not throughput: compare successful lookups per second too.
    best_ok = max(fixed, key=lambda r: r.ok_rate)
    print(
        f"by successful lookups/s: best fixed {best_ok.label} at {best_ok.ok_rate:.0f}/s;"
        f" auto {auto.ok_rate:.0f}/s = {auto.ok_rate / best_ok.ok_rate:.2f}x that"
    )


if __name__ == "__main__":
    main()
