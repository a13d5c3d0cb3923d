"""The machinery behind the blocking clients: a loop thread, calls into it, streams out.

Each blocking client owns one :class:`LoopThread`: a daemon thread running an
asyncio event loop with an anyio :class:`~anyio.from_thread.BlockingPortal` in it.
Every blocking call becomes a task on that loop, so the async client (its
connection pool, its fan-out engine) only ever runs on the one loop that owns
it, whatever thread the call comes from.

A ``KeyboardInterrupt`` or ``SystemExit`` raised on the loop thread (by a
``progress=`` callback) never escapes the loop, which asyncio would let it do,
killing the thread mid-way: it reaches the caller, and the client ends cleanly
(calls still running are cancelled, the pool is closed); later calls say why.

A call made from a thread whose own event loop runs (a notebook cell) cannot
tell whether its server lives on that loop, which the call then blocks: when it
has had no answer within the client's timeout, the ``uprock_async`` logger
says so at WARNING, and a timeout it raises explains the likely cause and the
fix (the server on a thread of its own, ``FakeServer.in_thread()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import CancelledError, Future
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Generic, TypeAlias, TypeVar, cast

import anyio
from anyio.from_thread import BlockingPortal

from ._watch import Watch

__all__ = ["BlockingIterator", "LoopThread"]

T = TypeVar("T")

#: What an async client's ``iter_*`` method returns: an async iterator, or an
#: async context manager that yields one (``iter_job_details``' ``FanOut``).
Source: TypeAlias = AsyncIterator[T] | AbstractAsyncContextManager[AsyncIterator[T]]

# Outcomes fetched per trip into the loop thread, and the most a stream holds
# ready for a slow consumer: bounded memory, and one cross-thread hop per batch
# rather than per item when outcomes arrive faster than they are used.
_BATCH = 128

_CLOSED = "this blocking client has been closed; create a new one"
_ENDED = (
    "this blocking client was closed when a {} was raised on its event loop thread "
    "(in a progress callback?); create a new one"
)
_OWN_THREAD = (
    "a blocking uprock_async.sync client was called from its own event loop thread "
    "(for example inside a progress callback): it would wait for itself forever. "
    "Make the call after the running one returns, or use the async client there."
)


class _Raised:
    """A ``KeyboardInterrupt``/``SystemExit`` from a call on the loop, handed back as a
    value: raised there, it would escape the event loop and end the thread mid-way."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class LoopThread:
    """A daemon thread running an event loop and a blocking portal, until :meth:`close`.

    ``on_stop`` runs on the loop when it shuts down (the async client's ``aclose``),
    after every task still running has been cancelled.
    """

    def __init__(self, name: str, on_stop: Callable[[], Awaitable[None]]) -> None:
        ready: Future[tuple[BlockingPortal, asyncio.AbstractEventLoop]] = Future()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self.stopping = False
        self._joined = False
        self._ended_by: str | None = None  # the class name of what ended the loop
        self._stop: anyio.Event | None = None  # set on the loop, before ``ready``
        # Daemon: a client nobody closed must not keep the interpreter from exiting
        # (a non-daemon thread would be joined at exit, forever).
        self._thread = threading.Thread(
            target=self._run, args=(ready, on_stop), name=name, daemon=True
        )
        self._thread.start()
        self.portal, self._loop = ready.result()

    def _run(
        self,
        ready: Future[tuple[BlockingPortal, asyncio.AbstractEventLoop]],
        on_stop: Callable[[], Awaitable[None]],
    ) -> None:
        try:
            anyio.run(self._serve, ready, on_stop, backend="asyncio")
        except BaseException as exc:  # the thread's only way to report back
            if not ready.done():
                ready.set_exception(exc)
            else:
                self._error = exc

    async def _serve(
        self,
        ready: Future[tuple[BlockingPortal, asyncio.AbstractEventLoop]],
        on_stop: Callable[[], Awaitable[None]],
    ) -> None:
        stop = self._stop = anyio.Event()
        try:
            async with BlockingPortal() as portal:
                ready.set_result((portal, asyncio.get_running_loop()))
                await stop.wait()
                # Calls still running (from other threads) and open streams end
                # here; their callers see RuntimeError (see ``wait``).
                await portal.stop(cancel_remaining=True)
        finally:
            with anyio.CancelScope(shield=True):
                await on_stop()

    def in_loop_thread(self) -> bool:
        """True when called from the loop thread itself (the thread, not its id: a
        new thread may get the id of the loop thread once that has ended)."""
        return threading.current_thread() is self._thread

    def _closed(self) -> str:
        return _CLOSED if self._ended_by is None else _ENDED.format(self._ended_by)

    def check(self) -> BlockingPortal:
        """The portal, or ``RuntimeError`` when closed or called from the loop thread."""
        if self.stopping:
            raise RuntimeError(self._closed())
        if self.in_loop_thread():
            raise RuntimeError(_OWN_THREAD)
        return self.portal

    def start(self, fn: Callable[[], object]) -> Future[Any]:
        """Run ``fn()`` as a task on the loop (awaited if it returns an awaitable);
        its future. ``RuntimeError`` when closed."""
        portal = self.check()
        try:
            return portal.start_task_soon(self._guarded, fn)
        except RuntimeError:  # closed by another thread between check and start
            if self.stopping:
                raise RuntimeError(self._closed()) from None
            raise

    async def _guarded(self, fn: Callable[[], object]) -> object:
        """``fn()`` on the loop; a KeyboardInterrupt or SystemExit comes back as a value."""
        try:
            result = fn()
            if inspect.isawaitable(result):
                result = await result
        except BaseException as exc:
            if isinstance(exc, (Exception, anyio.get_cancelled_exc_class())):
                raise
            self.end(exc)
            return _Raised(exc)
        return result

    def end(self, reason: BaseException) -> None:
        """Shut the client down cleanly because ``reason`` (a KeyboardInterrupt or
        SystemExit raised on the loop thread) ended a call; later calls say so."""
        if self._ended_by is None:
            self._ended_by = type(reason).__name__
        self.request_stop()

    def start_task(
        self, fn: Callable[..., Awaitable[None]], *args: object
    ) -> tuple[Future[None], Any]:
        """``portal.start_task``: run ``fn(*args, task_status=...)`` on the loop until it
        reports ``started(value)``; the task's future and that value."""
        portal = self.check()
        try:
            return portal.start_task(fn, *args)
        except (RuntimeError, CancelledError):  # the client closed meanwhile
            if self.stopping:
                raise RuntimeError(self._closed()) from None
            raise

    def wait(self, future: Future[T], watch: Watch | None = None) -> T:
        """The task's result or exception, re-raised here."""
        try:
            result: Any = future.result() if watch is None else watch.result(future)
            if isinstance(result, _Raised):
                raise result.error
            return cast(T, result)
        except CancelledError:
            if self.stopping:
                raise RuntimeError(
                    "the blocking client was closed while this call was running"
                ) from None
            raise
        except BaseException:
            # Ctrl-C while waiting: cancel the task too (a no-op once it is done).
            future.cancel()
            raise

    def call(self, fn: Callable[[], Awaitable[T]], watch: Watch | None = None) -> T:
        """Await ``fn()`` on the loop and block until it is done (``watch``: see
        :class:`Watch`)."""
        future: Future[T] = self.start(fn)
        return self.wait(future, watch)

    def call_sync(self, fn: Callable[[], T]) -> T:
        """Run the plain function ``fn()`` on the loop thread and block until it is done."""
        future: Future[T] = self.start(fn)
        return self.wait(future)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Schedule ``fn()`` on the loop without waiting (safe from any thread)."""
        # RuntimeError: the loop has already finished, so nothing is left to stop.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn)

    def request_stop(self) -> None:
        """Ask the loop to shut down, without waiting (any thread, also a finalizer)."""
        self.stopping = True
        stop = self._stop
        if stop is not None:
            self.call_soon(stop.set)

    def close(self) -> None:
        """Cancel what runs, close the async client, end the loop and join its thread.
        Once closed, a no-op from any thread."""
        if self._joined:
            return
        if self.in_loop_thread():
            raise RuntimeError(
                "a blocking client cannot be closed from its own event loop thread "
                "(for example inside a progress callback)"
            )
        with self._lock:
            self.request_stop()
            self._thread.join()
            self._joined = True
            error, self._error = self._error, None
        if error is not None:
            raise error


class _Pump(Generic[T]):
    """Runs on the loop: drains an async source into a small buffer for the consumer.

    One task owns the source from start to end, so a task group inside it (the
    fan-out's workers) is entered and left by the same task, as anyio requires.
    """

    def __init__(self, source: Source[T], ahead: int) -> None:
        self._source = source
        self._ahead = ahead
        self._items: deque[T] = deque()
        self._has_items = anyio.Event()  # next_batch's (the one consumer's) wake-up
        self._has_space = anyio.Event()  # the producer's wake-up
        self._done = anyio.Event()
        self._ended = False
        self.scope = anyio.CancelScope()
        self.error: BaseException | None = None

    async def run(self) -> None:
        try:
            with self.scope:
                async with AsyncExitStack() as stack:
                    source = self._source
                    if isinstance(source, AbstractAsyncContextManager):
                        iterator = await stack.enter_async_context(source)
                    else:
                        iterator = source
                        aclose = getattr(iterator, "aclose", None)
                        if aclose is not None:
                            stack.push_async_callback(aclose)
                    async for item in iterator:
                        while len(self._items) >= self._ahead:
                            self._has_space = anyio.Event()
                            await self._has_space.wait()
                        self._items.append(item)
                        self._has_items.set()
        except anyio.get_cancelled_exc_class():
            raise  # the portal is shutting down: let the cancellation through
        except BaseException as exc:
            # Handed to the consumer's thread; raising it here would end the loop
            # (asyncio lets KeyboardInterrupt escape from any task).
            self.error = exc
        finally:
            self._ended = True
            self._has_items.set()
            self._done.set()

    async def next_batch(self) -> list[T]:
        """What is buffered (waiting for at least one item); ``[]`` once it has ended."""
        while not self._items and not self._ended:
            self._has_items = anyio.Event()
            await self._has_items.wait()
        batch = list(self._items)
        self._items.clear()
        self._has_space.set()
        return batch

    async def stop(self) -> None:
        self.scope.cancel()
        await self._done.wait()


class BlockingIterator(Iterator[T]):
    """A plain iterator over an async stream of a blocking client (``iter_*`` methods).

    The work starts at the first ``next()`` and runs on the client's loop thread,
    at most a small buffer ahead of you, so memory stays bounded however long the
    stream. ``close()``, leaving ``with``, or dropping the iterator (``break`` out
    of a ``for`` loop) cancels whatever is still in flight::

        with client.iter_job_details(ids) as outcomes:
            for outcome in outcomes:
                ...

    An exception that would have left the async iterator is raised by ``next()``.
    ``ahead`` is the most items fetched before you ask for them (a few for big
    items such as a download's chunks).
    """

    def __init__(
        self, owner: object, loop: LoopThread, source: Source[T], *, ahead: int = _BATCH
    ) -> None:
        # The client stays alive while its stream does: ``for x in
        # UprockClient().iter_job_details(ids)`` must not close it mid-way.
        self._owner = owner
        self._loop = loop
        self._source: Source[T] | None = source
        self._ahead = ahead
        self._pump: _Pump[T] | None = None
        self._task: Future[None] | None = None
        self._items: deque[T] = deque()
        self._closed = False
        self._next_lock = threading.Lock()  # one next() at a time
        self._state_lock = threading.Lock()  # start/close, also while next() waits

    def __iter__(self) -> BlockingIterator[T]:
        return self

    def __next__(self) -> T:
        with self._next_lock:
            while not self._items:
                pump = self._started()
                if pump is None:
                    raise StopIteration
                batch: list[T] = self._loop.call(pump.next_batch)
                if not batch:
                    self._finish(pump)
                    raise StopIteration
                self._items.extend(batch)
            return self._items.popleft()

    def _started(self) -> _Pump[T] | None:
        with self._state_lock:
            if self._closed:
                return None
            if self._pump is None:
                source, self._source = self._source, None
                assert source is not None
                task, pump = self._loop.start_task(_run_pump, source, self._ahead)
                self._task, self._pump = task, pump
            return self._pump

    def _finish(self, pump: _Pump[T]) -> None:
        with self._state_lock:
            self._closed = True
        if self._task is not None:
            self._loop.wait(self._task)
        if pump.error is not None:
            error, pump.error = pump.error, None
            if not isinstance(error, Exception):  # KeyboardInterrupt, SystemExit
                self._loop.end(error)
            raise error

    def close(self) -> None:
        """Stop the stream: cancel what is in flight and wait until it has ended."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            self._source = None
            pump = self._pump
        self._items.clear()
        if pump is None or self._loop.stopping:
            return  # never started, or the client's shutdown cancels it
        self._loop.call(pump.stop)

    def __enter__(self) -> BlockingIterator[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Dropped mid-stream (``break`` out of a for loop): stop the work it started.
        # At interpreter exit the loop thread may be frozen; waiting would hang.
        pump = getattr(self, "_pump", None)  # None also if __init__ failed
        if sys.is_finalizing() or pump is None or self._closed:
            return
        if self._loop.in_loop_thread():
            self._closed = True  # garbage-collected on the loop: cancel without waiting
            self._loop.call_soon(pump.scope.cancel)
            return
        with contextlib.suppress(Exception):  # a finalizer has nobody to report to
            self.close()


async def _run_pump(source: Source[T], ahead: int, *, task_status: Any) -> None:
    pump = _Pump(source, ahead)  # anyio primitives must be made on the loop
    task_status.started(pump)
    await pump.run()
