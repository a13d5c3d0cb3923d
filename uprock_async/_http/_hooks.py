"""Event hooks (httpx's ``event_hooks``): what a caller's own code sees of every attempt.

``event_hooks={"request": [...], "response": [...]}``, each a sync or async
callable. A request hook gets a :class:`RequestInfo` before every HTTP request
is sent (redirect hops and retries included), a response hook a
:class:`ResponseInfo` for every answer, successes included: how a monitoring
worker reads rate-limit headers and request ids of calls that did not fail.

Neither sees a credential: the auth header is masked, a foreign host's query
string (a pre-signed URL's signature) is dropped from the URL. An exception a
hook raises reaches the caller as itself; it is neither mapped, nor retried,
nor counted by the circuit breaker or in the stats.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

__all__ = ["EventHooks", "RequestHook", "RequestInfo", "ResponseHook", "ResponseInfo"]


class RequestInfo(msgspec.Struct, frozen=True, gc=False):
    """One HTTP request about to be sent, as a request hook sees it.

    ``url`` without credentials (a foreign host's query string dropped);
    ``headers`` what is sent besides aiohttp's own (``Host``, ``Content-Length``),
    the auth header's value masked as ``[redacted]``; ``attempt`` counts from 1
    (a redirect hop keeps its attempt's number).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    attempt: int

    def __repr__(self) -> str:
        return f"RequestInfo({self.method} {self.url} #{self.attempt})"


class ResponseInfo(msgspec.Struct, frozen=True, gc=False):
    """One HTTP answer, as a response hook sees it (error statuses included).

    ``headers`` are the answer's (rate-limit headers, ``X-Request-Id``);
    ``request_id`` the server's ``X-Request-Id``, if any; ``elapsed`` seconds
    from sending the request to the end of its body; ``attempt`` counts from 1.
    """

    method: str
    url: str
    status_code: int
    headers: Mapping[str, str]
    request_id: str | None
    elapsed: float
    attempt: int

    def __repr__(self) -> str:
        return f"ResponseInfo({self.method} {self.url} #{self.attempt} -> {self.status_code})"


RequestHook = Callable[[RequestInfo], Awaitable[None] | None]
ResponseHook = Callable[[ResponseInfo], Awaitable[None] | None]

_KINDS = ("request", "response")
Info = TypeVar("Info", RequestInfo, ResponseInfo)


class EventHooks:
    """The checked hooks of one client (``None`` in the transport when there are none,
    so a client without hooks pays nothing for them)."""

    __slots__ = ("request", "response")

    def __init__(self, request: Sequence[RequestHook], response: Sequence[ResponseHook]) -> None:
        self.request = tuple(request)
        self.response = tuple(response)

    @classmethod
    def build(cls, hooks: object) -> EventHooks | None:
        """Check ``event_hooks=``: a mapping of ``"request"``/``"response"`` to
        sequences of callables (``None`` or only empty lists: no hooks)."""
        if hooks is None:
            return None
        if not isinstance(hooks, Mapping):
            raise TypeError(
                'event_hooks must be a mapping like {"request": [...], "response": [...]}, '
                f"got {type(hooks).__name__}"
            )
        found: dict[str, tuple[Any, ...]] = {kind: () for kind in _KINDS}
        for kind, callables in hooks.items():
            if kind not in _KINDS:
                raise ValueError(f'event_hooks keys are "request" and "response", got {kind!r}')
            if isinstance(callables, (str, bytes)) or not isinstance(callables, Sequence):
                raise TypeError(f"event_hooks[{kind!r}] must be a list of callables")
            for hook in callables:
                if not callable(hook):
                    raise TypeError(f"event_hooks[{kind!r}] holds a non-callable: {hook!r}")
            found[kind] = tuple(callables)
        if not found["request"] and not found["response"]:
            return None
        return cls(found["request"], found["response"])

    async def on_request(self, info: RequestInfo) -> None:
        """Run the request hooks (before a request is sent)."""
        await _run(self.request, info)

    async def on_response(self, info: ResponseInfo) -> None:
        """Run the response hooks (an answer came, whatever its status)."""
        await _run(self.response, info)


async def _run(hooks: Sequence[Callable[[Info], object]], info: Info) -> None:
    """Call each hook with ``info``, awaiting what an async one returns."""
    for hook in hooks:
        result = hook(info)
        if inspect.isawaitable(result):
            await result
