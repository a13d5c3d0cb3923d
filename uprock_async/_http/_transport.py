"""The one place that does network I/O.

An endpoint method builds a request (pure), calls :meth:`Transport.request` (or
:meth:`Transport.download`) and decodes the bytes it gets back (pure). Here, and
only here: the pooled ``aiohttp`` session, timeouts, retries with backoff and
``Retry-After``, redirects that never carry the key to a foreign host, body size
caps, per-attempt stats/logs/overload signals, and the mapping of every
``aiohttp`` exception to :class:`APIConnectionError` / :class:`APITimeoutError`.

Every error raised here names its request (``method``, ``url`` without
credentials). A session the caller passes in is used as it is, with three
exceptions made per request: ``raise_for_status`` is off (our mapping decides),
redirects are followed here (never by aiohttp), and a request that must not
run twice (``idempotent=False``) is never silently resent by aiohttp.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import aiohttp
import anyio
from yarl import URL

from .._config import CircuitBreaker, Limits, RetryPolicy, Timeout
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ResponseDecodeError,
    UprockAsyncError,
    excerpt,
    parse_retry_after,
    redactor,
    status_error,
)
from .._stats import StatsRecorder
from .._version import __version__
from ..concurrency._adaptive import current_probe

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

# aiohttp >= 3.12 (the first with client middlewares) takes them per request:
# the only public hook that sits inside its silent one-shot resend of
# GET/PUT/DELETE on a dropped connection.
_PER_REQUEST_MIDDLEWARES = hasattr(aiohttp, "ClientMiddlewareType")

# The last request this task completed, so an error found in a 2xx body (a
# ScreenshotCenter error envelope sent with HTTP 200) can still name it. A
# ContextVar, because each fan-out item runs in its own task (a copied context).
_last_request: ContextVar[tuple[str, URL] | None] = ContextVar(
    "uprock_async_last_request", default=None
)


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


class _NotResent(aiohttp.ClientConnectionError):
    """A dropped connection, re-raised as a type aiohttp's resend loop lets through."""

    def __init__(self, cause: aiohttp.ClientConnectionError) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _no_resend(
    request: aiohttp.ClientRequest,
    handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
) -> aiohttp.ClientResponse:
    """Client middleware: the request may have reached the server before the
    connection dropped (a billed create), so it must not be sent again unseen.

    aiohttp resends an idempotent method once on ``ClientOSError`` /
    ``ServerDisconnectedError`` raised by the handler chain; any other error type
    passes straight out, to our retry policy, which knows what the request means.
    """
    try:
        return await handler(request)
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError) as exc:
        raise _NotResent(exc) from exc


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
        circuit_breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        base = URL(self.base_url)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        self._base = base
        self._auth = dict(auth_headers)
        self._secret = secret
        self._redact = redactor(secret)
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
        self.circuit_breaker = circuit_breaker
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
        """May the API key be sent to ``url``? Never with ``user:password@`` in it."""
        if url.user is not None or url.password is not None:
            return False
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
        """``text`` with the API key replaced (as is, JSON-, ``repr``- or
        percent-escaped), for messages built from foreign strings."""
        return self._redact(text)

    def public_url(self, url: URL) -> str:
        """``url`` as errors and logs show it: no ``user:password@``, no fragment,
        and no query for a host that is not the API's (a pre-signed URL's
        signature is a credential too)."""
        clean = url.with_user(None).with_fragment(None)
        if not self.is_trusted(clean):
            clean = clean.with_query(None)
        return self.redact(str(clean))

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
        ``dest``. Missing parent folders are created when the body starts to
        arrive and removed again if the transfer fails. Retries restart cleanly.
        A ``dest`` that is an existing directory raises :class:`IsADirectoryError`
        (one below a file, :class:`NotADirectoryError`) before any request. Bytes
        are capped by ``max_body_size``; a file by ``limits.max_download_size``
        (``None``: no cap), counted after decompression.
        A status in ``not_ready`` (Uprock's 202 "processing incomplete") is not
        content: it is retried like a 503 and then raised as :class:`APIStatusError`.
        """
        if dest is None:

            async def to_bytes(resp: aiohttp.ClientResponse) -> bytes:
                _check_ready(resp.status, not_ready)
                return await self._read_body(resp, self.max_body_size, progress)

            return (await self._exchange("GET", url, consume=to_bytes))[2]

        dest = Path(dest)
        _check_dest(dest)
        cap = self.limits.max_download_size

        async def to_file(resp: aiohttp.ClientResponse) -> Path:
            _check_ready(resp.status, not_ready)
            return await self._stream_to(resp, dest, progress, cap)

        return (await self._exchange("GET", url, consume=to_file))[2]

    async def _stream_to(
        self,
        resp: aiohttp.ClientResponse,
        dest: Path,
        progress: Callable[[int, int | None], None] | None,
        cap: int | None,
    ) -> Path:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
        total = resp.content_length if not resp.headers.get("Content-Encoding") else None
        if cap is not None and total is not None and total > cap:
            raise _too_big(resp.status, f"download of {total} bytes", cap)
        done = 0
        # No await between making the folders and opening the file in them: another
        # download of this loop that fails cannot remove them in between.
        created = _make_parents(dest.parent)
        try:
            # Page-cache writes of 256 KiB take microseconds; a thread hop per chunk
            # would cost more than it saves.
            with open(tmp, "wb") as fh:  # noqa: ASYNC230
                async for chunk in resp.content.iter_chunked(_CHUNK):
                    done += len(chunk)
                    if cap is not None and done > cap:
                        # Counted after decompression: a small gzip can inflate to anything.
                        raise _too_big(resp.status, "download", cap)
                    fh.write(chunk)
                    if progress is not None:
                        progress(done, total)
            os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            _remove_dirs(created)
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
                return await self._attempt(
                    session, method, url, json, multipart, consume, attempt, idempotent
                )
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
        idempotent: bool = True,
    ) -> tuple[int, Mapping[str, str], T]:
        """One attempt, following redirects; raises :class:`_Failure` on any failure."""
        self.stats.attempt(retry=attempt > 0)
        started = time.monotonic()
        status = 0
        headers: Mapping[str, str] = {}
        trusted = self.is_trusted(url)
        options = self._request_options(session, idempotent)
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
                    **options,
                ) as resp:
                    status = resp.status
                    headers = resp.headers
                    if status in _REDIRECTS and "Location" in headers:
                        url = self._redirect_target(url, headers["Location"])
                        trusted = self.is_trusted(url)  # a foreign host never gets the key
                        if status == 303 or (status in (301, 302) and method == "POST"):
                            method, json, multipart = "GET", None, None
                        await _read_prefix(resp, _REDIRECT_BODY_CAP)
                        continue
                    if status >= 400:
                        body = await _read_prefix(resp, _ERROR_BODY_CAP)
                        raise self._status_failure(method, url, status, headers, body)
                    result = await consume(resp)
                    self._report(method, url, attempt, started, status, headers, None)
                    _last_request.set((method, url))
                    return status, headers, result
            raise _Failure(
                APIConnectionError(f"too many redirects (more than {_MAX_REDIRECTS})"),
                retryable=False,
                sent=True,
            )
        except _Failure as failure:
            self._locate(failure.error, method, url)
            self._report(method, url, attempt, started, status, headers, failure.error)
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError) as exc:
            mapped = self._exception_failure(exc, url)
            self._locate(mapped.error, method, url)
            self._report(method, url, attempt, started, status, headers, mapped.error)
            raise mapped from exc

    def _request_options(self, session: aiohttp.ClientSession, idempotent: bool) -> dict[str, Any]:
        """Per-request settings that hold whatever the session's own defaults are."""
        # A caller's session made with raise_for_status=True would turn a 404 into
        # an aiohttp exception (mapped as a connection failure, and retried).
        options: dict[str, Any] = {"raise_for_status": False}
        # Our own sessions have aiohttp's resend switched off for everything; a
        # caller's keeps it for reads, but a create must never run twice unseen.
        # (aiohttp 3.10/3.11 have no per-request hook: there a caller's session
        # keeps the resend; mutating the caller's session instead would change
        # its other requests too.)
        if (
            not idempotent
            and _PER_REQUEST_MIDDLEWARES
            and getattr(session, "_retry_connection", True)
        ):
            # Per-request middlewares replace the session's: keep the caller's.
            options["middlewares"] = (_no_resend, *getattr(session, "_middlewares", ()))
        return options

    def _redirect_target(self, url: URL, location: str) -> URL:
        """Where a redirect points; a ``Location`` that is not a plain http(s) URL
        (malformed, another scheme, ``user:password@``) is refused, never followed."""
        try:
            target = url.join(URL(location))
            usable = (
                target.scheme in ("http", "https")
                and bool(target.host)
                and target.user is None
                and target.password is None
            )
        except ValueError:
            usable = False
        if not usable:
            quoted = excerpt(location.encode("utf-8", "replace"), redact=self.redact)
            raise _Failure(
                APIConnectionError(
                    f"the server redirected to {quoted}, which is not an http(s) URL "
                    "without credentials; not followed"
                ),
                retryable=False,
                sent=True,
            )
        return target

    def _locate(self, error: UprockAsyncError, method: str, url: URL) -> None:
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
        """The exception for an error answer, with the key redacted from its message.

        ``method``/``url`` default to the last request this task completed: the
        one whose 2xx body turned out to be an error envelope.
        """
        if method is None and url is None:
            method, url = _last_request.get() or (None, None)
        return status_error(
            status,
            body,
            headers,
            redact=self._redact,
            method=method,
            url=None if url is None else self.public_url(url),
        )

    def _status_failure(
        self, method: str, url: URL, status: int, headers: Mapping[str, str], body: bytes
    ) -> _Failure:
        error = self.status_error(status, body, headers, method=method, url=url)
        retry_after = parse_retry_after(headers.get("Retry-After"))
        return _Failure(
            error,
            retryable=status in self.retry.retry_statuses,
            sent=True,
            retry_after=retry_after,
        )

    def _exception_failure(self, exc: BaseException, url: URL) -> _Failure:
        if isinstance(exc, _NotResent):
            exc = exc.cause  # report what happened, not how it was kept from a resend
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
                self.redact(url.path_qs)
                if url.origin() == self._base.origin()
                else self.public_url(url),
                outcome,
                latency * 1000,
                attempt + 1,
                request_id,
            )


def _too_big(status: int, what: str, cap: int) -> _Failure:
    return _Failure(
        ResponseDecodeError(
            f"{what} exceeds max_download_size={cap} bytes (Limits.max_download_size)",
            status_code=status,
        ),
        retryable=False,
        sent=True,
    )


def _check_dest(dest: Path) -> None:
    """Refuse, before any request, a ``dest`` no file can be written to."""
    if dest.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "dest is a directory; pass the path of the file to write", str(dest)
        )
    for parent in dest.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, "a parent of dest is a file, not a folder", str(parent)
                )
            return


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those made here, outermost first."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # made meanwhile by another thread or process: theirs, not ours
        created.append(path)
    return created


def _remove_dirs(created: list[Path]) -> None:
    """Undo :func:`_make_parents`, innermost first, as far as the folders are empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            return  # another download's file lives there now: it and its parents stay


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
