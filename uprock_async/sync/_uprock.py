"""The blocking twin of :class:`uprock_async.UprockClient`."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal, overload

from .._api import FAN_OUT
from .._errors import UprockAsyncError
from ..concurrency._adaptive import ConcurrencyArg
from ..concurrency._fanout import Outcome, ProgressArg
from ..uprock import UprockClient as _AsyncUprockClient
from ..uprock._client import JobIds
from ..uprock.models import Cookie, CrawlSession, Job, JobDetail
from ._base import BlockingClient
from ._runner import BlockingIterator

__all__ = ["UprockClient"]


class UprockClient(BlockingClient[_AsyncUprockClient]):
    """Blocking client for the Uprock Crawl API, for scripts and code that cannot ``await``::

        from uprock_async.sync import UprockClient

        with UprockClient() as client:                # key from UPROCK_API_KEY
            detail = client.job_detail(job_id)
            details = client.job_details(ids, concurrency="auto")
            for outcome in client.iter_job_details(ids):
                ...

    Every method is the blocking twin of :class:`uprock_async.UprockClient`'s:
    same name, arguments, results and exceptions. The async client runs on an
    event loop in a daemon thread owned by this client, so it also works where a
    loop is already running (a notebook cell) and from many threads at once.
    ``close()`` (or leaving ``with``) ends that thread; a client that is never
    closed ends it once garbage-collected, and never holds up interpreter exit.
    """

    _async_class = _AsyncUprockClient

    def job_detail(self, job_id: str | uuid.UUID, *, parse_cookies: bool = False) -> JobDetail:
        """Blocking :meth:`uprock_async.UprockClient.job_detail`: one job's detail."""
        return self._call(self._client.job_detail, job_id, parse_cookies=parse_cookies)

    @overload
    def job_details(
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
    def job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = ...,
        concurrency: ConcurrencyArg = ...,
        per_second: float | None = ...,
        return_exceptions: bool,
        progress: ProgressArg = ...,
    ) -> list[JobDetail | UprockAsyncError]: ...

    def job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = False,
        concurrency: ConcurrencyArg = FAN_OUT,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: ProgressArg = None,
    ) -> list[JobDetail] | list[JobDetail | UprockAsyncError]:
        """Blocking :meth:`uprock_async.UprockClient.job_details`: many details, in
        input order (a ``progress`` callable runs on the client's loop thread)."""
        return self._call(
            self._client.job_details,
            job_ids,
            parse_cookies=parse_cookies,
            concurrency=concurrency,
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )

    def iter_job_details(
        self,
        job_ids: JobIds,
        *,
        parse_cookies: bool = False,
        concurrency: ConcurrencyArg = FAN_OUT,
        per_second: float | None = None,
        progress: ProgressArg = None,
    ) -> BlockingIterator[Outcome[str, JobDetail]]:
        """Blocking :meth:`uprock_async.UprockClient.iter_job_details`: outcomes as they
        complete, as a plain iterator with bounded memory; closing it (or ``break``)
        cancels the requests in flight."""
        return self._stream(
            self._client.iter_job_details,
            job_ids,
            parse_cookies=parse_cookies,
            concurrency=concurrency,
            per_second=per_second,
            progress=progress,
        )

    @overload
    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = ...,
        timeout: float | None = ...,
        details: Literal[True] = ...,
        concurrency: ConcurrencyArg = ...,
        progress: ProgressArg = ...,
    ) -> BlockingIterator[Outcome[str, JobDetail]]: ...

    @overload
    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = ...,
        timeout: float | None = ...,
        details: Literal[False],
        concurrency: ConcurrencyArg = ...,
        progress: ProgressArg = ...,
    ) -> BlockingIterator[Outcome[str, Job]]: ...

    @overload
    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = ...,
        timeout: float | None = ...,
        details: bool,
        concurrency: ConcurrencyArg = ...,
        progress: ProgressArg = ...,
    ) -> BlockingIterator[Outcome[str, JobDetail]] | BlockingIterator[Outcome[str, Job]]: ...

    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        details: bool = True,
        concurrency: ConcurrencyArg = 16,
        progress: ProgressArg = None,
    ) -> BlockingIterator[Outcome[str, JobDetail]] | BlockingIterator[Outcome[str, Job]]:
        """Blocking :meth:`uprock_async.UprockClient.watch_jobs`: one outcome per job as
        it reaches a terminal status, as a plain iterator; closing it (or ``break``)
        cancels the polling."""
        if details:  # the async overloads take a literal True or False, not a bool
            return self._iterate(
                partial(
                    self._client.watch_jobs,
                    job_ids,
                    poll_interval=poll_interval,
                    timeout=timeout,
                    details=True,
                    concurrency=concurrency,
                    progress=progress,
                )
            )
        return self._iterate(
            partial(
                self._client.watch_jobs,
                job_ids,
                poll_interval=poll_interval,
                timeout=timeout,
                details=False,
                concurrency=concurrency,
                progress=progress,
            )
        )

    def create_job(
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
        """Blocking :meth:`uprock_async.UprockClient.create_job`: start a job."""
        return self._call(
            self._client.create_job,
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

    def job_status(self, job_id: str | uuid.UUID) -> Job:
        """Blocking :meth:`uprock_async.UprockClient.job_status`: the job and its status."""
        return self._call(self._client.job_status, job_id)

    def jobs_status(
        self, job_ids: Iterable[str | uuid.UUID] | AsyncIterable[str | uuid.UUID]
    ) -> dict[str, Job | UprockAsyncError]:
        """Blocking :meth:`uprock_async.UprockClient.jobs_status`: many jobs' status."""
        return self._call(self._client.jobs_status, job_ids)

    def wait_for_job(
        self,
        job_id: str | uuid.UUID,
        *,
        poll_interval: float = 1.0,
        timeout: float = 300.0,
    ) -> JobDetail:
        """Blocking :meth:`uprock_async.UprockClient.wait_for_job`: poll, then the detail."""
        return self._call(
            self._client.wait_for_job, job_id, poll_interval=poll_interval, timeout=timeout
        )

    def create_session(
        self, *, duration_seconds: int | None = None, placement: dict[str, Any] | None = None
    ) -> CrawlSession:
        """Blocking :meth:`uprock_async.UprockClient.create_session`: a sticky session."""
        return self._call(
            self._client.create_session, duration_seconds=duration_seconds, placement=placement
        )

    def get_session(self, session_id: str | uuid.UUID) -> CrawlSession:
        """Blocking :meth:`uprock_async.UprockClient.get_session`: a session's state."""
        return self._call(self._client.get_session, session_id)

    def download(
        self,
        job: str | uuid.UUID | JobDetail | Job,
        *,
        dest: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> bytes | Path:
        """Blocking :meth:`uprock_async.UprockClient.download`: the content a job fetched,
        as ``bytes`` or the ``Path`` written (``progress`` runs on the loop thread)."""
        return self._call(self._client.download, job, dest=dest, progress=progress)
