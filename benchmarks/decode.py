"""Decode speed: our typed structs against the usual alternatives, in one run.

    python benchmarks/decode.py [--repeat N]

Payloads (deterministic, ``random.Random(0)``): a ScreenshotCenter crawl info with
1000 screenshots (~2.4 MB), in three variants — as the service sends it, with
``""`` for "no time yet" (``Crawl.created_at``, ``apps[].updated_at``), both
compact (``"created_at":""``, as msgspec and the services encode) and spaced
(``"created_at": ""``, ``json.dumps``' default separators), and with only real
timestamps or ``null`` — and an Uprock job detail with 40 headers and 20 cookies.
Our timestamps are kept as the wire string and parsed on access
(``uprock_async._timestamps``), so all three take the same single decode.

Then issue 21, nulls at full speed, each against the clean crawl it was made
from: ``final_urls`` and ``cost`` null in each screenshot (the issue's case), and
Go-style nulls in every screenshot (``final_urls``, ``tag``, ``steps``,
``apps[].output_data`` and ``trackers[].return`` null, as Go sends an empty slice
or map, and ``cost``, ``delay`` null), also against the same crawl with ``[]``,
``{}`` and ``0`` there (the same values, so the null body has no less to
decode). Each null body is timed through ours (the twins,
``uprock_async._twins``) and through the walk alone (the path every null took
before), in interleaved rounds: the best-of ratio and the median of the
per-round ratios. The peak memory of one decode is measured with ``tracemalloc``.

Contenders: ours (``uprock_async._codec.decode`` with the cached ``Decoder`` of
``Envelope[Crawl]`` / ``JobDetail``), ``msgspec.json.decode`` into plain Python
objects, stdlib ``json.loads``, pydantic v2 ``model_validate_json`` on equivalent
models (datetime fields, ``""`` → ``None``), and a bare msgspec Struct with
``str`` timestamps (the ceiling, made from our models' fields and defaults: no
datetime parsing, no ``""`` handling; the target is ours at >= 0.95x its speed).
Each figure is the best of ``--repeat`` timings, by ``time.perf_counter`` (wall)
and ``time.process_time`` (CPU; the verdicts use it, as it ignores preemption by
other processes on a busy machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from types import UnionType
from typing import Annotated, Any, Generic, NamedTuple, TypeVar, Union, get_args, get_origin

import msgspec

from benchmarks._pydantic_models import PEnvelope, PJobDetail
from uprock_async import _codec
from uprock_async._codec import decode
from uprock_async.screenshotcenter.models import (
    App,
    Crawl,
    Envelope,
    Screenshot,
    Tracker,
    TrackerReturn,
)
from uprock_async.testing._data import crawl_payload, job_detail_payload
from uprock_async.uprock.models import Cookie, Header, Job, JobDetail, JobResult

T = TypeVar("T")

# -- payloads ----------------------------------------------------------------------------

_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36"
)


def crawl_bytes(*, empty_timestamps: bool, spaced: bool = False) -> bytes:
    """A 1000-screenshot crawl info envelope (~2.4 MB); ``spaced`` writes
    ``"key": value, `` as ``json.dumps`` does instead of compact JSON."""
    rng = random.Random(0)
    crawl = crawl_payload(rng, 4242, 1000, first_shot_id=90_000_000)
    for shot in crawl["screenshots"]:
        # What a real monitoring crawl carries beyond the generator's minimum.
        url = shot["url"]
        shot["user_agent"] = _UA
        shot["final_urls"] = [url.replace("https://", "http://"), url]
        shot["links"] += [f"{url}/section-{i}?ref=nav&utm_source=crawl" for i in range(6)]
        shot["steps"] = [
            {"action": "click", "selector": "#accept-cookies"},
            {"action": "wait", "ms": 500},
        ]
        shot["tag"] = ["monitoring", "weekly"]
        if not empty_timestamps:
            shot["apps"][0]["updated_at"] = shot["created_at"]
            if shot["finished_at"] == "":
                shot["finished_at"] = None
    if not empty_timestamps:
        crawl["created_at"] = "2026-02-01T10:29:58.123456789Z"
    envelope = {"success": True, "data": crawl}
    if spaced:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        assert (b'_at": ""' in body) is empty_timestamps
    else:
        body = msgspec.json.encode(envelope)
        assert (b'_at":""' in body) is empty_timestamps
    return body


_GO_LISTS = ("final_urls", "tag", "steps")
_GO_NUMBERS = ("cost", "delay")


def null_crawl_bytes(*, go: bool, null: bool) -> bytes:
    """The clean crawl with nulls in each screenshot: ``final_urls`` and ``cost``
    (issue 21's case), or with ``go`` every Go-style null (:data:`_GO_LISTS`,
    :data:`_GO_NUMBERS`, ``apps[].output_data``, ``trackers[].return``); without
    ``null``, the values a Go service would have sent as null: [], {}, 0."""
    envelope = msgspec.json.decode(crawl_bytes(empty_timestamps=False))
    lists, numbers = (_GO_LISTS, _GO_NUMBERS) if go else (("final_urls",), ("cost",))
    for shot in envelope["data"]["screenshots"]:
        shot.update({name: None if null else [] for name in lists})
        shot.update({name: None if null else 0 for name in numbers})
        if go:
            for app in shot["apps"]:
                app["output_data"] = None if null else {}
            for tracker in shot["trackers"]:
                tracker["return"] = None if null else []
    return msgspec.json.encode(envelope)


def job_bytes() -> bytes:
    """A job detail with 40 headers and 20 cookies (~17 KB)."""
    rng = random.Random(0)
    detail = job_detail_payload(rng, "f2bf9f8b-10ee-4c61-9633-4eacc3e8aac8", headers=40, cookies=20)
    return msgspec.json.encode(detail)


# -- the ceiling: our structs' fields, with plain str timestamps and no descriptors ------------


def _bare_type(annotation: Any, bare: dict[Any, Any]) -> Any:
    """``annotation`` with each model in it replaced by its bare struct."""
    if annotation in bare:
        return bare[annotation]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:  # a Timestamp: the wire str, no marker
        return _bare_type(args[0], bare)
    if origin is Union or origin is UnionType:
        return Union[tuple(_bare_type(arg, bare) for arg in args)]  # noqa: UP007
    return origin[tuple(_bare_type(arg, bare) for arg in args)] if args else annotation


def bare_structs(*models: type[msgspec.Struct]) -> dict[Any, Any]:
    """Each model (nested ones first) as a plain struct of the same fields and
    defaults: no timestamp descriptors, no methods, no properties."""
    bare: dict[Any, Any] = {}
    for model in models:
        spec = []
        for field in msgspec.structs.fields(model):
            if field.default_factory is not msgspec.NODEFAULT:
                default = msgspec.field(
                    default_factory=field.default_factory, name=field.encode_name
                )
            elif field.default is not msgspec.NODEFAULT:
                default = msgspec.field(default=field.default, name=field.encode_name)
            else:
                default = msgspec.field(name=field.encode_name)
            spec.append((field.name, _bare_type(field.type, bare), default))
        bare[model] = msgspec.defstruct(f"Bare{model.__name__}", spec, gc=False)
    return bare


BARE = bare_structs(
    App, TrackerReturn, Tracker, Screenshot, Crawl, Header, Cookie, Job, JobResult, JobDetail
)


class BareEnvelope(msgspec.Struct, Generic[T], gc=False):
    success: bool = True
    data: T | None = None
    error: str | None = None
    code: str | None = None


# -- pydantic v2 equivalents: benchmarks/_pydantic_models.py -------------------------------

# -- timing ----------------------------------------------------------------------------------

_crawl_decoder = msgspec.json.Decoder(Envelope[Crawl])
_detail_decoder = msgspec.json.Decoder(JobDetail)
_bare_envelope: Any = BareEnvelope
_bare_crawl = msgspec.json.Decoder(_bare_envelope[BARE[Crawl]])
_bare_detail = msgspec.json.Decoder(BARE[JobDetail])


class Timing(NamedTuple):
    """Best seconds per call: wall clock (``perf_counter``) and this process's CPU time."""

    wall: float
    cpu: float


def best_of(fns: dict[str, Callable[[], object]], repeat: int, number: int) -> dict[str, Timing]:
    """Best seconds per call of each contender over ``repeat`` rounds of ``number`` calls.

    The contenders take turns within each round, so a burst of load from other
    processes hits all of them alike. CPU time is reported beside wall time
    because on a shared machine the wall clock also counts time spent preempted.
    """
    wall = dict.fromkeys(fns, float("inf"))
    cpu = dict.fromkeys(fns, float("inf"))
    for fn in fns.values():
        fn()  # warm up (and fail early if a contender cannot decode the payload)
    gc_was_enabled = gc.isenabled()
    gc.disable()  # every contender pays the same, and the figures stop jumping
    try:
        for _ in range(repeat):
            for name, fn in fns.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                for _ in range(number):
                    fn()
                wall[name] = min(wall[name], (time.perf_counter() - started) / number)
                cpu[name] = min(cpu[name], (time.process_time() - started_cpu) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: Timing(wall[name], cpu[name]) for name in fns}


def contenders(body: bytes, kind: str) -> dict[str, Callable[[], object]]:
    if kind == "crawl":
        return {
            "ours (Envelope[Crawl])": lambda: decode(_crawl_decoder, body),
            "msgspec -> dict/list": lambda: msgspec.json.decode(body),
            "json.loads": lambda: json.loads(body),
            "pydantic v2": lambda: PEnvelope.model_validate_json(body),
            "bare struct, str times": lambda: _bare_crawl.decode(body),
        }
    return {
        "ours (JobDetail)": lambda: decode(_detail_decoder, body),
        "msgspec -> dict/list": lambda: msgspec.json.decode(body),
        "json.loads": lambda: json.loads(body),
        "pydantic v2": lambda: PJobDetail.model_validate_json(body),
        "bare struct, str times": lambda: _bare_detail.decode(body),
    }


def run(title: str, body: bytes, kind: str, repeat: int, number: int) -> dict[str, Timing]:
    timings = best_of(contenders(body, kind), repeat, number)
    ours = next(iter(timings.values()))
    print(f"\n{title} — {len(body) / 1e6:.2f} MB, best of {repeat} x {number}")
    print(
        f"{'decoder':<24}{'ms wall':>9}{'ms cpu':>9}{'MB/s':>7}"
        f"{'ours vs it (wall)':>19}{'(cpu)':>8}"
    )
    for name, t in timings.items():
        print(
            f"{name:<24}{t.wall * 1e3:>9.3f}{t.cpu * 1e3:>9.3f}{len(body) / t.cpu / 1e6:>7.0f}"
            f"{t.wall / ours.wall:>18.2f}x{t.cpu / ours.cpu:>7.2f}x"
        )
    return timings


def check(timings: dict[str, Timing], label: str) -> list[str]:
    """The issue's targets on the crawl info, as printable verdicts (on CPU time)."""
    ours = next(iter(timings.values())).cpu
    rows = [
        ("json.loads", 2.5, "faster than stdlib json"),
        ("pydantic v2", 3.5, "faster than pydantic"),
        ("bare struct, str times", 0.95, "of the bare struct's speed"),
    ]
    verdicts = []
    for name, target, what in rows:
        ratio = timings[name].cpu / ours
        mark = "ok  " if ratio >= target else "MISS"
        verdicts.append(f"{mark} {label}: {ratio:.2f}x {what} (target >= {target}x)")
    return verdicts


# -- issue 21: nulls at full speed ---------------------------------------------------------


def walk_only(body: bytes) -> object:
    """The path every null took before the twins: the plain decode, then the walk."""
    try:
        return _crawl_decoder.decode(body)
    except msgspec.ValidationError:
        return _codec._lenient(_crawl_decoder.type, body)


def cpu_rounds(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[float]]:
    """CPU seconds of one call of each contender in each of ``repeat`` interleaved rounds."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    gc.disable()
    try:
        for _ in range(repeat):
            for name, fn in fns.items():
                started = time.process_time()
                fn()
                times[name].append(time.process_time() - started)
    finally:
        gc.enable()
    return times


def peak_bytes(fn: Callable[[], object], repeat: int = 3) -> int:
    """The least peak of traced memory during one call (its result kept until measured)."""
    peaks = []
    for _ in range(repeat):
        gc.collect()
        tracemalloc.start()
        try:
            floor = tracemalloc.get_traced_memory()[0]
            value = fn()
            peaks.append(tracemalloc.get_traced_memory()[1] - floor)
        finally:
            tracemalloc.stop()
        del value
    return min(peaks)


def nulls(repeat: int) -> list[str]:
    """Issue 21's targets: nulls decode at >= 0.9x the clean body's speed, <= 1.5x its memory."""
    clean = crawl_bytes(empty_timestamps=False)
    go_nulls = null_crawl_bytes(go=True, null=True)
    cases = [  # (label, body with nulls, the body it is measured against)
        ("final_urls/cost null", null_crawl_bytes(go=False, null=True), clean),
        ("Go-style nulls", go_nulls, clean),
        ("Go nulls vs [] {} 0", go_nulls, null_crawl_bytes(go=True, null=False)),
    ]
    print(f"\nNulls at full speed (issue 21) — CPU ms, {repeat} interleaved rounds")
    print(
        f"{'nulls (vs clean body)':<22}{'clean':>7}{'ours':>7}{'walk':>7}"
        f"{'speed: best':>13}{'median':>8}{'walk':>7}{'peak mem: ours':>16}{'walk':>7}"
    )
    verdicts = []
    for label, nulled, plain in cases:
        expected = walk_only(nulled)  # the walk learns the nulls: the twins are built next
        assert decode(_crawl_decoder, nulled) == expected
        assert decode(_crawl_decoder, nulled) == expected
        fns: dict[str, Callable[[], object]] = {
            "clean": partial(decode, _crawl_decoder, plain),
            "ours": partial(decode, _crawl_decoder, nulled),
            "walk": partial(walk_only, nulled),
        }
        times = cpu_rounds(fns, repeat)
        best = {name: min(values) for name, values in times.items()}
        speed = best["clean"] / best["ours"]
        median = statistics.median(
            c / o for c, o in zip(times["clean"], times["ours"], strict=True)
        )
        memory = {name: peak_bytes(fn) for name, fn in fns.items()}
        mem_ours, mem_walk = memory["ours"] / memory["clean"], memory["walk"] / memory["clean"]
        print(
            f"{label:<22}{best['clean'] * 1e3:>7.2f}{best['ours'] * 1e3:>7.2f}"
            f"{best['walk'] * 1e3:>7.2f}{speed:>12.2f}x{median:>7.2f}x"
            f"{best['clean'] / best['walk']:>6.2f}x{mem_ours:>15.2f}x{mem_walk:>6.2f}x"
        )
        mark = "ok  " if speed >= 0.9 else "MISS"
        verdicts.append(
            f"{mark} {label}: {speed:.2f}x (median {median:.2f}x) the clean body's speed"
            " (target >= 0.9x)"
        )
        mark = "ok  " if mem_ours <= 1.5 else "MISS"
        verdicts.append(
            f"{mark} {label}: {mem_ours:.2f}x the clean body's peak memory (target <= 1.5x)"
        )
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timings per contender")
    args = parser.parse_args()

    with_empty = crawl_bytes(empty_timestamps=True)
    spaced = crawl_bytes(empty_timestamps=True, spaced=True)
    clean = crawl_bytes(empty_timestamps=False)
    detail = job_bytes()
    # Same answers from both spellings before timing anything.
    crawl = decode(_crawl_decoder, with_empty).data
    assert crawl is not None
    assert crawl.created_at is None
    assert len(crawl.screenshots) == 1000
    assert decode(_crawl_decoder, spaced).data == crawl

    verdicts: list[str] = []
    timings = run('Crawl info, "" timestamps, compact', with_empty, "crawl", args.repeat, 1)
    verdicts += check(timings, 'crawl, "" compact')
    timings = run('Crawl info, "" timestamps, spaced', spaced, "crawl", args.repeat, 1)
    verdicts += check(timings, 'crawl, "" spaced')
    timings = run("Crawl info, real timestamps / null", clean, "crawl", args.repeat, 1)
    verdicts += check(timings, "crawl, clean")
    run("Job detail, 40 headers / 20 cookies", detail, "job", args.repeat, 50)
    verdicts += nulls(args.repeat)
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
