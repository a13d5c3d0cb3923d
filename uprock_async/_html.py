"""HTML views for Jupyter (``_repr_html_``): plain tables and inline SVG, no JavaScript.

Every value that came from a server or a caller goes through :func:`esc`, so a
header value or a URL can never inject markup into a notebook.

Views depend on what they show, never the other way round: this module imports
no model. Each view reads its object through a small Protocol (what
:class:`~uprock_async.ClientStats`, ``Crawl`` and ``JobDetail`` have), so the
models import this module (lazily, in ``_repr_html_``) and nothing here imports
them back.

A view never raises and stays small whatever it is handed: a timestamp the
server sent malformed shows as its wire string, lists are cut to their first
rows with a "… N more" line, one cell to ``_CELL_CHARS`` characters, and an
object no table fits shows as its escaped ``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape
from typing import Protocol, TypeVar

import msgspec

from ._errors import ResponseDecodeError

__all__ = ["crawl_html", "esc", "job_detail_html", "stats_html", "table", "view"]

T = TypeVar("T")

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #ddd"
_NOTE = "font-family:monospace;font-size:12px"
_HIST_BARS = 32
_SHOT_ROWS = 20  # screenshots shown before "… N more"
_HEADER_ROWS = 40  # headers of each kind shown before "… N more"
_CELL_CHARS = 1_000  # characters of one value shown (a header may be megabytes)


# -- what the views read ----------------------------------------------------------------


class _Stats(Protocol):
    @property
    def requests(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def responses(self) -> Mapping[int, int]: ...
    @property
    def errors(self) -> Mapping[str, int]: ...
    @property
    def bytes_received(self) -> int: ...
    @property
    def breaker_trips(self) -> int: ...
    @property
    def latency_p50(self) -> float | None: ...
    @property
    def latency_p90(self) -> float | None: ...
    @property
    def latency_p99(self) -> float | None: ...
    @property
    def latency_histogram(self) -> Sequence[tuple[float, int]]: ...


class _Shot(Protocol):  # a Screenshot; ``finished_at`` is read with :func:`_read`
    @property
    def id(self) -> object: ...
    @property
    def status(self) -> str: ...
    @property
    def url(self) -> object: ...
    @property
    def response_code(self) -> object: ...


class _Crawl(Protocol):  # a Crawl; ``created_at`` is read with :func:`_read`
    @property
    def id(self) -> object: ...
    @property
    def status(self) -> str: ...
    @property
    def domain(self) -> object: ...
    @property
    def start_url(self) -> object: ...
    @property
    def total_discovered(self) -> object: ...
    @property
    def processed(self) -> object: ...
    @property
    def failed(self) -> object: ...
    @property
    def error(self) -> object: ...
    @property
    def screenshots(self) -> Sequence[_Shot]: ...


class _Job(Protocol):  # ``submitted_at`` is read with :func:`_read`
    @property
    def job_id(self) -> object: ...
    @property
    def status(self) -> object: ...
    @property
    def url(self) -> object: ...
    @property
    def method(self) -> object: ...


class _Result(Protocol):  # ``created_at`` is read with :func:`_read`
    @property
    def status_code(self) -> object: ...
    @property
    def time_ms(self) -> object: ...
    @property
    def size_bytes(self) -> object: ...
    @property
    def error_type(self) -> object: ...
    @property
    def error_message(self) -> object: ...


class _Header(Protocol):
    @property
    def name(self) -> object: ...
    @property
    def value(self) -> object: ...


class _Detail(Protocol):
    @property
    def job(self) -> _Job: ...
    @property
    def result(self) -> _Result | None: ...
    @property
    def request_headers(self) -> Sequence[_Header]: ...
    @property
    def response_headers(self) -> Sequence[_Header]: ...


# -- building blocks ---------------------------------------------------------------------


def esc(value: object) -> str:
    """``value`` as text that is safe inside HTML elements and attributes."""
    return escape("" if value is None else str(value), quote=True)


def _cell(value: object) -> str:
    """One value for a table cell: escaped, at most ``_CELL_CHARS`` characters shown."""
    text = "" if value is None else str(value)
    if len(text) > _CELL_CHARS:
        text = f"{text[:_CELL_CHARS]}… ({len(text):,} characters)"
    return esc(text)


def _read(obj: object, name: str) -> object:
    """Attribute ``name`` of ``obj``; a timestamp that does not parse, as its wire string."""
    try:
        return getattr(obj, name)
    except ResponseDecodeError:
        if isinstance(obj, msgspec.Struct):
            return msgspec.structs.asdict(obj).get(name)  # the slot: what the server sent
        raise


def _more(count: int) -> str:
    return f"<div style='{_NOTE}'>… {count} more</div>" if count > 0 else ""


def view(render: Callable[[T], str], obj: T) -> str:
    """``render(obj)``, or, should it fail on an object built by hand, ``obj``'s
    escaped ``repr``: a notebook cell shows something rather than a traceback."""
    try:
        return render(obj)
    except Exception as exc:  # a view never raises
        try:
            text = repr(obj)
        except Exception:
            text = object.__repr__(obj)
        note = f"(no table: {type(exc).__name__})"
        return f"<pre>{_cell(text)}</pre><div style='{_NOTE}'>{esc(note)}</div>"


def table(rows: Iterable[tuple[object, object]], *, caption: str | None = None) -> str:
    """A two-column table of ``(name, value)`` rows, all escaped."""
    head = f"<caption style='text-align:left'><b>{esc(caption)}</b></caption>" if caption else ""
    body = "".join(
        f"<tr><th style='{_CELL}'>{esc(name)}</th><td style='{_CELL}'>{_cell(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table style='{_STYLE}'>{head}{body}</table>"


def _grid(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> str:
    head = "".join(f"<th style='{_CELL}'>{esc(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{_cell(value)}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<table style='{_STYLE}'><tr>{head}</tr>{body}</table>"


def _counts(values: Iterable[object]) -> str:
    found: dict[str, int] = {}
    for value in values:
        found[str(value)] = found.get(str(value), 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(found.items())) or "-"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _histogram_svg(buckets: Sequence[tuple[float, int]]) -> str:
    """Bars of the latency histogram on a log axis, merged into at most 32 bars."""
    if not buckets:
        return ""
    per_bar = max(1, -(-len(buckets) // _HIST_BARS))
    bars = [
        (
            buckets[min(i + per_bar, len(buckets)) - 1][0],
            sum(c for _, c in buckets[i : i + per_bar]),
        )
        for i in range(0, len(buckets), per_bar)
    ]
    tallest = max(count for _, count in bars) or 1
    width, height, bar = 320, 80, 320 / len(bars)
    rects = "".join(
        f"<rect x='{i * bar:.1f}' y='{height - count / tallest * height:.1f}' "
        f"width='{max(bar - 1, 1):.1f}' height='{count / tallest * height:.1f}' fill='#4c78a8'>"
        f"<title>≤ {esc(_ms(upper))}: {count}</title></rect>"
        for i, (upper, count) in enumerate(bars)
    )
    low, high = esc(_ms(buckets[0][0])), esc(_ms(buckets[-1][0]))
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 14}' "
        f"role='img' aria-label='latency histogram'>{rects}"
        f"<text x='0' y='{height + 12}' font-size='10'>{low}</text>"
        f"<text x='{width}' y='{height + 12}' font-size='10' text-anchor='end'>{high}</text></svg>"
    )


# -- the views -----------------------------------------------------------------------------


def stats_html(stats: _Stats) -> str:
    """:class:`ClientStats` as a table plus a latency histogram."""
    rows: list[tuple[object, object]] = [
        ("requests", stats.requests),
        ("retries", stats.retries),
        ("responses", ", ".join(f"{k}: {v}" for k, v in sorted(stats.responses.items())) or "-"),
        ("errors", ", ".join(f"{k}: {v}" for k, v in sorted(stats.errors.items())) or "-"),
        ("bytes received", f"{stats.bytes_received:,}"),
        ("breaker trips", stats.breaker_trips),
        ("latency p50", _ms(stats.latency_p50)),
        ("latency p90", _ms(stats.latency_p90)),
        ("latency p99", _ms(stats.latency_p99)),
    ]
    return table(rows, caption="ClientStats") + _histogram_svg(stats.latency_histogram)


def crawl_html(crawl: _Crawl) -> str:
    """A crawl: its counters, its screenshots' status counts, the first screenshots."""
    shots = crawl.screenshots
    summary = table(
        [
            ("id", crawl.id),
            ("status", crawl.status),
            ("domain", crawl.domain),
            ("start_url", crawl.start_url),
            (
                "discovered / processed / failed",
                f"{crawl.total_discovered} / {crawl.processed} / {crawl.failed}",
            ),
            ("created_at", _read(crawl, "created_at")),
            ("screenshots", _counts(shot.status for shot in shots)),
            *([("error", crawl.error)] if crawl.error else []),
        ],
        caption=f"Crawl {crawl.id}",
    )
    shown = shots[:_SHOT_ROWS]
    rows = [(s.id, s.status, s.url, s.response_code, _read(s, "finished_at")) for s in shown]
    grid = _grid(("id", "status", "url", "response_code", "finished_at"), rows) if rows else ""
    return summary + grid + _more(len(shots) - len(shown))


def job_detail_html(detail: _Detail) -> str:
    """A job detail: the job, its status and timings; the first headers, collapsed."""
    job, result = detail.job, detail.result
    rows: list[tuple[object, object]] = [
        ("job_id", job.job_id),
        ("status", job.status),
        ("url", job.url),
        ("method", job.method),
        ("submitted_at", _read(job, "submitted_at")),
    ]
    if result is not None:
        rows += [
            ("status_code", result.status_code),
            ("time_ms", result.time_ms),
            ("size_bytes", result.size_bytes),
            ("created_at", _read(result, "created_at")),
        ]
        if result.error_type or result.error_message:
            rows.append(("error", f"{result.error_type or ''}: {result.error_message or ''}"))
    html = table(rows, caption=f"JobDetail {job.job_id}")
    for name, headers in (
        ("request headers", detail.request_headers),
        ("response headers", detail.response_headers),
    ):
        if headers:
            shown = headers[:_HEADER_ROWS]
            inner = _grid(("name", "value"), ((h.name, h.value) for h in shown))
            html += (
                f"<details><summary style='{_NOTE}'>{esc(name)} ({len(headers)})</summary>"
                f"{inner}{_more(len(headers) - len(shown))}</details>"
            )
    return html
