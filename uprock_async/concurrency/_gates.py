"""Flow-control pieces of the fan-out engine: gates, a queue, progress.

They exist because anyio's memory streams and semaphores make every operation a
checkpoint (an event-loop round trip), which cost ~20 µs per item in the fan-out
hot loop. These only suspend when they must wait. Single event loop, no threads:
nothing here needs a lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel

__all__ = [
    "Progress",
    "Queue",
    "Slots",
    "wait_in_line",
]

T = TypeVar("T")


async def wait_in_line(
    waiters: deque[anyio.Event], hand_on: Callable[[], None], *, first: bool = False
) -> None:
    """Queue for a slot (at the front when ``first``) until a releaser grants it.

    A releaser grants a slot by popping the waiter's event and setting it. If the
    waiter is cancelled after that, the slot it was given is passed on with
    ``hand_on``; before that, it just leaves the line.
    """
    event = anyio.Event()
    if first:
        waiters.appendleft(event)
    else:
        waiters.append(event)
    try:
        await event.wait()
    except BaseException:
        if event.is_set():
            hand_on()
        else:
            waiters.remove(event)
        raise


class Slots:
    """A counting semaphore that only suspends when it must wait (FIFO hand-over)."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: deque[anyio.Event] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        await wait_in_line(self._waiters, self.release)

    def release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()  # the slot goes straight to the oldest waiter
        else:
            self._free += 1


class Queue(Generic[T]):
    """A bounded FIFO between the workers and the consumer of a :class:`FanOut`."""

    __slots__ = ("_closed", "_getters", "_items", "_space")

    def __init__(self, size: int) -> None:
        self._items: deque[T] = deque()
        self._space = Slots(size)
        self._getters: deque[anyio.Event] = deque()
        self._closed = False

    def put_nowait(self, item: T) -> bool:
        """Add ``item`` if there is room (no suspension); False when full."""
        space = self._space
        if space._free <= 0 or space._waiters:
            return False
        space._free -= 1
        self._items.append(item)
        if self._getters:
            self._getters.popleft().set()
        return True

    async def put(self, item: T) -> None:
        await self._space.acquire()
        self._items.append(item)
        if self._getters:
            self._getters.popleft().set()

    def close(self) -> None:
        """No more puts: a consumer waiting on an empty queue sees the end."""
        self._closed = True
        while self._getters:
            self._getters.popleft().set()

    async def get(self) -> T:
        """The next item; raises ``StopAsyncIteration`` once closed and drained."""
        items = self._items
        if items:  # the fast path: no suspension while outcomes are waiting
            self._space.release()
            return items.popleft()
        while not items:
            if self._closed:
                # The end is a checkpoint: if a cancellation of the consumer's own
                # scope is what ended the producers, it is raised here, so the
                # stream never just stops short.
                await anyio.lowlevel.checkpoint()
                raise StopAsyncIteration
            event = anyio.Event()
            self._getters.append(event)
            try:
                await event.wait()
            except BaseException:
                if not event.is_set():
                    self._getters.remove(event)
                elif items and self._getters:  # our wake-up was for an item: pass it on
                    self._getters.popleft().set()
                raise
        self._space.release()
        return items.popleft()


def _tqdm() -> Any:
    """tqdm's class for ``progress=True``: the notebook widget where ipywidgets is
    installed (``tqdm.auto`` picks it in Jupyter, the text bar elsewhere), else the
    text bar, because ``tqdm.auto`` in a notebook without ipywidgets only warns
    "IProgress not found"."""
    try:
        import tqdm  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "progress=True needs tqdm: pip install 'uprock-async[progress]' "
            "(or pass a callable (done, total) -> None)"
        ) from None
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        from tqdm.std import tqdm as text_bar

        return text_bar
    from tqdm.auto import tqdm as auto_bar

    return auto_bar


class Progress:
    """Reports ``(done, total)`` to a callable, or drives a tqdm bar."""

    __slots__ = ("_bar", "_callback", "active", "done", "total")

    def __init__(self, progress: Any, total: int | None) -> None:
        self.done = 0
        self.total = total
        self._bar: Any = None
        self._callback: Callable[[int, int | None], None] | None = None
        if progress is True:
            self._bar = _tqdm()(total=total, unit="call", dynamic_ncols=True)
        elif callable(progress):
            self._callback = progress
        elif progress is not None and progress is not False:
            raise TypeError("progress must be True, False, None or a callable (done, total)")
        self.active = self._bar is not None or self._callback is not None

    def advance(self) -> None:
        self.done += 1
        if self._callback is not None:
            self._callback(self.done, self.total)
        elif self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
