"""UprockClient: the Uprock Crawl API, assembled from one mixin per area.

Each area method: check arguments (:mod:`uprock_async._validate`) → the core
(:mod:`uprock_async._api`) → the answer's shape (:mod:`uprock_async._codec`).
"""

from __future__ import annotations

from .._client_base import ClientBase
from ._details import JobIds, _Details
from ._downloads import _Downloads
from ._jobs import _Jobs
from ._sessions import _Sessions
from ._watch import _Watch

__all__ = ["JobIds", "UprockClient"]


class UprockClient(ClientBase, _Details, _Jobs, _Sessions, _Downloads, _Watch):
    """Async client for the Uprock Crawl API (``https://edge.uprock.com``).

    ::

        async with UprockClient() as client:          # key from UPROCK_API_KEY
            detail = await client.job_detail(job_id)
            details = await client.job_details(ids, concurrency=64)
            job = await client.create_job("https://example.com/")
            detail = await client.wait_for_job(job.job_id)
            content = await client.download(detail)

    One client holds one pooled connection set; share it between all tasks of a
    process. Arguments: ``api_key`` (default env ``UPROCK_API_KEY``),
    ``base_url`` (default env ``UPROCK_BASE_URL`` or the public API),
    ``timeout`` (seconds or :class:`~uprock_async.Timeout`), ``limits``
    (:class:`~uprock_async.Limits`: the pool, and ``max_download_size`` for files
    :meth:`download` writes), ``retry`` (:class:`~uprock_async.RetryPolicy`
    or max retries), ``session`` (your own ``aiohttp.ClientSession``, never
    closed by us; per request, its ``raise_for_status`` is switched off and a
    create is never silently resent by it), ``trace_configs`` (``aiohttp.TraceConfig`` s, e.g.
    OpenTelemetry's), ``max_body_size`` (bytes; larger answers are refused),
    ``circuit_breaker`` (:class:`~uprock_async.CircuitBreaker` or ``None``),
    ``default_headers`` (sent with every request) and ``event_hooks``
    (``{"request": [...], "response": [...]}``, the key masked in what they see).
    The network: ``proxy`` (``http://``, ``https://`` or, with the ``socks``
    extra, ``socks5://`` URL; its credentials are secrets like the key),
    ``trust_env`` (``HTTP(S)_PROXY``/``NO_PROXY``, ``SSL_CERT_FILE``/``SSL_CERT_DIR``;
    on by default, as in httpx) and ``ssl`` (an ``SSLContext`` that trusts your
    CA, or ``False`` to skip verification, with a warning).

    Areas: details (``job_detail``, ``job_details``, ``iter_job_details``), jobs
    (``create_job``, ``job_status``, ``jobs_status``, ``wait_for_job``),
    sessions (``create_session``, ``get_session``), downloads (``download``) and
    watching (``watch_jobs``).
    """

    _ENV_KEY = "UPROCK_API_KEY"
    _ENV_URL = "UPROCK_BASE_URL"
    _DEFAULT_URL = "https://edge.uprock.com"
    # download_url points at regional hosts such as iad001.edge.uprock.com
    _TRUSTED_SUFFIXES = (".edge.uprock.com",)

    @staticmethod
    def _auth_headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}
