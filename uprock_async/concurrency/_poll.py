"""Polling until a job, crawl, screenshot or batch reaches a terminal status.

One loop serves every ``wait_for_*`` method of both clients.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import anyio

from .._errors import WaitTimeoutError
from .._redact import Redact, bounded

__all__ = ["Polled", "poll_until_terminal"]

_GROWTH = 1.5


class Polled(Protocol):
    """What is polled: a job, crawl, screenshot or batch (the one status Protocol)."""

    @property
    def status(self) -> str: ...

    @property
    def is_terminal(self) -> bool: ...


S = TypeVar("S", bound=Polled)


async def poll_until_terminal(
    fetch: Callable[[], Awaitable[S]],
    *,
    poll_interval: float,
    give_up_after: float,
    cap: float,
    what: str,
    redact: Redact = str,
) -> S:
    """``await fetch()`` until the result's ``is_terminal``; return that result.

    Waits start at ``poll_interval`` and grow 1.5-fold up to ``max(poll_interval,
    min(cap, 8 * poll_interval))``; they never sleep past the deadline, and a fetch
    still in flight at the deadline is cancelled. After ``give_up_after`` seconds,
    :class:`~uprock_async.WaitTimeoutError` with the last status seen (the
    server's string: ``redact`` ed, on one line and cut short, in the message and
    in ``last_status`` alike).
    """
    delay = float(poll_interval)
    cap = max(delay, min(cap, delay * 8))
    last: str | None = None
    deadline = anyio.current_time() + give_up_after
    with anyio.move_on_after(give_up_after):
        while True:
            item = await fetch()
            last = item.status
            if item.is_terminal:
                return item
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                break
            await anyio.sleep(min(delay, remaining))
            delay = min(delay * _GROWTH, cap)
    if last is not None:
        last = bounded(last, redact)
    raise WaitTimeoutError(
        f"{what} did not finish within {give_up_after:g} s "
        f"(last status: {last or 'none received'})",
        last_status=last,
    )
