"""Every exception uprock_async raises, and the map from a response to one of them.

::

    UprockAsyncError                      base of everything we raise
    ├── ConfigurationError                no API key, or a bad option (also a ValueError)
    ├── APIConnectionError                could not talk to the server (DNS, reset, TLS)
    │   │   .method .url
    │   └── APITimeoutError               no answer within the Timeout
    ├── APIStatusError                    server answered with an error
    │   │   .status_code .message .code .request_id .body(bytes) .method .url
    │   ├── BadRequestError       400 / 422 / "invalid request: …" / VALIDATION_ERROR
    │   ├── AuthenticationError   401 / INVALID_API_KEY
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404 / "not found: …"
    │   ├── RateLimitError        429  (.retry_after)
    │   └── ServerError           5xx
    ├── ResponseDecodeError               body is not the JSON we expect (.body, .status_code)
    └── WaitTimeoutError                  wait_for_* ran out of time (.last_status)

Both services' error bodies are understood: Uprock answers with a bare JSON
string (``"not found: job does not exist …"``) or ``{"error": "…"}``;
ScreenshotCenter with ``{"success": false, "error", "code", "details":
{"request_id"}}`` (sometimes with HTTP 200) or a validation body
``{"error", "code": "VALIDATION_ERROR", "fields"}``. HTML or empty bodies still
map by status. :func:`status_error` is pure: it takes bytes and returns an
exception, so it is tested without a server.

``method`` and ``url`` name the request that failed (the transport fills them
in): ``str(exc)`` starts with ``"GET /crawl/v1/jobs/<id>/detail: "``, so one
failure among thousands of concurrent requests says which one it was. ``url``
never carries credentials: no ``user:password@``, no fragment, and no query
string for a host other than the API's own (a pre-signed storage URL's query
is its signature). The API key is never in a URL: both services take it in a
header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec

from ._redact import Redact, excerpt, redact_bytes, redactor
from ._retry_after import parse_retry_after

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseDecodeError",
    "ServerError",
    "UprockAsyncError",
    "WaitTimeoutError",
    "excerpt",
    "fields_text",
    "is_overload",
    "redactor",
    "status_error",
]


class UprockAsyncError(Exception):
    """Base class of every exception raised by uprock_async."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only arguments, which default pickling cannot
        # replay; errors cross process boundaries in uprock_async.distributed.
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[UprockAsyncError], message: str, state: dict[str, Any]) -> Any:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


def _where(method: str | None, url: str | None) -> str:
    """``"GET /path?query: "`` for a message, or ``""`` when the request is unknown."""
    if not method and not url:
        return ""
    target = ""
    if url:
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return " ".join(part for part in (method, target) if part) + ": "


class ConfigurationError(UprockAsyncError, ValueError):
    """The client cannot be set up as asked: no API key (the message names the
    environment variable to set), or an option it cannot use.

    Also a :class:`ValueError`, so ``except ValueError`` around a client's
    construction keeps catching it.
    """


class APIConnectionError(UprockAsyncError):
    """The server could not be reached, or the connection broke mid-exchange.

    ``method`` and ``url`` name the request (``None`` when unknown); ``str(exc)``
    starts with them, ``message`` is what went wrong.
    """

    method: str | None = None
    url: str | None = None

    def __init__(self, message: str, *, method: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url

    def __str__(self) -> str:
        return _where(self.method, self.url) + self.message


class APITimeoutError(APIConnectionError):
    """No complete answer arrived within the configured :class:`~uprock_async.Timeout`."""


class APIStatusError(UprockAsyncError):
    """The server answered with an error.

    Attributes: ``status_code`` (HTTP status; 200 for an error envelope sent with
    200), ``message`` (the service's own text), ``code`` (the service's error code,
    e.g. ``"INVALID_API_KEY"``, when it sent one), ``request_id`` (quote it to the
    provider's support), ``body`` (the raw response bytes), ``fields``
    (per-field validation messages, when sent), ``method`` and ``url`` (the
    request that got this answer, ``None`` when unknown; ``str(exc)`` starts
    with them).
    """

    status_code: int
    code: str | None
    request_id: str | None
    body: bytes
    fields: dict[str, Any] | None
    # Class-level defaults: an error pickled by an older version has neither.
    method: str | None = None
    url: str | None = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: bytes = b"",
        fields: dict[str, Any] | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body
        self.fields = fields
        self.method = method
        self.url = url

    def __str__(self) -> str:
        parts = [f"{_where(self.method, self.url)}HTTP {self.status_code}: {self.message}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.fields:  # which argument is wrong, and why: the point of a validation error
            parts.append(f"fields: {fields_text(self.fields)}")
        return " ".join(parts)


class BadRequestError(APIStatusError):
    """400 / 422, an ``invalid request: …`` message or a ``VALIDATION_ERROR`` code."""


class AuthenticationError(APIStatusError):
    """401 or ``INVALID_API_KEY``: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not do this."""


class NotFoundError(APIStatusError):
    """404 or a ``not found: …`` message: no such job, crawl or screenshot (for this key)."""


class RateLimitError(APIStatusError):
    """429: too many requests. ``retry_after`` is the server's hint in seconds, if any."""

    retry_after: float | None

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the service failed; retried automatically for idempotent requests."""


class ResponseDecodeError(UprockAsyncError):
    """The body is not the JSON the endpoint documents.

    ``body`` holds the raw bytes, ``status_code`` the HTTP status; the message
    quotes only a short excerpt.
    """

    body: bytes
    status_code: int

    def __init__(self, message: str, *, body: bytes = b"", status_code: int = 0) -> None:
        super().__init__(message)
        self.body = body
        self.status_code = status_code


class WaitTimeoutError(UprockAsyncError):
    """A ``wait_for_*`` helper ran out of time; ``last_status`` is the last status seen."""

    last_status: str | None

    def __init__(self, message: str, *, last_status: str | None = None) -> None:
        super().__init__(message)
        self.last_status = last_status


# -- the map -----------------------------------------------------------------

_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    410: NotFoundError,  # gone: as absent as a 404 for the caller, and never coming back
    422: BadRequestError,
    429: RateLimitError,
}

# Uprock prefixes its messages with the status family.
_BY_PREFIX: tuple[tuple[str, type[APIStatusError]], ...] = (
    ("invalid request", BadRequestError),
    ("unauthorized", AuthenticationError),
    ("forbidden", PermissionDeniedError),
    ("not found", NotFoundError),
    ("internal server error", ServerError),
    ("rate limit", RateLimitError),
    ("too many requests", RateLimitError),
)

# ScreenshotCenter's codes; more specific than a generic 400 or a 200 envelope.
# fmt: off
_BY_CODE: dict[str, type[APIStatusError]] = {
    "VALIDATION_ERROR": BadRequestError, "INVALID_REQUEST": BadRequestError,
    "INVALID_API_KEY": AuthenticationError, "UNAUTHORIZED": AuthenticationError,
    "MISSING_API_KEY": AuthenticationError, "FORBIDDEN": PermissionDeniedError,
    "NOT_FOUND": NotFoundError, "RATE_LIMIT_EXCEEDED": RateLimitError,
    "RATE_LIMITED": RateLimitError, "TOO_MANY_REQUESTS": RateLimitError,
    "INTERNAL_ERROR": ServerError,
}

# What a message says for a status when the body says nothing.
_REASONS = {
    400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found",
    408: "request timeout", 409: "conflict", 410: "gone", 422: "unprocessable entity",
    429: "too many requests", 500: "internal server error", 502: "bad gateway",
    503: "service unavailable", 504: "gateway timeout",
}
# fmt: on


_OVERLOAD_STATUSES = frozenset({429, 503})


def is_overload(error: BaseException | None = None, status: int = 0) -> bool:
    """THE rule for "the service is overloaded", used by the transport and the
    concurrency layer alike: a 429 or 503 answer (``status``, or the status of
    ``error``), a :class:`RateLimitError`, or an :class:`APITimeoutError`."""
    if status in _OVERLOAD_STATUSES or isinstance(error, (RateLimitError, APITimeoutError)):
        return True
    return isinstance(error, APIStatusError) and error.status_code in _OVERLOAD_STATUSES


# (message, code, request_id, fields, retry_after) of an error body; None: not said.
_Said = tuple[str | None, str | None, str | None, dict[str, Any] | None, float | None]
_NOTHING: _Said = (None, None, None, None, None)


def _body_fields(body: bytes) -> _Said:
    """What an error body says, in any error body shape we know."""
    if body.lstrip()[:1] not in (b'"', b"{", b"["):
        return _NOTHING
    try:
        data = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return _NOTHING
    if isinstance(data, str):
        return data, None, None, None, None
    if not isinstance(data, dict):
        return _NOTHING
    message = data.get("error", data.get("message"))
    if isinstance(message, dict):  # {"error": {"message": ..., "code": ...}}
        inner = message
        message = inner.get("message")
        data = {**data, "code": data.get("code", inner.get("code"))}
    code = data.get("code")
    details = data.get("details")
    request_id = details.get("request_id") if isinstance(details, dict) else None
    request_id = request_id if request_id is not None else data.get("request_id")
    fields = data.get("fields")
    wait = data.get("retry_after")  # seconds: ScreenshotCenter's 429 (the JS SDK's fixture)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not abs(wait) < 2**1000:
        wait = None  # not a number, or NaN, or one no float holds
    return (
        message if isinstance(message, str) else None,
        code if isinstance(code, str) else None,
        str(request_id) if isinstance(request_id, (str, int)) else None,
        fields if isinstance(fields, dict) else None,
        None if wait is None else max(0.0, float(wait)),
    )


def fields_text(fields: Mapping[str, Any] | None) -> str:
    """Validation ``fields`` (name to a list of messages, as documented, or to one
    message) on one bounded line: ``url: URL is required; country: …``."""

    def line(item: Any, limit: int) -> str:  # white space and line breaks made one space
        text = " ".join(str(item).split())
        return text if len(text) <= limit else text[: limit - 1] + "\u2026"

    parts = []
    for name, value in (fields or {}).items():
        texts = [line(m, 200) for m in (value if isinstance(value, list) else [value])]
        parts.append(f"{line(name, 100)}: {', '.join(t for t in texts if t) or '-'}")
    return line("; ".join(parts), 500)


def _scrub_fields(fields: dict[str, Any], scrub: Redact) -> dict[str, Any]:
    """``fields`` with the key taken out of every name and message, same shape."""

    def clean(item: Any) -> Any:
        text = str(item)
        return item if scrub(text) == text else scrub(text)

    return {
        scrub(str(name)): [clean(m) for m in value] if isinstance(value, list) else clean(value)
        for name, value in fields.items()
    }


def _class_for(status: int, message: str | None, code: str | None) -> type[APIStatusError]:
    by_code = _BY_CODE.get(code.upper()) if code else None
    # An explicit code refines a generic 400 (ScreenshotCenter answers a bad key
    # with 400 + INVALID_API_KEY) and decides for a 2xx error envelope.
    if by_code is not None and (status == 400 or status < 300):
        return by_code
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if status >= 500:
        return ServerError
    if by_code is not None:
        return by_code
    if message:
        lowered = message.lstrip().lower()
        for prefix, prefixed in _BY_PREFIX:
            if lowered.startswith(prefix):
                return prefixed
    if 400 <= status < 500:
        return BadRequestError if status in (400, 405, 409, 413, 415) else APIStatusError
    return APIStatusError


def status_error(
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    redact: str | Redact | None = None,
    method: str | None = None,
    url: str | None = None,
) -> APIStatusError:
    """Build the exception for an error answer (any status, any body shape).

    ``redact`` is a secret (the API key), or a function that removes it, kept out
    of the message, code, request id and fields even if a server echoes it back.
    ``method`` and ``url`` name the request (already free of credentials).
    """
    scrub = (redactor(redact) if redact else None) if isinstance(redact, str) else redact
    message, code, request_id, fields, wait = _body_fields(body)
    if request_id is None and headers is not None:
        request_id = headers.get("X-Request-Id") or headers.get("x-request-id")
    cls = _class_for(status, message, code)
    if not message:
        reason = _REASONS.get(status, "error")
        # The excerpt redacts before it cuts: a key across the cut goes whole.
        message = f"{reason} (body: {excerpt(body, redact=scrub)})" if body.strip() else reason
    if scrub is not None:  # str(exc) shows all four: none may carry an echoed key
        message = scrub(message)
        code = scrub(code) if code else code
        request_id = scrub(request_id) if request_id else request_id
        fields = _scrub_fields(fields, scrub) if fields else fields
    error = cls(
        message,
        status_code=status,
        code=code,
        request_id=request_id,
        body=redact_bytes(body, scrub),
        fields=fields,
        method=method,
        url=url,
    )
    if isinstance(error, RateLimitError):  # the header wins over a body's "retry_after"
        header = parse_retry_after(headers.get("Retry-After")) if headers else None
        error.retry_after = wait if header is None else header
    return error
