"""Response helpers shared by the services: JSON bodies and each service's error shape.

Uprock answers errors with a bare JSON string (``"not found: …"``) on the job
endpoints and ``{"error": "…"}`` on the session endpoints; ScreenshotCenter with
``{"success": false, "error", "code", "details"}``, ``{"error", "code":
"VALIDATION_ERROR", "fields"}`` for bad arguments or ``{"error", "code",
"retry_after"}`` for a 429, and wraps successes in ``{"success": true, "data":
…}`` (:func:`envelope`). Where an error's wording is not from an official page or
SDK, it is FakeServer's own.
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

# 401 and 404 are the reference pages' words; 400's and every other one are guesses
# in the pages' "<family>: <detail>" form (403 and 429 are on no page at all).
_UPROCK_MESSAGES = {
    400: "invalid request: the request is malformed",
    401: "unauthorized: invalid or missing API key",
    403: "forbidden: this key may not do that",
    404: "not found: job does not exist or you are not authorized to view it",
    429: "too many requests: slow down",
}
# VALIDATION_ERROR and INVALID_API_KEY are the endpoint pages', RATE_LIMIT_EXCEEDED the
# JS SDK fixture's; FORBIDDEN, NOT_FOUND, INTERNAL_ERROR and ERROR are guesses (the
# pages' 403/404/500 examples are copies of their 401).
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
    wrapped: bool = False,
) -> web.Response:
    """An Uprock error: a bare JSON string, as the job endpoints' reference pages show
    (``code`` is not part of this shape), or ``{"error": "..."}`` with ``wrapped``, as
    the session endpoints' pages show (createSession)."""
    text = message or _UPROCK_MESSAGES.get(
        status,
        "internal server error: please try again later" if status >= 500 else f"error {status}",
    )
    return _error(status, {"error": text} if wrapped else text, headers)


def screenshotcenter_error(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A ScreenshotCenter error: ``{"success": false, "error", "code", "details"}``.

    A 429 has the shape of the official JS SDK's fixture instead, ``{"error", "code":
    "RATE_LIMIT_EXCEEDED", "retry_after"}`` without ``success``; its ``retry_after``
    repeats a numeric ``Retry-After`` header and is left out without one (a 60 s
    default, as in the fixture, would stall every test that injects a 429).
    """
    if status == 429:
        payload: dict[str, Any] = {
            "error": message or "Rate limit exceeded",
            "code": code or _SC_CODES[429],
        }
        wait = (headers or {}).get("Retry-After", "")
        if wait.replace(".", "", 1).isdigit():
            payload["retry_after"] = float(wait) if "." in wait else int(wait)
        return _error(status, payload, headers)
    payload = {  # the endpoint pages' shape; "HTTP <status>" and the request id: guesses
        "success": False,
        "error": message or f"HTTP {status}",
        "code": code or _SC_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR"),
        "details": {"request_id": "req_" + secrets.token_hex(6)},
    }
    return _error(status, payload, headers)


def validation_error(**fields: str | list[str]) -> web.Response:
    """ScreenshotCenter's 400 for bad arguments, as its endpoint pages document it:
    no ``success`` key, and each ``fields`` value a list of messages (``{"url": ["URL
    is required"]}``; the official .NET SDK reads nothing else). The messages
    themselves are FakeServer's wording, not the service's."""
    listed = {name: [value] if isinstance(value, str) else value for name, value in fields.items()}
    return json_response(
        {"error": "Request validation failed", "code": "VALIDATION_ERROR", "fields": listed},
        status=400,
    )
