"""The request path of a :class:`~._transport.Transport`: from a request to an answer.

One method per concern (the model is httpx's send → redirects → one request):

- :meth:`Sender.send` and ``_retry``: the Retry-After pause, the circuit
  breaker and the retry decision (:meth:`RetryPolicy.allows`);
- ``_follow``: one attempt, its redirect hops (the method and credentials
  rewritten per hop), its event hooks and its event;
- ``_send_once``: one aiohttp call and its body (``_read_answer``);
- :meth:`Sender.fetch`: the same for a whole body read into a value, with the
  common case, a plain 2xx, fused into one coroutine (every resumption of a
  suspended request passes through each frame of the await chain).

:class:`~._transport.Transport` adds the pool's lifetime, its configuration
and the public entry points on top.
"""

from __future__ import annotations

import logging
import math
import platform
import time
from asyncio import get_running_loop
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import aiohttp
import anyio
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .._errors import APIConnectionError, APIStatusError
from .._version import __version__
from ._breaker import BreakerExhausted, wait_turn
from ._download import read_body, read_prefix
from ._events import (
    current_observer,
    idle,
    log,
    log_retry,
)
from ._failures import MAPPED, Failure, cause_of, exception_failure, status_failure
from ._reports import Reports
from ._request import Consume, Request
from ._session import form, request_options

__all__ = ["USER_AGENT", "Read", "Sender"]

T = TypeVar("T")
R = TypeVar("R")

#: What :meth:`Sender.fetch` turns a whole answer into: ``read(status, headers, body)``.
Read = Callable[[int, Mapping[str, str], bytes], R]

_ERROR_BODY_CAP = 1024 * 1024  # an error page is never worth more than this
_REDIRECT_BODY_CAP = 64 * 1024
_MAX_REDIRECTS = 5
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NO_HEADERS: Mapping[str, str] = CIMultiDictProxy(CIMultiDict())


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


USER_AGENT = (
    f"uprock-async/{__version__} python/{_major_minor(platform.python_version())} "
    f"aiohttp/{_major_minor(aiohttp.__version__)}"
)


class Sender(Reports):
    """The request path; :class:`~._transport.Transport` sets every attribute."""

    def session(self) -> aiohttp.ClientSession:
        """The pooled session (the transport's)."""
        raise NotImplementedError

    async def send(
        self, request: Request, consume: Consume[T] | None = None
    ) -> tuple[int, Mapping[str, str], T]:
        """Attempts until one succeeds or the policy says stop (``consume=None``: the
        whole body, as bytes, capped by ``max_body_size``): the first attempt goes
        straight out while no pause is on and the breaker is closed; waits and
        retries are :meth:`_retry`'s."""
        session = self.session()
        pause, breaker = self.pause, self.breaker
        failure: Failure | None = None
        if (pause.until and pause.remaining() > 0) or (breaker is not None and breaker.is_open):
            return await self._retry(session, request, consume, failure)
        try:
            return await self._follow(session, request, consume, 0)
        except Failure as caught:
            failure = caught
        return await self._retry(session, request, consume, failure)

    async def fetch(self, request: Request, read: Read[R]) -> R:
        """:meth:`send` for a whole body, then ``read(status, headers, body)`` (an
        :class:`APIStatusError` it raises, an error envelope in a 2xx body, gets the
        request's name).

        The common case (an idempotent request without a form, no hooks, no pause
        on, the breaker closed) is sent right here, in one coroutine: every
        resumption of a suspended request passes through each frame of the await
        chain, so a 2xx answer has none to spare, and a caller can hand this
        coroutine on as its own (:meth:`Api.getter`). Any other answer is handed,
        still open, to the general path, never sent twice.
        """
        session = self._session  # session(), inline: our own open pool in its loop
        if session is None or self.closed or get_running_loop() is not self._loop:
            session = self.session()
        pause, breaker = self.pause, self.breaker
        method, url = request.method, request.url
        if (
            (pause.until and pause.remaining() > 0)
            or (breaker is not None and breaker.is_open)
            or self._hooks is not None
            or request.multipart is not None
            or not request.idempotent
        ):
            answer: tuple[int, Mapping[str, str], bytes] = await self.send(request)
            return self._read(read, answer, method, url)
        stats = self.stats
        stats.requests += 1
        started = time.monotonic()
        json = request.json
        trusted = self._urls.base_trusted if request.on_base else self._urls.is_trusted(url)
        proxy_for = self._proxy_for
        status, headers = 0, _NO_HEADERS
        first: tuple[int, Mapping[str, str], Any, int] | None = None
        failure: Failure | None = None
        options = self._options  # no redirects, no raise_for_status, the timeout if ours
        if json is not None:
            options = {**options, "data": json}
        if proxy_for is not None:
            options = {**options, "proxy": proxy_for(url)}
        try:
            async with session.request(
                method,
                url,
                headers=self._sent[trusted] if json is None else self._json_sent[trusted],
                **options,
            ) as resp:
                status, headers = resp.status, resp.headers
                if 200 <= status < 300:
                    # read_body's fast path (aiohttp has checked Content-Length's digits)
                    length, cap = headers.get("Content-Length"), self.max_body_size
                    if (
                        length is not None
                        and int(length) <= cap
                        and "Content-Encoding" not in headers
                    ):
                        body = await resp.read()
                    else:
                        body = await read_body(resp, cap, None)
                else:
                    first = await self._read_answer(resp, None)
        except Failure as caught:  # a body over the cap
            failure = caught
        except MAPPED as exc:
            failure = exception_failure(exc, url, self.timeout, self._redact)
            failure.__cause__ = cause_of(exc, self._redact)
        if failure is None and first is None:
            # _succeeded, inline: the stats and the breaker, the event only if read.
            latency = time.monotonic() - started
            nbytes = len(body)
            stats.response(status, latency, nbytes)
            if breaker is not None and (breaker.failures or breaker.is_open):
                breaker.on_success()
            caller = current_observer.get()
            if caller is not None or log.isEnabledFor(logging.DEBUG):
                self._tell_success(
                    caller, method, url, 0, started, latency, status, headers, nbytes
                )
            try:
                return read(status, headers, body)
            except APIStatusError as exc:
                self.locate(exc, method, url)
                raise
        if failure is None:
            try:  # a redirect or an error answer: the general path reads it from here
                answer = await self._follow(session, request, None, 0, first, started)
            except Failure as caught:
                failure = caught
            else:
                return self._read(read, answer, method, url)
        else:
            self._told(failure, method, url, 0, started, status, headers)
        answer = await self._retry(session, request, None, failure)
        return self._read(read, answer, method, url)

    def _read(
        self, read: Read[R], answer: tuple[int, Mapping[str, str], bytes], method: str, url: URL
    ) -> R:
        try:
            return read(*answer)
        except APIStatusError as exc:  # an error envelope in a 2xx body: name the request
            self.locate(exc, method, url)
            raise

    async def _retry(
        self,
        session: aiohttp.ClientSession,
        request: Request,
        consume: Consume[T] | None,
        failure: Failure | None,
    ) -> tuple[int, Mapping[str, str], T]:
        """The retry loop, after a first attempt's ``failure`` (``None``: none sent
        yet). Before each attempt: wait out the pause and an open breaker (via the
        task's observer: it may give its slot back). Waiting, and a failed breaker
        probe, use no retry; a call held ``max_wait`` s by the breaker in all raises
        its last error."""
        policy, pause, breaker = self.retry, self.pause, self.breaker
        attempt = 0  # attempts this call sent
        retries = 0  # retries used
        held_since = 0.0  # when this call first found the breaker open (0: never)
        probe = False
        while True:
            if failure is not None:
                # Decided outside any except block, so the error we raise has no
                # __context__: the internal Failure (and what it wrapped) stays unreachable.
                attempt += 1
                free = probe and breaker is not None and breaker.is_open
                if not policy.allows(failure, retries, request.idempotent, free=free):
                    self.stats.error(failure.error)
                    raise failure.error from failure.__cause__  # a TransportCause at most
                if not free:
                    retries += 1
                if breaker is None or not breaker.is_open:  # an open breaker paces the rest
                    delay = policy.backoff(retries - 1, failure.retry_after)
                    log_retry(failure.error, retries, policy.max_retries, delay)
                    # With a breaker, the backoff ends early if it opens (then it holds the call).
                    await idle(partial(anyio.sleep if breaker is None else breaker.sleep, delay))
            probe = False
            if (pause.until and pause.remaining() > 0) or (breaker is not None and breaker.is_open):
                if breaker is not None and breaker.is_open and not held_since:
                    held_since = time.monotonic()
                try:
                    probe = await idle(partial(wait_turn, pause, breaker, held_since or math.inf))
                except BreakerExhausted:
                    assert breaker is not None
                    error = failure.error if failure is not None else breaker.copy_last_error()
                    self.stats.error(error)
                    raise error from None
            try:
                return await self._follow(session, request, consume, attempt)
            except Failure as caught:
                failure = caught

    async def _follow(
        self,
        session: aiohttp.ClientSession,
        request: Request,
        consume: Consume[T] | None,
        attempt: int,
        first: tuple[int, Mapping[str, str], Any, int] | None = None,
        started: float = 0.0,
    ) -> tuple[int, Mapping[str, str], T]:
        """One attempt: the redirect hops, each one :meth:`_send_once`, with the
        method and credentials rewritten per hop; raises :class:`Failure`. Hooks run
        here, outside every handler, so what one raises reaches the caller as itself.
        ``first``: the first hop's answer, already read (by :meth:`send`'s fused
        path, which counted the attempt and took its ``started`` time)."""
        if first is None:
            self.stats.attempt(retry=attempt > 0)
            started = time.monotonic()
        method, url, json, multipart = request.method, request.url, request.json, request.multipart
        options = request_options(session, request.idempotent)
        hooks = self._hooks
        for _hop in range(_MAX_REDIRECTS + 1):
            failure: Failure | None = None
            if first is not None:
                (status, answer, value, nbytes), first = first, None
            else:
                trusted = self._urls.is_trusted(url)  # a foreign host never gets the key
                headers = self._sent[trusted] if json is None else self._json_sent[trusted]
                if hooks is not None and hooks.request:
                    await hooks.on_request(self._request_info(method, url, trusted, attempt))
                data = json if multipart is None else form(multipart)
                try:
                    status, answer, value, nbytes = await self._send_once(
                        session, method, url, data, headers, consume, options
                    )
                except Failure as caught:
                    failure = caught
            if failure is not None:  # no answer, a broken body, or a 2xx the consumer refused
                raise await self._failed(failure, method, url, attempt, started)
            if status in _REDIRECTS and "Location" in answer:
                if hooks is not None and hooks.response:
                    await self._response_hook(method, url, status, answer, started, attempt)
                try:
                    url = self._urls.redirect_target(url, answer["Location"])
                except Failure as refused:
                    failure = refused
                if failure is not None:
                    raise await self._failed(failure, method, url, attempt, started, status, answer)
                if status == 303 or (status in (301, 302) and method == "POST"):
                    method, json, multipart = "GET", None, None
                continue
            if status >= 400:
                error = self.status_error(status, value, answer, method=method, url=url)
                failure = status_failure(error, answer, status in self.retry.retry_statuses)
                raise await self._failed(failure, method, url, attempt, started, status, answer)
            self._succeeded(method, url, attempt, started, status, answer, nbytes)
            if hooks is not None and hooks.response:
                await self._response_hook(method, url, status, answer, started, attempt)
            return status, answer, value
        failure = Failure(
            APIConnectionError(f"too many redirects (more than {_MAX_REDIRECTS})"),
            retryable=False,
            sent=True,
        )
        raise await self._failed(failure, method, url, attempt, started)

    async def _send_once(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        data: Any,
        headers: Mapping[str, str] | None,
        consume: Consume[T] | None,
        options: Mapping[str, Any],
    ) -> tuple[int, Mapping[str, str], Any, int]:
        """One aiohttp request and its body (see :meth:`_read_answer`). aiohttp's
        exceptions become a :class:`Failure` (with the status and headers, if an
        answer came)."""
        status = 0
        answer: Mapping[str, str] = _NO_HEADERS
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=self._client_timeout,
                proxy=None if self._proxy_for is None else self._proxy_for(url),
                **options,
            ) as resp:
                status, answer = resp.status, resp.headers
                return await self._read_answer(resp, consume)
        except Failure as failure:  # a consumer's verdict (a 202 that is not ready yet)
            failure.status, failure.headers = status, answer
            raise
        except MAPPED as exc:
            mapped = exception_failure(exc, url, self.timeout, self._redact)
            mapped.status, mapped.headers = status, answer
            raise mapped from cause_of(exc, self._redact)

    async def _read_answer(
        self, resp: aiohttp.ClientResponse, consume: Consume[T] | None
    ) -> tuple[int, Mapping[str, str], Any, int]:
        """``(status, headers, value, nbytes)`` of an open answer: ``value`` is the
        consumed body of a 2xx (the whole body, capped, without a consumer), and a
        quotable prefix of a redirect's or an error's body."""
        status, answer = resp.status, resp.headers
        if status >= 300 and (status >= 400 or (status in _REDIRECTS and "Location" in answer)):
            cap = _ERROR_BODY_CAP if status >= 400 else _REDIRECT_BODY_CAP
            return status, answer, await read_prefix(resp, cap), 0
        if consume is not None:
            value, nbytes = await consume(resp)
            return status, answer, value, nbytes
        cap, length = self.max_body_size, resp.content_length  # read_body's fast path
        if length is not None and length <= cap and "Content-Encoding" not in answer:
            body = await resp.read()
        else:
            body = await read_body(resp, cap, None)
        return status, answer, body, len(body)
