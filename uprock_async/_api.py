"""The core every API area calls: :class:`Api` (get, send, download, many, wait).

An area module (``uprock/_jobs.py``, ``screenshotcenter/_crawls.py`` …) is a mixin
typed against :class:`HasApi`: it sees ``self._api`` and nothing else of the
client, checks its arguments with :mod:`._validate`, names its answers with the
shapes of :mod:`._codec`, and calls one of the methods below. What both clients
share besides (configuration, the transport's lifetime, ``stats()``, ``repr``)
is :class:`~._client_base.ClientBase`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

from yarl import URL

from . import _validate
from ._codec import Hooks, Shape
from ._errors import UprockAsyncError, WaitTimeoutError
from ._http import Multipart, Request, Streamed, Transport, open_stream
from .concurrency import (
    ConcurrencyArg,
    FanOut,
    Polled,
    ProgressArg,
    fan_out,
    gather,
    poll_until_terminal,
)

__all__ = [
    "FAN_OUT",
    "SMALL_FAN_OUT",
    "Api",
    "DefaultConcurrency",
    "HasApi",
    "Polled",
    "query",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


P = TypeVar("P", bound=Polled)


class DefaultConcurrency(int):
    """``concurrency=`` when the caller gave none: the method's own default.

    An ``int`` whose repr is the number, so signatures still read
    ``concurrency=64``; :meth:`Api.many` and :meth:`Api.stream` tell it from an
    explicit 64 by its type, and a :meth:`ClientBase.with_options` copy puts its
    own ``concurrency`` in its place.
    """

    __slots__ = ()


FAN_OUT = DefaultConcurrency(64)  # job_details, iter_job_details
SMALL_FAN_OUT = DefaultConcurrency(16)  # crawl_infos, save_crawl: big payloads each


class Api:
    """One client's core: requests through its :class:`Transport`, answers through
    :mod:`._codec` shapes (failures counted in its stats), fan-out and polling."""

    __slots__ = ("concurrency", "hooks", "transport")

    def __init__(self, transport: Transport, *, concurrency: ConcurrencyArg | None = None) -> None:
        self.transport = transport
        self.hooks = Hooks(transport.redact, transport.status_error, transport.stats.error)
        #: what replaces a method's default ``concurrency`` (``with_options``), if set
        self.concurrency = concurrency

    def _limit(self, concurrency: ConcurrencyArg) -> ConcurrencyArg:
        if self.concurrency is not None and type(concurrency) is DefaultConcurrency:
            return self.concurrency
        return concurrency

    # -- one request -------------------------------------------------------------------

    async def get(self, path: str, shape: Shape[T]) -> T:
        """``GET path``, read as ``shape``."""
        url = self.transport.url(path)
        return await self._read(Request("GET", url, on_base=path.startswith("/")), shape)

    async def _read(self, request: Request, shape: Shape[T]) -> T:
        """Send ``request``, read the answer as ``shape``."""
        return await self.transport.fetch(request, self._reader(shape))

    def getter(self, template: str, shape: Shape[T]) -> Callable[[object], Awaitable[T]]:
        """``get(template.format(key), shape)`` as a one-argument function: the
        fan-out's per-item path. It returns the transport's own coroutine, so a
        request in flight has no frame of ours above the transport's."""
        head, one, tail = template.partition("{}")
        if not template.startswith("/") or not one or "{" in tail or "{" in head:
            raise ValueError(f"a path template is '/...{{}}...' (one '{{}}'), got {template!r}")
        tail, _, query = tail.partition("?")
        transport = self.transport
        fetch, read, base = transport.fetch, self._reader(shape), transport.base
        scheme, authority, head = base.scheme, base.raw_authority, transport.url(head).raw_path
        build = URL.build

        def get(key: object) -> Awaitable[T]:
            # Transport.url, inline, built from parts: an already-encoded path under
            # the base's authority whatever the key (on_base), and no parse of the
            # whole URL (yarl's parse caches 128 URLs; a fan-out's are all new).
            url = build(
                scheme=scheme,
                authority=authority,
                path=f"{head}{key}{tail}",
                query_string=query,
                encoded=True,
            )
            return fetch(Request("GET", url, None, None, True, True), read)

        return get

    def _reader(self, shape: Shape[T]) -> Callable[[int, Mapping[str, str], bytes], T]:
        """``shape`` as the transport's ``read`` (which names the request in an
        error envelope found in a 2xx body)."""
        hooks = self.hooks
        reader = getattr(shape, "reader", None)  # a shape's own, one call per answer
        if reader is not None:
            fast: Callable[[int, Mapping[str, str], bytes], T] = reader(hooks)
            return fast

        def read(status: int, headers: Mapping[str, str], body: bytes) -> T:
            return shape(body, status, headers, hooks)

        return read

    async def send(
        self,
        method: str,
        path: str,
        shape: Shape[T],
        *,
        json: bytes | None = None,
        multipart: Multipart | None = None,
        idempotent: bool = True,
    ) -> T:
        """Any request; ``idempotent=False`` for creates (never resent once they may
        have reached the service)."""
        url = self.transport.url(path)
        request = Request(method, url, json, multipart, idempotent, path.startswith("/"))
        return await self._read(request, shape)

    async def download(
        self,
        url: URL,
        *,
        dest: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int | None], None] | None = None,
        not_ready: frozenset[int] = frozenset(),
    ) -> bytes | Path:
        """The body of ``url`` as bytes, or streamed atomically to ``dest``."""
        target = None if dest is None else Path(os.fspath(dest))
        return await self.transport.download(
            url, dest=target, progress=progress, not_ready=not_ready
        )

    def url(self, path: str) -> URL:
        """``path`` on the base URL."""
        return self.transport.url(path)

    def fail(self, error: UprockAsyncError) -> UprockAsyncError:
        """``error``, counted in stats: ``raise api.fail(error)``."""
        return self.hooks.failed(error)

    # -- many requests -----------------------------------------------------------------

    async def many(
        self,
        fn: Callable[[V], Awaitable[T]],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        check: Callable[[Any], V] | None = None,
        what: str = "items",
        concurrency: ConcurrencyArg = FAN_OUT,
        per_second: float | None = None,
        return_exceptions: bool = False,
        progress: ProgressArg = None,
    ) -> list[T | UprockAsyncError]:
        """``fn`` over ``items`` (each passed through ``check``), in input order."""
        return await gather(  # type: ignore[return-value]
            fn,
            items if check is None else _validate.each(items, check, what),
            concurrency=self._limit(concurrency),
            per_second=per_second,
            return_exceptions=return_exceptions,
            progress=progress,
        )

    def stream(
        self,
        fn: Callable[[V], Awaitable[T]],
        items: Iterable[Any] | AsyncIterable[Any],
        *,
        check: Callable[[Any], V],
        what: str,
        concurrency: ConcurrencyArg = FAN_OUT,
        per_second: float | None = None,
        progress: ProgressArg = None,
    ) -> FanOut[V, T]:
        """``fn`` over ``items`` as outcomes in completion order (``async with``)."""
        return fan_out(
            fn,
            _validate.each(items, check, what),
            concurrency=self._limit(concurrency),
            per_second=per_second,
            progress=progress,
        )

    async def wait(
        self,
        fetch: Callable[[], Awaitable[P]],
        *,
        poll_interval: object,
        timeout: object,
        cap: float,
        what: str,
    ) -> P:
        """``fetch()`` until its result is terminal (waits grow 1.5-fold from
        ``poll_interval`` up to ``max(poll_interval, min(cap, 8 * poll_interval))``);
        after ``timeout`` seconds a counted :class:`~uprock_async.WaitTimeoutError`.
        The arguments are checked before the first request."""
        interval, budget = _validate.wait_args(poll_interval, timeout)
        try:
            return await poll_until_terminal(
                fetch,
                poll_interval=interval,
                give_up_after=budget,
                cap=cap,
                what=what,
                redact=self.transport.redact,
            )
        except WaitTimeoutError as error:
            self.hooks.failed(error)
            raise

    def open_stream(
        self,
        url: URL,
        *,
        not_ready: frozenset[int] = frozenset(),
        gone: frozenset[int] = frozenset(),
    ) -> Streamed:
        """The body of ``url`` chunk by chunk (``async with``), capped by
        ``Limits.max_download_size``, decompressed; see :func:`._http.open_stream`."""
        transport = self.transport
        return open_stream(
            transport, url, not_ready=not_ready, gone=gone, cap=transport.limits.max_download_size
        )


class HasApi(Protocol):
    """What an area mixin may use of its client: the core, nothing else."""

    _api: Api


def query(params: Mapping[str, Any]) -> str:
    """``?a=1&b=true`` from the params that are not ``None`` (booleans as true/false)."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            text = ",".join(str(v) for v in value)
        else:
            text = str(value)
        parts.append(f"{quote(name, safe='')}={quote(text, safe='')}")
    return "?" + "&".join(parts) if parts else ""
