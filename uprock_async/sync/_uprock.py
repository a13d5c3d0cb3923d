"""The blocking twin of :class:`uprock_async.UprockClient`."""

from __future__ import annotations

from typing import Any, Literal, overload

from .._compat import Unpack
from ..concurrency import Outcome
from ..uprock import UprockClient as _Async
from ..uprock._client import JobIds
from ..uprock._watch import WatchOptions
from ..uprock.models import Job, JobDetail
from ._base import CHUNKS_AHEAD, BlockingClient, blocking, overloaded, streaming
from ._runner import BlockingIterator

__all__ = ["UprockClient"]


class UprockClient(BlockingClient[_Async]):
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

    _async_class = _Async

    job_detail = blocking(_Async.job_detail)
    job_details = blocking(_Async.job_details)
    iter_job_details = streaming(_Async.iter_job_details)

    # Written out: through a ParamSpec, mypy would join the ``details: bool`` overload's
    # items to ``object``, and pyright refuses that overload.
    @overload
    def watch_jobs(
        self, job_ids: JobIds, *, details: Literal[True] = ..., **options: Unpack[WatchOptions]
    ) -> BlockingIterator[Outcome[str, JobDetail]]: ...
    @overload
    def watch_jobs(
        self, job_ids: JobIds, *, details: Literal[False], **options: Unpack[WatchOptions]
    ) -> BlockingIterator[Outcome[str, Job]]: ...
    @overload
    def watch_jobs(
        self, job_ids: JobIds, *, details: bool, **options: Unpack[WatchOptions]
    ) -> BlockingIterator[Outcome[str, JobDetail]] | BlockingIterator[Outcome[str, Job]]: ...
    @overloaded(streaming(_Async.watch_jobs))
    def watch_jobs(self, job_ids: JobIds, **options: Any) -> BlockingIterator[Any]:
        raise NotImplementedError  # replaced by the twin

    create_job = blocking(_Async.create_job)
    job_status = blocking(_Async.job_status)
    jobs_status = blocking(_Async.jobs_status)
    wait_for_job = blocking(_Async.wait_for_job)
    create_session = blocking(_Async.create_session)
    get_session = blocking(_Async.get_session)
    download = blocking(_Async.download)
    stream_download = streaming(_Async.stream_download, ahead=CHUNKS_AHEAD)
