"""What every ScreenshotCenter endpoint shares: argument checks, envelopes, polling, paging.

The endpoint mixins (``_crawls``, ``_screenshots``, ``_artifacts``, ``_batches``)
subclass :class:`_Base`; :class:`~uprock_async.ScreenshotCenterClient` puts them
together. Each endpoint method is "check arguments → transport → decode".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

import msgspec

from .._base import BaseClient, query
from .._codec import decode
from .._errors import ResponseDecodeError, UprockAsyncError, WaitTimeoutError
from .._http._transport import Multipart
from ..concurrency._poll import poll_until_terminal
from .models import Crawl, Envelope, Screenshot

__all__ = ["validate_id"]

T = TypeVar("T")


_crawl_decoder = msgspec.json.Decoder(Envelope[Crawl])
_screenshot_decoder = msgspec.json.Decoder(Envelope[Screenshot])
_probe_decoder = msgspec.json.Decoder(Envelope[Any])
_ack_decoder = _probe_decoder  # acknowledgements: data ignored, may be null

# Query names the library sets itself; an option may not smuggle in a second
# value (``key`` would also put the API key in the URL, which we never do).
_RESERVED = frozenset({"key", "api_key", "id"})


def validate_id(value: object, what: str = "crawl_id") -> int:
    """A positive integer id, or ``ValueError``/``TypeError`` before any request."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a positive int, got {value!r}")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if not isinstance(value, int):
        raise TypeError(f"{what} must be a positive int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{what} must be a positive int, got {value}")
    return value


def validate_url(url: object, what: str = "url") -> str:
    """An absolute http(s) URL, or ``ValueError``/``TypeError``."""
    if not isinstance(url, str):
        raise TypeError(f"{what} must be a str, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        shown = url if len(url) <= 80 else url[:80] + "…"
        raise ValueError(f"{what} must be an absolute http(s) URL, got {shown!r}")
    return url.strip()


def page_params(limit: object, offset: object) -> dict[str, int | None]:
    """``limit`` (≥ 1) and ``offset`` (≥ 0), each optional; ``ValueError`` otherwise."""
    for name, value, low in (("limit", limit, 1), ("offset", offset, 0)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    return {"limit": limit, "offset": offset}  # type: ignore[dict-item]


def check_options(options: Mapping[str, Any], allowed: frozenset[str] | None = None) -> None:
    """Refuse option names we set ourselves, and (if given) names outside ``allowed``."""
    for name in options:
        if name in _RESERVED:
            hint = " (the API key goes in the client, never in a query)" if "key" in name else ""
            raise ValueError(f"{name!r} cannot be passed as an option{hint}")
        if allowed is not None and name not in allowed:
            raise ValueError(f"unknown option {name!r}; expected one of {sorted(allowed)}")


def options_query(params: Mapping[str, Any]) -> str:
    """A query string for service options, as the service (and its official SDK) expects.

    Booleans are ``true``/``false`` (via :func:`uprock_async._base.query`);
    ``None`` is left out; a list of plain values repeats the name
    (``tag=a&tag=b``); dicts and lists of dicts (``steps``, ``trackers``) are
    sent as one JSON value.
    """
    parts: list[str] = []
    for name, value in params.items():
        if isinstance(value, dict) or (
            isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value)
        ):
            value = msgspec.json.encode(value).decode()
        if isinstance(value, (list, tuple)):
            parts.extend(query({name: item})[1:] for item in value if item is not None)
        else:
            encoded = query({name: value})
            if encoded:
                parts.append(encoded[1:])
    return "?" + "&".join(parts) if parts else ""


def check_wait(poll_interval: object, timeout: object) -> None:
    """Both positive numbers, or ``ValueError``/``TypeError``."""
    for name, value in (("poll_interval", poll_interval), ("timeout", timeout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
        if not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")


class _HasStatus(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def is_terminal(self) -> bool: ...


S = TypeVar("S", bound=_HasStatus)


class Pages(Generic[T]):
    """An async iterator over every item of a ``limit``/``offset`` list endpoint.

    Fetches one page at a time, only when the previous one is used up, and stops
    after a short page. It holds no task or connection between pages, so a
    consumer may ``break`` out at any point with nothing left to close.
    """

    def __init__(self, fetch: Callable[[int, int], Awaitable[list[T]]], page_size: int) -> None:
        self._fetch = fetch
        self._page_size = page_size
        self._offset = 0
        self._buffer: deque[T] = deque()
        self._done = False

    def __aiter__(self) -> Pages[T]:
        return self

    async def __anext__(self) -> T:
        while not self._buffer:
            if self._done:
                raise StopAsyncIteration
            page = await self._fetch(self._page_size, self._offset)
            self._offset += len(page)
            self._done = len(page) < self._page_size
            self._buffer.extend(page)
        return self._buffer.popleft()

    async def aclose(self) -> None:
        """Stop early (optional: nothing is held between pages)."""
        self._done = True
        self._buffer.clear()


def check_page_size(page_size: object) -> int:
    """A positive ``page_size``, or ``ValueError``/``TypeError``."""
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise TypeError(f"page_size must be an int, got {type(page_size).__name__}")
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    return page_size


class _Base(BaseClient):
    """Envelope handling and the generic request helpers of the ScreenshotCenter client."""

    def _unwrap(
        self,
        decoder: msgspec.json.Decoder[Envelope[T]],
        body: bytes,
        status: int,
        headers: Any,
        what: str,
        *,
        allow_empty: bool = False,
    ) -> T | None:
        """The ``data`` of a success envelope; an error envelope (even with HTTP 200)
        raises the matching :class:`~uprock_async.APIStatusError`. ``data: null``
        is an error unless ``allow_empty`` (endpoints that only acknowledge)."""
        try:
            envelope = decode(
                decoder, body, status=status, what=what, redact=self._transport.redact
            )
        except ResponseDecodeError as exc:
            # An error envelope whose extra fields do not fit the typed shape.
            try:
                loose = _probe_decoder.decode(body)
            except (msgspec.DecodeError, RecursionError):
                loose = None
            if loose is not None and (not loose.success or loose.error is not None):
                error: UprockAsyncError = self._transport.status_error(status, body, headers)
            else:
                error = exc
            self._count_error(error)
            raise error from None
        if not envelope.success or (envelope.data is None and not allow_empty):
            error = self._transport.status_error(status, body, headers)
            self._count_error(error)
            raise error
        return envelope.data

    async def _get(self, path: str, decoder: msgspec.json.Decoder[Envelope[T]], what: str) -> T:
        status, headers, body = await self._transport.request("GET", path)
        data = self._unwrap(decoder, body, status, headers, what)
        assert data is not None  # _unwrap raised otherwise
        return data

    async def _send(
        self,
        method: str,
        path: str,
        decoder: msgspec.json.Decoder[Envelope[T]],
        what: str,
        *,
        json: bytes | None = None,
        multipart: Multipart | None = None,
        idempotent: bool = True,
        allow_empty: bool = False,
    ) -> T | None:
        """Any request whose answer is an envelope; ``None`` for an empty acknowledgement."""
        status, headers, body = await self._transport.request(
            method, path, json=json, multipart=multipart, idempotent=idempotent
        )
        return self._unwrap(decoder, body, status, headers, what, allow_empty=allow_empty)

    async def _crawl_info(self, crawl_id: int) -> Crawl:
        return await self._get(f"/crawl/info?id={crawl_id}", _crawl_decoder, "crawl info")

    async def _screenshot_info(self, screenshot_id: int) -> Screenshot:
        return await self._get(
            f"/screenshot/info?id={screenshot_id}", _screenshot_decoder, "screenshot info"
        )

    async def _poll(
        self,
        fetch: Callable[[], Awaitable[S]],
        *,
        poll_interval: float,
        give_up_after: float,
        what: str,
    ) -> S:
        """Fetch until the status is terminal (waits grow 1.5-fold from ``poll_interval``,
        capped at 8 times it and 30 s); a timeout is counted in the client's stats."""
        try:
            return await poll_until_terminal(
                fetch, poll_interval=poll_interval, give_up_after=give_up_after, cap=30.0, what=what
            )
        except WaitTimeoutError as error:
            self._count_error(error)
            raise
