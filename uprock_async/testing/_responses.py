"""Response helpers shared by the services: JSON bodies and each service's error shape.

Uprock answers errors with a bare JSON string (``"not found: …"``);
ScreenshotCenter with ``{"success": false, "error", "code", "details"}``, or
``{"error", "code": "VALIDATION_ERROR", "fields"}`` for bad arguments, and
wraps successes in ``{"success": true, "data": …}`` (:func:`envelope`).
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
from aiohttp import web

__all__ = [
    "envelope",
    "json_response",
    "screenshotcenter_error",
    "uprock_error",
    "validation_error",
]

_UPROCK_MESSAGES = {
    400: "invalid request: the request is malformed",
    401: "unauthorized: invalid or missing API key",
    403: "forbidden: this key may not do that",
    404: "not found: job does not exist or you are not authorized to view it",
    429: "too many requests: slow down",
}
_SC_CODES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_API_KEY",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMIT_EXCEEDED",
}


def json_response(payload: Any, status: int = 200) -> web.Response:
    """``payload`` as JSON (``bytes`` are sent as they are)."""
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return web.Response(status=status, body=body, content_type="application/json")


def envelope(data: Any) -> web.Response:
    """A ScreenshotCenter success envelope."""
    return json_response({"success": True, "data": data})


def _error(status: int, payload: Any, headers: dict[str, str] | None) -> web.Response:
    return web.Response(
        status=status,
        body=msgspec.json.encode(payload),
        content_type="application/json",
        headers=headers,
    )


def uprock_error(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An Uprock error: a bare JSON string (``code`` is not part of this shape)."""
    payload = message or _UPROCK_MESSAGES.get(
        status,
        "internal server error: please try again later" if status >= 500 else f"error {status}",
    )
    return _error(status, payload, headers)


def screenshotcenter_error(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A ScreenshotCenter error: ``{"success": false, "error", "code", "details"}``."""
    payload = {
        "success": False,
        "error": message or f"HTTP {status}",
        "code": code or _SC_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR"),
        "details": {"request_id": "req_" + secrets.token_hex(6)},
    }
    return _error(status, payload, headers)


def validation_error(**fields: str) -> web.Response:
    """ScreenshotCenter's 400 for bad arguments (no ``success`` key)."""
    return json_response(
        {"error": "Request validation failed", "code": "VALIDATION_ERROR", "fields": fields},
        status=400,
    )
