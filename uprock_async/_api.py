"""The core every API area calls: :class:`Api` (get, send, download, many, wait).

An area module (``uprock/_jobs.py``, ``screenshotcenter/_crawls.py`` …) is a mixin
typed against :class:`HasApi`: it sees ``self._api`` and nothing else of the
client, checks its arguments with :mod:`._validate`, names its answers with the
shapes of :mod:`._codec`, and calls one of the methods below. :class:`ClientBase`
is what both clients share besides: configuration, the transport's lifetime,
``stats()`` and ``repr``.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, TypedDict, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from . import _validate
from ._codec import Hooks, Shape
from ._config import DEFAULT_BREAKER, CircuitBreaker, Limits, RetryPolicy, Timeout
from ._errors import APIStatusError, UprockAsyncError, WaitTimeoutError
from ._http import DEFAULT_MAX_BODY_SIZE, Multipart, Transport
from ._stats import ClientStats
from .concurrency import (
    AdaptiveConcurrency,
    ConcurrencyArg,
    FanOut,
    ProgressArg,
    fan_out,
    gather,
    poll_until_terminal,
)
from .concurrency._adaptive import resolve_concurrency

__all__ = [
    "FAN_OUT",
    "SMALL_FAN_OUT",
    "Api",
    "ClientBase",
    "ClientOptions",
    "DefaultConcurrency",
    "HasApi",
    "Polled",
    "query",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
Self = TypeVar("Self", bound="ClientBase")

_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: safe in a header


class Polled(Protocol):
    """What ``wait`` polls: a job, crawl, screenshot or batch."""

    @property
    def is_terminal(self) -> bool: ...

    @property
    def status(self) -> str: ...


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
        status, headers, body = await self.transport.request("GET", path)
        try:
            return shape(body, status, headers, self.hooks)
        except APIStatusError as exc:  # an error envelope in a 2xx body: name the request
            self.transport.locate(exc, "GET", self.transport.url(path))
            raise

    def getter(self, template: str, shape: Shape[T]) -> Callable[[object], Awaitable[T]]:
        """``get(template.format(key), shape)`` as a one-argument function, with no
        call in between: the fan-out's per-item path."""
        transport, hooks = self.transport, self.hooks
        exchange, url = transport.exchange, transport.url

        async def get(key: object) -> T:
            target = url(template.format(key))
            answer: tuple[int, Mapping[str, str], bytes] = await exchange("GET", target)
            try:
                return shape(answer[2], answer[0], answer[1], hooks)
            except APIStatusError as exc:
                transport.locate(exc, "GET", target)
                raise

        return get

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
        status, headers, body = await self.transport.request(
            method, path, json=json, multipart=multipart, idempotent=idempotent
        )
        try:
            return shape(body, status, headers, self.hooks)
        except APIStatusError as exc:
            self.transport.locate(exc, method, self.transport.url(path))
            raise

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
                fetch, poll_interval=interval, give_up_after=budget, cap=cap, what=what
            )
        except WaitTimeoutError as error:
            self.hooks.failed(error)
            raise


class HasApi(Protocol):
    """What an area mixin may use of its client: the core, nothing else."""

    _api: Api


class ClientOptions(TypedDict, total=False):
    """A client constructor's keyword options besides ``session`` (see
    :class:`~uprock_async.UprockClient`): what a blocking client and each
    ``distributed`` worker pass on as ``**options``."""

    base_url: str | None
    timeout: float | Timeout
    limits: Limits | None
    retry: RetryPolicy | int | None
    trace_configs: Sequence[aiohttp.TraceConfig]
    max_body_size: int
    circuit_breaker: CircuitBreaker | None


class _HasSettings(Protocol):
    @property
    def base_url(self) -> str: ...
    @property
    def timeout(self) -> Timeout: ...
    @property
    def retry(self) -> RetryPolicy: ...


class Settings:
    """The settings every client shows, async or blocking, read from ``_settings()``."""

    def _settings(self) -> _HasSettings:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._settings().base_url

    @property
    def timeout(self) -> Timeout:
        """Per-attempt time limits."""
        return self._settings().timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._settings().retry


class ClientBase(Settings):
    """Configuration, the transport's lifetime, stats, repr; see
    :class:`~uprock_async.UprockClient` for the arguments."""

    _ENV_KEY: ClassVar[str]
    _ENV_URL: ClassVar[str]
    _DEFAULT_URL: ClassVar[str]
    _TRUSTED_SUFFIXES: ClassVar[tuple[str, ...]] = ()
    _origin: ClientBase | None = None  # a with_options copy's original (owns the pool)

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | Timeout = 30.0,
        limits: Limits | None = None,
        retry: RetryPolicy | int | None = None,
        session: aiohttp.ClientSession | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        circuit_breaker: CircuitBreaker | None = DEFAULT_BREAKER,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(self._ENV_KEY)
        if not key:
            raise ValueError(
                f"no API key: set {self._ENV_KEY} or pass api_key= to {type(self).__name__}"
            )
        if not isinstance(key, str) or not _KEY_CHARS.fullmatch(key):
            raise ValueError(
                "the API key must be printable ASCII without spaces or newlines "
                f"(check {self._ENV_KEY} or api_key=)"
            )
        url = base_url or os.environ.get(self._ENV_URL) or self._DEFAULT_URL
        if circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
            raise TypeError("circuit_breaker must be a CircuitBreaker or None")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError("session must be an aiohttp.ClientSession")
        if (
            isinstance(max_body_size, bool)
            or not isinstance(max_body_size, int)
            or max_body_size < 1
        ):
            raise ValueError(f"max_body_size must be a positive int, got {max_body_size!r}")
        self._transport = Transport(
            base_url=url,
            auth_headers=self._auth_headers(key),
            secret=key,
            timeout=Timeout.coerce(timeout),
            limits=limits if limits is not None else Limits(),
            retry=RetryPolicy.coerce(retry),
            session=session,
            trace_configs=trace_configs,
            trusted_host_suffixes=self._TRUSTED_SUFFIXES,
            max_body_size=max_body_size,
            circuit_breaker=circuit_breaker,
        )
        self._api = Api(self._transport)

    @staticmethod
    def _auth_headers(key: str) -> dict[str, str]:
        raise NotImplementedError

    async def __aenter__(self: Self) -> Self:
        self._transport.session()  # open the pool now; fails clearly if closed
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (a session you passed in is left open)."""
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose` (or leaving ``async with``)."""
        return self._transport.closed

    def _settings(self) -> Transport:
        return self._transport

    def stats(self) -> ClientStats:
        """A snapshot of this client's counters and latency percentiles (cheap)."""
        return self._transport.stats.snapshot()

    def with_options(
        self: Self,
        *,
        timeout: float | Timeout | None = None,
        retry: RetryPolicy | int | None = None,
        concurrency: int | Literal["auto"] | AdaptiveConcurrency | None = None,
    ) -> Self:
        """A lightweight copy with other settings, sharing this client's connection
        pool, stats and circuit breaker (like ``with_options`` in the OpenAI and
        Anthropic SDKs)::

            patient = client.with_options(timeout=120, retry=5)
            await patient.job_detail(job_id)
            await client.with_options(concurrency="auto").job_details(ids)

        ``timeout`` and ``retry`` apply to every request of the copy;
        ``concurrency`` replaces the default of its fan-out methods
        (``job_details``, ``iter_job_details``, ``crawl_infos``, ``save_crawl``);
        an explicit ``concurrency=`` in a call still wins. Arguments left out keep
        this client's values. The pool belongs to the original: closing a copy
        only marks the copy closed.
        """
        if concurrency is not None:
            resolve_concurrency(concurrency)  # a bad value fails here, not mid-call
        twin = copy.copy(self)
        twin._transport = self._transport.with_options(
            timeout=None if timeout is None else Timeout.coerce(timeout),
            retry=None if retry is None else RetryPolicy.coerce(retry),
        )
        twin._api = Api(
            twin._transport,
            concurrency=self._api.concurrency if concurrency is None else concurrency,
        )
        twin._origin = self  # the pool's owner lives as long as any copy
        return twin

    def __del__(self) -> None:
        # A client dropped without aclose() (a re-run notebook cell, a forgotten
        # close): free its sockets now and say so in one line, instead of
        # aiohttp's multi-kilobyte "Unclosed client session" report.
        transport = self.__dict__.get("_transport")
        if transport is not None and transport.release():
            warnings.warn(
                f"{type(self).__name__} was not closed; its connections were released "
                "(use `async with` or `await client.aclose()`)",
                ResourceWarning,
                stacklevel=2,
            )

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"{type(self).__name__}(base_url={self.base_url!r}, {state})"


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
