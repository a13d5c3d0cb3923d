"""The Uprock Crawl API of FakeServer: :class:`UprockService`, its state and routes.

Stateful and deterministic: ids come from the server's seeded RNG. A job made by
``POST /crawl/v1/new`` is ``pending``, ``running`` after half of
``job_completion_delay`` and ``completed`` after all of it, when its result
appears; until then its download answers ``not_ready_status`` (``202``
"processing incomplete", the documented code, or ``409`` as integrations see
it), and a job in ``archived`` answers ``410`` (content gone). Sessions last
``duration_seconds`` (default 60, as documented), then turn ``expired``.

The shapes follow the service's reference pages: job endpoints answer errors
with a bare JSON string (``"invalid request: …"``), session endpoints with
``{"error": "…"}``; a new session has ``"job_ids": []`` and ``null``
``device_id``, ``placement`` and ``closed_at``; batch status entries are
``{"job"}`` or ``{"error": "not_found" | "invalid_uuid"}``, and their jobs come
with or without ``placement``/``session_id``, as the pages' examples differ.
Empty lists and maps of a detail go out as ``null``, as a Go service sends a nil
slice (the cookies without ``parse_cookies``). Every other wording or rule
marked "guess" below is FakeServer's own, not the service's.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import random
import uuid
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import msgspec
from aiohttp import web

from . import _data
from ._responses import json_response, uprock_error
from ._service import Service, route

__all__ = ["UprockService", "download_content"]

_METHODS = frozenset(
    {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "SOLANA_JSON_RPC", "CRAWL_FULL_PAGE"}
)
_DEFAULT_SESSION_SECONDS = 60  # the createSession page: "Default 60"
_SESSION_PATHS = ("/crawl/v1/session/",)
_BATCH_LIMIT = 1000
_JOB_NOT_FOUND = "not found: job does not exist or you are not authorized to view it"
# The wording of these, and of every message below, is a guess: the pages show only
# "invalid request: url is required", "unauthorized: …" and "internal server error: …".
_SESSION_NOT_FOUND = "not found: session does not exist or you are not authorized to view it"
_NOT_READY = {
    202: "processing incomplete: retry shortly",
    409: "conflict: job not yet completed",
}
_GONE = "gone: job archived, content no longer available"
_UNAUTHORIZED = "unauthorized: invalid or missing API key"
# Set by ``authorized`` on a session request with a wrong key: the session routes
# answer that 401 themselves, in their own (object) error shape.
_SESSION_UNAUTHORIZED = web.RequestKey("uprock_session_unauthorized", bool)


class _Seeded(Protocol):
    seed: int


def download_content(server: _Seeded, job_id: str) -> bytes:
    """The bytes FakeServer serves for ``GET /crawl/v1/jobs/{job_id}/download``.

    Deterministic per (seed, job id), HTML-like and 20-60 KB, so compression is
    meaningful and tests can compare exact bytes. ``server`` is the
    :class:`FakeServer` (or anything with its ``seed``).
    """
    rng = random.Random(f"{server.seed}:{job_id}")
    words = [_data._token(rng, rng.randint(2, 10)) for _ in range(400)]
    paragraphs = []
    size = rng.randint(20_000, 60_000)
    total = 0
    while total < size:
        line = "<p>" + " ".join(rng.choice(words) for _ in range(40)) + "</p>\n"
        paragraphs.append(line)
        total += len(line)
    head = f"<!doctype html>\n<html><!-- job {job_id} -->\n<body>\n"
    return (head + "".join(paragraphs) + "</body></html>\n").encode()


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


class _BadRequest(Exception):
    """A request FakeServer refuses with 400 ``"invalid request: <message>"``."""


def _check_job_request(data: Any) -> dict[str, Any]:
    """The fields of a ``POST /crawl/v1/new`` body, checked like the service does."""
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    url = data.get("url")
    if not isinstance(url, str) or not url:
        raise _BadRequest("url is required")
    if not url.startswith(("http://", "https://")):
        raise _BadRequest("url must be an absolute http(s) URL")
    method = data.get("method", "GET")
    if method not in _METHODS:
        raise _BadRequest(f"unsupported method {method!r}")
    timeout = data.get("timeout_sec", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 300:
        raise _BadRequest("timeout_sec must be between 1 and 300")
    headers = data.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in headers.values()
    ):
        raise _BadRequest("headers must map names to lists of strings")
    if "body" in data:
        try:
            base64.b64decode(data["body"], validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise _BadRequest("body must be base64") from None
    cookies = data.get("cookies", [])
    if not isinstance(cookies, list) or not all(
        isinstance(c, dict) and isinstance(c.get("name"), str) for c in cookies
    ):
        raise _BadRequest("cookies must be a list of cookie objects")
    if data.get("storage_type", "local") not in ("local", "s3"):
        raise _BadRequest("storage_type must be local or s3")
    placement = data.get("placement")  # absent: null, a Go nil map
    if placement is not None and not isinstance(placement, dict):
        raise _BadRequest("placement must be an object")
    return {"url": url, "method": method, "timeout_sec": timeout, "placement": placement}


def _check_batch_request(data: Any) -> list[str]:
    """The ``job_ids`` of a ``POST /crawl/v1/jobs/batch/status`` body."""
    ids = data.get("job_ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise _BadRequest("job_ids must be a non-empty list of strings")
    if len(ids) > _BATCH_LIMIT:
        raise _BadRequest(f"at most {_BATCH_LIMIT} job_ids per request")
    return ids


def _check_session_request(data: Any) -> tuple[int, dict[str, Any] | None]:
    """``(duration_seconds, placement)`` of a ``POST /crawl/v1/session/new`` body."""
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    duration = data.get("duration_seconds", _DEFAULT_SESSION_SECONDS)
    if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 3600:
        raise _BadRequest("duration_seconds must be between 1 and 3600")
    placement = data.get("placement")
    if placement is not None and not isinstance(placement, dict):
        raise _BadRequest("placement must be an object")
    return duration, placement


async def _json(request: web.Request) -> Any:
    try:
        return msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        raise _BadRequest("body is not valid JSON") from None


def _bad_request(message: str, *, wrapped: bool = False) -> web.Response:
    return uprock_error(400, f"invalid request: {message}", wrapped=wrapped)


def _batch_job(job: dict[str, Any]) -> dict[str, Any]:
    """A job as a batch status entry carries it: the getBatchJobStatus example has no
    ``placement`` or ``session_id`` keys, the other pages' examples have both. Which
    jobs lose them (about half, by id) is FakeServer's choice."""
    if sum(str(job["job_id"]).encode()) % 2:
        return {k: v for k, v in job.items() if k not in ("placement", "session_id")}
    return job


class UprockService(Service):
    """The Uprock Crawl API: jobs, their details and downloads, and sessions."""

    prefix = ""  # owns every path no other service claims
    error = staticmethod(uprock_error)

    def __init__(self, rng: random.Random, *, seed: int, origin: Callable[[], str]) -> None:
        super().__init__(rng, seed=seed, origin=origin)
        self.jobs: dict[str, dict[str, Any]] = {}  # job id -> its detail payload
        # A job made by POST /crawl/v1/new is pending, then running, then
        # completed job_completion_delay seconds later.
        self.job_completion_delay = 0.05
        self.job_created: dict[str, float] = {}  # job id -> loop time of creation
        self.results: dict[str, Any] = {}  # job id -> its result, revealed on completion
        self.sessions: dict[str, dict[str, Any]] = {}  # wire payloads of crawl sessions
        self.session_deadlines: dict[str, float] = {}  # session id -> loop time it expires
        self._job_bytes: dict[tuple[str, bool], bytes] = {}
        #: What the download of a job not completed yet answers: 202 (documented) or 409.
        self.not_ready_status = 202
        #: Jobs whose content is gone: their download answers 410.
        self.archived: set[str] = set()

    def authorized(self, request: web.Request, api_key: str) -> bool:
        ok = request.headers.get("Authorization") == f"Bearer {api_key}"
        if not ok and request.path.startswith(_SESSION_PATHS):
            request[_SESSION_UNAUTHORIZED] = True  # answered by the route (object shape)
            return True
        return ok

    # -- data ----------------------------------------------------------------------

    def add_jobs(
        self, n: int, *, headers: int = 40, cookies: int = 20, status: str = "completed"
    ) -> list[str]:
        """Add ``n`` jobs with realistic details; returns their ids."""
        ids = []
        for _ in range(n):
            job_id = _data._uuid(self.rng)
            self.jobs[job_id] = _data.job_detail_payload(
                self.rng,
                job_id,
                headers=headers,
                cookies=cookies,
                status=status,
                base_url=self.origin(),
            )
            ids.append(job_id)
        return ids

    def job_detail_bytes(self, job_id: str, parse_cookies: bool) -> bytes | None:
        """The encoded detail of a job (cached), or ``None`` if unknown."""
        key = (job_id, parse_cookies)
        cached = self._job_bytes.get(key)
        if cached is None:
            detail = self.jobs.get(job_id)
            if detail is None:
                return None
            if not parse_cookies:  # unparsed: nil slices, which Go sends as null
                detail = {**detail, "request_cookies": None, "response_cookies": None}
            cached = self._job_bytes[key] = msgspec.json.encode(detail)
        return cached

    def invalidate(self, job_id: str) -> None:
        """Forget the cached bytes of a job changed in place."""
        self._job_bytes.pop((job_id, True), None)
        self._job_bytes.pop((job_id, False), None)

    def refresh(self, job_id: str) -> dict[str, Any] | None:
        """The job's detail payload with its status moved along the clock."""
        detail = self.jobs.get(job_id)
        created = self.job_created.get(job_id)
        if detail is None or created is None:
            return detail
        elapsed = _loop_time() - created
        delay = self.job_completion_delay
        # guess: pending and running are what users report seeing; no page lists them
        status = (
            "completed" if elapsed >= delay else "running" if elapsed >= delay / 2 else "pending"
        )
        if detail["job"]["status"] != status:
            detail["job"]["status"] = status
            if status == "completed":
                detail["result"] = self.results.pop(job_id, None)
            self.invalidate(job_id)
        return detail

    def session(self, session_id: str) -> dict[str, Any] | None:
        """A session's payload, ``expired`` once its deadline has passed."""
        session = self.sessions.get(session_id)
        if session is None:
            return None
        deadline = self.session_deadlines.get(session_id)
        if session["status"] == "active" and deadline is not None and _loop_time() >= deadline:
            session["status"] = "expired"  # guess: no page names a session's later statuses
        return session

    # -- routes --------------------------------------------------------------------

    @route("POST", "/crawl/v1/new")
    async def create_job(self, request: web.Request) -> web.StreamResponse:
        try:
            data = await _json(request)
            fields = _check_job_request(data)
        except _BadRequest as exc:
            return _bad_request(str(exc))
        session_id = data.get("session_id")
        if session_id is not None:
            session = self.session(str(session_id))
            if session is None:
                return uprock_error(404, _SESSION_NOT_FOUND)
            if session["status"] != "active":
                return _bad_request(f"session {session_id} is {session['status']}")
        job_id = _data._uuid(self.rng)
        detail = _data.job_detail_payload(
            self.rng, job_id, status="pending", base_url=self.origin()
        )
        detail["job"].update(fields, session_id=session_id, submitted_at=_iso(_now()))
        self.results[job_id] = detail["result"]
        detail["result"] = None
        self.jobs[job_id] = detail
        self.job_created[job_id] = _loop_time()
        if session_id is not None:
            joined = self.sessions[str(session_id)]
            joined["job_ids"] = [*(joined["job_ids"] or ()), job_id]
            if joined["device_id"] is None:  # guess: the first job picks the device
                joined["device_id"] = "dev_" + _data._token(self.rng, 12)
        return json_response(detail["job"], status=201)  # guess: 200 or 201, the page says neither

    @route("GET", "/crawl/v1/status/{job_id}")
    async def job_status(self, request: web.Request) -> web.StreamResponse:
        detail = self.refresh(request.match_info["job_id"])
        if detail is None:
            return uprock_error(404, _JOB_NOT_FOUND)
        return json_response(detail["job"])

    @route("GET", "/crawl/v1/jobs/{job_id}/detail")
    async def job_detail(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        self.refresh(job_id)
        parse = request.query.get("parse_cookies", "false").lower() in ("1", "true", "yes")
        body = self.job_detail_bytes(job_id, parse)
        if body is None:
            return uprock_error(404, _JOB_NOT_FOUND)
        return web.Response(body=body, content_type="application/json")

    @route("POST", "/crawl/v1/jobs/batch/status")
    async def batch_status(self, request: web.Request) -> web.StreamResponse:
        try:
            ids = _check_batch_request(await _json(request))
        except _BadRequest as exc:
            return _bad_request(str(exc))
        out: dict[str, Any] = {}
        for job_id in ids:
            try:
                uuid.UUID(job_id)
            except ValueError:
                out[job_id] = {"error": "invalid_uuid"}
                continue
            detail = self.refresh(job_id)
            out[job_id] = (
                {"error": "not_found"} if detail is None else {"job": _batch_job(detail["job"])}
            )
        found = sum(1 for entry in out.values() if "job" in entry)
        return json_response({"found_count": found, "requested_count": len(ids), "results": out})

    @route("GET", "/crawl/v1/jobs/{job_id}/download")
    async def download(self, request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        detail = self.refresh(job_id)
        if detail is None:
            return uprock_error(404, _JOB_NOT_FOUND)
        if job_id in self.archived:
            return uprock_error(410, _GONE)
        if detail["job"]["status"] != "completed":
            status = self.not_ready_status
            return json_response(msgspec.json.encode(_NOT_READY[status]), status)
        content = download_content(self, job_id)
        accepted = request.headers.get("Accept-Encoding", "").lower()
        headers = {"Content-Type": "text/html; charset=utf-8"}
        # Compressed as the service may send it (a guess from "possibly compressed").
        if "gzip" in accepted:
            content = gzip.compress(content, mtime=0)
            headers["Content-Encoding"] = "gzip"
        elif "deflate" in accepted:
            content = zlib.compress(content)
            headers["Content-Encoding"] = "deflate"
        return web.Response(body=content, headers=headers)

    @route("POST", "/crawl/v1/session/new")
    async def create_session(self, request: web.Request) -> web.StreamResponse:
        if request.get(_SESSION_UNAUTHORIZED):
            return uprock_error(401, _UNAUTHORIZED, wrapped=True)
        try:
            duration, placement = _check_session_request(await _json(request))
        except _BadRequest as exc:
            return _bad_request(str(exc), wrapped=True)
        session_id = _data._uuid(self.rng)
        now = _now()
        # As the createSession page's example: no device and no job yet.
        self.sessions[session_id] = {
            "id": session_id,
            "status": "active",
            "created_at": _iso(now),
            "expires_at": _iso(now + timedelta(seconds=duration)),
            "closed_at": None,
            "device_id": None,
            "placement": placement,  # guess: echoed when given (the page sends none)
            "job_ids": [],
        }
        self.session_deadlines[session_id] = _loop_time() + duration
        return json_response(self.sessions[session_id], status=201)  # guess, as for jobs

    @route("GET", "/crawl/v1/session/{session_id}")
    async def get_session(self, request: web.Request) -> web.StreamResponse:
        if request.get(_SESSION_UNAUTHORIZED):
            return uprock_error(401, _UNAUTHORIZED, wrapped=True)
        session = self.session(request.match_info["session_id"])
        if session is None:
            # guess: no page shows this endpoint's errors; createSession's are objects
            return uprock_error(404, _SESSION_NOT_FOUND, wrapped=True)
        return json_response(session)
