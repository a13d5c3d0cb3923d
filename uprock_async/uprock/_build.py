"""The pure half of the Uprock endpoints: request bodies built from checked arguments
(the rules are :mod:`uprock_async._validate`'s), and the shapes the answers are read
with (:mod:`uprock_async._codec`), including the batch status answer turned into
per-id errors. No I/O here, so every rule is unit-tested without a server.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgspec

from .. import _validate
from .._codec import Either, Hooks, Plain, decode, json_body
from .._errors import (
    APIStatusError,
    BadRequestError,
    NotFoundError,
    ResponseDecodeError,
    UprockAsyncError,
    excerpt,
)
from .._redact import redact_bytes
from .models import BatchStatusResponse, Cookie, CrawlSession, Job, JobDetail

__all__ = [
    "BATCH_LIMIT",
    "DETAIL",
    "JOB",
    "JOB_METHODS",
    "SESSION",
    "STORAGE_TYPES",
    "batch_shape",
    "create_job_body",
    "decode_job",
    "decode_session",
    "merge_batch",
    "session_body",
]

#: ``POST /crawl/v1/new`` accepts these ``method`` values (SERVICES.md).
JOB_METHODS = frozenset(
    {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "SOLANA_JSON_RPC", "CRAWL_FULL_PAGE"}
)
STORAGE_TYPES = frozenset({"local", "s3"})
#: The service takes at most this many ids per batch status request.
BATCH_LIMIT = 1000
MAX_SESSION_SECONDS = 3600

Redact = Callable[[str], str] | None  # scrubs the API key from a message

# A header name is an RFC 9110 token; values must not smuggle a line break.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_batch_decoder = msgspec.json.Decoder(BatchStatusResponse)
_detail_decoder = msgspec.json.Decoder(JobDetail)

#: ``GET /crawl/v1/jobs/{id}/detail``.
DETAIL = Plain(_detail_decoder, "job detail")
#: A job, bare or as ``{"job": {...}}``.
JOB = Either(msgspec.json.Decoder(Job), "job", "job")
#: A crawl session, bare or as ``{"session": {...}}``.
SESSION = Either(msgspec.json.Decoder(CrawlSession), "session", "crawl session")


# -- create_job ------------------------------------------------------------------


def _method(method: object) -> str:
    if not isinstance(method, str):
        raise TypeError(f"method must be a str, got {type(method).__name__}")
    upper = method.upper()
    if upper not in JOB_METHODS:
        raise ValueError(f"method must be one of {', '.join(sorted(JOB_METHODS))}; got {method!r}")
    return upper


def _headers(headers: object) -> dict[str, list[str]]:
    """``{name: [values]}`` from ``{name: value}`` or ``{name: [values]}``."""
    if not isinstance(headers, Mapping):
        raise TypeError(
            f"headers must be a mapping of name to values, got {type(headers).__name__}"
        )
    out: dict[str, list[str]] = {}
    for name, values in headers.items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        items = [values] if isinstance(values, str) else values
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise TypeError(f"header {name!r} must be a str or a list of str, got {values!r}")
        for value in items:
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name!r} has a line break in its value")
        out.setdefault(name, []).extend(items)
    return out


def _body(body: object) -> str:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"body must be bytes or str, got {type(body).__name__}")
    return base64.b64encode(bytes(body)).decode("ascii")


def _cookies(cookies: object) -> list[dict[str, Any]]:
    """Cookie objects as the service takes them (no ``null`` fields)."""
    if isinstance(cookies, (str, bytes, Mapping)) or not isinstance(cookies, Iterable):
        raise TypeError("cookies must be a list of Cookie structs or dicts")
    out = []
    for cookie in cookies:
        if isinstance(cookie, Mapping):
            try:
                cookie = msgspec.convert(dict(cookie), Cookie)
            except msgspec.ValidationError as exc:
                raise ValueError(f"invalid cookie {dict(cookie)!r}: {exc}") from None
        if not isinstance(cookie, Cookie):
            raise TypeError(f"each cookie must be a Cookie or a dict, got {type(cookie).__name__}")
        if not cookie.name:
            # Cookie.name defaults to "" so that a null from the server decodes;
            # a cookie we send still needs one.
            raise ValueError("invalid cookie: a cookie needs a name")
        fields = msgspec.structs.asdict(cookie)
        out.append({k: v for k, v in fields.items() if v is not None})
    return out


def _placement(placement: object) -> dict[str, Any]:
    if not isinstance(placement, Mapping):
        raise TypeError(f"placement must be a dict, got {type(placement).__name__}")
    return dict(placement)


def create_job_body(
    url: object,
    *,
    method: object = "GET",
    timeout_sec: object = None,
    headers: object = None,
    body: object = None,
    cookies: object = None,
    session_id: object = None,
    placement: object = None,
    storage_type: object = None,
) -> bytes:
    """The JSON body of ``POST /crawl/v1/new``; bad arguments raise before any I/O."""
    storage: str | None = None
    if storage_type is not None:
        if not isinstance(storage_type, str) or storage_type.lower() not in STORAGE_TYPES:
            raise ValueError(f"storage_type must be 'local' or 's3', got {storage_type!r}")
        storage = storage_type.lower()
    return json_body(
        url=_validate.http_url(url),
        method=_method(method),
        timeout_sec=None
        if timeout_sec is None
        else _validate.int_in(timeout_sec, "timeout_sec", 1, 300),
        headers=None if headers is None else _headers(headers),
        body=None if body is None else _body(body),
        cookies=None if cookies is None else _cookies(cookies),
        session_id=None if session_id is None else _validate.token(session_id, "session_id"),
        placement=None if placement is None else _placement(placement),
        storage_type=storage,
    )


def session_body(duration_seconds: object = None, placement: object = None) -> bytes:
    """The JSON body of ``POST /crawl/v1/session/new``."""
    return json_body(
        duration_seconds=None
        if duration_seconds is None
        else _validate.int_in(duration_seconds, "duration_seconds", 1, MAX_SESSION_SECONDS),
        placement=None if placement is None else _placement(placement),
    )


# -- answers -----------------------------------------------------------------------


def decode_job(body: bytes, status: int = 200, what: str = "job", *, redact: Redact = None) -> Job:
    """A :class:`Job` from a bare job object or ``{"job": {...}}``.

    ``redact`` scrubs the API key from error messages (they quote the body)."""
    return JOB.named(what).read(body, status, redact)


def decode_session(
    body: bytes, status: int = 200, what: str = "crawl session", *, redact: Redact = None
) -> CrawlSession:
    """A :class:`CrawlSession` from a bare session object or ``{"session": {...}}``."""
    return SESSION.named(what).read(body, status, redact)


def _entry_error(job_id: str, error: str, body: bytes, redact: Redact) -> UprockAsyncError:
    if error == "not_found":
        return NotFoundError(
            f"not found: job {job_id} does not exist or you are not authorized to view it",
            status_code=404,
            code=error,
            body=redact_bytes(body, redact),
        )
    if error == "invalid_uuid":
        return BadRequestError(
            f"invalid request: {job_id!r} is not a valid job UUID",
            status_code=400,
            code=error,
            body=redact_bytes(body, redact),
        )
    # An error the docs do not list: keep the service's word, under the base class.
    message = f"batch status for job {job_id}: {error}"
    if redact is not None:  # the service's word may echo the key, as status_error fears
        message, error = redact(message), redact(error)
    return APIStatusError(message, status_code=200, code=error)


def merge_batch(
    chunk: list[str],
    body: bytes,
    status: int = 200,
    what: str = "batch job status",
    *,
    redact: Redact = None,
) -> dict[str, Job | UprockAsyncError]:
    """One batch status answer as ``{id: Job | error}`` for exactly the ids of ``chunk``.

    A ``not_found``/``invalid_uuid`` entry becomes a :class:`NotFoundError` /
    :class:`BadRequestError` instance; an id the answer leaves out becomes a
    :class:`NotFoundError`. An answer whose ``found_count`` disagrees with its own
    entries contradicts itself, so none of it is trusted: :class:`ResponseDecodeError`.
    """
    answer = decode(_batch_decoder, body, status=status, what=what, redact=redact)
    results = answer.results
    found = sum(1 for entry in results.values() if entry.job is not None)
    if answer.found_count is not None and answer.found_count != found:
        message = (
            f"{what} says found_count={answer.found_count} but carries {found} "
            f"jobs; body: {excerpt(body, redact=redact)}"
        )
        raise ResponseDecodeError(
            redact(message) if redact else message,
            body=redact_bytes(body, redact),
            status_code=status,
        )
    # The service may spell a UUID in lower case where the caller used upper case.
    lowered = {key.lower(): entry for key, entry in results.items()}
    merged: dict[str, Job | UprockAsyncError] = {}
    for job_id in chunk:
        entry = results.get(job_id) or lowered.get(job_id.lower())
        if entry is None:
            merged[job_id] = NotFoundError(
                f"not found: job {job_id} is missing from the batch status answer",
                status_code=404,
                code="missing",
            )
        elif entry.job is not None:
            merged[job_id] = entry.job
        elif entry.error:
            merged[job_id] = _entry_error(job_id, entry.error, msgspec.json.encode(entry), redact)
        else:
            merged[job_id] = ResponseDecodeError(
                f"batch status entry for job {job_id} has neither job nor error",
                body=msgspec.json.encode(entry),
                status_code=status,
            )
    return merged


def batch_shape(
    chunk: list[str], body: bytes, status: int, headers: Mapping[str, str], hooks: Hooks
) -> dict[str, Job | UprockAsyncError]:
    """:func:`merge_batch` as a shape (``partial(batch_shape, chunk)``): a failure is counted."""
    try:
        return merge_batch(chunk, body, status, redact=hooks.redact)
    except UprockAsyncError as exc:
        hooks.failed(exc)
        raise
