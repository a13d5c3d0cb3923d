"""How an attempt is told: its event to the observers, its answer to the response
hooks, its error named and redacted (:class:`Reports`, under the request path).

A failure goes through :meth:`Reports._told` (an :class:`AttemptEvent` to every
observer: stats, pause, breaker, log, the task's); a success through
:meth:`Reports._succeeded`, which updates the stats and the breaker directly and
builds an event only when someone reads it (the DEBUG log, an adaptive limit).
"""

from __future__ import annotations

import logging
import time
from asyncio import AbstractEventLoop
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from .._config import RetryPolicy, Timeout
from .._errors import APIConnectionError, APIStatusError, UprockAsyncError, status_error
from .._redact import KeyRing
from .._stats import StatsRecorder
from ._breaker import Breaker
from ._events import AttemptEvent, CallObserver, LogObserver, current_observer, log
from ._failures import Failure
from ._hooks import EventHooks, RequestInfo, ResponseInfo
from ._pause import Pause
from ._urls import UrlPolicy

__all__ = ["Reports"]


class Reports:
    """Telling attempts; :class:`~._transport.Transport` sets every attribute below."""

    timeout: Timeout
    retry: RetryPolicy
    max_body_size: int
    closed: bool
    stats: StatsRecorder
    pause: Pause
    breaker: Breaker | None
    _redact: KeyRing
    _urls: UrlPolicy
    _session: aiohttp.ClientSession | None
    _loop: AbstractEventLoop | None
    _client_timeout: aiohttp.ClientTimeout
    _options: dict[str, Any]
    _proxy_for: Callable[[URL], URL | None] | None
    _hooks: EventHooks | None
    _emit: Callable[..., None]
    _log_observer: LogObserver
    _sent: dict[bool, CIMultiDictProxy[str] | None]
    _json_sent: dict[bool, CIMultiDictProxy[str]]
    _shown: dict[bool, CIMultiDictProxy[str]]

    def public_url(self, url: URL) -> str:
        """``url`` as errors and logs show it (see :meth:`UrlPolicy.public_url`)."""
        return self._urls.public_url(url)

    async def _failed(
        self,
        failure: Failure,
        method: str,
        url: URL,
        attempt: int,
        started: float,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Failure:
        """``failure`` once the attempt is told (:meth:`_told`) and the response hook
        has seen the answer, if one came."""
        self._told(failure, method, url, attempt, started, status, headers)
        hooks = self._hooks
        if failure.status and hooks is not None and hooks.response:
            await self._response_hook(
                method, url, failure.status, failure.headers, started, attempt
            )
        return failure

    def _told(
        self,
        failure: Failure,
        method: str,
        url: URL,
        attempt: int,
        started: float,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A failed attempt told: the request named in its error, its answer's
        ``status``/``headers`` kept on it, the event emitted (``Retry-After`` capped)."""
        if status is not None:
            failure.status = status
        if headers is not None:
            failure.headers = headers
        self.locate(failure.error, method, url)
        retry_after = failure.retry_after
        if retry_after is not None:
            retry_after = failure.retry_after = min(retry_after, self.retry.max_retry_after)
        self._emit(
            method,
            url,
            attempt,
            started,
            failure.status,
            failure.headers,
            failure.error,
            retry_after,
        )

    def _succeeded(
        self,
        method: str,
        url: URL,
        attempt: int,
        started: float,
        status: int,
        headers: Mapping[str, str],
        nbytes: int,
    ) -> None:
        """A usable answer, told without building an event unless someone reads one:
        the stats and the breaker directly (the pause has nothing to learn from a
        success); the DEBUG log and the task's observer (adaptive limits) get the
        event. (:meth:`fetch` has this inline.)"""
        latency = time.monotonic() - started
        self.stats.response(status, latency, nbytes)
        breaker = self.breaker
        if breaker is not None and (breaker.failures or breaker.is_open):
            breaker.on_success()
        caller = current_observer.get()
        if caller is not None or log.isEnabledFor(logging.DEBUG):
            self._tell_success(
                caller, method, url, attempt, started, latency, status, headers, nbytes
            )

    def _tell_success(
        self,
        caller: CallObserver | None,
        method: str,
        url: URL,
        attempt: int,
        started: float,
        latency: float,
        status: int,
        headers: Mapping[str, str],
        nbytes: int,
    ) -> None:
        event = AttemptEvent(
            method, url, attempt + 1, status, None, started, latency, headers, nbytes
        )
        self._log_observer.on_attempt(event)
        if caller is not None:
            caller.on_attempt(event)

    # -- hooks -------------------------------------------------------------------------

    def _request_info(self, method: str, url: URL, trusted: bool, attempt: int) -> RequestInfo:
        return RequestInfo(method, self.public_url(url), self._shown[trusted], attempt + 1)

    async def _response_hook(
        self,
        method: str,
        url: URL,
        status: int,
        headers: Mapping[str, str],
        started: float,
        attempt: int,
    ) -> None:
        assert self._hooks is not None
        request_id = headers.get("X-Request-Id")
        info = ResponseInfo(
            method,
            self.public_url(url),
            status,
            headers,
            None if request_id is None else self._redact(request_id),
            time.monotonic() - started,
            attempt + 1,
        )
        await self._hooks.on_response(info)

    def locate(self, error: UprockAsyncError, method: str, url: URL) -> None:
        """Name the request in ``error`` (it was built where the request was unknown)."""
        if isinstance(error, (APIStatusError, APIConnectionError)) and error.method is None:
            error.method = method
            error.url = self.public_url(url)

    def status_error(
        self,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        *,
        method: str | None = None,
        url: URL | None = None,
    ) -> APIStatusError:
        """The exception for an error answer, with the key redacted from its message
        (without ``method``/``url`` for an error found in a 2xx body: see :meth:`locate`)."""
        return status_error(
            status,
            body,
            headers,
            redact=self._redact,
            method=method,
            url=None if url is None else self.public_url(url),
        )
