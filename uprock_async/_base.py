"""What both clients share: configuration, the transport's lifetime, stats, repr."""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec

from ._codec import decode
from ._config import DEFAULT_BREAKER, CircuitBreaker, Limits, RetryPolicy, Timeout
from ._errors import UprockAsyncError
from ._http._transport import DEFAULT_MAX_BODY_SIZE, Transport
from ._stats import ClientStats

__all__ = ["BaseClient", "query", "validated"]

T = TypeVar("T")
V = TypeVar("V")
Self = TypeVar("Self", bound="BaseClient")

_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: safe in a header


class BaseClient:
    """Shared machinery; see :class:`~uprock_async.UprockClient` for the arguments."""

    _ENV_KEY: ClassVar[str]
    _ENV_URL: ClassVar[str]
    _DEFAULT_URL: ClassVar[str]
    _TRUSTED_SUFFIXES: ClassVar[tuple[str, ...]] = ()

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

    @staticmethod
    def _auth_headers(key: str) -> dict[str, str]:
        raise NotImplementedError

    # -- lifetime ------------------------------------------------------------

    async def __aenter__(self: Self) -> Self:
        self._transport.session()  # open the pool now; fails clearly if closed
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (a session you passed in is left open)."""
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """True after :meth:`aclose` (or leaving ``async with``)."""
        return self._transport.closed

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._transport.base_url

    @property
    def timeout(self) -> Timeout:
        """Per-attempt time limits."""
        return self._transport.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._transport.retry

    def stats(self) -> ClientStats:
        """A snapshot of this client's counters and latency percentiles (cheap)."""
        return self._transport.stats.snapshot()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"{type(self).__name__}(base_url={self.base_url!r}, {state})"

    # -- request helpers -------------------------------------------------------

    def _decode(self, decoder: msgspec.json.Decoder[T], body: bytes, status: int, what: str) -> T:
        try:
            return decode(decoder, body, status=status, what=what, redact=self._transport.redact)
        except UprockAsyncError as exc:
            self._transport.stats.error(exc)
            raise

    def _count_error(self, exc: BaseException) -> None:
        self._transport.stats.error(exc)


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


def validated(
    items: Iterable[Any] | AsyncIterable[Any], check: Callable[[Any], V], what: str
) -> Iterable[V] | AsyncIterable[V]:
    """``items`` passed through ``check``: all at once for a collection (so a bad id
    fails before any request), lazily for iterators and async iterables.

    A generator given here is closed when the wrapper is, so the fan-out that
    closes its input on the way out reaches the caller's generator through it.
    """
    if isinstance(items, (str, bytes)):
        raise TypeError(f"{what} must be an iterable of ids, not a single string")
    if isinstance(items, AsyncIterable):

        async def checked() -> AsyncIterator[V]:
            source = items.__aiter__()
            try:
                async for item in source:
                    yield check(item)
            finally:
                if inspect.isasyncgen(source):  # `async for` alone leaves it suspended
                    await source.aclose()

        return checked()
    if isinstance(items, (list, tuple, set, frozenset)):
        return [check(item) for item in items]
    if inspect.isgenerator(items):
        generator = items

        def checked_sync() -> Iterator[V]:
            try:
                yield from map(check, generator)
            finally:
                generator.close()

        return checked_sync()
    return map(check, items)
