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
import ssl
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
)
from functools import partial
from typing import Any, TypeVar, overload

from yarl import URL

__all__ = [
    "KINDS",
    "at_least",
    "collect",
    "each",
    "finite_seconds",
    "flag",
    "headers",
    "http_url",
    "int_in",
    "job_id",
    "kinds",
    "page",
    "per_second",
    "positive_finite",
    "positive_id",
    "positive_seconds",
    "proxy_url",
    "size",
    "tls",
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


# -- headers -----------------------------------------------------------------------

# RFC 9110 token characters: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A value: visible ASCII and Latin-1, spaces and tabs inside; never CR, LF or NUL.
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
#: Headers that carry an API key: set through ``api_key=``, never as a header.
AUTH_HEADERS = frozenset({"authorization", "x-api-key"})


def headers(value: object, name: str = "default_headers") -> dict[str, str]:
    """A mapping of header names to values, checked: names are tokens, values have
    no line break (no header can be smuggled in), and no auth header (the key goes
    through ``api_key=``, which only ever sends it to the API's own host)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of header names to values")
    checked: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(key, str) or not _HEADER_NAME.fullmatch(key):
            raise ValueError(f"{name}: {_shown(repr(key))} is not a valid header name")
        if key.lower() in AUTH_HEADERS:
            raise ValueError(
                f"{name} may not set {key}: pass the key as api_key= (it is only sent "
                "to the API's own host)"
            )
        if not isinstance(text, str):
            raise TypeError(f"{name}[{key!r}] must be a str, got {type(text).__name__}")
        if not _HEADER_VALUE.fullmatch(text):
            raise ValueError(f"{name}[{key!r}] holds a line break or control character; not sent")
        checked[key] = text
    return checked


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


#: An Uprock job id (see :func:`token`): a partial, so a fan-out's per-id check
#: costs one Python call, not two.
job_id: Callable[[object], str] = partial(token, name="job_id")


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


# -- network -----------------------------------------------------------------------

#: ``proxy=`` schemes: http(s) proxies are aiohttp's own; SOCKS needs the ``[socks]`` extra.
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def _without_credentials(text: str) -> str:
    """A proxy URL as a message may show it: whatever stands before an ``@`` hidden,
    found on the raw text so that even a URL that does not parse keeps its secret."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return _shown(f"{scheme}{sep}{rest}", 80)


def proxy_url(value: object, name: str = "proxy") -> str | None:
    """``proxy=`` (or a proxy environment variable, named by ``name``): ``None``, or
    an ``http://``, ``https://``, ``socks5://`` or ``socks5h://`` URL with a host and
    nothing after it but ``/``. Credentials (``user:password@``) are allowed and are
    never part of a message: a bad URL is shown without them."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a proxy URL (a str) or None, got {type(value).__name__}")
    shown = _without_credentials(value)
    if any(c.isspace() for c in value):
        raise ValueError(f"{name} must not contain white space, got {shown!r}")
    parsed: URL | None
    try:
        parsed = URL(value)
        parsed.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        parsed = None
    if parsed is None:  # raised outside the handler: the parser's error may quote them
        raise ValueError(f"{name} {shown!r} is not a valid URL")
    if parsed.scheme not in PROXY_SCHEMES or not parsed.host:
        raise ValueError(
            f"{name} must be an http://, https:// or socks5:// URL with a host, got {shown!r}"
        )
    if parsed.raw_path not in ("", "/") or parsed.raw_query_string or parsed.raw_fragment:
        raise ValueError(
            f"{name} takes a proxy's address only (scheme://[user:password@]host:port), "
            f"got {shown!r}"
        )
    return value


def flag(value: object, name: str) -> bool:
    """A switch: ``True`` or ``False``, nothing merely truthy."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def tls(value: object) -> ssl.SSLContext | bool:
    """``ssl=``: an :class:`ssl.SSLContext` (used for every connection), ``True``
    (verify against the default trust store) or ``False`` (no verification)."""
    if isinstance(value, (bool, ssl.SSLContext)):
        return value
    hint = ""
    if isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
        hint = "; for a CA bundle file, pass ssl=ssl.create_default_context(cafile=path)"
    raise TypeError(
        f"ssl must be an ssl.SSLContext, True or False, got {type(value).__name__}{hint}"
    )


# -- numbers -------------------------------------------------------------------------


def _number(value: object, name: str, what: str = "a number of seconds") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be {what}, got {value!r}")
    return float(value)


def positive_finite(value: object, name: str, what: str = "a number of seconds") -> float:
    number = _number(value, name, what)
    if not (number > 0 and math.isfinite(number)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return number


# -- configuration values (Timeout, Limits, RetryPolicy, CircuitBreaker) -------------


def positive_seconds(value: object, name: str, *, allow_none: bool = True) -> None:
    """A number of seconds > 0 (``None``: no limit, where ``allow_none``)."""
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} must be a number, not None")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not value > 0:  # NaN too
        raise ValueError(f"{name} must be > 0 seconds, got {value!r}")


def finite_seconds(value: object, name: str, *, low: float = 0.0) -> float:
    """A finite number of seconds ``>= low`` (``not low <= v < inf`` refuses NaN too)."""
    number = _number(value, name)
    if not low <= number < math.inf:
        raise ValueError(f"{name} must be a finite number >= {low:g}, got {value!r}")
    return number


def size(value: object, name: str, low: int, meaning: str = "") -> int:
    """A count or a number of bytes: an int ``>= low`` (``ValueError`` for anything
    else, ``meaning`` added to the message)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}{meaning}, got {value!r}")
    return value


def wait_args(poll_interval: object, timeout: object) -> tuple[float, float]:
    """``wait_for_*``: ``(poll_interval, timeout)``, both finite and > 0."""
    return positive_finite(poll_interval, "poll_interval"), positive_finite(timeout, "timeout")


def watch_args(poll_interval: object, timeout: object) -> float:
    """``watch_jobs``: the deadline span (``inf`` for ``timeout=None``); ``timeout`` may
    be 0 (report every id still pending after the first round). ``concurrency=`` is
    checked where every fan-out checks it: ``concurrency.resolve_concurrency``."""
    positive_finite(poll_interval, "poll_interval")
    if timeout is None:
        span = math.inf
    else:
        span = _number(timeout, "timeout", "a number of seconds or None")
        if not span >= 0:  # also NaN; inf is the same as None
            raise ValueError(f"timeout must be >= 0 seconds or None, got {timeout!r}")
    return span


def per_second(value: object) -> float | None:
    """A start rate: ``None`` (no cap) or a finite number > 0."""
    if value is None:
        return None
    return positive_finite(value, "per_second", "a number")


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
