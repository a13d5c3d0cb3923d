"""What the ScreenshotCenter areas share: answer shapes, option checks, paging.

The area mixins (``_crawls``, ``_screenshots``, ``_artifacts``, ``_batches``,
``_account``) each see only the core (:mod:`uprock_async._api`); the few
requests more than one area makes (a crawl's or a screenshot's info) are plain
functions of it here, not methods of a shared base class.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Any, Generic, TypeVar

import msgspec

from .._api import Api, Polled, query
from .._codec import Envelope as EnvelopeShape
from .models import Crawl, Envelope, Screenshot

__all__ = [
    "CRAWL",
    "SCREENSHOT",
    "Pages",
    "ack",
    "check_options",
    "crawl_info",
    "envelope",
    "options_query",
    "screenshot_info",
    "wait_for",
]

T = TypeVar("T")
P = TypeVar("P", bound=Polled)

_crawl_decoder = msgspec.json.Decoder(Envelope[Crawl])
_screenshot_decoder = msgspec.json.Decoder(Envelope[Screenshot])
_probe_decoder = msgspec.json.Decoder(Envelope[Any])
_ack_decoder = _probe_decoder  # acknowledgements: data ignored, may be null

# Query names the library sets itself; an option may not smuggle in a second
# value (``key`` would also put the API key in the URL, which we never do).
_RESERVED = frozenset({"key", "api_key", "id"})


def envelope(
    decoder: msgspec.json.Decoder[Envelope[T]], what: str, *, allow_empty: bool = False
) -> EnvelopeShape[T]:
    """The shape of an answer whose ``data`` ``decoder`` decodes."""
    return EnvelopeShape(decoder, _probe_decoder, what, allow_empty=allow_empty)


CRAWL: EnvelopeShape[Crawl] = envelope(_crawl_decoder, "crawl info")
SCREENSHOT: EnvelopeShape[Screenshot] = envelope(_screenshot_decoder, "screenshot info")


def ack(what: str) -> EnvelopeShape[Any]:
    """An acknowledgement: ``data`` may be ``null`` (then ``None``) and is not used."""
    return envelope(_ack_decoder, what, allow_empty=True)


_POLL_CAP = 30.0


async def wait_for(
    api: Api,
    info: Callable[[Api, int], Awaitable[P]],
    item_id: int,
    poll_interval: object,
    timeout: object,
    what: str,
) -> P:
    """Poll ``info(api, item_id)`` until terminal: the one body of every ``wait_for_*``
    (waits grow 1.5-fold from ``poll_interval`` up to min(30 s, 8 * ``poll_interval``))."""
    return await api.wait(
        partial(info, api, item_id),
        poll_interval=poll_interval,
        timeout=timeout,
        cap=_POLL_CAP,
        what=f"{what} {item_id}",
    )


async def crawl_info(api: Api, crawl_id: int) -> Crawl:
    """``GET /crawl/info?id=`` for a checked id."""
    return await api.get(f"/crawl/info?id={crawl_id}", CRAWL)


async def screenshot_info(api: Api, screenshot_id: int) -> Screenshot:
    """``GET /screenshot/info?id=`` for a checked id."""
    return await api.get(f"/screenshot/info?id={screenshot_id}", SCREENSHOT)


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

    Booleans are ``true``/``false`` (via :func:`uprock_async._api.query`);
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
