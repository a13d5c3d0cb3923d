"""Job lifecycle on :class:`~uprock_async.UprockClient`: create, status, batch status,
wait, sessions and download. Each method: check arguments and build the body
(:mod:`._build`, pure) → transport → decode.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from yarl import URL

from .._base import BaseClient
from .._codec import json_body
from .._errors import ResponseDecodeError, UprockAsyncError, WaitTimeoutError, excerpt
from ..concurrency._fanout import gather
from ..concurrency._poll import poll_until_terminal
from . import _build
from ._build import BATCH_LIMIT, validate_job_id, validate_token
from .models import Cookie, CrawlSession, Job, JobDetail

__all__ = ["JobsMixin"]

T = TypeVar("T")

# Batch chunks are large (1000 ids) and cheap for us; a few at once is plenty and
# stays polite to the service.
_BATCH_CONCURRENCY = 4
# wait_for_job's poll interval grows by this factor up to the cap below.
_POLL_CAP = 10.0
# 202 "processing incomplete, retry shortly": the content does not exist yet.
_NOT_READY = frozenset({202})


class JobsMixin(BaseClient):
    """The job lifecycle methods of :class:`~uprock_async.UprockClient`."""

    if TYPE_CHECKING:

        async def _job_detail(self, job_id: str, parse_cookies: bool = False) -> JobDetail: ...

    # -- create and status --------------------------------------------------------

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
        status, _headers, answer = await self._transport.request(
            "POST", "/crawl/v1/new", json=payload, idempotent=False
        )
        return self._decoded(_build.decode_job, answer, status, "created job")

    async def job_status(self, job_id: str | uuid.UUID) -> Job:
        """``GET /crawl/v1/status/{job_id}``: the job and its current ``status``.

        A ``202`` "processing incomplete" answer without a job in it is reported as
        ``Job(job_id, status="pending")``: the service is saying "not yet".
        """
        return await self._job_status(validate_job_id(job_id))

    async def _job_status(self, job_id: str) -> Job:
        status, _headers, body = await self._transport.request("GET", f"/crawl/v1/status/{job_id}")
        if status == 202:
            try:
                return _build.decode_job(body, status, "job status")
            except UprockAsyncError:
                return Job(job_id=job_id, status="pending")
        return self._decoded(_build.decode_job, body, status, "job status")

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
        if isinstance(job_ids, (str, bytes, uuid.UUID)):
            raise TypeError("job_ids must be an iterable of ids, not a single id")
        ids: list[str] = []
        if isinstance(job_ids, AsyncIterable):
            async for job_id in job_ids:
                ids.append(validate_job_id(job_id))
        else:
            ids = [validate_job_id(job_id) for job_id in job_ids]
        unique = list(dict.fromkeys(ids))
        chunks = [unique[i : i + BATCH_LIMIT] for i in range(0, len(unique), BATCH_LIMIT)]
        answers = await gather(self._batch_status, chunks, concurrency=_BATCH_CONCURRENCY)
        merged: dict[str, Job | UprockAsyncError] = {}
        for answer in answers:
            assert isinstance(answer, dict)  # return_exceptions=False: failures raised
            merged.update(answer)
        return merged

    async def _batch_status(self, chunk: list[str]) -> dict[str, Job | UprockAsyncError]:
        payload = json_body(job_ids=chunk)
        status, _headers, body = await self._transport.request(
            "POST", "/crawl/v1/jobs/batch/status", json=payload, idempotent=True
        )
        return self._decoded(partial(_build.merge_batch, chunk), body, status, "batch job status")

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
        job_id = validate_job_id(job_id)
        interval, budget = _build.check_wait(poll_interval, timeout)
        try:
            await poll_until_terminal(
                partial(self._job_status, job_id),
                poll_interval=interval,
                give_up_after=budget,
                cap=_POLL_CAP,
                what=f"job {job_id}",
            )
        except WaitTimeoutError as error:
            self._count_error(error)
            raise
        return await self._job_detail(job_id)

    # -- sessions ----------------------------------------------------------------------

    async def create_session(
        self, *, duration_seconds: int | None = None, placement: dict[str, Any] | None = None
    ) -> CrawlSession:
        """``POST /crawl/v1/session/new``: a sticky session (jobs sent with its ``id`` run
        on one device) lasting ``duration_seconds`` (1 to 3600; the service's default if
        omitted), placed by ``placement`` (e.g. ``{"country": "DE"}``). Never retried
        once the request may have reached the service.
        """
        payload = _build.session_body(duration_seconds, placement)
        status, _headers, body = await self._transport.request(
            "POST", "/crawl/v1/session/new", json=payload, idempotent=False
        )
        return self._decoded(_build.decode_session, body, status, "crawl session")

    async def get_session(self, session_id: str | uuid.UUID) -> CrawlSession:
        """``GET /crawl/v1/session/{id}``: the session; ``status`` turns ``"expired"``
        once its time is up (:attr:`CrawlSession.is_active`)."""
        session_id = validate_token(session_id, "session_id")
        status, _headers, body = await self._transport.request(
            "GET", f"/crawl/v1/session/{session_id}"
        )
        return self._decoded(_build.decode_session, body, status, "crawl session")

    # -- download -------------------------------------------------------------------------

    async def download(
        self,
        job: str | uuid.UUID | JobDetail | Job,
        *,
        dest: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> bytes | Path:
        """The content a job fetched: ``bytes``, or the ``Path`` written when ``dest``
        is given.

        ``job`` is a job id (``GET /crawl/v1/jobs/{id}/download`` on the base URL), a
        :class:`JobDetail` (its ``download_url``, else the id's URL), a :class:`Job`,
        or an absolute URL. With ``dest`` the body streams to a temporary file beside
        it that is renamed into place only when complete, so a failed or truncated
        download leaves nothing at ``dest``; missing parent folders are created, and
        removed again if the download fails. A ``dest`` that is an existing
        directory raises :class:`IsADirectoryError` before any request. A file is
        capped at :attr:`Limits.max_download_size <uprock_async.Limits>` bytes
        (default: no cap), ``bytes`` at ``max_body_size``; both count decompressed
        bytes. ``gzip``/``deflate`` encodings are undone transparently. ``progress`` is
        called as ``(bytes_so_far, total_or_None)``. A ``202`` "processing
        incomplete" answer is retried and, if it persists, raised as
        :class:`~uprock_async.APIStatusError` (``status_code == 202``) — never
        returned or saved as content; :meth:`wait_for_job` first to avoid it.

        Credentials: the API key is sent only to the configured base URL's origin or
        over https to a ``*.edge.uprock.com`` host. Any other ``download_url`` (or
        redirect target) is fetched **without** the key — it cannot leak, and a
        pre-signed storage URL still works. A URL with ``user:password@`` is never
        fetched: your own raises ``ValueError`` before any request; one the service
        sent as ``download_url`` raises :class:`~uprock_async.ResponseDecodeError`.
        """
        target = self._download_url(job)
        path = None if dest is None else Path(os.fspath(dest))
        if progress is not None and not callable(progress):
            raise TypeError("progress must be a callable (done, total) or None")
        return await self._transport.download(
            target, dest=path, progress=progress, not_ready=_NOT_READY
        )

    def _download_url(self, job: object) -> URL:
        if isinstance(job, JobDetail):
            if job.download_url:
                return self._served_url(job)
            job = job.job_id
        elif isinstance(job, Job):
            job = job.job_id
        if isinstance(job, str) and job.startswith(("http://", "https://")):
            return _absolute(job)
        if not isinstance(job, (str, uuid.UUID)):
            raise TypeError(
                f"job must be a job id, a JobDetail, a Job or a URL, got {type(job).__name__}"
            )
        job_id = validate_job_id(job)
        return self._transport.url(f"/crawl/v1/jobs/{job_id}/download")

    def _served_url(self, detail: JobDetail) -> URL:
        """The ``download_url`` the service sent: a bad one is the service's fault,
        not the caller's, so it is our error rather than ``ValueError``."""
        text = detail.download_url or ""
        try:
            return _absolute(text)
        except ValueError:
            quoted = excerpt(
                _masked(text).encode("utf-8", "replace"), redact=self._transport.redact
            )
            error = ResponseDecodeError(
                f"the download_url sent for job {detail.job_id} is not an http(s) URL "
                f"without user:password@: {quoted}"
            )
            self._count_error(error)
            raise error from None

    # -- helpers -------------------------------------------------------------------------------

    def _decoded(self, fn: Callable[..., T], body: bytes, status: int, what: str) -> T:
        """``fn(body, status, what, redact=...)`` (a ``_build`` decoder, which keeps the
        API key out of its messages); a failure is counted in the client's stats."""
        try:
            return fn(body, status, what, redact=self._transport.redact)
        except UprockAsyncError as exc:
            self._count_error(exc)
            raise


def _absolute(url: str) -> URL:
    """An absolute http(s) URL, else ``ValueError``; ``user:password@`` is refused,
    since the key must never go to such a URL and it is how ``https://evil.com@host/``
    disguises its real host."""
    parsed = URL(_build.job_url(url))
    if parsed.user is not None or parsed.password is not None:
        raise ValueError("a download URL must not contain user:password@ (credentials)")
    return parsed


def _masked(url: str) -> str:
    """``url`` with any password hidden, for quoting in a message."""
    try:
        parsed = URL(url)
        return str(parsed.with_password("***")) if parsed.password else url
    except ValueError:
        return url
