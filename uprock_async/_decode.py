"""Bytes in, structs out: one cached decoder per type, errors mapped to ours.

Timestamps are native msgspec ``datetime`` fields (parsed in C, nanosecond
inputs rounded to microseconds). The services also send ``""`` for "no time
yet", which RFC 3339 parsing rejects. The hot path is one plain
``Decoder.decode``; only when that fails on a timestamp are the body's empty
timestamps hidden and the body decoded once more (msgspec stops at the first bad
value, so the failed attempt is usually cheap). Compact ``"…_at":""`` becomes
``"…_aT":""``: a same-length rewrite (one memcpy plus a fast search in CPython)
that turns the key into an unknown field, which is skipped, so the field takes
its ``None`` default. Every timestamp field of both APIs ends in ``_at`` and
defaults to ``None`` (a test pins both). Pretty-printed bodies fall back to a
regex that writes ``null``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from ._errors import ResponseDecodeError, excerpt

__all__ = ["decode", "encode", "json_body", "without_empty_timestamps"]

T = TypeVar("T")

# Compact JSON (what both services and msgspec emit).
_EMPTY_COMPACT = b'_at":""'
_NULL_COMPACT = b'_at":null'
_HIDDEN_COMPACT = b'_aT":""'  # same length: the key becomes unknown and is ignored
# Pretty-printed JSON: the general (slower) form, tried only if needed.
_EMPTY_TIMESTAMP = re.compile(rb'(_at"\s*:\s*)""')
_encoder = msgspec.json.Encoder()


def without_empty_timestamps(body: bytes) -> bytes:
    """``body`` with every ``"…_at": ""`` value replaced by ``null``."""
    compact = _NULL_COMPACT.join(body.split(_EMPTY_COMPACT))
    return _EMPTY_TIMESTAMP.sub(rb"\1null", compact)


def _rewrite_compact(body: bytes) -> bytes | None:
    fixed = body.replace(_EMPTY_COMPACT, _HIDDEN_COMPACT)
    return None if fixed is body else fixed  # CPython returns ``body`` itself on no match


def _rewrite_any(body: bytes) -> bytes | None:
    fixed, count = _EMPTY_TIMESTAMP.subn(rb"\1null", body)
    return fixed if count else None


def decode(
    decoder: msgspec.json.Decoder[T],
    body: bytes,
    *,
    status: int = 200,
    what: str = "response",
    redact: Callable[[str], str] | None = None,
) -> T:
    """Decode ``body`` with ``decoder``; anything but the documented shape raises
    :class:`ResponseDecodeError` quoting a short excerpt (``redact`` scrubs the
    API key from it, should a server echo it back). ``.body`` is always the
    original bytes."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        error: Exception = exc
        current = body
        # Cheap compact rewrite first, the general regex only if "" remain.
        for rewrite in (_rewrite_compact, _rewrite_any):
            if "RFC3339" not in str(error):
                break
            fixed = rewrite(current)
            if fixed is None:
                continue  # nothing rewritten: the same error again
            current = fixed
            try:
                return decoder.decode(current)
            except (msgspec.DecodeError, RecursionError) as again:
                error = again  # e.g. a timestamp that is neither valid nor ""
        raise _decode_error(error, body, status, what, redact) from error
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise _decode_error(exc, body, status, what, redact) from exc


def _decode_error(
    exc: Exception,
    body: bytes,
    status: int,
    what: str,
    redact: Callable[[str], str] | None,
) -> ResponseDecodeError:
    if isinstance(exc, msgspec.ValidationError):
        message = f"{what} does not match the documented shape ({exc}); body: {excerpt(body)}"
    else:
        kind = "empty" if not body.strip() else "not valid JSON"
        message = f"{what} is {kind} ({exc}); body: {excerpt(body)}"
    if redact is not None:
        message = redact(message)
    return ResponseDecodeError(message, body=body, status_code=status)


def encode(value: Any) -> bytes:
    """JSON-encode a request body (structs, dicts, lists)."""
    return _encoder.encode(value)


def json_body(**fields: Any) -> bytes:
    """A JSON object of the fields that are not ``None``."""
    return _encoder.encode({k: v for k, v in fields.items() if v is not None})
