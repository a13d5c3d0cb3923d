"""No silent hang: a blocking call made from a thread whose own event loop runs.

In a notebook cell the kernel's event loop runs in the calling thread. A blocking
call blocks that loop until it is done, so a server served by it (a
``FakeServer`` entered with ``await`` in the kernel) cannot answer: the call can
only time out. It cannot tell such a server from a slow one, so it watches: once
no answer has come within the client's timeout, the ``uprock_async`` logger says
what is likely happening and how to fix it (WARNING, once per call), and an
:class:`~uprock_async.APITimeoutError` it raises says the same (same class and
attributes, the message extended).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from .._errors import APITimeoutError

__all__ = ["BLOCKED", "Watch"]

BLOCKED = (
    "this blocking uprock_async.sync call was made from a thread whose own event loop "
    "is running (a notebook cell?) and has had no answer for {:g} s. If its server runs "
    "on that loop (an awaited FakeServer), it cannot answer while this call blocks the "
    "loop: start the server on a thread of its own (with FakeServer.in_thread() as "
    "server: ...), or use the async client with await in the cell"
)
_log = logging.getLogger("uprock_async")


class Watch:
    """One blocking call made from a thread whose own event loop runs: ``patience``
    seconds (the client's total timeout) and ``progress()``, the client's ``(requests
    sent, responses had)`` so far, read before the call starts."""

    __slots__ = ("_before", "patience", "progress")

    def __init__(self, patience: float, progress: Callable[[], tuple[int, int]]) -> None:
        self.patience = patience
        self.progress = progress
        self._before = progress()

    @classmethod
    def here(cls, patience: float | None, progress: Callable[[], tuple[int, int]]) -> Watch | None:
        """A watch for a call from this thread, or ``None`` when no event loop runs
        in it (a script, a worker thread) or the client has no total timeout."""
        if patience is None:
            return None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return None
        return cls(patience, progress)

    def result(self, future: Future[Any]) -> Any:
        """``future.result()``, with the warning and the explained timeout."""
        sent, answered = self._before
        try:
            return future.result(timeout=self.patience)
        except FutureTimeout:
            now_sent, now_answered = self.progress()
            if now_answered == answered and now_sent > sent:  # asked, and no answer since
                _log.warning(BLOCKED.format(self.patience))
        try:
            return future.result()
        except APITimeoutError as exc:
            if self.progress()[1] != answered:
                raise
            hint = copy.copy(exc)  # same class and attributes: every ``except`` still matches
            hint.message = f"{exc.message}; {BLOCKED.format(self.patience)}"
            hint.args = (hint.message,)
            raise hint from exc
