"""What both blocking clients share: construction, the loop thread's lifetime, and
:func:`blocking`/:func:`streaming`, which make each method from its async twin."""

from __future__ import annotations

import copy
import functools
import inspect
import types
import typing
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from functools import partial
from types import SimpleNamespace
from typing import Any, ClassVar, Concatenate, Generic, Literal, ParamSpec, Protocol, TypeVar, cast

from .._client_base import ClientBase, ClientOptions, Settings
from .._compat import Unpack
from .._config import RetryPolicy, Timeout
from .._stats import ClientStats
from ..concurrency import AdaptiveConcurrency
from ._runner import BlockingIterator, LoopThread, Source
from ._watch import Watch

__all__ = ["CHUNKS_AHEAD", "BlockingClient", "blocking", "overloaded", "streaming"]

C = TypeVar("C", bound=ClientBase)
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")
T = TypeVar("T")
Self = TypeVar("Self", bound="BlockingClient[Any]")

#: Chunks of a streamed download (``stream_*``) read ahead of a blocking reader: a
#: few, so a slow reader holds about a megabyte, not the 128 outcomes of ``iter_*``.
CHUNKS_AHEAD = 4


class BlockingClient(Settings, Generic[C]):
    """A blocking twin of an async client: the async client runs on its own loop thread.

    Arguments are the async client's. ``session=`` is refused: an
    ``aiohttp.ClientSession`` belongs to the event loop it was made on, and this
    client's loop is private to it. Callbacks you pass (``progress=``) run on
    the client's loop thread and must not call the client (``RuntimeError``); a
    ``KeyboardInterrupt`` or ``SystemExit`` they raise reaches the caller and
    closes the client.
    """

    _async_class: ClassVar[Callable[..., ClientBase]]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        session: None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        if session is not None:
            raise ValueError(
                "session= cannot be used with a blocking client: an aiohttp session "
                "belongs to the event loop it was made on, and this client runs its own; "
                "pass limits= and trace_configs= instead"
            )
        # Built here, before any thread starts, so bad arguments fail plainly.
        client = self._async_class(api_key, **options)
        self._client = cast(C, client)
        self._loop = LoopThread(f"uprock-async-{type(self).__name__}", client.aclose)
        # A client dropped without close() still ends its loop (and closes its
        # pool) once collected. Not at interpreter exit: the loop thread is a
        # daemon then, and waiting on it could hang the exit.
        self._finalizer = weakref.finalize(self, self._loop.request_stop)
        self._finalizer.atexit = False
        self._origin: BlockingClient[C] | None = None  # set on with_options copies

    # -- lifetime ------------------------------------------------------------

    def close(self) -> None:
        """Cancel any call still running, close the connection pool, end the loop
        thread. Idempotent; later calls raise ``RuntimeError``. On a
        :meth:`with_options` copy it does nothing: the original owns the loop."""
        if self._origin is not None:
            return
        self._loop.close()
        self._finalizer.detach()

    def __enter__(self: Self) -> Self:
        self._loop.check()  # a closed client cannot be reused
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (or leaving ``with``)."""
        return self._loop.stopping

    def _settings(self) -> ClientBase:
        return self._client

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

    def _progress(self) -> tuple[int, int]:
        """``(requests sent, responses had)``, what a :class:`Watch` compares."""
        stats = self.stats()
        return stats.requests, sum(stats.responses.values())

    def with_options(
        self: Self,
        *,
        timeout: float | Timeout | None = None,
        retry: RetryPolicy | int | None = None,
        concurrency: int | Literal["auto"] | AdaptiveConcurrency | None = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
    ) -> Self:
        """Blocking twin of the async ``with_options``: a copy with other settings
        (another account's ``api_key`` and ``base_url`` included) that shares this
        client's loop thread, connection pool and stats.

        The loop and the pool belong to the original: the copy keeps the original
        alive, and closing the copy (or leaving its ``with``) leaves both running;
        close the original to end them.
        """
        twin = copy.copy(self)
        twin._client = self._client.with_options(
            timeout=timeout,
            retry=retry,
            concurrency=concurrency,
            headers=headers,
            api_key=api_key,
            base_url=base_url,
        )
        twin._origin = self
        return twin

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"{type(self).__name__}(base_url={self.base_url!r}, {state}, blocking)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and hasattr(member, "__wrapped__"):
                # A twin is named as the blocking method it is, not as the async one.
                member.__module__ = cls.__module__
                member.__qualname__ = f"{cls.__qualname__}.{name}"


# help() and inspect.signature() show the async constructor's parameters, as they
# do for every blocking method (type checkers read ``**options: Unpack[...]``).
BlockingClient.__init__.__wrapped__ = ClientBase.__init__  # type: ignore[attr-defined]
BlockingClient.__init__.__annotations__ = dict(ClientBase.__init__.__annotations__)


def blocking(
    method: Callable[Concatenate[Any, P], Awaitable[R]],
) -> Callable[Concatenate[BlockingClient[Any], P], R]:
    """The blocking twin of an async client's method: ``name = blocking(AsyncClient.name)``.

    Same parameters, result and exceptions; type checkers carry the async method's
    overloads over too (see :func:`overloaded` where they cannot). The call runs on
    the client's loop thread while the calling thread waits. ``inspect.signature``
    and ``help()`` show the async method's parameters.
    """

    @functools.wraps(method)
    def twin(self: BlockingClient[Any], /, *args: P.args, **kwargs: P.kwargs) -> R:
        call = partial(method, self._client, *args, **kwargs)  # pyright: ignore[reportPrivateUsage]
        watch = Watch.here(self.timeout.total, self._progress)  # pyright: ignore[reportPrivateUsage]
        return self._loop.call(call, watch)  # pyright: ignore[reportPrivateUsage]

    twin.__doc__ = _doc(method)
    return twin


def streaming(
    method: Callable[Concatenate[Any, P], Source[T]], *, ahead: int | None = None
) -> Callable[Concatenate[BlockingClient[Any], P], BlockingIterator[T]]:
    """The blocking twin of an ``iter_*`` or ``stream_*`` method (an async iterator, or
    an async context manager of one): a :class:`BlockingIterator`. The async method is
    called on the loop at once, so bad arguments raise here; the stream starts at the
    first ``next()``. ``ahead``: the most items fetched before they are asked for
    (default: the iterator's own; a few for a download's chunks).
    """
    options = {} if ahead is None else {"ahead": ahead}

    @functools.wraps(method)
    def twin(
        self: BlockingClient[Any], /, *args: P.args, **kwargs: P.kwargs
    ) -> BlockingIterator[T]:
        call = partial(method, self._client, *args, **kwargs)  # pyright: ignore[reportPrivateUsage]
        loop = self._loop  # pyright: ignore[reportPrivateUsage]
        return BlockingIterator(self, loop, loop.call_sync(call), **options)

    returns = _yields(method)
    twin.__annotations__ = {**method.__annotations__, "return": returns}
    twin.__signature__ = inspect.signature(method).replace(  # type: ignore[attr-defined]
        return_annotation=returns
    )
    twin.__doc__ = _doc(method, stream=True)
    return twin


def overloaded(twin: Callable[..., Any]) -> _Implements:
    """Puts ``twin`` (from :func:`blocking` or :func:`streaming`) in place of the
    implementation of blocking overloads written out by hand, for an async method whose
    overloads mypy or pyright does not carry through a ``ParamSpec``."""

    def implement(implementation: F) -> F:
        return cast(F, twin)

    return implement


class _Implements(Protocol):
    def __call__(self, implementation: F, /) -> F: ...


def _doc(method: Callable[..., Any], *, stream: bool = False) -> str:
    note = (
        " A plain iterator: the stream runs on the client's loop thread, a bounded"
        " buffer ahead of you; ``close()``, leaving ``with`` or ``break`` cancels it."
        if stream
        else ""
    )
    doc = inspect.cleandoc(method.__doc__ or "")
    return f"Blocking twin of the async client's ``{method.__name__}``.{note}\n\n{doc}"


def _yields(method: Callable[..., Any]) -> Any:
    """``BlockingIterator[item]`` for the async stream ``method`` returns
    (``FanOut[str, JobDetail]``: ``Outcome[str, JobDetail]``), for its twin's annotation."""
    source = typing.get_type_hints(
        SimpleNamespace(__annotations__={"return": method.__annotations__["return"]}),
        globalns=getattr(method, "__globals__", None),
    )["return"]
    generic: Any = BlockingIterator
    return generic[_items(source)]


def _items(source: Any) -> Any:
    origin, args = typing.get_origin(source) or source, typing.get_args(source)
    if origin in (typing.Union, types.UnionType):  # JobWatch[JobDetail] | JobWatch[Job]
        return functools.reduce(lambda union, item: union | item, map(_items, args))
    if origin is AsyncIterator:
        return args[0]
    if origin is AbstractAsyncContextManager:  # stream_*: a context manager of an iterator
        return _items(args[0])
    item = typing.get_type_hints(origin.__anext__)["return"]  # e.g. Outcome[I, R]
    names = dict(zip(origin.__parameters__, args, strict=True))
    return item[tuple(names[p] for p in item.__parameters__)]
