"""Job details: ``job_detail``, ``job_details`` and ``iter_job_details``.

The per-id path of the fan-out is :func:`detail_fetcher`'s function: one
request, one decode, nothing between (it is what ``benchmarks/fanout.py``
measures).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Literal, overload

from .. import _validate
from .._api import FAN_OUT, Api, HasApi
from .._compat import Unpack
from .._errors import UprockAsyncError
from ..concurrency import ConcurrencyArg, FanOut, FanOutOptions, ProgressArg
from ._build import DETAIL
from .models import JobDetail

__all__ = ["DetailsOptions", "JobIds", "detail_fetcher"]

JobIds = Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID]


class DetailsOptions(FanOutOptions, total=False):
    """``job_details``' keyword options besides ``return_exceptions``."""

    parse_cookies: bool


_PATH = "/crawl/v1/jobs/{}/detail"
_PATH_COOKIES = _PATH + "?parse_cookies=true"


def detail_fetcher(api: Api, parse_cookies: bool = False) -> Callable[[str], Awaitable[JobDetail]]:
    """``GET /crawl/v1/jobs/{id}/detail`` for a checked id, as a function of the id."""
    return api.getter(_PATH_COOKIES if parse_cookies else _PATH, DETAIL)


class _Details(HasApi):
    async def job_detail(
        self, job_id: str | uuid.UUID, *, parse_cookies: bool = False
    ) -> JobDetail:
        """``GET /crawl/v1/jobs/{job_id}/detail``: the job, its headers, cookies and result.

        ``parse_cookies=True`` asks the service to parse ``Cookie``/``Set-Cookie``
        headers into ``request_cookies``/``response_cookies``.
        """
        path = (_PATH_COOKIES if parse_cookies else _PATH).format(_validate.job_id(job_id))
        return await self._api.get(path, DETAIL)

    @overload
    async def job_details(
        self,
        job_ids: JobIds,
        *,
        return_exceptions: Literal[False] = ...,
        **options: Unpack[DetailsOptions],
    ) -> list[JobDetail]: ...

    @overload
    async def job_details(
        self, job_ids: JobIds, *, return_exceptions: bool, **options: Unpack[DetailsOptions]
    ) -> list[JobDetail | UprockAsyncError]: ...

    async def job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = False,
        concurrency: ConcurrencyArg = FAN_OUT,
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
        results = await self._api.many(
            detail_fetcher(self._api, parse_cookies),
            job_ids,
            check=_validate.job_id,
            what="job_ids",
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )
        return results

    def iter_job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = False,
        concurrency: ConcurrencyArg = FAN_OUT,
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
        return self._api.stream(
            detail_fetcher(self._api, parse_cookies),
            job_ids,
            check=_validate.job_id,
            what="job_ids",
            concurrency=concurrency,
            per_second=per_second,
            progress=progress,
        )
