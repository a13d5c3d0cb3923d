"""A failed attempt, and the map from every ``aiohttp`` exception to ours.

Nothing above ``_http`` sees an ``aiohttp`` exception type: they become
:class:`~uprock_async.APIConnectionError` / :class:`~uprock_async.APITimeoutError`
here, wrapped in a :class:`Failure` that tells the retry loop whether the
attempt may be tried again and whether it may have reached the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
from yarl import URL

from .._config import Timeout
from .._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    UprockAsyncError,
    parse_retry_after,
)

__all__ = ["Failure", "NotResent", "exception_failure", "no_resend", "status_failure"]


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


def exception_failure(
    exc: BaseException, url: URL, timeout: Timeout, redact: Callable[[str], str]
) -> Failure:
    """The :class:`Failure` for an exception raised while talking to ``url``."""
    if isinstance(exc, NotResent):
        exc = exc.cause  # report what happened, not how it was kept from a resend
    where = f"{url.scheme}://{url.host}"
    detail = redact(str(exc) or type(exc).__name__)
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.InvalidURL)):
        return Failure(
            APIConnectionError(f"cannot connect to {where}: {detail}"),
            retryable=False,
            sent=False,
        )
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure(
            APITimeoutError(f"timed out connecting to {where} ({timeout})"),
            retryable=True,
            sent=False,
        )
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return Failure(
            APITimeoutError(f"request to {where} timed out ({timeout})"),
            retryable=True,
            sent=True,
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure(
            APIConnectionError(f"cannot connect to {where}: {detail}"),
            retryable=True,
            sent=False,
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Failure(
            APIConnectionError(f"connection to {where} broke mid-body: {detail}"),
            retryable=True,
            sent=True,
        )
    return Failure(
        APIConnectionError(f"connection to {where} failed: {detail}"),
        retryable=True,
        sent=True,
    )


def status_failure(error: APIStatusError, headers: Mapping[str, str], retryable: bool) -> Failure:
    """The :class:`Failure` for an error answer, with its ``Retry-After`` (seconds)."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    return Failure(error, retryable=retryable, sent=True, retry_after=retry_after)
