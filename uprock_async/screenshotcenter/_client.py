"""ScreenshotCenterClient: the ScreenshotCenter API. Build request → transport → decode.

The methods live in one mixin per area (``_crawls``, ``_screenshots``,
``_artifacts``, ``_batches``) over the shared envelope/polling/paging helpers of
``_core``; this module only assembles them.
"""

from __future__ import annotations

from ._artifacts import _Artifacts
from ._batches import _Batches
from ._core import validate_id
from ._crawls import _Crawls
from ._screenshots import _Screenshots

__all__ = ["ScreenshotCenterClient", "validate_id"]


class ScreenshotCenterClient(_Crawls, _Screenshots, _Artifacts, _Batches):
    """Async client for the ScreenshotCenter API (``https://api.screenshotcenter.com/api/v1``).

    ::

        async with ScreenshotCenterClient() as client:   # key from SCREENSHOTCENTER_API_KEY
            crawl = await client.create_crawl("https://example.com", max_urls=50)
            crawl = await client.wait_for_crawl(crawl.id)
            saved = await client.save_crawl(crawl.id, "shots/", concurrency=32)

    Areas: crawls (``create_crawl`` … ``wait_for_crawl``), screenshots
    (``create_screenshot`` … ``delete_screenshot``), artifacts
    (``download_screenshot``, ``save_screenshot``, ``save_crawl``), batches
    (``create_batch`` … ``download_batch``) and ``account_info``. Every id is
    checked (a positive int) before any request. The key travels in the
    ``X-API-KEY`` header, never in the query string. Arguments are those of
    :class:`~uprock_async.UprockClient`, with the env variables
    ``SCREENSHOTCENTER_API_KEY`` / ``SCREENSHOTCENTER_BASE_URL``.
    """

    _ENV_KEY = "SCREENSHOTCENTER_API_KEY"
    _ENV_URL = "SCREENSHOTCENTER_BASE_URL"
    _DEFAULT_URL = "https://api.screenshotcenter.com/api/v1"

    @staticmethod
    def _auth_headers(key: str) -> dict[str, str]:
        return {"X-API-KEY": key}
