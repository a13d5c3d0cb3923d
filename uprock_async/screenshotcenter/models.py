"""ScreenshotCenter API payloads as msgspec structs.

Fields are named as on the wire (``Tracker.return_`` is ``return`` on the wire);
unknown fields are ignored; timestamps read as timezone-aware ``datetime`` with
``""``/``null`` read as ``None``, parsed on access from the wire string (see
:mod:`uprock_async._timestamps`); statuses are open-ended ``str``
(``processing``, ``finished``, ``error`` today). Every field but the ``id`` of a
screenshot, crawl or batch has a default, so the shorter shapes of list
endpoints decode with the same types, and a ``null`` in any field decodes to
``None`` where the field is optional, else to its default; a missing or null
``id`` is a :class:`~uprock_async.ResponseDecodeError`.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from .._timestamps import Timestamp, timestamps

__all__ = [
    "Account",
    "App",
    "Batch",
    "Crawl",
    "Envelope",
    "Screenshot",
    "Tracker",
    "TrackerReturn",
]

T = TypeVar("T")

_TERMINAL = frozenset({"finished", "error", "failed", "cancelled", "canceled"})


class _Status(msgspec.Struct, gc=False):
    """Mixin: helpers over an open-ended ``status`` string."""

    @property
    def is_finished(self) -> bool:
        """True when the work succeeded (``status == "finished"``)."""
        return getattr(self, "status", "") == "finished"

    @property
    def is_terminal(self) -> bool:
        """True once the status will not change any more (finished, error, cancelled)."""
        return str(getattr(self, "status", "")).lower() in _TERMINAL


@timestamps
class App(msgspec.Struct, gc=False):
    """An app run on a screenshot (OCR, extraction …) and its output."""

    id: int = 0
    app_id: str = ""
    type: str = ""
    name: str = ""
    status: str = ""
    filename: str = ""
    error: str = ""
    output_url: str = ""
    output_data: dict[str, Any] = {}
    updated_at: Timestamp | None = None


class TrackerReturn(msgspec.Struct, gc=False):
    """One value a tracker found in one shot."""

    found: int = 0
    shot: int = 0
    value: Any = None
    name: str = ""


class Tracker(msgspec.Struct, gc=False):
    """A value to extract from the page (a selector or script) and what it returned."""

    id: str = ""
    name: str = ""
    value: str = ""
    name_type: str = ""
    input: str = ""
    value_type: str = ""
    selector: str = ""
    return_: list[TrackerReturn] = msgspec.field(default_factory=list, name="return")


@timestamps
class Screenshot(_Status, gc=False):
    """A screenshot: the request's ~70 options, its status and its results."""

    id: int
    status: str = ""
    error: str | None = None
    url: str = ""
    country: str = ""
    final_url: str = ""
    final_urls: list[str] = []
    response_code: int | None = None
    apps: list[App] = []
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
    created_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    tag: list[str] = []
    steps: list[dict[str, Any]] = []
    trackers: list[Tracker] = []
    links: list[str] = []
    # Declared by the official SDK; the service sends them on screenshot/info.
    has_html: bool | None = None
    has_pdf: bool | None = None
    has_video: bool | None = None

    def __repr__(self) -> str:
        # ~70 fields: the full form of a 1000-screenshot crawl would print megabytes.
        return f"Screenshot(id={self.id!r}, status={self.status!r}, url={self.url!r})"


@timestamps
class Crawl(_Status, gc=False):
    """A site crawl: its progress counters and, from ``crawl/info``, every screenshot."""

    id: int
    status: str = ""
    domain: str = ""
    start_url: str = ""
    max_urls: int = 0
    total_discovered: int = 0
    processed: int = 0
    failed: int = 0
    error: str | None = None
    created_at: Timestamp | None = None
    started: int = 0
    finished: int = 0
    screenshots: list[Screenshot] = []

    def __repr__(self) -> str:
        return (
            f"Crawl(id={self.id!r}, status={self.status!r}, domain={self.domain!r}, "
            f"processed={self.processed}, failed={self.failed}, "
            f"screenshots={len(self.screenshots)})"
        )

    def _repr_html_(self) -> str:
        """Counters, screenshot status counts and the first screenshots (Jupyter)."""
        from .._html import crawl_html, view  # only notebooks pay for the HTML code

        return view(crawl_html, self)


class Batch(_Status, gc=False):
    """A batch of screenshots made from a list of URLs; ``zip_url`` once done."""

    id: int
    status: str = ""
    error: str | None = None
    count: int = 0
    processed: int = 0
    failed: int = 0
    zip_url: str | None = None


@timestamps
class Account(msgspec.Struct, gc=False, omit_defaults=True):
    """``account/info``. Every field is optional: the service may send only ``balance``
    (absent fields are ``None`` and are left out again when encoded)."""

    balance: int | float | None = None
    email: str | None = None
    name: str | None = None
    plan: str | None = None
    credits: int | float | None = None
    used: int | float | None = None
    created_at: Timestamp | None = None


class _ErrorDetails(msgspec.Struct, gc=False):
    request_id: str | None = None


class Envelope(msgspec.Struct, Generic[T], gc=False):
    """``{"success": true, "data": …}`` — or the error shape, with ``success: false``."""

    success: bool = True
    data: T | None = None
    error: str | None = None
    code: str | None = None
    details: _ErrorDetails | None = None
