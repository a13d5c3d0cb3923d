"""The one place that does network I/O: the session, every request, the retry loop.

Endpoint code builds a request (pure), calls :meth:`Transport.request` or
:meth:`Transport.download`, and decodes the bytes (pure). Beside this module:
``_session`` (the pool, per-request safety), ``_urls`` (where the key may go,
redirects, redaction), ``_download`` (bodies and caps), ``_failures`` (aiohttp
exceptions mapped to ours), ``_pause`` (Retry-After pauses the whole client),
``_breaker`` (the circuit breaker) and ``_events`` (one event per attempt to the
observers: stats, pause, breaker, log, and the calling task's, if a fan-out set
one). Every error raised names its request, without credentials.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, cast

import aiohttp
import anyio
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._config import CircuitBreaker, Limits, RetryPolicy, Timeout
from .._errors import APIConnectionError, APIStatusError, UprockAsyncError, redactor, status_error
from .._stats import StatsRecorder
from .._version import __version__
from ._breaker import Breaker, BreakerExhausted, wait_turn
from ._download import check_dest, check_ready, read_body, read_prefix, stream_to
from ._events import (
    AttemptObserver,
    LogObserver,
    emit,
    idle,
    log_retry,
)
from ._failures import MAPPED, Failure, cause_of, exception_failure, status_failure
from ._pause import Pause
from ._session import (
    PER_REQUEST_MIDDLEWARES,
    check_session,
    client_timeout,
    form,
    new_session,
    release_pool,
    request_options,
)
from ._urls import UrlPolicy

__all__ = ["DEFAULT_MAX_BODY_SIZE", "Multipart", "Response", "Transport"]

T = TypeVar("T")

DEFAULT_MAX_BODY_SIZE = 256 * 1024 * 1024
_ERROR_BODY_CAP = 1024 * 1024  # an error page is never worth more than this
_REDIRECT_BODY_CAP = 64 * 1024
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"uprock-async/{__version__}"

# (field name, value, filename or None, content type or None)
Multipart = Sequence[tuple[str, "str | bytes", "str | None", "str | None"]]

_PER_REQUEST_MIDDLEWARES = PER_REQUEST_MIDDLEWARES  # where tests look for it

# What a response is turned into by an exchange: the value and the body bytes read.
Consume = Callable[[aiohttp.ClientResponse], Awaitable[tuple[T, int]]]


class Response(NamedTuple):
    """A finished exchange: the final attempt's status, headers and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Transport:
    """Owns the ``aiohttp.ClientSession`` of one client and sends every request.

    ``auth_headers`` go only to trusted URLs: the configured base origin, or
    https URLs whose host ends with one of ``trusted_host_suffixes``.
    ``circuit_breaker`` (``None``: off) holds attempts while the service is down.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth_headers: Mapping[str, str],
        secret: str,
        timeout: Timeout,
        limits: Limits,
        retry: RetryPolicy,
        session: aiohttp.ClientSession | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        trusted_host_suffixes: Sequence[str] = (),
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        circuit_breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        base = URL(self.base_url)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self._base = base
        self._auth = dict(auth_headers)
        self._auth_headers = CIMultiDictProxy(CIMultiDict(self._auth))
        self._secret = secret
        self._redact = redactor(secret)
        self._urls = UrlPolicy(base, trusted_host_suffixes, self._redact)
        self.timeout = timeout
        self.limits = limits
        self.retry = retry
        self._client_timeout = client_timeout(timeout)
        self._session = session
        self._owns_session = session is None
        self._origin: Transport | None = None  # set on with_options copies: it owns the pool
        self._trace_configs = list(trace_configs)
        self.max_body_size = max_body_size
        self.circuit_breaker = circuit_breaker
        self.closed = False
        self.stats = StatsRecorder()
        self.pause = Pause()
        self.breaker = None if circuit_breaker is None else Breaker(circuit_breaker, self.stats)
        #: Who sees every attempt (in this order); the calling task's observer comes last.
        self.observers: list[AttemptObserver] = [self.stats, self.pause]
        if self.breaker is not None:
            self.observers.append(self.breaker)
        self.observers.append(LogObserver(self._urls.describe, self._redact))
        self._emit = partial(emit, self.observers)  # one finished attempt to each, then the task's

    # -- lifetime ------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, created on first use (inside the running loop)."""
        if self._origin is not None:
            if self.closed:
                raise RuntimeError("this client has been closed; create a new one")
            return self._origin.session()
        session = self._session
        if session is None:
            if self.closed:
                raise RuntimeError("this client has been closed; create a new one")
            session = self._session = new_session(
                self.limits, self._client_timeout, self._trace_configs, USER_AGENT
            )
        else:
            check_session(session, self.closed)
        return session

    async def aclose(self) -> None:
        """Close the session if we created it; a caller's session is left open, and
        so is the pool of the transport a :meth:`with_options` copy came from."""
        self.closed = True
        if self._origin is not None:
            return
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
        elif session is not None:
            self._session = session  # keep it so use-after-close still says "closed"

    def with_options(
        self, *, timeout: Timeout | None = None, retry: RetryPolicy | None = None
    ) -> Transport:
        """A copy with other per-attempt settings that shares this transport's pool,
        stats, observers, Retry-After pause and circuit breaker."""
        twin = copy.copy(self)
        twin._origin = self._origin or self
        if timeout is not None:
            twin.timeout = timeout
            twin._client_timeout = client_timeout(timeout)
        if retry is not None:
            twin.retry = retry
        return twin

    def release(self) -> bool:
        """Free our own pool's sockets now, for a client garbage-collected without
        ``aclose()`` (see :func:`release_pool`). True if there was an open pool."""
        if self._origin is not None or not self._owns_session or self.closed:
            return False
        self.closed = True
        return release_pool(self._session)

    # -- URLs and credentials --------------------------------------------------

    def url(self, path: str) -> URL:
        """The absolute URL of an already-encoded ``path?query`` under the base URL."""
        return URL(self.base_url + path, encoded=True)

    def is_trusted(self, url: URL) -> bool:
        """May the API key be sent to ``url``? Never with ``user:password@`` in it."""
        return self._urls.is_trusted(url)

    def _headers(self, trusted: bool, extra: Mapping[str, str] | None) -> Mapping[str, str] | None:
        if extra is None:  # aiohttp copies what it is given: one prebuilt mapping serves all
            return self._auth_headers if trusted else None
        return {**self._auth, **extra} if trusted else dict(extra)

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced (as is, JSON-, ``repr``- or
        percent-escaped), for messages built from foreign strings."""
        return self._redact(text)

    def public_url(self, url: URL) -> str:
        """``url`` as errors and logs show it (see :meth:`UrlPolicy.public_url`)."""
        return self._urls.public_url(url)

    # -- requests --------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: bytes | None = None,
        multipart: Multipart | None = None,
        idempotent: bool = True,
    ) -> Response:
        """Send ``method path`` (relative to the base URL) and return the whole answer.

        Statuses >= 400 raise the matching :class:`APIStatusError`; connection
        failures raise :class:`APIConnectionError`. Retries follow the policy:
        any failure for idempotent requests, only "not sent" failures otherwise.
        """
        answer: tuple[int, Mapping[str, str], bytes] = await self.exchange(
            method, self.url(path), json=json, multipart=multipart, idempotent=idempotent
        )
        return Response(*answer)

    async def download(
        self,
        url: URL,
        *,
        dest: Path | None,
        progress: Callable[[int, int | None], None] | None = None,
        not_ready: frozenset[int] = frozenset(),
    ) -> bytes | Path:
        """GET ``url`` as bytes, or stream it into ``dest`` atomically (a failed or
        truncated transfer leaves nothing there; missing folders are made, and
        removed again on failure). A ``dest`` that is a directory raises
        :class:`IsADirectoryError` (one below a file, :class:`NotADirectoryError`)
        before any request. Bytes are capped by ``max_body_size``, a file by
        ``limits.max_download_size``, counted after decompression. A status in
        ``not_ready`` (Uprock's 202) is retried like a 503, then raised as
        :class:`APIStatusError`.
        """
        if dest is None:
            body_cap = self.max_body_size

            async def to_bytes(resp: aiohttp.ClientResponse) -> tuple[bytes, int]:
                check_ready(resp.status, not_ready)
                body = await read_body(resp, body_cap, progress)
                return body, len(body)

            return (await self.exchange("GET", url, consume=to_bytes))[2]

        target = Path(dest)
        check_dest(target)
        cap = self.limits.max_download_size

        async def to_file(resp: aiohttp.ClientResponse) -> tuple[Path, int]:
            check_ready(resp.status, not_ready)
            return target, await stream_to(resp, target, progress, cap)

        return (await self.exchange("GET", url, consume=to_file))[2]

    async def exchange(
        self,
        method: str,
        url: URL,
        *,
        consume: Consume[T] | None = None,
        json: bytes | None = None,
        multipart: Multipart | None = None,
        idempotent: bool = True,
    ) -> tuple[int, Mapping[str, str], T]:
        """Attempts until one succeeds or the policy says stop (``consume=None``: the
        whole body, as bytes, capped by ``max_body_size``). Before each: wait out
        the pause and an open breaker (via the task's observer: it may give its slot
        back). Waiting, and a failed breaker probe, use no retry; a call held
        ``max_wait`` s by the breaker in all raises its last error."""
        session = self.session()
        policy, pause, breaker = self.retry, self.pause, self.breaker
        attempt = 0  # attempts this call sent
        retries = 0  # retries used
        held_since = 0.0  # when this call first found the breaker open (0: never)
        last: UprockAsyncError | None = None
        while True:
            probe = False
            if (pause.until and pause.remaining() > 0) or (breaker is not None and breaker.is_open):
                if breaker is not None and breaker.is_open and not held_since:
                    held_since = time.monotonic()
                try:
                    probe = await idle(partial(wait_turn, pause, breaker, held_since or math.inf))
                except BreakerExhausted:
                    assert breaker is not None
                    error = last if last is not None else breaker.copy_last_error()
                    self.stats.error(error)
                    raise error from None
            try:
                return await self._attempt(
                    session, method, url, json, multipart, consume, attempt, idempotent
                )
            except Failure as caught:
                failure = caught
            # Decided outside the except block, so the error we raise has no
            # __context__: the internal Failure (and what it wrapped) stays unreachable.
            attempt += 1
            last = failure.error
            free = probe and breaker is not None and breaker.is_open
            may_retry = (
                failure.retryable
                and (free or retries < policy.max_retries)
                and (idempotent or not failure.sent)
            )
            if not may_retry:
                self.stats.error(last)
                raise last from failure.__cause__  # a TransportCause at most: text, no key
            if not free:
                retries += 1
            if breaker is not None and breaker.is_open:
                continue  # the breaker paces what follows: no backoff on top
            delay = policy.backoff(retries - 1, failure.retry_after)
            log_retry(last, retries, policy.max_retries, delay)
            # With a breaker, the backoff ends early if it opens (then it holds the call).
            await idle(partial(anyio.sleep if breaker is None else breaker.sleep, delay))

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        json: bytes | None,
        multipart: Multipart | None,
        consume: Consume[T] | None,
        attempt: int,
        idempotent: bool = True,
    ) -> tuple[int, Mapping[str, str], T]:
        """One attempt, following redirects; raises :class:`Failure` on any failure."""
        self.stats.attempt(retry=attempt > 0)
        started = time.monotonic()
        status = 0
        headers: Mapping[str, str] = {}
        trusted = self.is_trusted(url)
        options = request_options(session, idempotent)
        try:
            for _hop in range(_MAX_REDIRECTS + 1):
                data: Any = json
                extra = {"Content-Type": "application/json"} if json is not None else None
                if multipart is not None:
                    data = form(multipart)
                async with session.request(
                    method,
                    url,
                    data=data,
                    headers=self._headers(trusted, extra),
                    allow_redirects=False,
                    timeout=self._client_timeout,
                    **options,
                ) as resp:
                    status = resp.status
                    headers = resp.headers
                    if status in _REDIRECTS and "Location" in headers:
                        url = self._urls.redirect_target(url, headers["Location"])
                        trusted = self.is_trusted(url)  # a foreign host never gets the key
                        if status == 303 or (status in (301, 302) and method == "POST"):
                            method, json, multipart = "GET", None, None
                        await read_prefix(resp, _REDIRECT_BODY_CAP)
                        continue
                    if status >= 400:
                        body = await read_prefix(resp, _ERROR_BODY_CAP)
                        answer = self.status_error(status, body, headers, method=method, url=url)
                        retryable = status in self.retry.retry_statuses
                        raise status_failure(answer, headers, retryable)
                    if consume is None:  # the whole body; read_body's fast path inline
                        cap, length = self.max_body_size, resp.content_length
                        plain = "Content-Encoding" not in headers
                        fast = plain and length is not None and length <= cap
                        body = await (resp.read() if fast else read_body(resp, cap, None))
                        result, nbytes = cast(T, body), len(body)
                    else:
                        result, nbytes = await consume(resp)
                    self._emit(method, url, attempt, started, status, headers, None, None, nbytes)
                    return status, headers, result
            raise Failure(
                APIConnectionError(f"too many redirects (more than {_MAX_REDIRECTS})"),
                retryable=False,
                sent=True,
            )
        except Failure as failure:
            error = failure.error
            self.locate(error, method, url)
            retry_after = failure.retry_after
            if retry_after is not None:
                retry_after = min(retry_after, self.retry.max_retry_after)
            self._emit(method, url, attempt, started, status, headers, error, retry_after)
            raise
        except MAPPED as exc:
            mapped = exception_failure(exc, url, self.timeout, self._redact)
            self.locate(mapped.error, method, url)
            self._emit(method, url, attempt, started, status, headers, mapped.error)
            raise mapped from cause_of(exc, self._redact)

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
