"""A failed attempt, and the map from every ``aiohttp`` exception to ours.

Nothing above ``_http`` sees an ``aiohttp`` exception type: they become
:class:`~uprock_async.APIConnectionError` / :class:`~uprock_async.APITimeoutError`
here, wrapped in a :class:`Failure` that tells the retry loop whether the
attempt may be tried again and whether it may have reached the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

import aiohttp
from yarl import URL

from .._config import Timeout
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    UprockAsyncError,
)
from .._redact import bounded
from .._retry_after import parse_retry_after

__all__ = [
    "Expected",
    "TransportCause",
    "cause_of",
    "Failure",
    "NotResent",
    "exception_failure",
    "expecting",
    "no_resend",
    "not_ready_message",
    "status_failure",
]


class Failure(Exception):
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
        self.status = 0  # the answer's status and headers, if one came (set by the transport)
        self.headers: Mapping[str, str] = {}


class TransportCause(Exception):
    """What the HTTP library raised, kept as text: its type and message, the key
    redacted. It is the ``__cause__`` of the error we raise instead of the original
    exception, whose attributes (``request_info``) hold the request's headers,
    ``Authorization`` included, and which error trackers record."""


def cause_of(exc: BaseException, redact: Callable[[str], str]) -> TransportCause:
    """A :class:`TransportCause` for ``exc`` (unwrapped from :class:`NotResent`)."""
    if isinstance(exc, NotResent):
        exc = exc.cause
    kind = type(exc)
    return TransportCause(f"{kind.__module__}.{kind.__qualname__}: {redact(str(exc))}")


class NotResent(aiohttp.ClientConnectionError):
    """A dropped connection, re-raised as a type aiohttp's resend loop lets through."""

    def __init__(self, cause: aiohttp.ClientConnectionError) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def no_resend(
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
        raise NotResent(exc) from exc


#: What an attempt may raise that :func:`exception_failure` maps.
MAPPED = (aiohttp.ClientError, asyncio.TimeoutError, TimeoutError, ConnectionError)


class _Rule(NamedTuple):
    kinds: type[BaseException] | tuple[type[BaseException], ...]
    error: type[UprockAsyncError]
    retryable: bool  # the attempt may be tried again
    sent: bool  # the request may have reached the server
    message: str  # ``{where}``, ``{detail}`` and ``{timeout}`` filled in


#: How each exception reads; the first rule whose ``kinds`` match wins.
# fmt: off
_RULES = (
    # Never retried: a certificate refused now is refused the next time too.
    _Rule(aiohttp.ClientConnectorCertificateError, APIConnectionError, False, False,
          "cannot connect to {where}: its TLS certificate was not accepted ({detail}); if a "
          "corporate proxy or CA signs it, pass ssl= an SSLContext that trusts that CA, "
          "or set SSL_CERT_FILE"),
    _Rule((aiohttp.ClientSSLError, aiohttp.InvalidURL), APIConnectionError, False, False,
          "cannot connect to {where}: {detail}"),
    _Rule(aiohttp.ConnectionTimeoutError, APITimeoutError, True, False,
          "timed out connecting to {where} ({timeout})"),
    _Rule((asyncio.TimeoutError, TimeoutError), APITimeoutError, True, True,
          "request to {where} timed out ({timeout})"),
    _Rule(aiohttp.ClientConnectorError, APIConnectionError, True, False,
          "cannot connect to {where}: {detail}"),
    # The proxy answered CONNECT with an error: the request never left for the
    # server. A 4xx (407: its credentials refused, 403: its policy) stays so.
    _Rule(aiohttp.ClientHttpProxyError, APIConnectionError, True, False,
          "the proxy refused the tunnel to {where}: {detail}"),
    _Rule(aiohttp.ClientPayloadError, APIConnectionError, True, True,
          "connection to {where} broke mid-body: {detail}"),
    _Rule(BaseException, APIConnectionError, True, True,
          "connection to {where} failed: {detail}"),
)
# fmt: on


def exception_failure(
    exc: BaseException, url: URL, timeout: Timeout, redact: Callable[[str], str]
) -> Failure:
    """The :class:`Failure` for an exception raised while talking to ``url``."""
    if isinstance(exc, NotResent):
        exc = exc.cause  # report what happened, not how it was kept from a resend
    rule = next(rule for rule in _RULES if isinstance(exc, rule.kinds))
    text = rule.message.format(
        where=f"{url.scheme}://{url.host}",
        detail=bounded(str(exc) or type(exc).__name__, redact, 300),  # one line
        timeout=timeout,
    )
    retryable = rule.retryable
    if isinstance(exc, aiohttp.ClientHttpProxyError) and 400 <= exc.status < 500:
        retryable = False
    return Failure(rule.error(text), retryable=retryable, sent=rule.sent)


class Expected(NamedTuple):
    """What a download's error statuses mean (see :func:`expecting`)."""

    not_ready: frozenset[int]  # "processing incomplete, retry shortly": retried like a 503
    gone: frozenset[int]  # the content will never come back: not retried


#: What the calling task's download in progress expects; ``None``: nothing special.
_expected: ContextVar[Expected | None] = ContextVar("uprock_async_expected", default=None)


@contextmanager
def expecting(*, not_ready: frozenset[int], gone: frozenset[int]) -> Iterator[None]:
    """Within the block, the task's error answers whose status is in ``not_ready``
    are "not ready yet" (retried, then a clear error) and those in ``gone`` say the
    content is gone. The retry loop reads an error answer before any step of the
    request (a download's ``check_ready``) sees it, so this is how an API that
    answers "not ready" with a status >= 400 (Uprock's 409) tells it."""
    token = _expected.set(Expected(not_ready, gone))
    try:
        yield
    finally:
        _expected.reset(token)


def _said(error: APIStatusError) -> str:
    """The service's own words, on one line and short (they may be a whole page)."""
    text = " ".join(error.message.split())
    return text if len(text) <= 200 else text[:199] + "\u2026"


def not_ready_message(status: int, said: str = "processing incomplete") -> str:
    """What a "not ready yet" error says: the content is never saved or returned."""
    return (
        f"the content is not ready yet (HTTP {status}: {said}); wait until the job is "
        "completed (wait_for_job), or try again shortly"
    )


def _restated(error: APIStatusError, cls: type[APIStatusError], message: str) -> APIStatusError:
    """``error`` saying ``message``, with the service's code, request id and body."""
    return cls(
        message,
        status_code=error.status_code,
        code=error.code,
        request_id=error.request_id,
        body=error.body,
        fields=error.fields,
        method=error.method,
        url=error.url,
    )


def status_failure(error: APIStatusError, headers: Mapping[str, str], retryable: bool) -> Failure:
    """The :class:`Failure` for an error answer, with its ``Retry-After`` (seconds).

    An unparseable ``Retry-After`` is ignored; without one, a 429's numeric
    ``retry_after`` in the body counts the same (ScreenshotCenter's shape).
    Within :func:`expecting`, a "not ready" status is retried and a "gone" one
    is not, each with a message that says so.
    """
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is None and isinstance(error, RateLimitError):
        retry_after = error.retry_after  # status_error read the body's "retry_after"
    expected = _expected.get()
    if expected is not None and error.status_code in expected.not_ready:
        message = not_ready_message(error.status_code, _said(error))
        error, retryable = _restated(error, APIStatusError, message), True
    elif expected is not None and error.status_code in expected.gone:
        message = (
            f"the content is gone (HTTP {error.status_code}: {_said(error)}): the service "
            "archived it and serves it no more, so it cannot be downloaded again"
        )
        error, retryable = _restated(error, type(error), message), False
    return Failure(error, retryable=retryable, sent=True, retry_after=retry_after)
