"""Downloads: ``download`` (a job's content, as bytes or streamed to a file) and
``stream_download`` (the same content, chunk by chunk)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from yarl import URL

from .. import _validate
from .._api import HasApi
from .._errors import ResponseDecodeError, excerpt
from .._http._failures import expecting
from .models import Job, JobDetail

__all__: list[str] = []

# The content does not exist yet: 202 "processing incomplete, retry shortly" (the
# service's response-codes page), and 409 "job not yet completed", which
# integrations written against the live service handle though no page lists it.
_NOT_READY = frozenset({202, 409})
# 410 "job archived, content gone": likewise not on any page; never retried.
_GONE = frozenset({410})


class _Downloads(HasApi):
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
        incomplete" or ``409`` "job not yet completed" answer is retried and, if it
        persists, raised as :class:`~uprock_async.APIStatusError` (``status_code``
        202 or 409) — never returned or saved as content; :meth:`wait_for_job`
        first to avoid it. A ``410`` (the job was archived, its content is gone) is
        not retried: :class:`~uprock_async.NotFoundError` saying so.

        Credentials: the API key is sent only to the configured base URL's origin or
        over https to a ``*.edge.uprock.com`` host. Any other ``download_url`` (or
        redirect target) is fetched **without** the key — it cannot leak, and a
        pre-signed storage URL still works. A URL with ``user:password@`` is never
        fetched: your own raises ``ValueError`` before any request; one the service
        sent as ``download_url`` raises :class:`~uprock_async.ResponseDecodeError`.
        """
        target = self._download_url(job)
        if progress is not None and not callable(progress):
            raise TypeError("progress must be a callable (done, total) or None")
        with expecting(not_ready=_NOT_READY, gone=_GONE):
            return await self._api.download(
                target, dest=dest, progress=progress, not_ready=_NOT_READY
            )

    def stream_download(
        self, job: str | uuid.UUID | JobDetail | Job
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """The content a job fetched, chunk by chunk, never held whole in memory::

            async with client.stream_download(job) as body:
                async for chunk in body:  # bytes
                    await sink.write(chunk)

        ``job`` is what :meth:`download` takes, and the same rules hold: the key
        goes only where :meth:`download` sends it, ``gzip``/``deflate`` are undone,
        and the body is capped at :attr:`Limits.max_download_size
        <uprock_async.Limits>` decompressed bytes
        (:class:`~uprock_async.ResponseDecodeError` past it). A bad ``job`` raises
        here, before any request. Entering the block sends the request: a ``202`` or
        ``409`` (not ready) is retried, an error answer raises there.

        A failed transfer is retried only until the first chunk has reached you;
        after that a broken connection raises
        :class:`~uprock_async.APIConnectionError` from ``async for``, so a stream
        that ends is complete. Leaving the block early closes the connection. The
        client's ``Timeout.total`` bounds the whole transfer, your time between
        chunks included: for a long one use ``client.with_options(
        timeout=Timeout(total=None, read=60))``.
        """
        target = self._download_url(job)
        return self._api.open_stream(target, not_ready=_NOT_READY, gone=_GONE)

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
        job_id = _validate.job_id(job)
        return self._api.url(f"/crawl/v1/jobs/{job_id}/download")

    def _served_url(self, detail: JobDetail) -> URL:
        """The ``download_url`` the service sent: a bad one is the service's fault,
        not the caller's, so it is our error rather than ``ValueError``."""
        text = detail.download_url or ""
        try:
            return _absolute(text)
        except ValueError:
            quoted = excerpt(
                _masked(text).encode("utf-8", "replace"), redact=self._api.hooks.redact
            )
            error = ResponseDecodeError(
                f"the download_url sent for job {detail.job_id} is not an http(s) URL "
                f"without user:password@: {quoted}"
            )
            raise self._api.fail(error) from None


def _absolute(url: str) -> URL:
    """An absolute http(s) URL, else ``ValueError``; ``user:password@`` is refused,
    since the key must never go to such a URL and it is how ``https://evil.com@host/``
    disguises its real host."""
    parsed = URL(_validate.http_url(url, fetched=True))
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
