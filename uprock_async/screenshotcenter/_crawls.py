"""Crawls: ``crawl/*``."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from functools import partial
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import msgspec

from .. import _validate
from .._api import SMALL_FAN_OUT, HasApi, query
from .._codec import Envelope as EnvelopeShape
from .._codec import encode
from .._compat import Unpack
from .._errors import UprockAsyncError
from ..concurrency import ConcurrencyArg, FanOutOptions, ProgressArg
from ._core import CRAWL, Pages, check_options, crawl_info, envelope, wait_for
from .models import Crawl, Envelope

__all__: list[str] = []

_crawls_decoder = msgspec.json.Decoder(Envelope[list[Crawl]])
_LIST = envelope(_crawls_decoder, "crawl list")
_CREATED = envelope(CRAWL.decoder, "created crawl")
_CANCELLED: EnvelopeShape[Crawl | None] = envelope(
    CRAWL.decoder, "cancelled crawl", allow_empty=True
)


class _Crawls(HasApi):
    async def crawl_info(self, crawl_id: int) -> Crawl:
        """``GET /crawl/info?id=``: the crawl's progress and every screenshot it made."""
        return await crawl_info(self._api, _validate.positive_id(crawl_id))

    @overload
    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        return_exceptions: Literal[False] = ...,
        **options: Unpack[FanOutOptions],
    ) -> list[Crawl]: ...

    @overload
    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        return_exceptions: bool,
        **options: Unpack[FanOutOptions],
    ) -> list[Crawl | UprockAsyncError]: ...

    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = SMALL_FAN_OUT,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: ProgressArg = None,
    ) -> list[Crawl] | list[Crawl | UprockAsyncError]:
        """Many crawl infos at once; a list in input order (see ``UprockClient.job_details``).

        Typed precisely: ``list[Crawl]`` unless ``return_exceptions`` may be true."""
        results = await self._api.many(
            partial(crawl_info, self._api),
            crawl_ids,
            check=_validate.positive_id,
            what="crawl_ids",
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )
        return results

    async def create_crawl(
        self,
        url: str,
        *,
        max_urls: int | None = None,
        domain: str | None = None,
        **options: Any,
    ) -> Crawl:
        """``POST /crawl/create``: start crawling ``url``; returns the new crawl.

        ``domain`` (default: the host of ``url``) keeps the crawl on one site;
        ``max_urls`` caps the pages screenshotted; other ``options`` go into the
        JSON body as they are. Never retried once the request may have reached
        the server: a duplicate crawl would be billed twice.
        """
        url = _validate.http_url(url)
        if max_urls is not None:
            _validate.at_least(max_urls, "max_urls", 1)
        if domain is None:
            domain = urlsplit(url).hostname or ""
        elif not isinstance(domain, str) or not domain.strip() or "/" in domain:
            raise ValueError(f"domain must be a host name such as 'example.com', got {domain!r}")
        check_options(options)
        body = {"url": url, "domain": domain, "max_urls": max_urls, **options}
        payload = encode({k: v for k, v in body.items() if v is not None})
        return await self._api.send(
            "POST", "/crawl/create", _CREATED, json=payload, idempotent=False
        )

    async def list_crawls(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[Crawl]:
        """``GET /crawl/list``: one page of your crawls (without their screenshots)."""
        path = "/crawl/list" + query(_validate.page(limit, offset))
        return await self._api.get(path, _LIST)

    def iter_crawls(self, *, page_size: int = 100) -> AsyncIterator[Crawl]:
        """Every crawl, fetched ``page_size`` at a time as you iterate::

        async for crawl in client.iter_crawls(): ...

        Stops after a short page; ``break`` at any time (nothing to close).
        """
        size = _validate.at_least(page_size, "page_size", 1)
        return Pages(lambda limit, offset: self.list_crawls(limit=limit, offset=offset), size)

    async def cancel_crawl(self, crawl_id: int) -> Crawl:
        """``POST /crawl/cancel`` ``{"id"}``; returns the crawl as it is after cancelling.

        When the service acknowledges without data, the crawl is fetched again.
        """
        crawl_id = _validate.positive_id(crawl_id)
        # Cancelling twice is harmless, so a lost answer may be retried.
        crawl = await self._api.send(
            "POST", "/crawl/cancel", _CANCELLED, json=encode({"id": crawl_id})
        )
        return crawl if crawl is not None else await crawl_info(self._api, crawl_id)

    async def wait_for_crawl(
        self, crawl_id: int, *, poll_interval: float = 2.0, timeout: float = 600.0
    ) -> Crawl:
        """Poll ``crawl_info`` until the crawl is finished, failed or cancelled.

        Waits start at ``poll_interval`` seconds and grow gently; after
        ``timeout`` seconds :class:`~uprock_async.WaitTimeoutError` is raised with
        the last status seen in ``last_status``.
        """
        crawl_id = _validate.positive_id(crawl_id)
        return await wait_for(self._api, crawl_info, crawl_id, poll_interval, timeout, "crawl")
