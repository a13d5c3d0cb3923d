"""A server run on a daemon thread with an event loop of its own (``FakeServer.in_thread``).

A blocking client waits for its answer in the caller's thread; a server on the
caller's own event loop (``await server.start()`` in a notebook cell) can then
never answer. On a thread of its own it always can.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["FakeServerThread"]

#: The thread's name (tests look for it to prove the thread is gone).
THREAD_NAME = "uprock-async-fake-server"


class _Server(Protocol):
    """What the thread runs: a server started and closed on its loop, told the
    portal that reaches that loop (its data methods hop over through it)."""

    @property
    def uprock_url(self) -> str: ...
    async def start(self) -> Any: ...
    async def close(self) -> None: ...
    def _attach(
        self, runner: object, portal: BlockingPortal | None, thread: int | None
    ) -> None: ...


S = TypeVar("S", bound=_Server)


class FakeServerThread(Generic[S]):
    """A :class:`~uprock_async.testing.FakeServer` served on a daemon thread with an
    event loop of its own (:meth:`FakeServer.in_thread
    <uprock_async.testing.FakeServer.in_thread>` makes one).

    ``with FakeServer.in_thread() as server:`` starts it and stops it at the end
    of the block. Where one block cannot hold the whole session (notebook
    cells), ``server = running.start()`` and at the end ``running.close()``; a
    process that ends without ``close()`` does not wait for the thread.
    """

    def __init__(self, server: S) -> None:
        #: The server, also what :meth:`start` and ``with`` return.
        self.server = server
        self._stack: contextlib.ExitStack | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._stack is not None

    def start(self) -> S:
        """Start the thread, its loop and the server; returns the server, serving."""
        if self._stack is not None:
            raise RuntimeError("this FakeServer thread is already running")
        server = self.server
        with contextlib.ExitStack() as stack:
            # On failure (the port is taken) the stack unwinds: loop and thread end.
            portal = stack.enter_context(start_blocking_portal("asyncio", name=THREAD_NAME))
            server._attach(self, portal, portal.call(threading.get_ident))
            stack.callback(server._attach, None, None, None)
            portal.call(server.start)
            stack.callback(portal.call, server.close)  # unwinds first: the server, then the loop
            self._stack = stack.pop_all()
        return server

    def close(self) -> None:
        """Stop the server, then its loop and thread; closing again does nothing."""
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    def __enter__(self) -> S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.server.uprock_url if self.running else "stopped"
        return f"<FakeServerThread {where}>"
