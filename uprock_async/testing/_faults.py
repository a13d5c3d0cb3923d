"""Injected faults: :class:`Fault` (one rule of :meth:`FakeServer.inject`), which
request it matches, and the answer it gives instead of the real one.

Service-neutral: the error body comes from the ``error`` callable the server
passes in (the shape of the service that owns the path).
"""

from __future__ import annotations

import asyncio
import fnmatch
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

__all__ = ["ErrorFactory", "Fault", "Handler", "answer"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorFactory = Callable[..., web.Response]  # (status, *, headers=...) -> the service's error


@dataclass
class Fault:
    """A fault rule made by :meth:`FakeServer.inject`; ``hits`` counts uses."""

    path_glob: str
    status: int = 503
    times: int | None = 2
    retry_after: float | str | None = None
    delay: float = 0.0
    disconnect: bool = False
    truncate: bool = False
    body: bytes | str | dict[str, Any] | None = None
    probability: float = 1.0
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)
    query: dict[str, str] | None = None  # also required query parameters, if given

    def matches(self, path: str, query: Mapping[str, str] | None = None) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if not fnmatch.fnmatchcase(path, self.path_glob):
            return False
        if self.query and any((query or {}).get(k) != v for k, v in self.query.items()):
            return False
        return self.probability >= 1.0 or self.rng.random() < self.probability


async def answer(
    fault: Fault, request: web.Request, handler: Handler, error: ErrorFactory
) -> web.StreamResponse:
    """What ``request`` gets when ``fault`` fires (``handler`` makes the real answer)."""
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.disconnect:
        if request.transport is not None:
            request.transport.close()
        raise asyncio.CancelledError  # aiohttp drops the request quietly
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    if fault.truncate:
        return await _truncated(request, handler)
    if fault.status < 400 and fault.body is None:
        return await handler(request)  # a slow but good answer
    if fault.body is None:
        return error(fault.status, headers=headers)
    if isinstance(fault.body, dict):
        return web.Response(
            status=fault.status,
            body=msgspec.json.encode(fault.body),
            content_type="application/json",
            headers=headers,
        )
    raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
    return web.Response(status=fault.status, body=raw, headers=headers)


async def _truncated(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Half of the real body, then the connection dropped."""
    real = await handler(request)
    full = (
        real.body
        if isinstance(real, web.Response) and isinstance(real.body, bytes)
        else b'{"truncated": true, "padding": "' + b"x" * 200 + b'"}'
    )
    response = web.StreamResponse(status=real.status, headers={"Content-Type": "application/json"})
    response.content_length = len(full)
    await response.prepare(request)
    await response.write(full[: len(full) // 2])
    if request.transport is not None:
        request.transport.close()
    return response
