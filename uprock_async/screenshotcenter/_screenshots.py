"""Screenshots: ``screenshot/create|info|list|search|delete`` (artifacts: ``_artifacts``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from .. import _validate
from .._api import HasApi, query
from ._core import (
    SCREENSHOT,
    Pages,
    ack,
    check_options,
    envelope,
    options_query,
    screenshot_info,
    wait_for,
)
from .models import Envelope, Screenshot

__all__: list[str] = []

_screenshots_decoder = msgspec.json.Decoder(Envelope[list[Screenshot]])
_LIST = envelope(_screenshots_decoder, "screenshot list")
_SEARCH = envelope(_screenshots_decoder, "screenshot search")
_CREATED = envelope(SCREENSHOT.decoder, "created screenshot")
_DELETED = ack("screenshot delete")
_DELETE_DATA = ("image", "metadata", "url", "all")


class _Screenshots(HasApi):
    async def screenshot_info(self, screenshot_id: int) -> Screenshot:
        """``GET /screenshot/info?id=``: one screenshot's status, options and results."""
        screenshot_id = _validate.positive_id(screenshot_id, "screenshot_id")
        return await screenshot_info(self._api, screenshot_id)

    async def create_screenshot(self, url: str, **options: Any) -> Screenshot:
        """``GET /screenshot/create``: request a screenshot of ``url``.

        ``options`` are the service's documented parameters (``country``,
        ``size``, ``html``, ``pdf``, ``video``, ``delay``, ``shots`` …), sent as
        query parameters: booleans as ``true``/``false``, lists as repeated
        names, ``steps``/``trackers`` as JSON, ``None`` left out. Never retried
        once the request may have reached the server (each screenshot is
        billed). Follow up with :meth:`wait_for_screenshot`.
        """
        url = _validate.http_url(url)
        check_options(options)
        path = "/screenshot/create" + options_query({"url": url, **options})
        return await self._api.send("GET", path, _CREATED, idempotent=False)

    async def list_screenshots(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[Screenshot]:
        """``GET /screenshot/list``: one page of your screenshots, newest first."""
        path = "/screenshot/list" + query(_validate.page(limit, offset))
        return await self._api.get(path, _LIST)

    def iter_screenshots(self, *, page_size: int = 100) -> AsyncIterator[Screenshot]:
        """Every screenshot, fetched ``page_size`` at a time as you iterate::

        async for shot in client.iter_screenshots(): ...

        Stops after a short page; ``break`` at any time (nothing to close).
        """
        size = _validate.at_least(page_size, "page_size", 1)
        return Pages(lambda limit, offset: self.list_screenshots(limit=limit, offset=offset), size)

    async def search_screenshots(
        self, url: str, *, limit: int | None = None, offset: int | None = None
    ) -> list[Screenshot]:
        """``GET /screenshot/search?url=``: your screenshots whose URL matches ``url``
        (a URL or a fragment such as ``example.com``)."""
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        if not url.strip():
            raise ValueError("url must not be empty: pass the URL (or part of it) to search for")
        path = "/screenshot/search" + query({"url": url, **_validate.page(limit, offset)})
        return await self._api.get(path, _SEARCH)

    async def wait_for_screenshot(
        self, screenshot_id: int, *, poll_interval: float = 2.0, timeout: float = 120.0
    ) -> Screenshot:
        """Poll ``screenshot_info`` until the screenshot is ``finished`` or ``error``.

        Returns it either way (check ``is_finished``); after ``timeout`` seconds
        raises :class:`~uprock_async.WaitTimeoutError` with ``last_status``.
        """
        screenshot_id = _validate.positive_id(screenshot_id, "screenshot_id")
        return await wait_for(
            self._api, screenshot_info, screenshot_id, poll_interval, timeout, "screenshot"
        )

    async def delete_screenshot(self, screenshot_id: int, *, data: str = "all") -> None:
        """``GET /screenshot/delete?id=&data=``: delete a screenshot's ``image``,
        ``metadata``, ``url`` or ``all`` (default)."""
        screenshot_id = _validate.positive_id(screenshot_id, "screenshot_id")
        if data not in _DELETE_DATA:
            raise ValueError(f"data must be one of {', '.join(_DELETE_DATA)}; got {data!r}")
        path = "/screenshot/delete" + query({"id": screenshot_id, "data": data})
        await self._api.get(path, _DELETED)
