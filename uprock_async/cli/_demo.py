"""``uprock-async demo``: the fan-out and a big decode against an embedded FakeServer.

Runs offline with no API key: the server lives in this process, on 127.0.0.1,
and the clients talk to it over real sockets, so the numbers include HTTP,
pooling, retries and decoding — everything but the network.
"""

from __future__ import annotations

import argparse
import functools
import time

from .._config import RetryPolicy
from .._stats import ClientStats
from ..concurrency import AdaptiveConcurrency
from ..screenshotcenter import ScreenshotCenterClient
from ..uprock import UprockClient
from ._common import add_concurrency, positive_int, progress_for_stderr, run_async

__all__ = ["add_arguments", "run"]

# Retries wait milliseconds in the demo; with --faults a lookup is retried up to
# 5 times, so one failing for good needs 6 faults in a row (~1e-7 at 6 %).
_QUICK_RETRY = RetryPolicy(
    max_retries=2, backoff_initial=0.005, backoff_max=0.05, max_retry_after=0.05
)
_FAULT_RETRY = RetryPolicy(
    max_retries=5, backoff_initial=0.001, backoff_max=0.02, max_retry_after=0.05
)


_UNIQUE_JOBS = 500


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def _row(name: str, value: object) -> str:
    return f"  {name:<26}{value}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--jobs``, ``--concurrency``, ``--screenshots`` and ``--faults``."""
    parser.add_argument("--jobs", type=positive_int, default=5000, help="lookups (default 5000)")
    add_concurrency(parser, default=64)
    parser.add_argument(
        "--screenshots",
        type=positive_int,
        default=1000,
        help="screenshots in the crawl to decode (default 1000)",
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="inject 503s with Retry-After and dropped connections; retries absorb them",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its table; 0 when every lookup succeeded."""
    return run_async(functools.partial(_demo, args))


async def _demo(args: argparse.Namespace) -> int:
    """The body of :func:`run`, on the event loop."""
    # Imported here, not at the top: the test server is needed by this command
    # only, and every other command (and --help) can skip loading it.
    from ..testing import FakeServer

    faults = bool(args.faults)
    retry = _FAULT_RETRY if faults else _QUICK_RETRY
    concurrency: int | AdaptiveConcurrency = (
        AdaptiveConcurrency() if args.concurrency == "auto" else args.concurrency
    )
    async with FakeServer(seed=0, record=False) as server:
        # Generating a realistic job costs as much as serving it: make at most
        # _UNIQUE_JOBS and look each up several times (every lookup is a full
        # request and a full decode all the same).
        unique = server.add_jobs(min(args.jobs, _UNIQUE_JOBS))
        ids = [unique[i % len(unique)] for i in range(args.jobs)]
        crawl_id = server.add_crawl(screenshots=args.screenshots)
        crawl_bytes = len(server.crawl_bytes(crawl_id) or b"")
        if faults:
            unavailable = server.inject(
                "*", status=503, times=None, probability=0.05, retry_after=0
            )
            dropped = server.inject("*", disconnect=True, times=None, probability=0.01)
        print(f"uprock-async demo: embedded FakeServer on {server.uprock_url} (no API key needed)")
        if faults:
            print("faults on: 5 % of requests answer 503 (Retry-After: 0), 1 % drop the connection")

        async with UprockClient(
            server.api_key, base_url=server.uprock_url, retry=retry, timeout=10.0
        ) as client:
            started = time.perf_counter()
            results = await client.job_details(
                ids,
                concurrency=concurrency,
                return_exceptions=True,
                progress=progress_for_stderr(),
            )
            lookup_time = time.perf_counter() - started
            stats = client.stats()

        async with ScreenshotCenterClient(
            server.api_key, base_url=server.screenshotcenter_url, retry=retry, timeout=30.0
        ) as sc:
            started = time.perf_counter()
            crawl = await sc.crawl_info(crawl_id)
            crawl_time = time.perf_counter() - started
            sc_stats = sc.stats()

    failed = sum(1 for result in results if isinstance(result, Exception))
    print(_table(args, stats, lookup_time, failed, concurrency))
    print(f"\ncrawl info ({len(crawl.screenshots)} screenshots)")
    print(_row("size", f"{crawl_bytes / 1e6:.2f} MB"))
    print(_row("fetched + decoded in", f"{crawl_time * 1000:.0f} ms"))
    print(_row("MB/s decoded", f"{crawl_bytes / 1e6 / max(crawl_time, 1e-9):.1f}"))
    print(_row("retries", sc_stats.retries))
    if faults:
        print("\ninjected faults")
        print(_row("503 answers", unavailable.hits))
        print(_row("dropped connections", dropped.hits))
        print(_row("faults absorbed", f"{unavailable.hits + dropped.hits} ({failed} failed)"))
    return 0 if failed == 0 else 1


def _table(
    args: argparse.Namespace,
    stats: ClientStats,
    elapsed: float,
    failed: int,
    concurrency: int | AdaptiveConcurrency,
) -> str:
    if isinstance(concurrency, AdaptiveConcurrency):
        shown = f"auto (ended at {concurrency.current})"
    else:
        shown = str(concurrency)
    elapsed = max(elapsed, 1e-9)
    rows = [
        f"\njob details ({args.jobs} lookups, concurrency {shown})",
        _row("time", f"{elapsed:.2f} s"),
        _row("lookups/s", f"{args.jobs / elapsed:.0f}"),
        _row("requests/s", f"{stats.requests / elapsed:.0f}"),
        _row("MB/s decoded", f"{stats.bytes_received / 1e6 / elapsed:.1f}"),
        _row("failed", failed),
        _row("errors", sum(stats.errors.values())),
        _row("retries", stats.retries),
        _row(
            "latency p50/p90/p99",
            f"{_ms(stats.latency_p50)} / {_ms(stats.latency_p90)} / {_ms(stats.latency_p99)} ms",
        ),
    ]
    return "\n".join(rows)
