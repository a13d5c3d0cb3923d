"""HTML views for Jupyter (``_repr_html_``): plain tables and inline SVG, no JavaScript.

Every value that came from a server or a caller goes through :func:`esc`, so a
header value or a URL can never inject markup into a notebook.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._stats import ClientStats
    from .screenshotcenter.models import Crawl
    from .uprock.models import JobDetail

__all__ = ["crawl_html", "esc", "job_detail_html", "stats_html", "table"]

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "padding:2px 8px;text-align:left;border-bottom:1px solid #ddd"
_HIST_BARS = 32


def esc(value: object) -> str:
    """``value`` as text that is safe inside HTML elements and attributes."""
    return escape("" if value is None else str(value), quote=True)


def table(rows: Iterable[tuple[object, object]], *, caption: str | None = None) -> str:
    """A two-column table of ``(name, value)`` rows, all escaped."""
    head = f"<caption style='text-align:left'><b>{esc(caption)}</b></caption>" if caption else ""
    body = "".join(
        f"<tr><th style='{_CELL}'>{esc(name)}</th><td style='{_CELL}'>{esc(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table style='{_STYLE}'>{head}{body}</table>"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def _histogram_svg(buckets: tuple[tuple[float, int], ...]) -> str:
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
    tallest = max(count for _, count in bars)
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


def stats_html(stats: ClientStats) -> str:
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


_SHOT_ROWS = 20  # screenshots shown before "… N more"


def _grid(header: tuple[str, ...], rows: Iterable[tuple[object, ...]]) -> str:
    head = "".join(f"<th style='{_CELL}'>{esc(name)}</th>" for name in header)
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{esc(value)}</td>" for value in row) + "</tr>"
        for row in rows
    )
    return f"<table style='{_STYLE}'><tr>{head}</tr>{body}</table>"


def crawl_html(crawl: Crawl) -> str:
    """A crawl: its counters, its screenshots' status counts, the first screenshots."""
    counts: dict[str, int] = {}
    for shot in crawl.screenshots:
        counts[shot.status] = counts.get(shot.status, 0) + 1
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
            ("created_at", crawl.created_at),
            ("screenshots", ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "-"),
            *([("error", crawl.error)] if crawl.error else []),
        ],
        caption=f"Crawl {crawl.id}",
    )
    shown = crawl.screenshots[:_SHOT_ROWS]
    rows = [(s.id, s.status, s.url, s.response_code, s.finished_at) for s in shown]
    grid = _grid(("id", "status", "url", "response_code", "finished_at"), rows) if rows else ""
    more = len(crawl.screenshots) - len(shown)
    tail = f"<div style='font-family:monospace;font-size:12px'>… {more} more</div>" if more else ""
    return summary + grid + tail


def job_detail_html(detail: JobDetail) -> str:
    """A job detail: the job, its status and timings; headers collapsed."""
    job, result = detail.job, detail.result
    rows: list[tuple[object, object]] = [
        ("job_id", job.job_id),
        ("status", job.status),
        ("url", job.url),
        ("method", job.method),
        ("submitted_at", job.submitted_at),
    ]
    if result is not None:
        rows += [
            ("status_code", result.status_code),
            ("time_ms", result.time_ms),
            ("size_bytes", result.size_bytes),
            ("created_at", result.created_at),
        ]
        if result.error_type or result.error_message:
            rows.append(("error", f"{result.error_type or ''}: {result.error_message or ''}"))
    html = table(rows, caption=f"JobDetail {job.job_id}")
    for name, headers in (
        ("request headers", detail.request_headers),
        ("response headers", detail.response_headers),
    ):
        if headers:
            inner = _grid(("name", "value"), ((h.name, h.value) for h in headers))
            html += (
                f"<details><summary style='font-family:monospace;font-size:12px'>"
                f"{esc(name)} ({len(headers)})</summary>{inner}</details>"
            )
    return html
