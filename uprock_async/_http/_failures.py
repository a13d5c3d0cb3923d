"""A failed attempt, and the map from every ``aiohttp`` exception to ours.

Nothing above ``_http`` sees an ``aiohttp`` exception type: they become
:class:`~uprock_async.APIConnectionError` / :class:`~uprock_async.APITimeoutError`
here, wrapped in a :class:`Failure` that tells the retry loop whether the
attempt may be tried again and whether it may have reached the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

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


class _Rule(NamedTuple):
    kinds: type[BaseException] | tuple[type[BaseException], ...]
    error: type[UprockAsyncError]
    retryable: bool  # the attempt may be tried again
    sent: bool  # the request may have reached the server
    message: str  # ``{where}``, ``{detail}`` and ``{timeout}`` filled in


#: How each exception reads; the first rule whose ``kinds`` match wins.
# fmt: off
_RULES = (
    _Rule((aiohttp.ClientSSLError, aiohttp.InvalidURL), APIConnectionError, False, False,
          "cannot connect to {where}: {detail}"),
    _Rule(aiohttp.ConnectionTimeoutError, APITimeoutError, True, False,
          "timed out connecting to {where} ({timeout})"),
    _Rule((asyncio.TimeoutError, TimeoutError), APITimeoutError, True, True,
          "request to {where} timed out ({timeout})"),
    _Rule(aiohttp.ClientConnectorError, APIConnectionError, True, False,
          "cannot connect to {where}: {detail}"),
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
        detail=redact(str(exc) or type(exc).__name__),
        timeout=timeout,
    )
    return Failure(rule.error(text), retryable=rule.retryable, sent=rule.sent)


def status_failure(error: APIStatusError, headers: Mapping[str, str], retryable: bool) -> Failure:
    """The :class:`Failure` for an error answer, with its ``Retry-After`` (seconds)."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    return Failure(error, retryable=retryable, sent=True, retry_after=retry_after)
