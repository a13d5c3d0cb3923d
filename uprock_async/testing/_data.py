"""Deterministic, realistic payloads for FakeServer (same seed, same bytes).

Pure functions of a seeded RNG or of their arguments; the services keep the state.
The shapes are the seed pages' (a job detail, a crawl and its screenshots) and
the official ScreenshotCenter SDKs' (``has_*``); the values in them are
generated, and the contents of downloads and artifacts are made up (see each).
"""

from __future__ import annotations

import hashlib
import io
import random
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = [
    "artifact_bytes",
    "batch_zip",
    "crawl_payload",
    "job_detail_payload",
    "job_payload",
    "screenshot_payload",
]

_EPOCH = datetime(2026, 2, 17, 11, 38, 58, tzinfo=timezone.utc)
_HEADER_NAMES = [
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Cache-Control",
    "Connection",
    "Content-Type",
    "Content-Length",
    "Date",
    "ETag",
    "Expires",
    "Last-Modified",
    "Server",
    "Strict-Transport-Security",
    "Vary",
    "Via",
    "X-Cache",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-Powered-By",
    "X-Request-Id",
    "Age",
    "Alt-Svc",
    "CF-Ray",
    "Content-Security-Policy",
    "Referrer-Policy",
    "Permissions-Policy",
    "Link",
    "Access-Control-Allow-Origin",
    "Timing-Allow-Origin",
    "Report-To",
    "NEL",
    "X-XSS-Protection",
    "X-Amz-Cf-Id",
    "X-Amz-Cf-Pop",
    "Server-Timing",
    "Pragma",
    "Upgrade-Insecure-Requests",
    "User-Agent",
    "Sec-Fetch-Mode",
    "Sec-Fetch-Site",
]


def _ts(rng: random.Random, base: datetime = _EPOCH) -> str:
    """An RFC 3339 timestamp with nanoseconds, as the Uprock API sends them."""
    moment = base + timedelta(seconds=rng.randint(0, 86400 * 30))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randint(0, 999_999_999):09d}Z"


_ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789"
_TOKEN_TABLE = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))


def _token(rng: random.Random, n: int) -> str:
    # Random bytes mapped through a table, in C: a per-character choice() loop
    # made add_jobs(20_000) (the soak run) take minutes.
    return rng.randbytes(n).translate(_TOKEN_TABLE).decode("ascii")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def job_payload(rng: random.Random, job_id: str, status: str = "completed") -> dict[str, Any]:
    """The ``job`` object of the seed (and of ``GET /crawl/v1/status/{id}``)."""
    return {
        "job_id": job_id,
        "method": "GET",
        "placement": {"country": rng.choice(["US", "DE", "FR", "JP", "BR"])},
        "session_id": _uuid(rng),
        "status": status,
        "submitted_at": _ts(rng),
        "timeout_sec": 30,
        "url": f"https://example.com/{_token(rng, 8)}/{_token(rng, 12)}",
    }


def _cookie(rng: random.Random) -> dict[str, Any]:
    return {
        "domain": rng.choice([".example.com", "example.com", "www.example.com"]),
        "expires": "Wed, 17 Feb 2027 11:38:58 GMT",
        "httponly": rng.random() < 0.5,
        "max_age": rng.choice([0, 3600, 86400, 31536000]),
        "name": "c_" + _token(rng, 6),
        "path": "/",
        "samesite": rng.choice(["Lax", "Strict", "None"]),
        "secure": True,
        "value": _token(rng, 180),
    }


def _headers(rng: random.Random, n: int) -> list[dict[str, str]]:
    return [
        {"name": _HEADER_NAMES[i % len(_HEADER_NAMES)], "value": _token(rng, rng.randint(20, 260))}
        for i in range(n)
    ]


def job_detail_payload(
    rng: random.Random,
    job_id: str,
    *,
    headers: int = 40,
    cookies: int = 20,
    parse_cookies: bool = True,
    status: str = "completed",
    base_url: str = "",
) -> dict[str, Any]:
    """A job detail like the seed, with ``headers`` headers and ``cookies`` cookies per side
    (about 17 KB with the defaults)."""
    request_cookies = [_cookie(rng) for _ in range(cookies // 4)]
    response_cookies = [_cookie(rng) for _ in range(cookies - cookies // 4)]
    return {
        "download_url": f"{base_url}/crawl/v1/jobs/{job_id}/download",
        "job": job_payload(rng, job_id, status),
        "request_cookies": request_cookies if parse_cookies else [],
        "request_headers": _headers(rng, headers // 4),
        "response_cookies": response_cookies if parse_cookies else [],
        "response_headers": _headers(rng, headers - headers // 4),
        "result": {
            "created_at": _ts(rng),
            "error_message": "",
            "error_type": "",
            "id": _uuid(rng),
            "size_bytes": rng.randint(1000, 2_000_000),
            "status_code": 200,
            "success": True,
            "time_ms": rng.randint(50, 30_000),
            "timestamp_ms": 1771328337931 + rng.randint(0, 10**9),
            "tls_cipher_suite": "TLS_AES_128_GCM_SHA256",
            "tls_version": "TLSv1.3",
        },
    }


def screenshot_payload(
    rng: random.Random, shot_id: int, url: str, status: str = "finished"
) -> dict[str, Any]:
    """A screenshot with the seed's ~70 fields."""
    finished = status == "finished"
    return {
        "id": shot_id,
        "status": status,
        "error": "" if status != "error" else "Request timeout",
        "url": url,
        "country": "us",
        "final_url": url,
        "final_urls": [url],
        "response_code": 200 if finished else 0,
        "apps": [
            {
                "id": 0,
                "app_id": "",
                "type": "",
                "name": "",
                "status": "pending",
                "filename": "",
                "error": "",
                "output_url": "",
                "output_data": {},
                "updated_at": "",
            }
        ],
        "cost": 1,
        "size": "screen",
        "cache": 86400,
        "delay": 5,
        "screen_width": 1024,
        "screen_height": 1280,
        "priority": 2,
        "referer": "",
        "post_data": "",
        "cookie": "",
        "script": "",
        "header": "",
        "html": True,
        "pdf": False,
        "pdf_background": False,
        "pdf_one_page": False,
        "pdf_landscape": False,
        "pdf_format": "a4",
        "pdf_margin": "20px",
        "pdf_margin_top": "20px",
        "pdf_margin_bottom": "20px",
        "pdf_margin_left": "20px",
        "pdf_margin_right": "20px",
        "video": False,
        "video_format": "mp4",
        "video_quality": 0,
        "video_speed": 0,
        "video_duration": 0,
        "video_fps": 0,
        "video_colors": 0,
        "video_scale": 0,
        "max_wait": 0,
        "hide_popups": False,
        "hide_ads": False,
        "dark": False,
        "shots": 1,
        "shot_interval": 0,
        "strict_ssl": False,
        "target": "",
        "geo_enable": False,
        "geo_latitude": 0,
        "geo_longitude": 0,
        "region": "",
        "language": "",
        "timezone": "",
        "device_name": "",
        "device_scale": 0,
        "device_mobile": False,
        "device_touch": False,
        "device_landscape": False,
        "browser": "chrome",
        "user_agent": "",
        "created_at": _ts(rng, datetime(2026, 2, 1, 10, 30, tzinfo=timezone.utc)),
        "finished_at": _ts(rng, datetime(2026, 2, 1, 10, 31, tzinfo=timezone.utc))
        if finished
        else "",
        "tag": [""],
        "steps": [{}],
        "trackers": [
            {
                "id": "test",
                "name": "page title",
                "value": "document.title",
                "name_type": "string",
                "input": "",
                "value_type": "string",
                "selector": "",
                "return": [
                    {"found": 1, "shot": 1, "value": f"Page {shot_id}", "name": "page title"}
                ],
            }
        ],
        "links": [f"https://{url.split('/')[2]}/{_token(rng, 8)}" for _ in range(3)],
        "has_html": True,
        "has_pdf": False,
        "has_video": False,
    }


def crawl_payload(
    rng: random.Random,
    crawl_id: int,
    screenshots: int,
    *,
    first_shot_id: int,
    status: str = "finished",
    domain: str = "example.com",
) -> dict[str, Any]:
    """A crawl like the seed with ``screenshots`` screenshots (~2.4 KB each)."""
    shots = []
    for i in range(screenshots):
        shot_status = "error" if i % 50 == 49 else "finished"
        shots.append(
            screenshot_payload(
                rng,
                first_shot_id + i,
                f"https://{domain}/page/{i}",
                shot_status,
            )
        )
    failed = sum(1 for s in shots if s["status"] == "error")
    return {
        "id": crawl_id,
        "status": status,
        "domain": domain,
        "start_url": f"https://{domain}",
        "max_urls": max(screenshots, 1),
        "total_discovered": screenshots,
        "processed": screenshots - failed,
        "failed": failed,
        "error": "",
        "created_at": "",
        "started": 0,
        "finished": 0,
        "screenshots": shots,
    }


_MAGIC = {
    "image": b"\x89PNG\r\n\x1a\n",
    "html": b"<!doctype html><html><body>",
    "pdf": b"%PDF-1.7\n",
    "video": b"\x1aE\xdf\xa3",
}
_ZIP_TIME = (2026, 2, 1, 0, 0, 0)  # fixed, so the same batch zips to the same bytes


def artifact_bytes(shot_id: int, kind: str, options: dict[str, str], size: int) -> bytes:
    """The deterministic content of one ScreenshotCenter artifact (``kind``: image,
    html, pdf or video): a file-type magic, then filler (not a real image or page)."""
    key = f"{shot_id}:{kind}:{sorted(options.items())}".encode()
    block = hashlib.sha256(key).digest() * 64  # 2 KiB
    magic = _MAGIC[kind]
    body = magic + block * (max(size - len(magic), 0) // len(block) + 1)
    return body[: max(size, len(magic))]


def batch_zip(urls: list[str], batch_id: int, size: int) -> bytes:
    """A ScreenshotCenter batch download: its ``urls.txt`` and one image per URL.

    A guess: no official page or SDK shows what the zip holds or how its files
    are named."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("urls.txt", _ZIP_TIME), "\n".join(urls) + "\n")
        for i in range(len(urls)):
            image = artifact_bytes(batch_id * 100_000 + i, "image", {}, size)
            zf.writestr(zipfile.ZipInfo(f"{i + 1:05d}.png", _ZIP_TIME), image)
    return buf.getvalue()
