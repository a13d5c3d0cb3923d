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

Contenders: ours (``uprock_async._codec.decode`` with the cached ``Decoder`` of
``Envelope[Crawl]`` / ``JobDetail``), ``msgspec.json.decode`` into plain Python
objects, stdlib ``json.loads``, pydantic v2 ``model_validate_json`` on equivalent
models (datetime fields, ``""`` → ``None``), and a bare msgspec Struct with
``str`` timestamps (the ceiling: no datetime parsing, no ``""`` handling; the
target is ours at >= 0.95x its speed).
Each figure is the best of ``--repeat`` timings, by ``time.perf_counter`` (wall)
and ``time.process_time`` (CPU; the verdicts use it, as it ignores preemption by
other processes on a busy machine).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, TypeVar

import msgspec

from benchmarks._pydantic_models import PEnvelope, PJobDetail
from uprock_async._codec import decode
from uprock_async.screenshotcenter.models import Crawl, Envelope
from uprock_async.testing._data import crawl_payload, job_detail_payload
from uprock_async.uprock.models import JobDetail

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


def job_bytes() -> bytes:
    """A job detail with 40 headers and 20 cookies (~17 KB)."""
    rng = random.Random(0)
    detail = job_detail_payload(rng, "f2bf9f8b-10ee-4c61-9633-4eacc3e8aac8", headers=40, cookies=20)
    return msgspec.json.encode(detail)


# -- the ceiling: our structs' fields, with plain str timestamps and no descriptors ------------


class BareApp(msgspec.Struct, gc=False):
    id: int = 0
    app_id: str = ""
    type: str = ""
    name: str = ""
    status: str = ""
    filename: str = ""
    error: str = ""
    output_url: str = ""
    output_data: dict[str, Any] = {}
    updated_at: str | None = None


class BareTrackerReturn(msgspec.Struct, gc=False):
    found: int = 0
    shot: int = 0
    value: Any = None
    name: str = ""


class BareTracker(msgspec.Struct, gc=False):
    id: str = ""
    name: str = ""
    value: str = ""
    name_type: str = ""
    input: str = ""
    value_type: str = ""
    selector: str = ""
    return_: list[BareTrackerReturn] = msgspec.field(default_factory=list, name="return")


class BareScreenshot(msgspec.Struct, gc=False):
    id: int
    status: str = ""
    error: str | None = None
    url: str = ""
    country: str = ""
    final_url: str = ""
    final_urls: list[str] = []
    response_code: int | None = None
    apps: list[BareApp] = []
    cost: int = 0
    size: str = ""
    cache: int = 0
    delay: int = 0
    screen_width: int = 0
    screen_height: int = 0
    priority: int = 0
    referer: str = ""
    post_data: str = ""
    cookie: str = ""
    script: str = ""
    header: str = ""
    html: bool = False
    pdf: bool = False
    pdf_background: bool = False
    pdf_one_page: bool = False
    pdf_landscape: bool = False
    pdf_format: str = ""
    pdf_margin: str = ""
    pdf_margin_top: str = ""
    pdf_margin_bottom: str = ""
    pdf_margin_left: str = ""
    pdf_margin_right: str = ""
    video: bool = False
    video_format: str = ""
    video_quality: int = 0
    video_speed: float = 0
    video_duration: int = 0
    video_fps: int = 0
    video_colors: int = 0
    video_scale: float = 0
    max_wait: int = 0
    hide_popups: bool = False
    hide_ads: bool = False
    dark: bool = False
    shots: int = 0
    shot_interval: int = 0
    strict_ssl: bool = False
    target: str = ""
    geo_enable: bool = False
    geo_latitude: float = 0
    geo_longitude: float = 0
    region: str | None = None
    language: str = ""
    timezone: str = ""
    device_name: str = ""
    device_scale: float = 0
    device_mobile: bool = False
    device_touch: bool = False
    device_landscape: bool = False
    browser: str = ""
    user_agent: str = ""
    created_at: str | None = None
    finished_at: str | None = None
    tag: list[str] = []
    steps: list[dict[str, Any]] = []
    trackers: list[BareTracker] = []
    links: list[str] = []
    has_html: bool | None = None
    has_pdf: bool | None = None
    has_video: bool | None = None


class BareCrawl(msgspec.Struct, gc=False):
    id: int
    status: str = ""
    domain: str = ""
    start_url: str = ""
    max_urls: int = 0
    total_discovered: int = 0
    processed: int = 0
    failed: int = 0
    error: str | None = None
    created_at: str | None = None
    started: int = 0
    finished: int = 0
    screenshots: list[BareScreenshot] = []


class BareEnvelope(msgspec.Struct, Generic[T], gc=False):
    success: bool = True
    data: T | None = None
    error: str | None = None
    code: str | None = None


class BareHeader(msgspec.Struct, gc=False):
    name: str = ""
    value: str = ""


class BareCookie(msgspec.Struct, gc=False):
    name: str = ""
    value: str = ""
    domain: str | None = None
    path: str | None = None
    expires: str | None = None
    max_age: int | None = None
    secure: bool | None = None
    httponly: bool | None = None
    samesite: str | None = None


class BareJob(msgspec.Struct, gc=False):
    job_id: str
    status: str = ""
    url: str | None = None
    method: str | None = None
    placement: dict[str, Any] = {}
    session_id: str | None = None
    submitted_at: str | None = None
    timeout_sec: int | None = None


class BareJobResult(msgspec.Struct, gc=False):
    id: str | None = None
    success: bool | None = None
    status_code: int | None = None
    created_at: str | None = None
    time_ms: int | None = None
    timestamp_ms: int | None = None
    size_bytes: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    tls_version: str | None = None
    tls_cipher_suite: str | None = None


class BareJobDetail(msgspec.Struct, gc=False):
    job: BareJob
    download_url: str | None = None
    request_headers: list[BareHeader] = []
    response_headers: list[BareHeader] = []
    request_cookies: list[BareCookie] = []
    response_cookies: list[BareCookie] = []
    result: BareJobResult | None = None


# -- pydantic v2 equivalents: benchmarks/_pydantic_models.py -------------------------------

# -- timing ----------------------------------------------------------------------------------

_crawl_decoder = msgspec.json.Decoder(Envelope[Crawl])
_detail_decoder = msgspec.json.Decoder(JobDetail)
_bare_crawl = msgspec.json.Decoder(BareEnvelope[BareCrawl])
_bare_detail = msgspec.json.Decoder(BareJobDetail)


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
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
