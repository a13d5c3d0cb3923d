"""ScreenshotCenterClient: the ScreenshotCenter API, assembled from one mixin per area.

Each area method: check arguments (:mod:`uprock_async._validate`) → the core
(:mod:`uprock_async._api`) → the answer's shape (envelopes, :mod:`uprock_async._codec`).
"""

from __future__ import annotations

from .._client_base import ClientBase
from ._account import _Account
from ._artifacts import _Artifacts
from ._batches import _Batches
from ._crawls import _Crawls
from ._screenshots import _Screenshots

__all__ = ["ScreenshotCenterClient"]


class ScreenshotCenterClient(ClientBase, _Crawls, _Screenshots, _Artifacts, _Batches, _Account):
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
