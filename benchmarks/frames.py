"""Job details to a table: ``uprock_async.frames.to_arrow`` against ``pandas.json_normalize``.

    python benchmarks/frames.py [--details N] [--headers H] [--cookies C] [--repeat R]

Input: ``--details`` job details (default 100,000), decoded with msgspec into
``JobDetail`` from ``job_detail_payload`` bodies (``random.Random(0)``; 1,000
distinct bodies, each decoded many times, so every detail is its own object),
``--headers``/``--cookies`` per detail (default 40 and 20: ~17 KB, as in
``benchmarks/decode.py``).

Contenders, each in a fresh interpreter (so one's garbage and allocator state
never weigh on the other):

* ``to_arrow(details)``: a ``pyarrow.Table`` with dotted columns, list<struct>
  headers and cookies, UTC timestamps;
* ``to_pandas(details)`` and ``to_polars(details)``: the same table as a pandas
  or polars DataFrame;
* ``pandas.json_normalize(msgspec.to_builtins(details))``: the usual way, which
  flattens the nested objects but leaves headers and cookies as Python lists of
  dicts and timestamps as strings;
* for reference, ``msgspec.json.encode(details)``: one pass of msgspec's C
  encoder over the same objects, a floor for anything that reads every header
  and cookie of every detail (it copies each string once, as Arrow must).

Figures: best of ``--repeat`` calls, wall clock (``perf_counter``) and CPU
(``process_time``: the verdict uses it, as it ignores preemption on a busy
machine), and the peak memory the first call added: the process's peak RSS
(``VmHWM``, reset through ``/proc/self/clear_refs`` just before the call) minus
its RSS before it. RSS counts Arrow's allocator, which ``tracemalloc`` does not see.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from uprock_async.testing._data import job_detail_payload
from uprock_async.uprock.models import JobDetail

_DISTINCT = 1000  # bodies generated; the rest are decoded again from these
_SPEED_TARGET = 2.5  # to_arrow at least this many times as fast as json_normalize (cpu)
_FRAME_TARGET = 1.2  # to_pandas and to_polars at most this many times to_arrow's cpu


def details(n: int, headers: int, cookies: int) -> list[JobDetail]:
    """``n`` job details, each decoded from JSON on its own."""
    rng = random.Random(0)
    bodies = [
        msgspec.json.encode(
            job_detail_payload(
                rng, str(uuid.UUID(int=rng.getrandbits(128))), headers=headers, cookies=cookies
            )
        )
        for _ in range(min(n, _DISTINCT))
    ]
    decoder = msgspec.json.Decoder(JobDetail)
    return [decoder.decode(bodies[i % len(bodies)]) for i in range(n)]


def _status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak RSS (Linux); ``False`` when the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(which: str, n: int, headers: int, cookies: int, repeat: int) -> dict[str, Any]:
    """One contender in this process: best wall/CPU seconds, first call's added peak MB."""
    import pandas

    from uprock_async.frames import to_arrow, to_pandas, to_polars

    if which == "to_polars":  # imported before the measure, as pandas is for every contender
        import polars  # noqa: F401

    items = details(n, headers, cookies)
    run: Callable[[], Any] = {
        "to_arrow": lambda: to_arrow(items),
        "to_pandas": lambda: to_pandas(items),
        "to_polars": lambda: to_polars(items),
        "json_normalize": lambda: pandas.json_normalize(msgspec.to_builtins(items)),
        "encode": lambda: msgspec.json.encode(items),
    }[which]
    gc.collect()
    before = _status_kib("VmRSS")
    exact = _reset_peak() and before is not None
    if not exact:  # the lifetime peak: an upper bound that may include setup
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall = cpu = float("inf")
    peak_mb = 0.0
    shape = ""
    for attempt in range(repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - started_cpu)
        if attempt == 0:
            peak = _status_kib("VmHWM") if exact else None
            if peak is None:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            peak_mb = (peak - (before or 0)) / 1024
        if hasattr(result, "columns"):
            shape = f"{len(result)}x{len(result.columns)}"  # a table or a DataFrame
        del result
        gc.collect()
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": peak_mb,
        "exact_peak": exact,
        "shape": shape,
    }


def in_subprocess(which: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        which,
        "--details",
        str(args.details),
        "--headers",
        str(args.headers),
        "--cookies",
        str(args.cookies),
        "--repeat",
        str(args.repeat),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--details", type=int, default=100_000)
    parser.add_argument("--headers", type=int, default=40, help="headers per detail")
    parser.add_argument("--cookies", type=int, default=20, help="cookies per detail")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per contender")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(
            json.dumps(measure(args.child, args.details, args.headers, args.cookies, args.repeat))
        )
        return

    print(
        f"{args.details:,} job details, {args.headers} headers and {args.cookies} cookies each;"
        f" best of {args.repeat}, each contender in its own process"
    )
    labels = {
        "json_normalize": "pandas.json_normalize(msgspec.to_builtins())",
        "to_arrow": "uprock_async.frames.to_arrow()",
        "to_pandas": "uprock_async.frames.to_pandas()",
        "to_polars": "uprock_async.frames.to_polars()",
        "encode": "(reference) msgspec.json.encode()",
    }
    results = {which: in_subprocess(which, args) for which in labels}
    print(f"{'':<44}{'s wall':>8}{'s cpu':>8}{'peak MB':>9}{'shape':>14}")
    for which, r in results.items():
        print(
            f"{labels[which]:<44}{r['wall']:>8.2f}{r['cpu']:>8.2f}"
            f"{r['peak_mb']:>9.0f}{r['shape']:>14}"
        )
    base, ours = results["json_normalize"], results["to_arrow"]
    speed = base["cpu"] / ours["cpu"]
    memory = base["peak_mb"] / max(ours["peak_mb"], 1.0)
    print(
        f"\nto_arrow vs json_normalize: {speed:.2f}x faster (cpu), "
        f"{base['wall'] / ours['wall']:.2f}x (wall), {memory:.2f}x less peak memory"
    )
    if not (base["exact_peak"] and ours["exact_peak"]):
        print("(peak memory from ru_maxrss: includes building the input)")
    floor = results["encode"]["cpu"]
    print(
        f"json_normalize / {_SPEED_TARGET:g} = {base['cpu'] / _SPEED_TARGET:.2f} s cpu; "
        f"msgspec's C encoder alone walks the same objects in {floor:.2f} s"
    )
    mark = "ok  " if speed >= _SPEED_TARGET else "MISS"
    print(f"{mark} speed: {speed:.2f}x (target >= {_SPEED_TARGET}x)")
    for which in ("to_pandas", "to_polars"):
        slower = results[which]["cpu"] / ours["cpu"]
        mark = "ok  " if slower <= _FRAME_TARGET else "MISS"
        print(f"{mark} {which}: {slower:.2f}x to_arrow's cpu (target <= {_FRAME_TARGET}x)")
    for which in ("to_arrow", "to_pandas", "to_polars"):
        peak = results[which]["peak_mb"]
        mark = "ok  " if peak <= base["peak_mb"] else "MISS"
        print(
            f"{mark} peak memory of {which}: {peak:.0f} MB vs {base['peak_mb']:.0f} MB"
            " (target: no more)"
        )


if __name__ == "__main__":
    main()
