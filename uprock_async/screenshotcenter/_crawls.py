"""Crawls and the account: ``crawl/*`` and ``account/info``."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import msgspec

from .._base import query, validated
from .._codec import encode
from .._errors import UprockAsyncError
from ..concurrency._adaptive import ConcurrencyArg
from ..concurrency._fanout import ProgressArg, gather
from ._core import (
    Pages,
    _Base,
    _crawl_decoder,
    check_options,
    check_page_size,
    check_wait,
    page_params,
    validate_id,
    validate_url,
)
from .models import Account, Crawl, Envelope

__all__: list[str] = []

_crawls_decoder = msgspec.json.Decoder(Envelope[list[Crawl]])
_account_decoder = msgspec.json.Decoder(Envelope[Account])


class _Crawls(_Base):
    async def crawl_info(self, crawl_id: int) -> Crawl:
        """``GET /crawl/info?id=``: the crawl's progress and every screenshot it made."""
        return await self._crawl_info(validate_id(crawl_id))

    @overload
    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: Literal[False] = ...,
        progress: ProgressArg = ...,
    ) -> list[Crawl]: ...

    @overload
    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: bool,
        progress: ProgressArg = ...,
    ) -> list[Crawl | UprockAsyncError]: ...

    async def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = 16,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: ProgressArg = None,
    ) -> list[Crawl] | list[Crawl | UprockAsyncError]:
        """Many crawl infos at once; a list in input order (see ``UprockClient.job_details``).

        Typed precisely: ``list[Crawl]`` unless ``return_exceptions`` may be true."""
        results = await gather(
            self._crawl_info,
            validated(crawl_ids, validate_id, "crawl_ids"),
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )
        return results  # type: ignore[return-value]

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
        url = validate_url(url)
        if max_urls is not None:
            if isinstance(max_urls, bool) or not isinstance(max_urls, int):
                raise TypeError(f"max_urls must be an int, got {type(max_urls).__name__}")
            if max_urls < 1:
                raise ValueError(f"max_urls must be >= 1, got {max_urls}")
        if domain is None:
            domain = urlsplit(url).hostname or ""
        elif not isinstance(domain, str) or not domain.strip() or "/" in domain:
            raise ValueError(f"domain must be a host name such as 'example.com', got {domain!r}")
        check_options(options)
        body = {"url": url, "domain": domain, "max_urls": max_urls, **options}
        payload = encode({k: v for k, v in body.items() if v is not None})
        crawl = await self._send(
            "POST", "/crawl/create", _crawl_decoder, "created crawl", json=payload, idempotent=False
        )
        assert crawl is not None
        return crawl

    async def list_crawls(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[Crawl]:
        """``GET /crawl/list``: one page of your crawls (without their screenshots)."""
        path = "/crawl/list" + query(page_params(limit, offset))
        return await self._get(path, _crawls_decoder, "crawl list")

    def iter_crawls(self, *, page_size: int = 100) -> AsyncIterator[Crawl]:
        """Every crawl, fetched ``page_size`` at a time as you iterate::

        async for crawl in client.iter_crawls(): ...

        Stops after a short page; ``break`` at any time (nothing to close).
        """
        size = check_page_size(page_size)
        return Pages(lambda limit, offset: self.list_crawls(limit=limit, offset=offset), size)

    async def cancel_crawl(self, crawl_id: int) -> Crawl:
        """``POST /crawl/cancel`` ``{"id"}``; returns the crawl as it is after cancelling.

        When the service acknowledges without data, the crawl is fetched again.
        """
        crawl_id = validate_id(crawl_id)
        # Cancelling twice is harmless, so a lost answer may be retried.
        crawl = await self._send(
            "POST",
            "/crawl/cancel",
            _crawl_decoder,
            "cancelled crawl",
            json=encode({"id": crawl_id}),
            allow_empty=True,
        )
        return crawl if crawl is not None else await self._crawl_info(crawl_id)

    async def wait_for_crawl(
        self, crawl_id: int, *, poll_interval: float = 2.0, timeout: float = 600.0
    ) -> Crawl:
        """Poll ``crawl_info`` until the crawl is finished, failed or cancelled.

        Waits start at ``poll_interval`` seconds and grow gently; after
        ``timeout`` seconds :class:`~uprock_async.WaitTimeoutError` is raised with
        the last status seen in ``last_status``.
        """
        crawl_id = validate_id(crawl_id)
        check_wait(poll_interval, timeout)
        return await self._poll(
            lambda: self._crawl_info(crawl_id),
            poll_interval=poll_interval,
            give_up_after=timeout,
            what=f"crawl {crawl_id}",
        )

    # -- account ---------------------------------------------------------------

    async def account_info(self) -> Account:
        """``GET /account/info``: your balance (and whatever else the service sends)."""
        return await self._get("/account/info", _account_decoder, "account info")
