"""Uprock Crawl API payloads as msgspec structs.

Fields are named as on the wire; unknown fields are ignored, so a new server
field never breaks a caller. A ``null`` in any field decodes: to ``None`` where
the field is optional, else to its default (``""``, ``[]``, ``{}``); only a
missing or null ``Job.job_id``, ``CrawlSession.id`` or ``JobDetail.job`` is a
:class:`~uprock_async.ResponseDecodeError`. Timestamps read as timezone-aware
``datetime`` (``""``/``null`` read as ``None``), parsed on access from the wire
string (see :mod:`uprock_async._timestamps`); ids stay ``str``; statuses are
open-ended ``str`` with helper properties. ``msgspec.json.encode(model)`` gives
back the same JSON shape, timestamps exactly as received.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .._timestamps import Timestamp, timestamps

__all__ = [
    "TERMINAL_JOB_STATUSES",
    "BatchJobStatus",
    "BatchStatusResponse",
    "Cookie",
    "CrawlSession",
    "Header",
    "Job",
    "JobDetail",
    "JobResult",
]

#: Job statuses after which a job never changes. The set the service uses is open:
#: unknown statuses are treated as "still running" by :attr:`Job.is_terminal`.
TERMINAL_JOB_STATUSES = frozenset(
    {"completed", "failed", "timeout", "error", "cancelled", "canceled", "expired"}
)


class Header(msgspec.Struct, gc=False):
    """One HTTP header of the fetched exchange (repeated names appear repeatedly)."""

    name: str = ""
    value: str = ""


class Cookie(msgspec.Struct, gc=False):
    """A cookie sent or received by the job (filled when ``parse_cookies=True``)."""

    name: str = ""
    value: str = ""
    domain: str | None = None
    path: str | None = None
    expires: str | None = None
    max_age: int | None = None
    secure: bool | None = None
    httponly: bool | None = None
    samesite: str | None = None


@timestamps
class Job(msgspec.Struct, gc=False):
    """A crawl job: what to fetch, from where, and where it stands (``status``)."""

    job_id: str
    status: str = ""
    url: str | None = None
    method: str | None = None
    placement: dict[str, Any] = {}
    session_id: str | None = None
    submitted_at: Timestamp | None = None
    timeout_sec: int | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the job will not change any more (completed, failed, timeout …)."""
        return self.status.lower() in TERMINAL_JOB_STATUSES

    @property
    def is_completed(self) -> bool:
        """True when the job finished its fetch (``status == "completed"``)."""
        return self.status.lower() == "completed"


@timestamps
class JobResult(msgspec.Struct, gc=False):
    """The outcome of the fetch: HTTP status, timing, size, TLS, or the error."""

    id: str | None = None
    success: bool | None = None
    status_code: int | None = None
    created_at: Timestamp | None = None
    time_ms: int | None = None
    timestamp_ms: int | None = None
    size_bytes: int | None = None
    error_type: str | None = None
    error_message: str | None = None
    tls_version: str | None = None
    tls_cipher_suite: str | None = None


class JobDetail(msgspec.Struct, gc=False):
    """``GET /crawl/v1/jobs/{job_id}/detail``: the job with its headers, cookies and result."""

    job: Job
    download_url: str | None = None
    request_headers: list[Header] = []
    response_headers: list[Header] = []
    request_cookies: list[Cookie] = []
    response_cookies: list[Cookie] = []
    result: JobResult | None = None

    @property
    def job_id(self) -> str:
        """The job's id (``detail.job.job_id``)."""
        return self.job.job_id

    @property
    def status(self) -> str:
        """The job's status (``detail.job.status``)."""
        return self.job.status

    def response_header(self, name: str) -> str | None:
        """The first response header called ``name`` (case-insensitive), or ``None``."""
        lowered = name.lower()
        for header in self.response_headers:
            if header.name.lower() == lowered:
                return header.value
        return None

    def __repr__(self) -> str:
        # Short on purpose: a list of thousands of details must print in kilobytes.
        code = None if self.result is None else self.result.status_code
        return (
            f"JobDetail(job_id={self.job.job_id!r}, status={self.job.status!r}, "
            f"url={self.job.url!r}, status_code={code!r}, "
            f"headers={len(self.request_headers)}+{len(self.response_headers)}, "
            f"cookies={len(self.request_cookies)}+{len(self.response_cookies)})"
        )

    def _repr_html_(self) -> str:
        """The job, its status and timings, headers collapsed (Jupyter)."""
        from .._html import job_detail_html, view  # only notebooks pay for the HTML code

        return view(job_detail_html, self)


@timestamps
class CrawlSession(msgspec.Struct, gc=False):
    """A sticky session: jobs sent with its ``id`` run on the same device."""

    id: str
    status: str = ""
    created_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    closed_at: Timestamp | None = None
    device_id: str | None = None
    placement: dict[str, Any] = {}
    job_ids: list[str] = []

    @property
    def is_active(self) -> bool:
        """True while the session accepts jobs."""
        return self.status.lower() == "active"


class BatchJobStatus(msgspec.Struct, gc=False, omit_defaults=True):
    """One id's entry of a batch status answer: ``{"job": {...}}`` or ``{"error": "..."}``.

    ``error`` is ``"not_found"`` or ``"invalid_uuid"`` (the set is open).
    """

    job: Job | None = None
    error: str | None = None


class BatchStatusResponse(msgspec.Struct, gc=False):
    """``POST /crawl/v1/jobs/batch/status``: one entry per requested id.

    :meth:`~uprock_async.UprockClient.jobs_status` turns this into a plain
    ``dict[str, Job | UprockAsyncError]``; the struct is here for callers who
    decode the wire shape themselves.
    """

    results: dict[str, BatchJobStatus] = {}
    found_count: int | None = None
    requested_count: int | None = None
