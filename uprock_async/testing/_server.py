"""FakeServer: a real aiohttp server on 127.0.0.1 speaking both APIs, with faults on demand.

The server is generic: it owns the aiohttp app and its lifetime, and one
middleware that records each request, enforces ``capacity``, fires injected
faults (:mod:`._faults`), checks auth and adds ``latency``. Everything an API
knows (its routes, its state, its error shape, how it authenticates) lives in
one :class:`~._service.Service` subclass: :class:`~._uprock.UprockService` and
:class:`~._screenshotcenter.ScreenshotCenterService`, composed here. A request
belongs to the service with the longest ``prefix`` its path starts with
(Uprock's is ``""``, so it also answers unknown paths). How to add a third
service: see :mod:`._service`.

:meth:`FakeServer.in_thread` runs the same server on a thread of its own, with
its own event loop (:class:`FakeServerThread`), for blocking clients and
notebooks: there the caller's thread, or the kernel's loop, is busy waiting for
the answer and cannot serve it too.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import functools
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from aiohttp import web
from anyio.from_thread import BlockingPortal

from ._faults import Fault, Handler, answer
from ._screenshotcenter import ScreenshotCenterService
from ._service import Service
from ._thread import FakeServerThread
from ._uprock import UprockService

__all__ = ["FakeServer", "Fault", "RecordedRequest"]

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""


class _Via(Generic[T]):
    """A FakeServer attribute kept on one of its services, read and written through."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, server: None, owner: type) -> _Via[T]: ...
    @overload
    def __get__(self, server: FakeServer, owner: type) -> T: ...
    def __get__(self, server: FakeServer | None, owner: type) -> _Via[T] | T:
        if server is None:
            return self
        value: T = getattr(getattr(server, self.service), self.name)
        return value

    def __set__(self, server: FakeServer, value: T) -> None:
        setattr(getattr(server, self.service), self.name, value)


def _on_its_loop(
    method: Callable[Concatenate[FakeServer, P], T],
) -> Callable[Concatenate[FakeServer, P], T]:
    """A data method of :class:`FakeServer` that runs on the server's own loop while
    the server runs on a thread of its own (:meth:`FakeServer.in_thread`), so the
    state never changes under a request handler. Called on that loop, or with
    the server on the caller's loop, it just runs."""

    @functools.wraps(method)
    def run(server: FakeServer, /, *args: P.args, **kwargs: P.kwargs) -> T:
        portal = server._portal
        if portal is None or threading.get_ident() == server._loop_thread:
            return method(server, *args, **kwargs)
        return portal.call(functools.partial(method, server, *args, **kwargs))

    return run


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

    Each API's state and knobs live on ``server.uprock`` and
    ``server.screenshotcenter``; the ones tests use are also reachable here
    (``jobs``, ``job_completion_delay``, ``crawls``, ``artifact_size``, …).
    """

    # Uprock (see _uprock.py)
    jobs = _Via[dict[str, dict[str, Any]]]("uprock")
    job_created = _Via[dict[str, float]]("uprock")
    job_completion_delay = _Via[float]("uprock")
    sessions = _Via[dict[str, dict[str, Any]]]("uprock")
    session_deadlines = _Via[dict[str, float]]("uprock")
    # ScreenshotCenter (see _screenshotcenter.py)
    crawls = _Via[dict[int, dict[str, Any]]]("screenshotcenter")
    crawl_completion_delay = _Via[float]("screenshotcenter")
    screenshot_completion_delay = _Via[float]("screenshotcenter")
    batch_completion_delay = _Via[float]("screenshotcenter")
    artifact_size = _Via[int]("screenshotcenter")
    artifact_latency = _Via[float]("screenshotcenter")

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
        self.rng = random.Random(seed)  # shared by the services: one seeded sequence
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
        self.uprock = UprockService(self.rng, seed=seed, origin=self._origin)
        self.screenshotcenter = ScreenshotCenterService(self.rng, seed=seed, origin=self._origin)
        self.services: list[Service] = [self.uprock, self.screenshotcenter]
        self._runner: web.AppRunner | None = None
        # Set while the server runs on a thread of its own (in_thread): the data
        # methods then run on that thread's loop, never beside a request handler.
        self._thread_handle: object = None
        self._portal: BlockingPortal | None = None
        self._loop_thread: int | None = None
        self.app = web.Application(middlewares=[self._middleware], client_max_size=64 * 2**20)
        for service in self.services:
            service.add_routes(self.app.router)

    # -- lifetime ------------------------------------------------------------

    async def start(self) -> FakeServer:
        """Start serving (``async with`` does this)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        try:
            await site.start()
        except BaseException:  # the port is taken, say: leave nothing half started
            await self.close()
            raise
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

    @classmethod
    def in_thread(
        cls,
        seed: int = 0,
        *,
        api_key: str | None = None,
        latency: float = 0.0,
        capacity: int | None = None,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> FakeServerThread[FakeServer]:
        """The same server on a thread of its own, with its own event loop: for
        blocking clients (:mod:`uprock_async.sync`), scripts and notebooks::

            with FakeServer.in_thread(seed=0) as server:
                with uprock_async.sync.UprockClient(
                    server.api_key, base_url=server.uprock_url
                ) as client:
                    client.job_detail(server.add_jobs(1)[0])

        A notebook keeps it across cells with ``start()`` and ``close()`` (see
        :class:`FakeServerThread`). Arguments as for :class:`FakeServer`. Its
        methods (``add_jobs``, ``inject``, …) may be called from any thread: they
        run on the server's loop, between requests.
        """
        server = cls(
            seed,
            api_key=api_key,
            latency=latency,
            capacity=capacity,
            record=record,
            host=host,
            port=port,
        )
        return FakeServerThread(server)

    def _attach(self, runner: object, portal: BlockingPortal | None, thread: int | None) -> None:
        """Run the data methods through ``portal``, unless called on ``thread`` (the
        loop's); ``None``: call them directly (see :class:`FakeServerThread`).
        ``runner``, the thread's handle, lives as long as the server does
        (``server = FakeServer.in_thread().start()`` keeps no other reference)."""
        self._thread_handle = runner
        self._portal = portal
        self._loop_thread = thread

    def _origin(self) -> str:
        """``http://host:port`` once the port is known, else ``""``."""
        return f"http://{self.host}:{self.port}" if self.port else ""

    @property
    def uprock_url(self) -> str:
        """Base URL for :class:`~uprock_async.UprockClient`."""
        return f"http://{self.host}:{self.port}{self.uprock.prefix}"

    @property
    def screenshotcenter_url(self) -> str:
        """Base URL for :class:`~uprock_async.ScreenshotCenterClient`."""
        return f"http://{self.host}:{self.port}{self.screenshotcenter.prefix}"

    # -- data (kept by the services) -------------------------------------------

    @_on_its_loop
    def add_jobs(
        self, n: int, *, headers: int = 40, cookies: int = 20, status: str = "completed"
    ) -> list[str]:
        """Add ``n`` completed jobs with realistic details; returns their ids."""
        return self.uprock.add_jobs(n, headers=headers, cookies=cookies, status=status)

    @_on_its_loop
    def job_detail_bytes(self, job_id: str, parse_cookies: bool) -> bytes | None:
        """The encoded detail of a job (cached), or ``None`` if unknown."""
        return self.uprock.job_detail_bytes(job_id, parse_cookies)

    @_on_its_loop
    def add_crawl(
        self, screenshots: int = 1000, *, status: str = "finished", domain: str = "example.com"
    ) -> int:
        """Add a crawl with ``screenshots`` screenshots (every 50th failed); returns its id."""
        return self.screenshotcenter.add_crawl(screenshots, status=status, domain=domain)

    @_on_its_loop
    def crawl_bytes(self, crawl_id: int) -> bytes | None:
        """The encoded ``crawl/info`` answer of a crawl (cached), or ``None`` if unknown."""
        return self.screenshotcenter.crawl_bytes(crawl_id)

    @_on_its_loop
    def next_id(self) -> int:
        """A new ScreenshotCenter id (crawls, screenshots, batches)."""
        return self.screenshotcenter.next_id()

    @_on_its_loop
    def invalidate(self, crawl_id: int | None = None, job_id: str | None = None) -> None:
        """Forget cached bytes after changing ``crawls``/``jobs`` in place."""
        if crawl_id is not None:
            self.screenshotcenter.invalidate(crawl_id)
        if job_id is not None:
            self.uprock.invalidate(job_id)

    # -- faults ----------------------------------------------------------------

    @_on_its_loop
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

    @_on_its_loop
    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    # -- the pipeline ------------------------------------------------------------

    def service_for(self, path: str) -> Service:
        """The service that owns ``path``: the one with the longest matching prefix."""
        owners = [s for s in self.services if path == s.prefix or path.startswith(s.prefix + "/")]
        return max(owners, key=lambda s: len(s.prefix))

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
        service = self.service_for(request.path)
        if self.capacity is not None and self.in_flight >= self.capacity:
            self.rejected_for_capacity += 1
            return service.error(429, headers={"Retry-After": "0"})
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for fault in self.faults:
                if fault.matches(request.path, request.query):
                    fault.hits += 1
                    return await answer(fault, request, handler, service.error)
            if not service.authorized(request, self.api_key):
                return service.error(401)
            if self.latency:
                await asyncio.sleep(self.latency)
            return await handler(request)
        finally:
            self.in_flight -= 1
