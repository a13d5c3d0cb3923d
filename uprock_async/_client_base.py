"""What both clients share besides the :class:`~._api.Api` core: their constructor's
options (:class:`ClientOptions`), the settings they show (:class:`Settings`, for
the blocking clients too) and :class:`ClientBase`: the API key, configuration,
the transport's lifetime, ``with_options``, ``stats()`` and ``repr``."""

from __future__ import annotations

import os
import re
import ssl
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal, Protocol, TypedDict, TypeVar

import aiohttp

from . import _validate
from ._api import Api
from ._config import DEFAULT_BREAKER, CircuitBreaker, Limits, RetryPolicy, Timeout
from ._errors import ConfigurationError
from ._http import DEFAULT_MAX_BODY_SIZE, EventHooks, Transport
from ._http._network import Network
from ._stats import ClientStats
from .concurrency import AdaptiveConcurrency, resolve_concurrency

__all__ = ["ClientBase", "ClientOptions", "Settings"]

Self = TypeVar("Self", bound="ClientBase")

_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: safe in a header


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
    default_headers: Mapping[str, str] | None
    event_hooks: Mapping[str, Sequence[Callable[..., Any]]] | None
    proxy: str | None
    trust_env: bool
    ssl: ssl.SSLContext | bool


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
        default_headers: Mapping[str, str] | None = None,
        event_hooks: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        proxy: str | None = None,
        trust_env: bool = True,
        ssl: ssl.SSLContext | bool = True,
    ) -> None:
        key = self._key(api_key)
        url = base_url or os.environ.get(self._ENV_URL) or self._DEFAULT_URL
        if circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
            raise TypeError("circuit_breaker must be a CircuitBreaker or None")
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError("session must be an aiohttp.ClientSession")
        _validate.at_least(max_body_size, "max_body_size", 1)
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
            default_headers=_validate.headers(default_headers),
            event_hooks=EventHooks.build(event_hooks),
            network=Network.build(proxy, trust_env, ssl, base_url=url, session=session),
        )
        self._api = Api(self._transport)

    @classmethod
    def _key(cls, api_key: object) -> str:
        """The API key given, else the environment's; checked (it travels in a header)."""
        key = api_key if api_key is not None else os.environ.get(cls._ENV_KEY)
        if not key:
            raise ConfigurationError(
                f"no API key: set {cls._ENV_KEY} or pass api_key= to {cls.__name__}"
            )
        if not isinstance(key, str) or not _KEY_CHARS.fullmatch(key):
            raise ValueError(
                "the API key must be printable ASCII without spaces or newlines "
                f"(check {cls._ENV_KEY} or api_key=)"
            )
        return key

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
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
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
        an explicit ``concurrency=`` in a call still wins. ``headers`` merge over
        ``default_headers``. ``api_key`` and ``base_url`` serve another account or
        region from the same pool (a worker serving many tenants needs one
        connector): the copy's key goes only to the copy's base URL host, and
        every message of the pool hides every key. Arguments left out keep this
        client's values. The pool belongs to the original: closing a copy only
        marks the copy closed::

            tenant = client.with_options(api_key=tenant_key, headers={"X-Tenant": "42"})
        """
        if concurrency is not None:
            resolve_concurrency(concurrency)  # a bad value fails here, not mid-call
        twin = object.__new__(type(self))  # copy.copy, without its reduce protocol
        twin.__dict__.update(self.__dict__)
        key = None if api_key is None else self._key(api_key)
        twin._transport = self._transport.with_options(
            timeout=None if timeout is None else Timeout.coerce(timeout),
            retry=None if retry is None else RetryPolicy.coerce(retry),
            headers=None if headers is None else _validate.headers(headers, "headers"),
            base_url=base_url,
            auth=None if key is None else (self._auth_headers(key), key),
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
