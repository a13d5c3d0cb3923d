"""Jobs: ``create_job``, ``job_status``, ``jobs_status`` and ``wait_for_job``.

Each method: check arguments and build the body (:mod:`._build`, pure) → the
core (:mod:`uprock_async._api`) → the answer's shape.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from .. import _validate
from .._api import Api, HasApi
from .._codec import Hooks, json_body
from .._errors import UprockAsyncError
from . import _build
from ._build import BATCH_LIMIT, JOB
from ._details import detail_fetcher
from .models import Cookie, Job, JobDetail

__all__ = ["batch_status"]

_CREATED = JOB.named("created job")
_STATUS = JOB.named("job status")

# Batch chunks are large (1000 ids) and cheap for us; a few at once is plenty and
# stays polite to the service.
_BATCH_CONCURRENCY = 4
# wait_for_job's poll interval grows by this factor up to the cap below.
_POLL_CAP = 10.0


def _status_or_pending(
    job_id: str, body: bytes, status: int, headers: Mapping[str, str], hooks: Hooks
) -> Job:
    """A job status answer; a ``202`` without a job in it is ``Job(job_id, "pending")``:
    the service is saying "not yet", which is not an error (nor counted as one)."""
    if status == 202:
        try:
            return _STATUS.read(body, status)
        except UprockAsyncError:
            return Job(job_id=job_id, status="pending")
    return _STATUS(body, status, headers, hooks)


async def job_status(api: Api, job_id: str) -> Job:
    """``GET /crawl/v1/status/{job_id}`` for a checked id."""
    return await api.get(f"/crawl/v1/status/{job_id}", partial(_status_or_pending, job_id))


async def batch_status(api: Api, chunk: list[str]) -> dict[str, Job | UprockAsyncError]:
    """One ``POST /crawl/v1/jobs/batch/status`` of at most 1000 checked ids."""
    return await api.send(
        "POST",
        "/crawl/v1/jobs/batch/status",
        partial(_build.batch_shape, chunk),
        json=json_body(job_ids=chunk),
        idempotent=True,
    )


class _Jobs(HasApi):
    async def create_job(
        self,
        url: str,
        *,
        method: str = "GET",
        timeout_sec: int | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        body: bytes | str | None = None,
        cookies: Iterable[Cookie | Mapping[str, Any]] | None = None,
        session_id: str | uuid.UUID | None = None,
        placement: Mapping[str, Any] | None = None,
        storage_type: str | None = None,
    ) -> Job:
        """``POST /crawl/v1/new``: start a job that fetches ``url``; returns it (``pending``).

        ``method``: one of ``GET POST PUT DELETE HEAD OPTIONS SOLANA_JSON_RPC
        CRAWL_FULL_PAGE`` (any case). ``timeout_sec``: 1 to 300 (service default 30).
        ``headers``: ``{name: [values]}`` or ``{name: value}``. ``body``: ``bytes``
        or ``str`` (UTF-8), base64-encoded for you. ``cookies``: :class:`Cookie` s
        or dicts of the same fields. ``session_id``: run on a sticky
        :meth:`create_session` device. ``placement``: where to run, e.g.
        ``{"country": "US"}``. ``storage_type``: ``"local"`` or ``"s3"``.

        Bad arguments raise ``ValueError``/``TypeError`` before any request. A new
        job costs money, so the request is retried only when the connection failed
        before it was sent — never after it may have reached the service.
        """
        payload = _build.create_job_body(
            url,
            method=method,
            timeout_sec=timeout_sec,
            headers=headers,
            body=body,
            cookies=cookies,
            session_id=session_id,
            placement=placement,
            storage_type=storage_type,
        )
        return await self._api.send(
            "POST", "/crawl/v1/new", _CREATED, json=payload, idempotent=False
        )

    async def job_status(self, job_id: str | uuid.UUID) -> Job:
        """``GET /crawl/v1/status/{job_id}``: the job and its current ``status``.

        A ``202`` "processing incomplete" answer without a job in it is reported as
        ``Job(job_id, status="pending")``: the service is saying "not yet".
        """
        return await job_status(self._api, _validate.job_id(job_id))

    async def jobs_status(
        self, job_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID]
    ) -> dict[str, Job | UprockAsyncError]:
        """The status of many jobs: ``{job_id: Job | error}``, one entry per distinct id.

        Ids go out in ``POST /crawl/v1/jobs/batch/status`` requests of at most 1000,
        a few at once, and the answers are merged. An id the service does not know
        maps to a :class:`~uprock_async.NotFoundError` instance (also when the
        answer leaves it out), a malformed one to a
        :class:`~uprock_async.BadRequestError` instance — they are returned, not
        raised. A failed request (e.g. 401) raises. An answer whose ``found_count``
        contradicts its own entries raises :class:`~uprock_async.ResponseDecodeError`.
        Every id is checked before the first request (``ValueError``); duplicates
        are asked for once. The request is read-only, so it is retried like a GET.
        """
        ids = await _validate.collect(job_ids, _validate.job_id, "job_ids")
        unique = list(dict.fromkeys(ids))
        chunks = [unique[i : i + BATCH_LIMIT] for i in range(0, len(unique), BATCH_LIMIT)]
        answers = await self._api.many(
            partial(batch_status, self._api), chunks, concurrency=_BATCH_CONCURRENCY
        )
        merged: dict[str, Job | UprockAsyncError] = {}
        for answer in answers:
            assert isinstance(answer, dict)  # return_exceptions=False: failures raised
            merged.update(answer)
        return merged

    # -- waiting ---------------------------------------------------------------------

    async def wait_for_job(
        self,
        job_id: str | uuid.UUID,
        *,
        poll_interval: float = 1.0,
        timeout: float = 300.0,
    ) -> JobDetail:
        """Poll the job's status until it is terminal, then return its detail.

        Polls start ``poll_interval`` seconds apart and grow by x1.5 up to
        ``max(poll_interval, min(10, 8 * poll_interval))``. ``completed``,
        ``failed``, ``timeout``, ``error`` … end the wait (see
        :attr:`Job.is_terminal`); a failed job's detail is returned too, so check
        ``detail.job.is_completed``. ``202`` "processing incomplete" counts as not
        yet. After ``timeout`` seconds of polling :class:`~uprock_async.WaitTimeoutError`
        is raised with ``last_status``; the final detail request is outside that
        budget (it has the client's own request timeout).
        """
        job_id = _validate.job_id(job_id)
        await self._api.wait(
            partial(job_status, self._api, job_id),
            poll_interval=poll_interval,
            timeout=timeout,
            cap=_POLL_CAP,
            what=f"job {job_id}",
        )
        return await detail_fetcher(self._api)(job_id)
