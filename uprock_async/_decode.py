"""Bytes in, structs out: one cached decoder per type, errors mapped to ours.

Timestamps are native msgspec ``datetime`` fields (parsed in C, nanosecond
inputs rounded to microseconds). The services also send ``""`` for "no time
yet", which RFC 3339 parsing rejects; only then — a cold path — the body's
``"…_at": ""`` values are rewritten to ``null`` and decoded once more. Every
timestamp field of both APIs ends in ``_at``.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from ._errors import ResponseDecodeError, excerpt

__all__ = ["decode", "encode", "json_body"]

T = TypeVar("T")

_EMPTY_TIMESTAMP = re.compile(rb'(_at"\s*:\s*)""')
_encoder = msgspec.json.Encoder()


def decode(
    decoder: msgspec.json.Decoder[T], body: bytes, *, status: int = 200, what: str = "response"
) -> T:
    """Decode ``body`` with ``decoder``; anything but the documented shape raises
    :class:`ResponseDecodeError` quoting a short excerpt."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if "RFC3339" in str(exc):
            fixed = _EMPTY_TIMESTAMP.sub(rb"\1null", body)
            if fixed is not body and fixed != body:
                return decode(decoder, fixed, status=status, what=what)
        raise ResponseDecodeError(
            f"{what} does not match the documented shape ({exc}); body: {excerpt(body)}",
            body=body,
            status_code=status,
        ) from exc
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        kind = "empty" if not body.strip() else "not valid JSON"
        raise ResponseDecodeError(
            f"{what} is {kind} ({exc}); body: {excerpt(body)}",
            body=body,
            status_code=status,
        ) from exc


def encode(value: Any) -> bytes:
    """JSON-encode a request body (structs, dicts, lists)."""
    return _encoder.encode(value)


def json_body(**fields: Any) -> bytes:
    """A JSON object of the fields that are not ``None``."""
    return _encoder.encode({k: v for k, v in fields.items() if v is not None})
