"""The one place that does network I/O: the session, every request, the retry loop.

Endpoint code builds a :class:`Request` (pure), calls :meth:`Transport.fetch`,
:meth:`Transport.send` or :meth:`Transport.download`, and decodes the bytes
(pure). The request path itself, one method per concern, is ``_sending``'s
:class:`~._sending.Sender`; this module holds the pool's lifetime, the
configuration (credentials, headers, ``with_options`` copies) and the entry
points. Beside them: ``_request`` (the request and response values), ``_session`` (the pool,
per-request safety), ``_urls`` (where the key may go, redirects, redaction),
``_download`` (bodies and caps), ``_failures`` (aiohttp exceptions mapped to
ours), ``_pause`` (Retry-After pauses the whole client), ``_breaker`` (the
circuit breaker), ``_hooks`` (the caller's event hooks) and ``_events`` (one
event per attempt to the observers: stats, pause, breaker, log, and the calling
task's, if a fan-out set one). Every error raised names its request, without
credentials.
"""

from __future__ import annotations

from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._config import CircuitBreaker, Limits, RetryPolicy, Timeout
from .._errors import redactor
from .._stats import StatsRecorder
from ._breaker import Breaker
from ._download import check_dest, check_ready, read_body, stream_to
from ._events import (
    AttemptObserver,
    LogObserver,
    emit,
)
from ._hooks import EventHooks
from ._network import DIRECT, Network
from ._pause import Pause
from ._request import Consume, Multipart, Request, Response
from ._sending import USER_AGENT, Sender
from ._session import (
    PER_REQUEST_MIDDLEWARES,
    check_session,
    client_timeout,
    new_session,
    release_pool,
)
from ._urls import UrlPolicy

__all__ = ["DEFAULT_MAX_BODY_SIZE", "USER_AGENT", "Multipart", "Request", "Response", "Transport"]

T = TypeVar("T")

DEFAULT_MAX_BODY_SIZE = 256 * 1024 * 1024
_MASKED = "[redacted]"  # the auth header's value, as hooks see it

_PER_REQUEST_MIDDLEWARES = PER_REQUEST_MIDDLEWARES  # where tests look for it


class Transport(Sender):
    """Owns the ``aiohttp.ClientSession`` of one client and sends every request.

    ``auth_headers`` go only to trusted URLs: the configured base origin, or
    https URLs whose host ends with one of ``trusted_host_suffixes``;
    ``default_headers`` (checked by the client) go with every request, and a
    ``User-Agent`` among them replaces ours. ``circuit_breaker`` (``None``: off)
    holds attempts while the service is down; ``event_hooks`` see every attempt.
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
        default_headers: Mapping[str, str] | None = None,
        event_hooks: EventHooks | None = None,
        network: Network | None = None,
    ) -> None:
        self._redact = redactor(secret)  # every key of the pool (with_options adds its own)
        self._network = DIRECT if network is None else network  # proxy and TLS of our pool
        for credential in self._network.secrets:  # a proxy's credentials: hidden like the key
            self._redact.add(credential)
        # Which proxy a request goes through; None: never one (no call per request).
        network = self._network
        self._proxy_for = network.proxy_for if network.proxy or network.env else None
        self._suffixes = tuple(trusted_host_suffixes)
        self._aim(base_url, auth_headers, secret)
        self.limits = limits
        self.retry = retry
        self._set_timeout(timeout)
        self._session = session
        self._owns_session = session is None
        self._loop: AbstractEventLoop | None = None  # the loop of a pool we made
        self._origin: Transport | None = None  # set on with_options copies: it owns the pool
        self._trace_configs = list(trace_configs)
        self.max_body_size = max_body_size
        self.circuit_breaker = circuit_breaker
        self.closed = False
        self.stats = StatsRecorder()
        self.pause = Pause()
        self.breaker = None if circuit_breaker is None else Breaker(circuit_breaker, self.stats)
        self._log_observer = LogObserver(self._urls.describe, self._redact)
        #: Who sees every failed attempt (in this order); the calling task's observer
        #: comes last. A success goes to each directly (see ``_succeeded``).
        self.observers: list[AttemptObserver] = [self.stats, self.pause]
        if self.breaker is not None:
            self.observers.append(self.breaker)
        self.observers.append(self._log_observer)
        self._emit = partial(emit, self.observers)  # one finished attempt to each, then the task's
        self._hooks = event_hooks
        self._defaults = dict(default_headers or {})
        self._build_headers()

    def _set_timeout(self, timeout: Timeout) -> None:
        self.timeout = timeout
        self._client_timeout = client_timeout(timeout)
        #: What fetch() passes every request besides its headers: an idempotent
        #: request's request_options, redirects left to us, the attempt's timeout.
        self._options: dict[str, Any] = {
            "allow_redirects": False,
            "raise_for_status": False,
            "timeout": self._client_timeout,
        }

    def _aim(self, base_url: str, auth_headers: Mapping[str, str], secret: str) -> None:
        """Point this transport at ``base_url`` with these credentials (the key joins
        the pool's redactor: every message of every copy hides every key)."""
        self.base_url = base_url.rstrip("/")
        base = URL(self.base_url)
        if base.scheme not in ("http", "https") or not base.host:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        #: the base URL, parsed (its path has no trailing ``/``)
        self.base = base
        self._root = base.raw_path.rstrip("/")
        self._auth = dict(auth_headers)
        self._secret = secret
        self._redact.add(secret)
        self._urls = UrlPolicy(base, self._suffixes, self._redact)

    def _build_headers(self) -> None:
        """What every request sends besides the session's own headers, built once:
        ``_sent[trusted]`` (JSON bodies: ``_json_sent``) and, for hooks,
        ``_shown[trusted]`` with the key masked. Our ``User-Agent`` is a header of
        the session we make; per request go only the defaults and, to a trusted
        host, the auth header (aiohttp merges per-request headers one by one)."""
        plain = CIMultiDict(self._defaults)
        keyed = CIMultiDict(plain)
        keyed.update(self._auth)
        json = {"Content-Type": "application/json"}
        self._sent = {
            False: CIMultiDictProxy(plain) if plain else None,
            True: CIMultiDictProxy(keyed),
        }
        self._json_sent = {
            False: CIMultiDictProxy(CIMultiDict({**plain, **json})),
            True: CIMultiDictProxy(CIMultiDict({**keyed, **json})),
        }
        shown = CIMultiDict({"User-Agent": USER_AGENT} if self._owns_session else {})
        shown.update(plain)
        masked = CIMultiDict(shown)
        masked.update(dict.fromkeys(self._auth, _MASKED))
        self._shown = {False: CIMultiDictProxy(shown), True: CIMultiDictProxy(masked)}

    # -- lifetime ------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The pooled session, created on first use (inside the running loop)."""
        session = self._session
        if session is not None and not self.closed and get_running_loop() is self._loop:
            return session  # our own open pool, in the loop that made it: nothing to check
        if self._origin is not None:
            if self.closed:
                raise RuntimeError("this client has been closed; create a new one")
            return self._origin.session()
        session = self._session
        if session is None:
            if self.closed:
                raise RuntimeError("this client has been closed; create a new one")
            session = self._session = new_session(
                self.limits, self._client_timeout, self._trace_configs, USER_AGENT, self._network
            )
            self._loop = get_running_loop()  # only we close it: the loop is all to check
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
        self,
        *,
        timeout: Timeout | None = None,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        base_url: str | None = None,
        auth: tuple[Mapping[str, str], str] | None = None,
    ) -> Transport:
        """A copy with other settings that shares this transport's pool, stats,
        observers, Retry-After pause and circuit breaker. ``headers`` merge over the
        defaults; ``auth`` is ``(auth headers, key)`` of another account, which
        goes only to the copy's base URL host (and trusted suffixes)."""
        twin = object.__new__(type(self))  # copy.copy, without its reduce protocol: 10x faster
        twin.__dict__.update(self.__dict__)
        twin._origin = self._origin or self
        twin._loop = None  # a copy asks its origin (which may be closed by now)
        if timeout is not None:
            twin._set_timeout(timeout)
        if retry is not None:
            twin.retry = retry
        if base_url is not None or auth is not None:
            auth_headers, secret = auth if auth is not None else (self._auth, self._secret)
            twin._aim(base_url or self.base_url, auth_headers, secret)
        if headers is not None or auth is not None:
            if headers is not None:
                twin._defaults = {**self._defaults, **headers}
            twin._build_headers()
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
        """The absolute URL of an already-encoded ``path?query`` under the base URL,
        built from parts (yarl's parse of a whole URL costs three times as much, and
        its cache holds 128 URLs)."""
        if "#" in path:
            return URL(self.base_url + path, encoded=True)
        path, _, query = path.partition("?")
        base = self.base
        return URL.build(
            scheme=base.scheme,
            authority=base.raw_authority,
            path=self._root + path,
            query_string=query,
            encoded=True,
        )

    def is_trusted(self, url: URL) -> bool:
        """May the API key be sent to ``url``? Never with ``user:password@`` in it."""
        return self._urls.is_trusted(url)

    def redact(self, text: str) -> str:
        """``text`` with the API key replaced (as is, JSON-, ``repr``- or
        percent-escaped), for messages built from foreign strings."""
        return self._redact(text)

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
        answer: tuple[int, Mapping[str, str], bytes] = await self.send(
            Request(method, self.url(path), json, multipart, idempotent)
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

            return (await self.send(Request("GET", url), to_bytes))[2]

        target = Path(dest)
        check_dest(target)
        cap = self.limits.max_download_size

        async def to_file(resp: aiohttp.ClientResponse) -> tuple[Path, int]:
            check_ready(resp.status, not_ready)
            return target, await stream_to(resp, target, progress, cap)

        return (await self.send(Request("GET", url), to_file))[2]

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
        """:meth:`send` with the request given as keywords."""
        return await self.send(Request(method, url, json, multipart, idempotent), consume)
