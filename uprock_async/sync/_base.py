"""What both blocking clients share: construction, the loop thread's lifetime, calls."""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from types import TracebackType
from typing import Any, ClassVar, Generic, ParamSpec, TypeVar, cast

import aiohttp

from .._api import ClientBase
from .._config import DEFAULT_BREAKER, CircuitBreaker, Limits, RetryPolicy, Timeout
from .._http._transport import DEFAULT_MAX_BODY_SIZE
from .._stats import ClientStats
from ._runner import BlockingIterator, LoopThread, Source

__all__ = ["BlockingClient"]

C = TypeVar("C", bound=ClientBase)
P = ParamSpec("P")
T = TypeVar("T")
Self = TypeVar("Self", bound="BlockingClient[Any]")


class BlockingClient(Generic[C]):
    """A blocking twin of an async client: the async client runs on its own loop thread.

    Arguments are the async client's. ``session=`` is refused: an
    ``aiohttp.ClientSession`` belongs to the event loop it was made on, and this
    client's loop is private to it. Callbacks you pass (``progress=``) run on
    the client's loop thread and must not call the client (``RuntimeError``).
    """

    _async_class: ClassVar[Callable[..., ClientBase]]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | Timeout = 30.0,
        limits: Limits | None = None,
        retry: RetryPolicy | int | None = None,
        session: aiohttp.ClientSession | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] = (),
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        circuit_breaker: CircuitBreaker | None = DEFAULT_BREAKER,
    ) -> None:
        if session is not None:
            raise ValueError(
                "session= cannot be used with a blocking client: an aiohttp session "
                "belongs to the event loop it was made on, and this client runs its own; "
                "pass limits= and trace_configs= instead"
            )
        # Built here, before any thread starts, so bad arguments fail plainly.
        client = self._async_class(
            api_key,
            base_url=base_url,
            timeout=timeout,
            limits=limits,
            retry=retry,
            trace_configs=trace_configs,
            max_body_size=max_body_size,
            circuit_breaker=circuit_breaker,
        )
        self._client = cast(C, client)
        self._loop = LoopThread(f"uprock-async-{type(self).__name__}", client.aclose)
        # A client dropped without close() still ends its loop (and closes its
        # pool) once collected. Not at interpreter exit: the loop thread is a
        # daemon then, and waiting on it could hang the exit.
        self._finalizer = weakref.finalize(self, self._loop.request_stop)
        self._finalizer.atexit = False

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Cancel any call still running, close the connection pool, end the loop
        thread. Idempotent; later calls raise ``RuntimeError``."""
        self._loop.close()
        self._finalizer.detach()

    def __enter__(self: Self) -> Self:
        self._loop.check()  # a closed client cannot be reused
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (or leaving ``with``)."""
        return self._loop.stopping

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._client.base_url

    @property
    def timeout(self) -> Timeout:
        """Per-attempt time limits."""
        return self._client.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._client.retry

    def stats(self) -> ClientStats:
        """A snapshot of this client's counters and latency percentiles.

        Taken on the loop thread while the client is open (the counters change
        there); after :meth:`close` it reads the final numbers directly.
        """
        if not self.closed and not self._loop.in_loop_thread():
            try:
                return self._loop.call_sync(self._client.stats)
            except RuntimeError:
                if not self.closed:
                    raise
        return self._client.stats()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"{type(self).__name__}(base_url={self.base_url!r}, {state}, blocking)"

    # -- calls -----------------------------------------------------------------

    def _call(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``await fn(*args, **kwargs)`` on the loop thread; block for the result."""
        return self._loop.call(partial(fn, *args, **kwargs))

    def _stream(
        self, fn: Callable[P, Source[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> BlockingIterator[T]:
        """An ``iter_*`` method's async stream as a plain iterator.

        ``fn`` is called on the loop now, so bad arguments raise here; the stream
        itself starts at the first ``next()``.
        """
        return self._iterate(partial(fn, *args, **kwargs))

    def _iterate(self, make: Callable[[], Source[T]]) -> BlockingIterator[T]:
        """Like :meth:`_stream`, for an overloaded ``iter_*`` method (whose overloads
        a ParamSpec cannot carry): ``make`` calls it."""
        source = self._loop.call_sync(make)
        return BlockingIterator(self, self._loop, source)
