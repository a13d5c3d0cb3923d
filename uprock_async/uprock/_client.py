"""UprockClient: the Uprock Crawl API. Each method: build request → transport → decode."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from functools import partial
from typing import Literal, overload

import msgspec

from .._base import validated
from .._errors import UprockAsyncError
from ..concurrency._adaptive import ConcurrencyArg
from ..concurrency._fanout import FanOut, ProgressArg, fan_out, gather
from ._build import validate_job_id
from ._jobs import JobsMixin
from ._watch import JobWatch, check_watch
from .models import Job, JobDetail

__all__ = ["UprockClient", "validate_job_id"]

_detail_decoder = msgspec.json.Decoder(JobDetail)

JobIds = Iterable["str | uuid.UUID"] | AsyncIterable["str | uuid.UUID"]


class UprockClient(JobsMixin):
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
    OpenTelemetry's), ``max_body_size`` (bytes; larger answers are refused).
    """

    _ENV_KEY = "UPROCK_API_KEY"
    _ENV_URL = "UPROCK_BASE_URL"
    _DEFAULT_URL = "https://edge.uprock.com"
    # download_url points at regional hosts such as iad001.edge.uprock.com
    _TRUSTED_SUFFIXES = (".edge.uprock.com",)

    @staticmethod
    def _auth_headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    # -- job detail ------------------------------------------------------------

    async def job_detail(
        self, job_id: str | uuid.UUID, *, parse_cookies: bool = False
    ) -> JobDetail:
        """``GET /crawl/v1/jobs/{job_id}/detail``: the job, its headers, cookies and result.

        ``parse_cookies=True`` asks the service to parse ``Cookie``/``Set-Cookie``
        headers into ``request_cookies``/``response_cookies``.
        """
        return await self._job_detail(validate_job_id(job_id), parse_cookies)

    async def _job_detail(self, job_id: str, parse_cookies: bool = False) -> JobDetail:
        path = f"/crawl/v1/jobs/{job_id}/detail"
        if parse_cookies:
            path += "?parse_cookies=true"
        status, _headers, body = await self._transport.request("GET", path)
        return self._decode(_detail_decoder, body, status, "job detail")

    def _detail_fn(self, parse_cookies: bool) -> Callable[[str], Awaitable[JobDetail]]:
        return partial(self._job_detail, parse_cookies=True) if parse_cookies else self._job_detail

    @overload
    async def job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = ...,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: Literal[False] = ...,
        progress: ProgressArg = ...,
    ) -> list[JobDetail]: ...

    @overload
    async def job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = ...,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: bool,
        progress: ProgressArg = ...,
    ) -> list[JobDetail | UprockAsyncError]: ...

    async def job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = False,
        concurrency: ConcurrencyArg = 64,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: ProgressArg = None,
    ) -> list[JobDetail] | list[JobDetail | UprockAsyncError]:
        """Many job details at once; a list in input order (``list[JobDetail]`` to a type
        checker unless ``return_exceptions`` may be true).

        ``job_ids``: any iterable or async iterable of ids (``str`` or ``UUID``),
        consumed lazily; duplicates are fetched once per occurrence. At most
        ``concurrency`` requests run at once (an int, ``"auto"`` or an
        :class:`~uprock_async.AdaptiveConcurrency`); ``per_second`` caps request
        starts. With ``return_exceptions=False`` the first failure cancels the
        rest and is raised; with ``True`` each failed id's exception takes its
        place. ``progress``: ``True`` for a tqdm bar or a callable ``(done, total)``.
        """
        results = await gather(
            self._detail_fn(parse_cookies),
            validated(job_ids, validate_job_id, "job_ids"),
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )
        return results  # type: ignore[return-value]

    def iter_job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = False,
        concurrency: ConcurrencyArg = 64,
        per_second: float | None = None,
        progress: ProgressArg = None,
    ) -> FanOut[str, JobDetail]:
        """Stream job details as they complete::

            async with client.iter_job_details(ids) as outcomes:
                async for outcome in outcomes:   # Outcome: .item (id), .value / .error
                    ...

        Memory stays constant however many ids there are; a failing id becomes its
        outcome's ``error`` and never stops the others. Leaving the block early
        cancels the requests in flight.
        """
        return fan_out(
            self._detail_fn(parse_cookies),
            validated(job_ids, validate_job_id, "job_ids"),
            concurrency=concurrency,
            per_second=per_second,
            progress=progress,
        )

    # -- watching many jobs ----------------------------------------------------------

    @overload
    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = ...,
        timeout: float | None = ...,
        details: Literal[True] = ...,
        concurrency: int = ...,
        progress: ProgressArg = ...,
    ) -> JobWatch[JobDetail]: ...

    @overload
    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = ...,
        timeout: float | None = ...,
        details: Literal[False],
        concurrency: int = ...,
        progress: ProgressArg = ...,
    ) -> JobWatch[Job]: ...

    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        details: bool = True,
        concurrency: int = 16,
        progress: ProgressArg = None,
    ) -> JobWatch[JobDetail] | JobWatch[Job]:
        """Follow many jobs until each is terminal; one outcome per distinct id::

            async with client.watch_jobs(ids, timeout=3600) as outcomes:
                async for outcome in outcomes:   # completion order; .item is the id
                    detail = outcome.unwrap()    # JobDetail (details=False: Job)

        Polls ``POST /crawl/v1/jobs/batch/status``: each round sends one request
        per 1,000 ids still pending (never one per job) and starts
        ``poll_interval`` seconds after the previous round started. With
        ``details=True`` each finished job's detail is fetched once, at most
        ``concurrency`` at a time. An id the service does not know ends with
        :class:`~uprock_async.NotFoundError` (an invalid one with
        :class:`~uprock_async.BadRequestError`) in its outcome; after ``timeout``
        seconds every id still pending ends with
        :class:`~uprock_async.WaitTimeoutError` (``last_status`` set). A round that
        fails as a whole (outage, 5xx, 429) is retried next round; 401/403 end
        the watch with that error. Memory stays constant per pending id. Ids are
        read and checked on entry (``ValueError`` before any request); bad
        arguments raise ``ValueError`` at the call. Leaving the block early
        cancels everything in flight.
        """
        span = check_watch(poll_interval, timeout, concurrency)
        return JobWatch(
            job_ids,
            batch_status=self._batch_status,
            detail=self._job_detail if details else None,
            poll_interval=poll_interval,
            timeout=span,
            concurrency=concurrency,
            progress=progress,
        )
