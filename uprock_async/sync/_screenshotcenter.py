"""The blocking twin of :class:`uprock_async.ScreenshotCenterClient`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, overload

from ..screenshotcenter import ScreenshotCenterClient as _Async
from ._base import CHUNKS_AHEAD, BlockingClient, blocking, overloaded, streaming

StrPath = str | os.PathLike[str]

__all__ = ["ScreenshotCenterClient"]


class ScreenshotCenterClient(BlockingClient[_Async]):
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

    _async_class = _Async

    # crawls and the account
    crawl_info = blocking(_Async.crawl_info)
    crawl_infos = blocking(_Async.crawl_infos)
    create_crawl = blocking(_Async.create_crawl)  # type: ignore[arg-type]  # mypy#19051
    list_crawls = blocking(_Async.list_crawls)
    iter_crawls = streaming(_Async.iter_crawls)
    cancel_crawl = blocking(_Async.cancel_crawl)
    wait_for_crawl = blocking(_Async.wait_for_crawl)
    account_info = blocking(_Async.account_info)
    # screenshots
    screenshot_info = blocking(_Async.screenshot_info)
    create_screenshot = blocking(_Async.create_screenshot)  # type: ignore[arg-type]  # mypy#19051
    list_screenshots = blocking(_Async.list_screenshots)
    iter_screenshots = streaming(_Async.iter_screenshots)
    search_screenshots = blocking(_Async.search_screenshots)
    wait_for_screenshot = blocking(_Async.wait_for_screenshot)
    delete_screenshot = blocking(_Async.delete_screenshot)

    # artifacts: written out, as mypy carries no overload with ``**options`` through a
    # ParamSpec (mypy#19051, which the other ignores here are about too)
    @overload
    def download_screenshot(
        self, screenshot_id: int, *, kind: str = ..., dest: None = None, **options: Any
    ) -> bytes: ...
    @overload
    def download_screenshot(
        self, screenshot_id: int, *, kind: str = ..., dest: StrPath, **options: Any
    ) -> Path: ...
    @overloaded(blocking(_Async.download_screenshot))
    def download_screenshot(self, screenshot_id: int, **options: Any) -> bytes | Path:
        raise NotImplementedError  # replaced by the twin

    stream_screenshot = streaming(_Async.stream_screenshot, ahead=CHUNKS_AHEAD)  # type: ignore[arg-type]  # mypy#19051
    save_screenshot = blocking(_Async.save_screenshot)
    save_crawl = blocking(_Async.save_crawl)
    # batches
    create_batch = blocking(_Async.create_batch)  # type: ignore[arg-type]  # mypy#19051
    batch_info = blocking(_Async.batch_info)
    list_batches = blocking(_Async.list_batches)
    cancel_batch = blocking(_Async.cancel_batch)
    wait_for_batch = blocking(_Async.wait_for_batch)
    download_batch = blocking(_Async.download_batch)
    stream_batch = streaming(_Async.stream_batch, ahead=CHUNKS_AHEAD)
