"""Keeping the API key out of every message: :func:`redactor` and :func:`excerpt`.

A server may echo the key back in a body, a code, a request id or a header;
every quote of such a string goes through the client's redactor first, and an
excerpt is redacted before it is cut, so no part of the key survives a cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

__all__ = ["KeyRing", "Redact", "bounded", "excerpt", "redact_bytes", "redactor"]

_EXCERPT_BYTES = 200
# How far past the cut a body is decoded and redacted before being cut: a secret
# that starts before the cut is replaced whole as long as it is shorter than this
# (an HTTP header, where the key travels, is never near 64 KiB).
_REDACT_WINDOW = 64 * 1024
_REDACTED = "[redacted]"
_QUOTE_CHARS = 120  # a status, code or name quoted from a server in a message
# Line breaks (every kind str.splitlines knows) and other control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")

Redact = Callable[[str], str]


def redactor(secret: str) -> KeyRing:
    """A function that replaces ``secret`` in a text, in every spelling a server or
    a message may give it: as is, JSON-escaped (``\\`` and ``\"``), ``repr``-escaped
    and percent-encoded. More keys can join it (:meth:`KeyRing.add`)."""
    return KeyRing(secret)


class KeyRing:
    """The keys of one connection pool (a client and its ``with_options`` copies for
    other accounts): calling it replaces every spelling of each (see :func:`redactor`)."""

    __slots__ = ("_keys", "_ordered")

    def __init__(self, *secrets: str) -> None:
        self._keys: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Redact ``secret`` too, from now on (a key already known costs a set lookup)."""
        if secret in self._keys:
            return
        self._keys.add(secret)
        spellings = set(self._ordered)
        if secret:
            spellings.update(
                (secret, _json_escaped(secret), repr(secret)[1:-1], quote(secret, safe=""))
            )
        # Longest first: a spelling that contains another must go before it.
        self._ordered = tuple(sorted((s for s in spellings if s), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for spelling in self._ordered:
            if spelling in text:
                text = text.replace(spelling, _REDACTED)
        return text


def _json_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def excerpt(body: bytes, limit: int = _EXCERPT_BYTES, *, redact: Redact | None = None) -> str:
    """A short, printable quote of a body for messages (never the whole payload).

    ``redact`` runs on the decoded text *before* it is cut to ``limit`` bytes and
    ``repr``-quoted, so a secret echoed across the cut, or one containing ``\\``
    or quotes, never survives in part.
    """
    window = body[: limit + _REDACT_WINDOW] if redact is not None else body[:limit]
    text = window.decode("utf-8", "replace")
    if redact is not None:
        text = redact(text)
        encoded = text.encode("utf-8")
        if len(encoded) > limit:
            # "ignore": a character split by the cut is dropped, not half-shown.
            text = encoded[:limit].decode("utf-8", "ignore")
    suffix = f"… ({len(body)} bytes)" if len(body) > limit else ""
    return repr(text) + suffix


def bounded(text: str, redact: Redact, limit: int = _QUOTE_CHARS) -> str:
    """A short string from a server (a status, a code) as a message may quote it:
    the key redacted first, control characters and line breaks turned into one
    space, cut to ``limit`` characters (``…`` marks a cut)."""
    text = _CONTROL.sub(" ", redact(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def redact_bytes(body: bytes, redact: Redact | None) -> bytes:
    """``body`` with the key replaced, for the raw ``body`` an error keeps (error
    trackers record attributes). Lossless otherwise: bytes that are not UTF-8
    round-trip unchanged, and a body without the key is returned as is."""
    if redact is None or not body:
        return body
    text = body.decode("utf-8", "surrogateescape")
    clean = redact(text)
    return body if clean == text else clean.encode("utf-8", "surrogateescape")
