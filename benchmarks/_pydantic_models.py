"""Pydantic v2 equivalents of our models: the baseline "what a user would write instead".

Shared by benchmarks/decode.py and benchmarks/fanout.py so both measure the same
models. Same fields and types as uprock_async's structs; ``""`` timestamps become
``None`` through a ``BeforeValidator``, as our decoder does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _empty_is_none(value: object) -> object:
    return None if value == "" else value


Timestamp = Annotated[datetime | None, BeforeValidator(_empty_is_none)]


class PApp(BaseModel):
    id: int = 0
    app_id: str = ""
    type: str = ""
    name: str = ""
    status: str = ""
    filename: str = ""
    error: str = ""
    output_url: str = ""
    output_data: dict[str, Any] = {}
    updated_at: Timestamp = None


class PTrackerReturn(BaseModel):
    found: int = 0
    shot: int = 0
    value: Any = None
    name: str = ""


class PTracker(BaseModel):
    id: str = ""
    name: str = ""
    value: str = ""
    name_type: str = ""
    input: str = ""
    value_type: str = ""
    selector: str = ""
    return_: list[PTrackerReturn] = Field(default_factory=list, alias="return")


class PScreenshot(BaseModel):
    id: int
    status: str = ""
    error: str = ""
    url: str = ""
    country: str = ""
    final_url: str = ""
    final_urls: list[str] = []
    response_code: int | None = None
    apps: list[PApp] = []
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
    region: str = ""
    language: str = ""
    timezone: str = ""
    device_name: str = ""
    device_scale: float = 0
    device_mobile: bool = False
    device_touch: bool = False
    device_landscape: bool = False
    browser: str = ""
    user_agent: str = ""
    created_at: Timestamp = None
    finished_at: Timestamp = None
    tag: list[str] = []
    steps: list[dict[str, Any]] = []
    trackers: list[PTracker] = []
    links: list[str] = []
    has_html: bool | None = None
    has_pdf: bool | None = None
    has_video: bool | None = None


class PCrawl(BaseModel):
    id: int
    status: str = ""
    domain: str = ""
    start_url: str = ""
    max_urls: int = 0
    total_discovered: int = 0
    processed: int = 0
    failed: int = 0
    error: str = ""
    created_at: Timestamp = None
    started: int = 0
    finished: int = 0
    screenshots: list[PScreenshot] = []


class PEnvelope(BaseModel):
    success: bool = True
    data: PCrawl | None = None
    error: str | None = None
    code: str | None = None


class PHeader(BaseModel):
    name: str
    value: str


class PCookie(BaseModel):
    name: str
    value: str
    domain: str | None = None
    path: str | None = None
    expires: str | None = None
    max_age: int | None = None
    secure: bool | None = None
    httponly: bool | None = None
    samesite: str | None = None


class PJob(BaseModel):
    job_id: str
    status: str
    url: str | None = None
    method: str | None = None
    placement: dict[str, Any] = {}
    session_id: str | None = None
    submitted_at: Timestamp = None
    timeout_sec: int | None = None


class PJobResult(BaseModel):
    id: str | None = None
    success: bool | None = None
    status_code: int | None = None
    created_at: Timestamp = None
    time_ms: int | None = None
    timestamp_ms: int | None = None
    size_bytes: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    tls_version: str | None = None
    tls_cipher_suite: str | None = None


class PJobDetail(BaseModel):
    model_config = ConfigDict(extra="ignore")

    job: PJob
    download_url: str | None = None
    request_headers: list[PHeader] = []
    response_headers: list[PHeader] = []
    request_cookies: list[PCookie] = []
    response_cookies: list[PCookie] = []
    result: PJobResult | None = None
