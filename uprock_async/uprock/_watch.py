"""``watch_jobs``: follow many jobs to a terminal status with batch status polls.

One round asks ``POST /crawl/v1/jobs/batch/status`` about every id still
pending, 1,000 ids a request; a round starts ``poll_interval`` seconds after the
previous one started. A job that turns terminal leaves the pending set at once:
with ``details=False`` its :class:`Job` is yielded, with ``details=True`` its
detail is fetched once, through the fan-out engine (at most ``concurrency`` at a
time), and then yielded. The
pending set holds one ``(index, last status)`` entry per id, so memory stays
constant per pending id however long the watch runs.

What the service says about one id decides its fate, never the round's other
ids: ``not_found`` / ``invalid_uuid`` end that id with its error; an id the
answer leaves out stays pending (and times out if it never shows up). A round
that fails as a whole (connection errors, 5xx, 429 after the client's retries)
is logged and tried again next round; only an answer that no later round can
change (401, 403, other 4xx) ends the watch with that error.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from functools import partial
from typing import Generic, Literal, TypedDict, TypeVar, overload

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import _validate
from .._api import HasApi
from .._compat import Unpack
from .._errors import (
    APIStatusError,
    NotFoundError,
    RateLimitError,
    UprockAsyncError,
    WaitTimeoutError,
)
from .._redact import Redact, bounded
from ..concurrency import (
    AdaptiveConcurrency,
    ConcurrencyArg,
    Outcome,
    Progress,
    ProgressArg,
    TaskScope,
    fan_out,
    resolve_concurrency,
)
from ._build import BATCH_LIMIT
from ._details import JobIds, detail_fetcher
from ._jobs import batch_status
from .models import Job, JobDetail

__all__ = ["JobWatch", "WatchOptions"]

R = TypeVar("R")

log = logging.getLogger("uprock_async")

_BATCH_CONCURRENCY = 4  # batch requests of one round in flight at once
_BUFFER = 256  # finished outcomes waiting for the consumer

Finished = tuple[str, int, str]  # a terminal job waiting for its detail: id, index, status


class JobWatch(TaskScope, Generic[R]):
    """The async context manager returned by :meth:`UprockClient.watch_jobs`.

    ``async with`` it, then ``async for`` its :class:`~uprock_async.Outcome` s:
    one per distinct id, in completion order, ``item`` the id and ``index`` its
    first position in the input. Leaving the block early cancels every request
    in flight.
    """

    def __init__(
        self,
        job_ids: Iterable[object] | AsyncIterable[object],
        *,
        batch_status: Callable[[list[str]], Awaitable[dict[str, Job | UprockAsyncError]]],
        detail: Callable[[str], Awaitable[R]] | None,
        poll_interval: float,
        timeout: float,
        concurrency: int | AdaptiveConcurrency,
        progress: ProgressArg,
        retryable: Callable[[APIStatusError], bool] = lambda _: False,
        redact: Redact = str,
    ) -> None:
        if isinstance(job_ids, (str, bytes)):
            raise TypeError("job_ids must be an iterable of ids, not a single id")
        self._ids = job_ids
        self._batch_status = batch_status
        self._detail = detail
        self._interval = float(poll_interval)
        self._span = timeout
        self._concurrency = concurrency
        self._progress_arg = progress
        self._retryable = retryable
        self._redact = redact
        self._deadline = math.inf
        self._pending: dict[str, tuple[int, str | None]] = {}
        self._receive: MemoryObjectReceiveStream[Outcome[str, R]] | None = None
        self._error: BaseException | None = None

    async def __aenter__(self) -> JobWatch[R]:
        self._enter_once("JobWatch")
        await self._read_ids()  # a bad id raises here, before any request
        send, self._receive = anyio.create_memory_object_stream[Outcome[str, R]](_BUFFER)
        self._progress = Progress(self._progress_arg, len(self._pending))
        group = await self._open()
        group.start_soon(self._run, send)
        return self

    async def _closed(self) -> None:
        assert self._receive is not None
        self._receive.close()
        self._progress.close()

    def __aiter__(self) -> JobWatch[R]:
        return self

    async def __anext__(self) -> Outcome[str, R]:
        if self._receive is None:
            raise RuntimeError("use `async with client.watch_jobs(ids) as outcomes:` first")
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            if self._error is not None:
                raise self._error from None
            raise StopAsyncIteration from None

    # -- the watch -------------------------------------------------------------------

    async def _read_ids(self) -> None:
        ids = await _validate.collect(self._ids, _validate.job_id, "job_ids")
        for position, job_id in enumerate(ids):
            self._pending.setdefault(job_id, (position, None))  # first position wins

    async def _run(self, send: MemoryObjectSendStream[Outcome[str, R]]) -> None:
        deadline = self._deadline = anyio.current_time() + self._span
        async with send, anyio.create_task_group() as workers:
            details_send, details_receive = anyio.create_memory_object_stream[Finished](
                math.inf  # one small entry per finished id, as the pending set held before
            )
            async with details_send:
                if self._detail is not None:
                    workers.start_soon(self._fetch_details, details_receive, send)
                else:
                    details_receive.close()
                await self._rounds(deadline, send, details_send)
                if self._error is not None:
                    workers.cancel_scope.cancel()  # the consumer gets the error next

    async def _fetch_details(
        self,
        finished: MemoryObjectReceiveStream[Finished],
        send: MemoryObjectSendStream[Outcome[str, R]],
    ) -> None:
        """Each finished job's detail, once, through the fan-out engine (so
        ``concurrency`` may be an int, ``"auto"`` or a shared limiter). A fetch
        still in flight at the watch's deadline is cancelled: that job ends with
        :class:`~uprock_async.WaitTimeoutError`."""
        detail = self._detail
        assert detail is not None

        async def fetch(entry: Finished) -> R:
            with anyio.move_on_at(self._deadline):
                return await detail(entry[0])
            raise self._timeout_error(
                entry[0], entry[2], "finished, but its detail did not arrive within"
            )

        async with finished, fan_out(fetch, finished, concurrency=self._concurrency) as done:
            async for outcome in done:
                job_id, index, _status = outcome.item
                await self._emit(send, Outcome(index, job_id, outcome.value, outcome.error))

    async def _rounds(
        self,
        deadline: float,
        send: MemoryObjectSendStream[Outcome[str, R]],
        details: MemoryObjectSendStream[Finished],
    ) -> None:
        while self._pending:
            started = anyio.current_time()
            ids = list(self._pending)
            chunks = [ids[i : i + BATCH_LIMIT] for i in range(0, len(ids), BATCH_LIMIT)]
            del ids
            limiter = anyio.CapacityLimiter(_BATCH_CONCURRENCY)
            async with anyio.create_task_group() as round_group:
                for chunk in chunks:
                    round_group.start_soon(
                        self._poll_chunk,
                        chunk,
                        limiter,
                        round_group.cancel_scope,
                        deadline,
                        send,
                        details,
                    )
            if self._error is not None:
                return
            now = anyio.current_time()
            if self._pending and now >= deadline:
                await self._time_out(send)
                return
            await anyio.sleep(max(0.0, min(started + self._interval, deadline) - now))

    async def _poll_chunk(
        self,
        chunk: list[str],
        limiter: anyio.CapacityLimiter,
        round_scope: anyio.CancelScope,
        deadline: float,
        send: MemoryObjectSendStream[Outcome[str, R]],
        details: MemoryObjectSendStream[Finished],
    ) -> None:
        answer: dict[str, Job | UprockAsyncError] = {}
        # The deadline cancels a poll in flight (its ids then time out); what an
        # answer that did arrive says is handed out in full, never cut off.
        with anyio.move_on_at(deadline):
            async with limiter:
                answer = await self._poll(chunk, round_scope)
        for job_id, entry in answer.items():
            slot = self._pending.get(job_id)
            if slot is None:
                continue
            index = slot[0]
            if isinstance(entry, Job):
                if not entry.is_terminal:
                    self._pending[job_id] = (index, entry.status)
                    continue
                del self._pending[job_id]
                if self._detail is None:
                    await self._emit(send, Outcome(index, job_id, entry, None))  # type: ignore[arg-type]
                else:
                    details.send_nowait((job_id, index, entry.status))  # one entry per id
            elif isinstance(entry, NotFoundError) and entry.code == "missing":
                continue  # left out of this answer: still pending, the timeout reports it
            else:
                del self._pending[job_id]
                await self._emit(send, Outcome(index, job_id, None, entry))

    async def _poll(
        self, chunk: list[str], round_scope: anyio.CancelScope
    ) -> dict[str, Job | UprockAsyncError]:
        """One batch status request; ``{}`` when it failed in a way a later round may not."""
        try:
            return await self._batch_status(chunk)
        except APIStatusError as exc:
            if 400 <= exc.status_code < 500 and not self._retryable(exc):
                # 401, 403, other 4xx: no later round can change that answer
                self._error = exc
                round_scope.cancel()
                return {}
            log.warning("watch_jobs: a batch status round failed, retrying: %s", exc)
        except UprockAsyncError as exc:  # connection errors, timeouts, bad bodies
            log.warning("watch_jobs: a batch status round failed, retrying: %s", exc)
        return {}

    def _timeout_error(self, job_id: str, last: str | None, what: str) -> WaitTimeoutError:
        """The error of a job still running (or without its detail) at the deadline;
        the server's status is quoted redacted, on one line and cut short."""
        status = None if last is None else bounded(last, self._redact)
        return WaitTimeoutError(
            f"job {job_id} {what} {self._span:g} s (last status: {status or 'none received'})",
            last_status=status,
        )

    async def _time_out(self, send: MemoryObjectSendStream[Outcome[str, R]]) -> None:
        for job_id, (index, last) in list(self._pending.items()):
            del self._pending[job_id]
            error = self._timeout_error(job_id, last, "did not finish within")
            await self._emit(send, Outcome(index, job_id, None, error))

    async def _emit(
        self, send: MemoryObjectSendStream[Outcome[str, R]], outcome: Outcome[str, R]
    ) -> None:
        await send.send(outcome)
        self._progress.advance()


class WatchOptions(TypedDict, total=False):
    """``watch_jobs``' keyword options besides ``details`` (for its typed overloads)."""

    poll_interval: float
    timeout: float | None
    concurrency: ConcurrencyArg
    progress: ProgressArg


class _Watch(HasApi):
    @overload
    def watch_jobs(
        self, job_ids: JobIds, *, details: Literal[True] = ..., **options: Unpack[WatchOptions]
    ) -> JobWatch[JobDetail]: ...

    @overload
    def watch_jobs(
        self, job_ids: JobIds, *, details: Literal[False], **options: Unpack[WatchOptions]
    ) -> JobWatch[Job]: ...

    @overload
    def watch_jobs(
        self, job_ids: JobIds, *, details: bool, **options: Unpack[WatchOptions]
    ) -> JobWatch[JobDetail] | JobWatch[Job]: ...

    def watch_jobs(
        self,
        job_ids: JobIds,
        *,
        poll_interval: float = 2.0,
        timeout: float | None = None,
        details: bool = True,
        concurrency: ConcurrencyArg = "auto",
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
        ``concurrency`` at a time: by default ``"auto"`` (an
        :class:`~uprock_async.AdaptiveConcurrency` per watch, which keeps up when
        thousands of jobs finish at once and backs off on 429s), or an int, or a
        limiter shared with other calls. An id the service does not know ends with
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
        span = _validate.watch_args(poll_interval, timeout)
        limit = resolve_concurrency(concurrency)  # "fast", 0, True: ValueError now
        return JobWatch(
            job_ids,
            batch_status=partial(batch_status, self._api),
            detail=detail_fetcher(self._api) if details else None,
            poll_interval=poll_interval,
            timeout=span,
            concurrency=limit,
            progress=progress,
            retryable=partial(_retryable, self._api.transport.retry.retry_statuses),
            redact=self._api.transport.redact,
        )


def _retryable(statuses: frozenset[int], error: APIStatusError) -> bool:
    """May a later round get another answer? The client's retryable statuses
    (408, 429, 5xx by default) and any overload answer."""
    return error.status_code in statuses or isinstance(error, RateLimitError)
