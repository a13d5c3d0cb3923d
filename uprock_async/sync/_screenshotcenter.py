"""The blocking twin of :class:`uprock_async.ScreenshotCenterClient`."""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Collection, Iterable
from pathlib import Path
from typing import Any, Literal, overload

from .._api import SMALL_FAN_OUT
from .._errors import UprockAsyncError
from ..concurrency._adaptive import ConcurrencyArg
from ..concurrency._fanout import ProgressArg
from ..screenshotcenter import ScreenshotCenterClient as _AsyncScreenshotCenterClient
from ..screenshotcenter.models import Account, Batch, Crawl, Screenshot
from ._base import BlockingClient
from ._runner import BlockingIterator

__all__ = ["ScreenshotCenterClient"]

StrPath = str | os.PathLike[str]


class ScreenshotCenterClient(BlockingClient[_AsyncScreenshotCenterClient]):
    """Blocking client for the ScreenshotCenter API, for scripts and code that cannot
    ``await``::

        from uprock_async.sync import ScreenshotCenterClient

        with ScreenshotCenterClient() as client:   # key from SCREENSHOTCENTER_API_KEY
            crawl = client.wait_for_crawl(client.create_crawl("https://example.com").id)
            saved = client.save_crawl(crawl.id, "shots/", concurrency=32)

    Every method is the blocking twin of
    :class:`uprock_async.ScreenshotCenterClient`'s: same name, arguments,
    results and exceptions; it runs on this client's own event loop thread (see
    :class:`uprock_async.sync.UprockClient`). ``iter_crawls`` and
    ``iter_screenshots`` return plain iterators.
    """

    _async_class = _AsyncScreenshotCenterClient

    # -- crawls and the account ---------------------------------------------------

    def crawl_info(self, crawl_id: int) -> Crawl:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.crawl_info`."""
        return self._call(self._client.crawl_info, crawl_id)

    @overload
    def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: Literal[False] = ...,
        progress: ProgressArg = ...,
    ) -> list[Crawl]: ...

    @overload
    def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: bool,
        progress: ProgressArg = ...,
    ) -> list[Crawl | UprockAsyncError]: ...

    def crawl_infos(
        self,
        crawl_ids: Iterable[int] | AsyncIterable[int],
        *,
        concurrency: ConcurrencyArg = SMALL_FAN_OUT,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: ProgressArg = None,
    ) -> list[Crawl] | list[Crawl | UprockAsyncError]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.crawl_infos`: many crawl
        infos in input order (a ``progress`` callable runs on the loop thread)."""
        return self._call(
            self._client.crawl_infos,
            crawl_ids,
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )

    def create_crawl(
        self, url: str, *, max_urls: int | None = None, domain: str | None = None, **options: Any
    ) -> Crawl:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.create_crawl`."""
        return self._call(
            self._client.create_crawl, url, max_urls=max_urls, domain=domain, **options
        )

    def list_crawls(self, *, limit: int | None = None, offset: int | None = None) -> list[Crawl]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.list_crawls`: one page."""
        return self._call(self._client.list_crawls, limit=limit, offset=offset)

    def iter_crawls(self, *, page_size: int = 100) -> BlockingIterator[Crawl]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.iter_crawls`: every crawl,
        a page at a time, as a plain iterator."""
        return self._stream(self._client.iter_crawls, page_size=page_size)

    def cancel_crawl(self, crawl_id: int) -> Crawl:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.cancel_crawl`."""
        return self._call(self._client.cancel_crawl, crawl_id)

    def wait_for_crawl(
        self, crawl_id: int, *, poll_interval: float = 2.0, timeout: float = 600.0
    ) -> Crawl:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.wait_for_crawl`."""
        return self._call(
            self._client.wait_for_crawl, crawl_id, poll_interval=poll_interval, timeout=timeout
        )

    def account_info(self) -> Account:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.account_info`."""
        return self._call(self._client.account_info)

    # -- screenshots --------------------------------------------------------------

    def screenshot_info(self, screenshot_id: int) -> Screenshot:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.screenshot_info`."""
        return self._call(self._client.screenshot_info, screenshot_id)

    def create_screenshot(self, url: str, **options: Any) -> Screenshot:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.create_screenshot`."""
        return self._call(self._client.create_screenshot, url, **options)

    def list_screenshots(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[Screenshot]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.list_screenshots`."""
        return self._call(self._client.list_screenshots, limit=limit, offset=offset)

    def iter_screenshots(self, *, page_size: int = 100) -> BlockingIterator[Screenshot]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.iter_screenshots`: every
        screenshot, a page at a time, as a plain iterator."""
        return self._stream(self._client.iter_screenshots, page_size=page_size)

    def search_screenshots(
        self, url: str, *, limit: int | None = None, offset: int | None = None
    ) -> list[Screenshot]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.search_screenshots`."""
        return self._call(self._client.search_screenshots, url, limit=limit, offset=offset)

    def wait_for_screenshot(
        self, screenshot_id: int, *, poll_interval: float = 2.0, timeout: float = 120.0
    ) -> Screenshot:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.wait_for_screenshot`."""
        return self._call(
            self._client.wait_for_screenshot,
            screenshot_id,
            poll_interval=poll_interval,
            timeout=timeout,
        )

    def delete_screenshot(self, screenshot_id: int, *, data: str = "all") -> None:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.delete_screenshot`."""
        return self._call(self._client.delete_screenshot, screenshot_id, data=data)

    # -- artifacts ----------------------------------------------------------------

    @overload
    def download_screenshot(
        self, screenshot_id: int, *, kind: str = ..., dest: None = None, **options: Any
    ) -> bytes: ...

    @overload
    def download_screenshot(
        self, screenshot_id: int, *, kind: str = ..., dest: StrPath, **options: Any
    ) -> Path: ...

    def download_screenshot(
        self,
        screenshot_id: int,
        *,
        kind: str = "image",
        dest: StrPath | None = None,
        **options: Any,
    ) -> bytes | Path:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.download_screenshot`:
        ``bytes``, or the ``Path`` written when ``dest`` is given."""
        client = self._client

        # Not _call: the async method's overloads do not pass through a ParamSpec,
        # while a plain call resolves them (``dest=None`` -> bytes, a path -> Path).
        async def download() -> bytes | Path:
            return await client.download_screenshot(screenshot_id, kind=kind, dest=dest, **options)

        return self._loop.call(download)

    def save_screenshot(
        self,
        screenshot_id: int,
        directory: StrPath,
        *,
        basename: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> dict[str, Path | None]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.save_screenshot`."""
        return self._call(
            self._client.save_screenshot, screenshot_id, directory, basename=basename, kinds=kinds
        )

    def save_crawl(
        self,
        crawl_id: int,
        directory: StrPath,
        *,
        kinds: Collection[str] = ("image",),
        concurrency: ConcurrencyArg = SMALL_FAN_OUT,
        progress: ProgressArg = None,
    ) -> dict[int, dict[str, Path | None] | UprockAsyncError]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.save_crawl` (a
        ``progress`` callable runs on the loop thread)."""
        return self._call(
            self._client.save_crawl,
            crawl_id,
            directory,
            kinds=kinds,
            concurrency=concurrency,
            progress=progress,
        )

    # -- batches ------------------------------------------------------------------

    def create_batch(self, urls: Any, *, country: str, **options: Any) -> Batch:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.create_batch`."""
        return self._call(self._client.create_batch, urls, country=country, **options)

    def batch_info(self, batch_id: int) -> Batch:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.batch_info`."""
        return self._call(self._client.batch_info, batch_id)

    def list_batches(self, *, limit: int | None = None, offset: int | None = None) -> list[Batch]:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.list_batches`: one page."""
        return self._call(self._client.list_batches, limit=limit, offset=offset)

    def cancel_batch(self, batch_id: int) -> None:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.cancel_batch`."""
        return self._call(self._client.cancel_batch, batch_id)

    def wait_for_batch(
        self, batch_id: int, *, poll_interval: float = 2.0, timeout: float = 600.0
    ) -> Batch:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.wait_for_batch`."""
        return self._call(
            self._client.wait_for_batch, batch_id, poll_interval=poll_interval, timeout=timeout
        )

    @overload
    def download_batch(self, batch_id: int, *, dest: None = None) -> bytes: ...

    @overload
    def download_batch(self, batch_id: int, *, dest: StrPath) -> Path: ...

    def download_batch(self, batch_id: int, *, dest: StrPath | None = None) -> bytes | Path:
        """Blocking :meth:`uprock_async.ScreenshotCenterClient.download_batch`: the zip,
        as ``bytes`` or streamed to ``dest``."""
        client = self._client

        async def download() -> bytes | Path:  # not _call: see download_screenshot
            return await client.download_batch(batch_id, dest=dest)

        return self._loop.call(download)
