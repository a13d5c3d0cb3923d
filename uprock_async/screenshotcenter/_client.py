"""ScreenshotCenterClient: the ScreenshotCenter API. Build request → transport → decode."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any, TypeVar

import msgspec

from .._adaptive import AdaptiveConcurrency
from .._base import BaseClient
from .._decode import decode
from .._errors import ResponseDecodeError, UprockAsyncError
from .._fanout import gather
from .models import Crawl, Envelope

__all__ = ["ScreenshotCenterClient", "validate_id"]

T = TypeVar("T")

Progress = bool | Callable[[int, int | None], None] | None

_crawl_decoder = msgspec.json.Decoder(Envelope[Crawl])
_probe_decoder = msgspec.json.Decoder(Envelope[Any])


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


class ScreenshotCenterClient(BaseClient):
    """Async client for the ScreenshotCenter API (``https://api.screenshotcenter.com/api/v1``).

    ::

        async with ScreenshotCenterClient() as client:   # key from SCREENSHOTCENTER_API_KEY
            crawl = await client.crawl_info(12345)
            for shot in crawl.screenshots: ...

    The key travels in the ``X-API-KEY`` header, never in the query string.
    Arguments are those of :class:`~uprock_async.UprockClient`, with the env
    variables ``SCREENSHOTCENTER_API_KEY`` / ``SCREENSHOTCENTER_BASE_URL``.
    """

    _ENV_KEY = "SCREENSHOTCENTER_API_KEY"
    _ENV_URL = "SCREENSHOTCENTER_BASE_URL"
    _DEFAULT_URL = "https://api.screenshotcenter.com/api/v1"

    @staticmethod
    def _auth_headers(key: str) -> dict[str, str]:
        return {"X-API-KEY": key}

    def _unwrap(
        self,
        decoder: msgspec.json.Decoder[Envelope[T]],
        body: bytes,
        status: int,
        headers: Any,
        what: str,
    ) -> T:
        """The ``data`` of a success envelope; an error envelope (even with HTTP 200)
        raises the matching :class:`~uprock_async.APIStatusError`."""
        try:
            envelope = decode(decoder, body, status=status, what=what)
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
        if not envelope.success or envelope.data is None:
            error = self._transport.status_error(status, body, headers)
            self._count_error(error)
            raise error
        return envelope.data

    async def _get(self, path: str, decoder: msgspec.json.Decoder[Envelope[T]], what: str) -> T:
        status, headers, body = await self._transport.request("GET", path)
        return self._unwrap(decoder, body, status, headers, what)

    # -- crawls ------------------------------------------------------------------

    async def crawl_info(self, crawl_id: int) -> Crawl:
        """``GET /crawl/info?id=``: the crawl's progress and every screenshot it made."""
        return await self._crawl_info(validate_id(crawl_id))

    async def _crawl_info(self, crawl_id: int) -> Crawl:
        return await self._get(f"/crawl/info?id={crawl_id}", _crawl_decoder, "crawl info")

    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: int | str | AdaptiveConcurrency = 16,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: Progress = None,
    ) -> list[Crawl | UprockAsyncError]:
        """Many crawl infos at once; a list in input order (see ``UprockClient.job_details``)."""
        if isinstance(crawl_ids, (list, tuple)):
            ids: Iterable[int] | AsyncIterable[int] = [validate_id(i) for i in crawl_ids]
        elif isinstance(crawl_ids, AsyncIterable):
            ids = crawl_ids
        else:
            ids = map(validate_id, crawl_ids)
        fetch = self._crawl_info if not isinstance(ids, AsyncIterable) else self.crawl_info
        results = await gather(
            fetch,
            ids,
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )
        return results  # type: ignore[return-value]
