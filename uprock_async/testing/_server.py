"""FakeServer: a real aiohttp server on 127.0.0.1 speaking both APIs, with faults on demand."""

from __future__ import annotations

import asyncio
import asyncio.base_events
import fnmatch
import random
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import msgspec
from aiohttp import web

from . import _data

__all__ = ["FakeServer", "Fault", "RecordedRequest"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SC_PREFIX = "/api/v1"
_UPROCK_MESSAGES = {
    400: "invalid request: the request is malformed",
    401: "unauthorized: invalid or missing API key",
    403: "forbidden: this key may not do that",
    404: "not found: job does not exist or you are not authorized to view it",
    429: "too many requests: slow down",
}
_SC_CODES = {
    400: "VALIDATION_ERROR",
    401: "INVALID_API_KEY",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMIT_EXCEEDED",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Fault:
    """A fault rule made by :meth:`FakeServer.inject`; ``hits`` counts uses."""

    path_glob: str
    status: int = 503
    times: int | None = 2
    retry_after: float | str | None = None
    delay: float = 0.0
    disconnect: bool = False
    truncate: bool = False
    body: bytes | str | dict[str, Any] | None = None
    probability: float = 1.0
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    query: dict[str, str] | None = None  # also required query parameters, if given

    def matches(self, path: str, query: Mapping[str, str] | None = None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not fnmatch.fnmatchcase(path, self.path_glob):
            return False
        if self.query and any((query or {}).get(k) != v for k, v in self.query.items()):
            return False
        return self.probability >= 1.0 or self.rng.random() < self.probability


def is_screenshotcenter(path: str) -> bool:
    return path.startswith(SC_PREFIX + "/") or path == SC_PREFIX


def error_response(
    path: str,
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in the shape the service of ``path`` uses."""
    if is_screenshotcenter(path):
        payload: Any = {
            "success": False,
            "error": message or f"HTTP {status}",
            "code": code or _SC_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR"),
            "details": {"request_id": "req_" + secrets.token_hex(6)},
        }
    else:
        payload = message or _UPROCK_MESSAGES.get(
            status,
            "internal server error: please try again later" if status >= 500 else f"error {status}",
        )
    return web.Response(
        status=status,
        body=msgspec.json.encode(payload),
        content_type="application/json",
        headers=headers,
    )


def json_response(payload: Any, status: int = 200) -> web.Response:
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    return web.Response(status=status, body=body, content_type="application/json")


def envelope(data: Any) -> web.Response:
    """A ScreenshotCenter success envelope."""
    return json_response({"success": True, "data": data})


class FakeServer:
    """A real aiohttp server on 127.0.0.1 (ephemeral port) that speaks both APIs.

    ::

        async with FakeServer(seed=0) as server:
            ids = server.add_jobs(100)
            server.inject("/crawl/v1/jobs/*/detail", status=503, times=2)
            async with UprockClient(server.api_key, base_url=server.uprock_url) as client:
                ...

    Payloads are generated from ``seed`` (same seed, same ids and bytes). Auth is
    checked the way each service does it (Uprock ``Authorization: Bearer``,
    ScreenshotCenter ``X-API-KEY``). ``latency`` delays every request;
    ``capacity`` answers 429 above that many requests in flight; ``requests``
    records what arrived (``record=False`` to keep memory flat under load).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        api_key: str | None = None,
        latency: float = 0.0,
        capacity: int | None = None,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.api_key = api_key or f"test-key-{seed}-" + "0123456789abcdef"
        self.latency = latency
        self.capacity = capacity
        self.record = record
        self.host = host
        self.port = port
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.request_count = 0
        self.rejected_for_capacity = 0
        # state, shared with the route modules
        self.jobs: dict[str, dict[str, Any]] = {}
        # Uprock job lifecycle (see _uprock.py): a job made by POST /crawl/v1/new is
        # pending, then running, then completed job_completion_delay seconds later.
        self.job_completion_delay = 0.05
        self.job_created: dict[str, float] = {}  # job id -> loop time of creation
        self.sessions: dict[str, dict[str, Any]] = {}  # wire payloads of crawl sessions
        self.session_deadlines: dict[str, float] = {}  # session id -> loop time it expires
        self._job_bytes: dict[tuple[str, bool], bytes] = {}
        self.crawls: dict[int, dict[str, Any]] = {}
        self._crawl_bytes: dict[int, bytes] = {}
        self._next_id = 1000 + seed * 1_000_000
        # ScreenshotCenter behaviour knobs (used by testing/_screenshotcenter.py)
        self.crawl_completion_delay = 0.05  # s from crawl/create to "finished"
        self.screenshot_completion_delay = 0.05  # s from screenshot/create to "finished"
        self.batch_completion_delay = 0.05  # s from batch/create to "finished"
        self.artifact_size = 2048  # bytes of each image/html/pdf/video artifact
        self.artifact_latency = 0.0  # s added to every artifact download
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        from . import _routes

        _routes.setup(self, self.app)

    # -- lifetime ------------------------------------------------------------

    async def start(self) -> FakeServer:
        """Start serving (``async with`` does this)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop serving and close every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def uprock_url(self) -> str:
        """Base URL for :class:`~uprock_async.UprockClient`."""
        return f"http://{self.host}:{self.port}"

    @property
    def screenshotcenter_url(self) -> str:
        """Base URL for :class:`~uprock_async.ScreenshotCenterClient`."""
        return f"http://{self.host}:{self.port}{SC_PREFIX}"

    # -- data ------------------------------------------------------------------

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_jobs(
        self, n: int, *, headers: int = 40, cookies: int = 20, status: str = "completed"
    ) -> list[str]:
        """Add ``n`` completed jobs with realistic details; returns their ids."""
        ids = []
        for _ in range(n):
            job_id = _data._uuid(self.rng)
            self.jobs[job_id] = _data.job_detail_payload(
                self.rng,
                job_id,
                headers=headers,
                cookies=cookies,
                status=status,
                base_url=self.uprock_url if self.port else "",
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

    def add_crawl(
        self, screenshots: int = 1000, *, status: str = "finished", domain: str = "example.com"
    ) -> int:
        """Add a crawl with ``screenshots`` screenshots (every 50th failed); returns its id."""
        crawl_id = self.next_id()
        first = self.next_id() * 1000
        self.crawls[crawl_id] = _data.crawl_payload(
            self.rng, crawl_id, screenshots, first_shot_id=first, status=status, domain=domain
        )
        return crawl_id

    def crawl_bytes(self, crawl_id: int) -> bytes | None:
        cached = self._crawl_bytes.get(crawl_id)
        if cached is None:
            crawl = self.crawls.get(crawl_id)
            if crawl is None:
                return None
            cached = self._crawl_bytes[crawl_id] = msgspec.json.encode(
                {"success": True, "data": crawl}
            )
        return cached

    def invalidate(self, crawl_id: int | None = None, job_id: str | None = None) -> None:
        """Forget cached bytes after changing ``crawls``/``jobs`` in place."""
        if crawl_id is not None:
            self._crawl_bytes.pop(crawl_id, None)
        if job_id is not None:
            self._job_bytes.pop((job_id, True), None)
            self._job_bytes.pop((job_id, False), None)

    # -- faults ----------------------------------------------------------------

    def inject(
        self,
        path_glob: str,
        status: int = 503,
        times: int | None = 2,
        retry_after: float | str | None = None,
        delay: float = 0.0,
        disconnect: bool = False,
        body: bytes | str | dict[str, Any] | None = None,
        *,
        truncate: bool = False,
        probability: float = 1.0,
        query: dict[str, str] | None = None,
    ) -> Fault:
        """Make requests whose path matches ``path_glob`` fail.

        The next ``times`` matching requests (``None``: all, each with
        ``probability``) answer ``status`` with ``body`` (default: the service's
        own error shape; a ``str`` is sent as raw text, a ``dict`` as JSON) and
        ``Retry-After: retry_after``; ``delay`` waits first (a delay alone with
        ``status=200`` makes a slow but good answer); ``disconnect`` drops the
        connection without answering; ``truncate`` sends half of the real body
        and then drops the connection; ``query`` limits the fault to requests
        carrying those query parameters (e.g. ``{"id": "42"}``).
        """
        fault = Fault(
            path_glob,
            status,
            times,
            retry_after,
            delay,
            disconnect,
            truncate,
            body,
            probability,
            rng=random.Random(self.rng.random()),
            query=query,
        )
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    # -- the pipeline ------------------------------------------------------------

    def _check_auth(self, request: web.Request) -> bool:
        if is_screenshotcenter(request.path):
            return (
                request.headers.get("X-API-KEY") == self.api_key
                or request.query.get("key") == self.api_key
            )
        return request.headers.get("Authorization") == f"Bearer {self.api_key}"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.request_count += 1
        if self.record:
            body = await request.read() if request.can_read_body else b""
            self.requests.append(
                RecordedRequest(
                    request.method, request.path, dict(request.query), dict(request.headers), body
                )
            )
        if self.capacity is not None and self.in_flight >= self.capacity:
            self.rejected_for_capacity += 1
            return error_response(request.path, 429, headers={"Retry-After": "0"})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for fault in self.faults:
                if fault.matches(request.path, request.query):
                    fault.hits += 1
                    return await self._apply(fault, request, handler)
            if not self._check_auth(request):
                return error_response(request.path, 401)
            if self.latency:
                await asyncio.sleep(self.latency)
            return await handler(request)
        finally:
            self.in_flight -= 1

    async def _apply(
        self, fault: Fault, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.disconnect:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # aiohttp drops the request quietly
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        if fault.truncate:
            real = await handler(request)
            full = (
                real.body
                if isinstance(real, web.Response) and isinstance(real.body, bytes)
                else b'{"truncated": true, "padding": "' + b"x" * 200 + b'"}'
            )
            response = web.StreamResponse(
                status=real.status, headers={"Content-Type": "application/json"}
            )
            response.content_length = len(full)
            await response.prepare(request)
            await response.write(full[: len(full) // 2])
            if request.transport is not None:
                request.transport.close()
            return response
        if fault.status < 400 and fault.body is None:
            return await handler(request)  # a slow but good answer
        if fault.body is None:
            return error_response(request.path, fault.status, headers=headers)
        if isinstance(fault.body, dict):
            return web.Response(
                status=fault.status,
                body=msgspec.json.encode(fault.body),
                content_type="application/json",
                headers=headers,
            )
        raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
        return web.Response(status=fault.status, body=raw, headers=headers)
