"""The pooled ``aiohttp`` session and the per-request options that make any session safe.

A session we create has aiohttp's silent resend switched off (``RetryPolicy``
is the only retry loop) and its connector built from the client's
:class:`~._network.Network` (TLS, a SOCKS proxy). A session the caller passes
in is used as it is (its own proxy, TLS and ``trust_env``), with
per-request exceptions: ``raise_for_status`` is off (our mapping decides), and
a request that must not run twice (``idempotent=False``) is never silently
resent by aiohttp (a client middleware, on aiohttp >= 3.12).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import aiohttp

from .._config import Limits, Timeout
from ._failures import no_resend
from ._network import DIRECT, Network

__all__ = [
    "PER_REQUEST_MIDDLEWARES",
    "check_session",
    "client_timeout",
    "form",
    "new_session",
    "release_pool",
    "request_options",
]

# aiohttp >= 3.12 (the first with client middlewares) takes them per request:
# the only public hook that sits inside its silent one-shot resend of
# GET/PUT/DELETE on a dropped connection.
PER_REQUEST_MIDDLEWARES = hasattr(aiohttp, "ClientMiddlewareType")


def new_session(
    limits: Limits,
    timeout: aiohttp.ClientTimeout,
    trace_configs: Sequence[aiohttp.TraceConfig],
    user_agent: str,
    network: Network = DIRECT,
) -> aiohttp.ClientSession:
    """A session with one pooled connector sized by ``limits``, verifying TLS and
    dialling a SOCKS proxy as ``network`` says (an http(s) proxy goes per request:
    :meth:`Network.proxy_for`)."""
    connector = network.connector(
        limit=limits.max_connections,
        limit_per_host=limits.max_connections_per_host,
        keepalive_timeout=limits.keepalive_expiry,
        ttl_dns_cache=300,
    )
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        trace_configs=list(trace_configs) or None,
        headers={"User-Agent": user_agent},
        raise_for_status=False,
        # The environment is read by Network, never by aiohttp: its trust_env would
        # also read ~/.netrc and add (or refuse next to ours) an Authorization header.
        trust_env=False,
    )
    # aiohttp >= 3.10 silently resends an idempotent request once when the
    # connection drops; RetryPolicy must be the only retry loop, or
    # max_retries=0 would still mean two requests and stats would undercount.
    # (Private but stable attribute; aiohttp's own test client sets it.)
    if hasattr(session, "_retry_connection"):
        session._retry_connection = False  # pyright: ignore[reportPrivateUsage]
    return session


def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """aiohttp's form of one attempt's :class:`Timeout`."""
    return aiohttp.ClientTimeout(
        total=timeout.total, sock_connect=timeout.connect, sock_read=timeout.read
    )


def check_session(session: aiohttp.ClientSession, closed: bool) -> None:
    """Refuse a closed session, or one opened in another event loop."""
    if closed or session.closed:
        raise RuntimeError("this client has been closed; create a new one")
    loop = getattr(session, "_loop", None)
    if loop is not None and loop is not asyncio.get_running_loop():
        # A pool belongs to the loop that opened it (e.g. a module-level client
        # used by two asyncio.run calls); aiohttp would fail obscurely later.
        raise RuntimeError(
            "this client's connection pool was opened in another event loop; "
            "create one client per event loop (inside the coroutine you run)"
        )


def request_options(session: aiohttp.ClientSession, idempotent: bool) -> dict[str, Any]:
    """Per-request settings that hold whatever the session's own defaults are."""
    # A caller's session made with raise_for_status=True would turn a 404 into
    # an aiohttp exception (mapped as a connection failure, and retried).
    options: dict[str, Any] = {"raise_for_status": False}
    # Our own sessions have aiohttp's resend switched off for everything; a
    # caller's keeps it for reads, but a create must never run twice unseen.
    # (aiohttp 3.10/3.11 have no per-request hook: there a caller's session
    # keeps the resend; mutating the caller's session instead would change
    # its other requests too.)
    if not idempotent and PER_REQUEST_MIDDLEWARES and getattr(session, "_retry_connection", True):
        # Per-request middlewares replace the session's: keep the caller's.
        options["middlewares"] = (no_resend, *getattr(session, "_middlewares", ()))
    return options


def form(parts: Sequence[tuple[str, str | bytes, str | None, str | None]]) -> aiohttp.FormData:
    """A multipart body: (field name, value, filename or None, content type or None)."""
    data = aiohttp.FormData()
    for name, value, filename, content_type in parts:
        data.add_field(name, value, filename=filename, content_type=content_type)
    return data


def release_pool(session: aiohttp.ClientSession | None) -> bool:
    """Close an open session's sockets synchronously (from a finalizer, which
    cannot await ``connector.close()``). True if it was open.

    The session is detached (public aiohttp API: it then counts as closed, so its
    own ``__del__`` stays quiet instead of printing its "Unclosed client session /
    Unclosed connector" report), then the connector's transports are closed on
    the spot.
    """
    if session is None or session.closed:
        return False
    connector = session.connector
    session.detach()
    close_now = getattr(connector, "_close", None)  # private but stable; guarded
    if connector is not None and close_now is not None:
        # RuntimeError: the event loop is already closed, nothing left to free.
        with contextlib.suppress(RuntimeError):
            close_now()  # the SSL-shutdown waiters it returns are not awaited
    return True
