"""The one place that does network I/O.

An endpoint method builds a request (pure), calls :meth:`Transport.request` (or
:meth:`Transport.download`) and decodes the bytes it gets back (pure). Here, and
only here: the pooled ``aiohttp`` session, timeouts, retries with backoff and
``Retry-After``, redirects that never carry the key to a foreign host, body size
caps, per-attempt stats/logs/overload signals, and the mapping of every
``aiohttp`` exception to :class:`APIConnectionError` / :class:`APITimeoutError`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiohttp
import anyio
from yarl import URL

from ._adaptive import current_probe
from ._config import Limits, RetryPolicy, Timeout
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ResponseDecodeError,
    UprockAsyncError,
    parse_retry_after,
    status_error,
)
from ._stats import StatsRecorder
from ._version import __version__

__all__ = ["DEFAULT_MAX_BODY_SIZE", "Multipart", "Response", "Transport"]

log = logging.getLogger("uprock_async")

T = TypeVar("T")

DEFAULT_MAX_BODY_SIZE = 256 * 1024 * 1024
_ERROR_BODY_CAP = 1024 * 1024  # an error page is never worth more than this
_REDIRECT_BODY_CAP = 64 * 1024
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_OVERLOAD_STATUSES = frozenset({429, 503})
_CHUNK = 256 * 1024
USER_AGENT = f"uprock-async/{__version__}"

# (field name, value, filename or None, content type or None)
Multipart = Sequence[tuple[str, "str | bytes", "str | None", "str | None"]]


class Response(NamedTuple):
    """A finished exchange: the final attempt's status, headers and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class _Failure(Exception):
    """Internal: an attempt failed; carries whether it may be retried."""

    def __init__(
        self,
        error: UprockAsyncError,
        *,
        retryable: bool,
        sent: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable
        self.sent = sent
        self.retry_after = retry_after


class Transport:
    """Owns the ``aiohttp.ClientSession`` of one client and sends every request.

    ``auth_headers`` go only to trusted URLs: the configured base origin, or
    https URLs whose host ends with one of ``trusted_host_suffixes``.
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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        base = URL(self.base_url)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self._base = base
        self._auth = dict(auth_headers)
        self._secret = secret
        self.timeout = timeout
        self.limits = limits
        self.retry = retry
        self._client_timeout = aiohttp.ClientTimeout(
            total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
        )
        self._session = session
        self._owns_session = session is None
        self._trace_configs = list(trace_configs)
        self._trusted_suffixes = tuple(s.lower().lstrip("*") for s in trusted_host_suffixes)
        self.max_body_size = max_body_size
        self.closed = False
        self.stats = StatsRecorder()

    # -- lifetime ------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, created on first use (inside the running loop)."""
        session = self._session
        if session is None:
            if self.closed:
                raise RuntimeError("this client has been closed; create a new one")
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections,
                limit_per_host=self.limits.max_connections_per_host,
                keepalive_timeout=self.limits.keepalive_expiry,
                ttl_dns_cache=300,
            )
            session = self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._client_timeout,
                trace_configs=self._trace_configs or None,
                headers={"User-Agent": USER_AGENT},
                raise_for_status=False,
            )
            # aiohttp >= 3.10 silently resends an idempotent request once when the
            # connection drops; RetryPolicy must be the only retry loop, or
            # max_retries=0 would still mean two requests and stats would undercount.
            # (Private but stable attribute; aiohttp's own test client sets it.)
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
        elif self.closed or session.closed:
            raise RuntimeError("this client has been closed; create a new one")
        elif getattr(session, "_loop", None) not in (None, asyncio.get_running_loop()):
            # A pool belongs to the loop that opened it (e.g. a module-level client
            # used by two asyncio.run calls); aiohttp would fail obscurely later.
            raise RuntimeError(
                "this client's connection pool was opened in another event loop; "
                "create one client per event loop (inside the coroutine you run)"
            )
        return session

    async def aclose(self) -> None:
        """Close the session if we created it; a caller's session is left open."""
        self.closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
        elif session is not None:
            self._session = session  # keep it so use-after-close still says "closed"

    # -- URLs and credentials --------------------------------------------------

    def url(self, path: str) -> URL:
        """The absolute URL of an already-encoded ``path?query`` under the base URL."""
        return URL(self.base_url + path, encoded=True)

    def is_trusted(self, url: URL) -> bool:
        """May the API key be sent to ``url``?"""
        if url.origin() == self._base.origin():
            return True
        if url.scheme != "https":
            return False
        host = (url.host or "").lower()
        return any(host.endswith(suffix) for suffix in self._trusted_suffixes)

    def _headers(self, trusted: bool, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(self._auth) if trusted else {}
        if extra:
            headers.update(extra)
        return headers

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced, for messages built from foreign strings."""
        return text.replace(self._secret, "[redacted]") if self._secret in text else text

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

        async def read(resp: aiohttp.ClientResponse) -> bytes:
            return await self._read_body(resp, self.max_body_size)

        status, headers, body = await self._exchange(
            method,
            self.url(path),
            json=json,
            multipart=multipart,
            idempotent=idempotent,
            consume=read,
        )
        self.stats.bytes_received += len(body)
        return Response(status, headers, body)

    async def download(
        self,
        url: URL,
        *,
        dest: Path | None,
        progress: Callable[[int, int | None], None] | None = None,
        not_ready: frozenset[int] = frozenset(),
    ) -> bytes | Path:
        """GET ``url`` as bytes, or stream it into ``dest`` atomically.

        The body goes to a temporary file beside ``dest`` that is renamed over it
        only once complete, so a failed or truncated transfer leaves nothing at
        ``dest``. Missing parent folders are created. Retries restart cleanly.
        A status in ``not_ready`` (Uprock's 202 "processing incomplete") is not
        content: it is retried like a 503 and then raised as :class:`APIStatusError`.
        """
        if dest is None:

            async def to_bytes(resp: aiohttp.ClientResponse) -> bytes:
                _check_ready(resp.status, not_ready)
                return await self._read_body(resp, self.max_body_size, progress)

            return (await self._exchange("GET", url, consume=to_bytes))[2]

        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)

        async def to_file(resp: aiohttp.ClientResponse) -> Path:
            _check_ready(resp.status, not_ready)
            return await self._stream_to(resp, dest, progress)

        return (await self._exchange("GET", url, consume=to_file))[2]

    async def _stream_to(
        self,
        resp: aiohttp.ClientResponse,
        dest: Path,
        progress: Callable[[int, int | None], None] | None,
    ) -> Path:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        total = resp.content_length if not resp.headers.get("Content-Encoding") else None
        done = 0
        try:
            # Page-cache writes of 256 KiB take microseconds; a thread hop per chunk
            # would cost more than it saves.
            with open(tmp, "wb") as fh:  # noqa: ASYNC230
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.stats.bytes_received += done
        return dest

    async def _read_body(
        self,
        resp: aiohttp.ClientResponse,
        cap: int,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> bytes:
        """The whole body, refusing more than ``cap`` bytes (also after decompression)."""
        length = resp.content_length
        encoded = "Content-Encoding" in resp.headers
        if length is not None and length > cap and not encoded:
            raise _Failure(
                ResponseDecodeError(
                    f"response body of {length} bytes exceeds max_body_size={cap}",
                    status_code=resp.status,
                ),
                retryable=False,
                sent=True,
            )
        if length is not None and not encoded and progress is None:
            return await resp.read()  # the fast path: one buffer, no copies
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            if len(buf) > cap:
                raise _Failure(
                    ResponseDecodeError(
                        f"response body exceeds max_body_size={cap} bytes",
                        status_code=resp.status,
                    ),
                    retryable=False,
                    sent=True,
                )
            if progress is not None:
                progress(len(buf), length if not encoded else None)
        return bytes(buf)

    async def _exchange(
        self,
        method: str,
        url: URL,
        *,
        consume: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        json: bytes | None = None,
        multipart: Multipart | None = None,
        idempotent: bool = True,
    ) -> tuple[int, Mapping[str, str], T]:
        session = self.session()
        policy = self.retry
        attempt = 0
        while True:
            try:
                return await self._attempt(session, method, url, json, multipart, consume, attempt)
            except _Failure as failure:
                may_retry = (
                    failure.retryable
                    and attempt < policy.max_retries
                    and (idempotent or not failure.sent)
                )
                if not may_retry:
                    error = failure.error
                    self.stats.error(error)
                    raise error from failure.__cause__
                delay = policy.backoff(attempt, failure.retry_after)
                probe = current_probe.get()
                if probe is not None and probe.held:
                    # under an adaptive limiter: wait without the slot, then queue for one
                    await probe.backoff(delay)
                else:
                    await anyio.sleep(delay)
                attempt += 1

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        json: bytes | None,
        multipart: Multipart | None,
        consume: Callable[[aiohttp.ClientResponse], Awaitable[T]],
        attempt: int,
    ) -> tuple[int, Mapping[str, str], T]:
        """One attempt, following redirects; raises :class:`_Failure` on any failure."""
        self.stats.attempt(retry=attempt > 0)
        started = time.monotonic()
        status = 0
        headers: Mapping[str, str] = {}
        trusted = url.origin() == self._base.origin() or self.is_trusted(url)
        try:
            for _hop in range(_MAX_REDIRECTS + 1):
                data: Any = json
                extra = {"Content-Type": "application/json"} if json is not None else None
                if multipart is not None:
                    data = _form(multipart)
                async with session.request(
                    method,
                    url,
                    data=data,
                    headers=self._headers(trusted, extra),
                    allow_redirects=False,
                    timeout=self._client_timeout,
                ) as resp:
                    status = resp.status
                    headers = resp.headers
                    if status in _REDIRECTS and "Location" in headers:
                        url = url.join(URL(headers["Location"]))
                        trusted = self.is_trusted(url)  # a foreign host never gets the key
                        if status == 303 or (status in (301, 302) and method == "POST"):
                            method, json, multipart = "GET", None, None
                        await _read_prefix(resp, _REDIRECT_BODY_CAP)
                        continue
                    if status >= 400:
                        body = await _read_prefix(resp, _ERROR_BODY_CAP)
                        raise self._status_failure(status, headers, body)
                    result = await consume(resp)
                    self._report(method, url, attempt, started, status, headers, None)
                    return status, headers, result
            raise _Failure(
                APIConnectionError(f"too many redirects (more than {_MAX_REDIRECTS})"),
                retryable=False,
                sent=True,
            )
        except _Failure as failure:
            self._report(method, url, attempt, started, status, headers, failure.error)
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError) as exc:
            mapped = self._exception_failure(exc, url)
            self._report(method, url, attempt, started, status, headers, mapped.error)
            raise mapped from exc

    def status_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> APIStatusError:
        """The exception for an error answer, with the key redacted from its message."""
        return status_error(status, body, headers, redact=self._secret)

    def _status_failure(self, status: int, headers: Mapping[str, str], body: bytes) -> _Failure:
        error = self.status_error(status, body, headers)
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return _Failure(
            error,
            retryable=status in self.retry.retry_statuses,
            sent=True,
            retry_after=retry_after,
        )

    def _exception_failure(self, exc: BaseException, url: URL) -> _Failure:
        where = f"{url.scheme}://{url.host}"
        detail = self.redact(str(exc) or type(exc).__name__)
        if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.InvalidURL)):
            return _Failure(
                APIConnectionError(f"cannot connect to {where}: {detail}"),
                retryable=False,
                sent=False,
            )
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return _Failure(
                APITimeoutError(f"timed out connecting to {where} ({self.timeout})"),
                retryable=True,
                sent=False,
            )
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            return _Failure(
                APITimeoutError(f"request to {where} timed out ({self.timeout})"),
                retryable=True,
                sent=True,
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            return _Failure(
                APIConnectionError(f"cannot connect to {where}: {detail}"),
                retryable=True,
                sent=False,
            )
        if isinstance(exc, aiohttp.ClientPayloadError):
            return _Failure(
                APIConnectionError(f"connection to {where} broke mid-body: {detail}"),
                retryable=True,
                sent=True,
            )
        return _Failure(
            APIConnectionError(f"connection to {where} failed: {detail}"),
            retryable=True,
            sent=True,
        )

    def _report(
        self,
        method: str,
        url: URL,
        attempt: int,
        started: float,
        status: int,
        headers: Mapping[str, str],
        error: UprockAsyncError | None,
    ) -> None:
        """Account for one finished attempt: stats, DEBUG log, adaptive-concurrency probe."""
        latency = time.monotonic() - started
        if status:
            self.stats.response(status, latency, 0)
        probe = current_probe.get()
        if probe is not None:
            probe.attempt(
                started,
                latency,
                overloaded=status in _OVERLOAD_STATUSES or isinstance(error, APITimeoutError),
            )
        if log.isEnabledFor(logging.DEBUG):
            request_id = headers.get("X-Request-Id") if headers else None
            if request_id is None and isinstance(error, APIStatusError):
                request_id = error.request_id
            if request_id is not None:  # a hostile server may echo the key in it
                request_id = self.redact(request_id)
            outcome: object = (
                status
                if error is None
                else (f"{status} {type(error).__name__}" if status else type(error).__name__)
            )
            log.debug(
                "%s %s -> %s in %.1f ms (attempt %d, request_id=%s)",
                method,
                self.redact(url.path_qs if url.origin() == self._base.origin() else str(url)),
                outcome,
                latency * 1000,
                attempt + 1,
                request_id,
            )


def _check_ready(status: int, not_ready: frozenset[int]) -> None:
    if status in not_ready:
        raise _Failure(
            APIStatusError(
                f"the content is not ready yet (HTTP {status}, processing incomplete); "
                "try again shortly",
                status_code=status,
            ),
            retryable=True,
            sent=True,
        )


async def _read_prefix(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most ``cap`` bytes of a body we only quote (error pages, redirects).

    A bigger body is cut, not refused: a 503 page from a proxy is still a
    retryable 503. The unread rest is dropped with the connection on release,
    never buffered.
    """
    buf = bytearray()
    while len(buf) < cap:
        chunk = await resp.content.read(min(_CHUNK, cap - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _form(parts: Multipart) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value, filename, content_type in parts:
        form.add_field(name, value, filename=filename, content_type=content_type)
    return form
