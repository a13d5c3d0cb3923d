"""Every argument check, one set of rules: ids, URLs, numbers, iterables.

Both clients, :mod:`uprock_async.distributed` and the command line call these
before any request, so a bad argument fails the same way wherever it enters:
``TypeError`` for the wrong kind of value, ``ValueError`` for a value out of
range. Numbers of seconds and rates must be finite (``inf``/``NaN`` are
``ValueError``); URLs must be absolute http(s) with a host, and white space
around them is refused, never stripped: what is checked is what is sent.
"""

from __future__ import annotations

import inspect
import math
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable, Iterator
from typing import Any, TypeVar, overload

from yarl import URL

__all__ = [
    "KINDS",
    "at_least",
    "collect",
    "each",
    "http_url",
    "int_in",
    "job_id",
    "kinds",
    "page",
    "per_second",
    "positive_id",
    "token",
    "wait_args",
    "watch_args",
]

V = TypeVar("V")

#: The artifacts of a screenshot, in the order ``save_*`` reports them.
KINDS = ("image", "html", "pdf", "video")

_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _shown(value: str, limit: int = 60) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


# -- ids ---------------------------------------------------------------------------


def token(value: object, name: str) -> str:
    """``value`` as a path-safe id string (Uprock: a UUID, or any token of letters,
    digits, ``-`` and ``_``), so nothing a caller passes can change a request's
    path or query."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str or uuid.UUID, got {type(value).__name__}")
    if not _TOKEN.fullmatch(value):
        raise ValueError(
            f"invalid {name} {_shown(value)!r}: expected a UUID (letters, digits, '-' and '_' only)"
        )
    return value


def job_id(value: object) -> str:
    """An Uprock job id (see :func:`token`)."""
    return token(value, "job_id")


def positive_id(value: object, name: str = "crawl_id") -> int:
    """A ScreenshotCenter id: a positive int (or a string of ASCII digits)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise TypeError(f"{name} must be a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return value


# -- URLs ----------------------------------------------------------------------------


def http_url(url: object, name: str = "url", *, fetched: bool = False) -> str:
    """``url`` if it is an absolute http(s) URL with a host.

    White space is refused, never stripped: around the URL, and any line break,
    tab or other control white space inside it. A plain space inside is allowed
    in a URL handed to a service (it is sent quoted), not in one the library
    fetches itself (``fetched=True``), where it would change the request line.
    """
    if not isinstance(url, (str, URL)):
        raise TypeError(f"{name} must be a str, got {type(url).__name__}")
    text = str(url)
    if text != text.strip() or any(c.isspace() and (fetched or c != " ") for c in text):
        raise ValueError(f"{name} must not contain white space, got {_shown(text, 80)!r}")
    try:
        parsed = URL(text)
    except ValueError as exc:
        raise ValueError(f"{name} {_shown(text, 80)!r} is not a valid URL: {exc}") from None
    if parsed.scheme.lower() not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"{name} must be an absolute http:// or https:// URL, got {_shown(text, 80)!r}"
        )
    return text


# -- numbers -------------------------------------------------------------------------


def _number(value: object, name: str, what: str = "a number of seconds") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    return float(value)


def _positive_finite(value: object, name: str, what: str = "a number of seconds") -> float:
    number = _number(value, name, what)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


def wait_args(poll_interval: object, timeout: object) -> tuple[float, float]:
    """``wait_for_*``: ``(poll_interval, timeout)``, both finite and > 0."""
    return _positive_finite(poll_interval, "poll_interval"), _positive_finite(timeout, "timeout")


def watch_args(poll_interval: object, timeout: object, concurrency: object) -> float:
    """``watch_jobs``: the deadline span (``inf`` for ``timeout=None``); ``timeout`` may
    be 0 (report every id still pending after the first round)."""
    _positive_finite(poll_interval, "poll_interval")
    if timeout is None:
        span = math.inf
    else:
        span = _number(timeout, "timeout", "a number of seconds or None")
        if not span >= 0:  # also NaN; inf is the same as None
            raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
    # "auto" and AdaptiveConcurrency limits are the concurrency layer's to check
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency!r}")
    return span


def per_second(value: object) -> float | None:
    """A start rate: ``None`` (no cap) or a finite number > 0."""
    if value is None:
        return None
    return _positive_finite(value, "per_second", "a number")


def int_in(value: object, name: str, low: int, high: int) -> int:
    """An int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int between {low} and {high}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return value


def at_least(value: object, name: str, low: int) -> int:
    """An int ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def page(limit: object, offset: object) -> dict[str, int | None]:
    """List endpoints: ``limit`` (>= 1) and ``offset`` (>= 0), each optional."""
    return {
        "limit": None if limit is None else at_least(limit, "limit", 1),
        "offset": None if offset is None else at_least(offset, "offset", 0),
    }


# -- choices ---------------------------------------------------------------------------


def kinds(value: Collection[str] | str | None) -> tuple[str, ...]:
    """Artifact kinds: ``None`` for all, a collection, or ``"image,pdf"``; each once."""
    if value is None:
        return KINDS
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    for kind in value:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    checked = tuple(dict.fromkeys(value))
    if not checked:
        raise ValueError(f"kinds must name at least one of {', '.join(KINDS)}")
    return checked


# -- iterables of ids --------------------------------------------------------------------


def _not_one(items: object, what: str) -> None:
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{what} must be an iterable of ids, not a single string")
    if isinstance(items, uuid.UUID):
        raise TypeError(f"{what} must be an iterable of ids, not a single id")


@overload
def each(items: AsyncIterable[Any], check: Callable[[Any], V], what: str) -> AsyncIterable[V]: ...


@overload
def each(items: Iterable[Any], check: Callable[[Any], V], what: str) -> Iterable[V]: ...


@overload
def each(
    items: Iterable[Any] | AsyncIterable[Any], check: Callable[[Any], V], what: str
) -> Iterable[V] | AsyncIterable[V]: ...


def each(
    items: Iterable[Any] | AsyncIterable[Any], check: Callable[[Any], V], what: str
) -> Iterable[V] | AsyncIterable[V]:
    """``items`` passed through ``check``: all at once for a collection (so a bad id
    fails before any request), lazily for iterators and async iterables.

    A generator given here is closed when the wrapper is, so the fan-out that
    closes its input on the way out reaches the caller's generator through it.
    """
    _not_one(items, what)
    if isinstance(items, AsyncIterable):

        async def checked() -> AsyncIterator[V]:
            source = items.__aiter__()
            try:
                async for item in source:
                    yield check(item)
            finally:
                if inspect.isasyncgen(source):  # `async for` alone leaves it suspended
                    await source.aclose()

        return checked()
    if isinstance(items, (list, tuple, set, frozenset)):
        return [check(item) for item in items]
    if inspect.isgenerator(items):
        generator = items

        def checked_sync() -> Iterator[V]:
            try:
                yield from map(check, generator)
            finally:
                generator.close()

        return checked_sync()
    return map(check, items)


async def collect(
    items: Iterable[Any] | AsyncIterable[Any], check: Callable[[Any], V], what: str
) -> list[V]:
    """Every item of ``items`` (sync or async) checked, as a list."""
    checked = each(items, check, what)
    if isinstance(checked, AsyncIterable):
        return [item async for item in checked]
    return list(checked)
