"""FakeServer routes of the Uprock Crawl API.

Stateful and deterministic: ids come from the server's seeded RNG. A job made by
``POST /crawl/v1/new`` is ``pending``, ``running`` after half of
``server.job_completion_delay`` and ``completed`` after all of it, when its result
appears; until then its download answers ``202`` "processing incomplete".
Sessions turn ``expired`` after their ``duration_seconds``. Bad requests answer
400 with Uprock's bare JSON string ``"invalid request: …"``. Empty lists and maps
go out as ``null``, as the Go service sends a nil slice or map (a session's
``job_ids`` and ``placement``, a detail's cookies without ``parse_cookies``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import random
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from . import _data
from ._server import error_response, json_response

if TYPE_CHECKING:
    from ._server import FakeServer

__all__ = ["download_content", "setup"]

_METHODS = frozenset(
    {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "SOLANA_JSON_RPC", "CRAWL_FULL_PAGE"}
)
_DEFAULT_SESSION_SECONDS = 600
_BATCH_LIMIT = 1000
_JOB_NOT_FOUND = "not found: job does not exist or you are not authorized to view it"
_SESSION_NOT_FOUND = "not found: session does not exist or you are not authorized to view it"


def download_content(server: FakeServer, job_id: str) -> bytes:
    """The bytes FakeServer serves for ``GET /crawl/v1/jobs/{job_id}/download``.

    Deterministic per (seed, job id), HTML-like and 20-60 KB, so compression is
    meaningful and tests can compare exact bytes.
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


async def _json(request: web.Request) -> Any:
    try:
        return msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        raise _BadRequest("body is not valid JSON") from None


def setup(server: FakeServer, app: web.Application) -> None:
    """Register the Uprock routes on ``app``."""
    results: dict[str, Any] = {}  # job id -> its result, revealed on completion

    def loop_time() -> float:
        return asyncio.get_running_loop().time()

    def refresh(job_id: str) -> dict[str, Any] | None:
        """The job's detail payload with its status moved along the clock."""
        detail = server.jobs.get(job_id)
        created = server.job_created.get(job_id)
        if detail is None or created is None:
            return detail
        elapsed = loop_time() - created
        delay = server.job_completion_delay
        status = (
            "completed" if elapsed >= delay else "running" if elapsed >= delay / 2 else "pending"
        )
        if detail["job"]["status"] != status:
            detail["job"]["status"] = status
            if status == "completed":
                detail["result"] = results.pop(job_id, None)
            server.invalidate(job_id=job_id)
        return detail

    def session_payload(session_id: str) -> dict[str, Any] | None:
        session = server.sessions.get(session_id)
        if session is None:
            return None
        deadline = server.session_deadlines.get(session_id)
        if session["status"] == "active" and deadline is not None and loop_time() >= deadline:
            session["status"] = "expired"
        return session

    def bad_request(request: web.Request, message: str) -> web.Response:
        return error_response(request.path, 400, f"invalid request: {message}")

    async def create_job(request: web.Request) -> web.StreamResponse:
        try:
            data = await _json(request)
            fields = _check_job_request(data)
        except _BadRequest as exc:
            return bad_request(request, str(exc))
        session_id = data.get("session_id")
        if session_id is not None:
            session = session_payload(str(session_id))
            if session is None:
                return error_response(request.path, 404, _SESSION_NOT_FOUND)
            if session["status"] != "active":
                return bad_request(request, f"session {session_id} is {session['status']}")
        job_id = _data._uuid(server.rng)
        detail = _data.job_detail_payload(
            server.rng, job_id, status="pending", base_url=server.uprock_url
        )
        detail["job"].update(fields, session_id=session_id, submitted_at=_iso(_now()))
        results[job_id] = detail["result"]
        detail["result"] = None
        server.jobs[job_id] = detail
        server.job_created[job_id] = loop_time()
        if session_id is not None:
            joined = server.sessions[str(session_id)]
            joined["job_ids"] = [*(joined["job_ids"] or ()), job_id]
        return json_response(detail["job"], status=201)

    async def job_status(request: web.Request) -> web.StreamResponse:
        detail = refresh(request.match_info["job_id"])
        if detail is None:
            return error_response(request.path, 404, _JOB_NOT_FOUND)
        return json_response(detail["job"])

    async def job_detail(request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        refresh(job_id)
        parse = request.query.get("parse_cookies", "false").lower() in ("1", "true", "yes")
        body = server.job_detail_bytes(job_id, parse)
        if body is None:
            return error_response(request.path, 404, _JOB_NOT_FOUND)
        return web.Response(body=body, content_type="application/json")

    async def batch_status(request: web.Request) -> web.StreamResponse:
        try:
            data = await _json(request)
        except _BadRequest as exc:
            return bad_request(request, str(exc))
        ids = data.get("job_ids") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            return bad_request(request, "job_ids must be a non-empty list of strings")
        if len(ids) > _BATCH_LIMIT:
            return bad_request(request, f"at most {_BATCH_LIMIT} job_ids per request")
        out: dict[str, Any] = {}
        for job_id in ids:
            try:
                uuid.UUID(job_id)
            except ValueError:
                out[job_id] = {"error": "invalid_uuid"}
                continue
            detail = refresh(job_id)
            out[job_id] = {"error": "not_found"} if detail is None else {"job": detail["job"]}
        found = sum(1 for entry in out.values() if "job" in entry)
        return json_response({"found_count": found, "requested_count": len(ids), "results": out})

    async def create_session(request: web.Request) -> web.StreamResponse:
        try:
            data = await _json(request)
        except _BadRequest as exc:
            return bad_request(request, str(exc))
        if not isinstance(data, dict):
            return bad_request(request, "body must be a JSON object")
        duration = data.get("duration_seconds", _DEFAULT_SESSION_SECONDS)
        if isinstance(duration, bool) or not isinstance(duration, int) or not 1 <= duration <= 3600:
            return bad_request(request, "duration_seconds must be between 1 and 3600")
        placement = data.get("placement")
        if placement is not None and not isinstance(placement, dict):
            return bad_request(request, "placement must be an object")
        session_id = _data._uuid(server.rng)
        now = _now()
        server.sessions[session_id] = {
            "id": session_id,
            "status": "active",
            "created_at": _iso(now),
            "expires_at": _iso(now + timedelta(seconds=duration)),
            "closed_at": None,
            "device_id": "dev_" + _data._token(server.rng, 12),
            "placement": placement,  # null when not given: a Go nil map
            "job_ids": None,  # a Go nil slice until a job joins
        }
        server.session_deadlines[session_id] = loop_time() + duration
        return json_response(server.sessions[session_id], status=201)

    async def get_session(request: web.Request) -> web.StreamResponse:
        session = session_payload(request.match_info["session_id"])
        if session is None:
            return error_response(request.path, 404, _SESSION_NOT_FOUND)
        return json_response(session)

    async def download(request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        detail = refresh(job_id)
        if detail is None:
            return error_response(request.path, 404, _JOB_NOT_FOUND)
        if detail["job"]["status"] != "completed":
            return json_response(msgspec.json.encode("processing incomplete: retry shortly"), 202)
        content = download_content(server, job_id)
        accepted = request.headers.get("Accept-Encoding", "").lower()
        headers = {"Content-Type": "text/html; charset=utf-8"}
        # Compressed like the real service may do it, so clients must decode it.
        if "gzip" in accepted:
            content = gzip.compress(content, mtime=0)
            headers["Content-Encoding"] = "gzip"
        elif "deflate" in accepted:
            content = zlib.compress(content)
            headers["Content-Encoding"] = "deflate"
        return web.Response(body=content, headers=headers)

    app.router.add_post("/crawl/v1/new", create_job)
    app.router.add_get("/crawl/v1/status/{job_id}", job_status)
    app.router.add_get("/crawl/v1/jobs/{job_id}/detail", job_detail)
    app.router.add_post("/crawl/v1/jobs/batch/status", batch_status)
    app.router.add_get("/crawl/v1/jobs/{job_id}/download", download)
    app.router.add_post("/crawl/v1/session/new", create_session)
    app.router.add_get("/crawl/v1/session/{session_id}", get_session)
