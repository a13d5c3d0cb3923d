"""Streamed downloads: a body handed over chunk by chunk, never held whole.

:func:`open_stream` runs one :meth:`Transport.exchange` in a task of its own,
whose ``consume`` passes each chunk through an unbuffered memory object stream
to the caller's :class:`ByteStream`. The exchange keeps every rule of a
download (pause, breaker, retries, redirects, where the key may go); what this
module adds:

- a chunk is handed over only when the caller asks for it, so memory holds
  about one chunk whatever the size of the body;
- until the first chunk has reached the caller, a broken transfer is retried
  like any other; after it, the caller has bytes a retry would repeat, so a
  broken transfer raises (never a short stream that looks complete);
- the body is capped by ``cap`` bytes, counted after decompression, with the
  error a download to a file gives;
- leaving the ``async with`` block cancels the task, which closes the
  connection (a half-read response is never put back in the pool).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from types import TracebackType

import aiohttp
import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from yarl import URL

from ._download import CHUNK, _too_big, check_ready
from ._failures import MAPPED, Failure, cause_of, exception_failure, expecting
from ._transport import Transport

if sys.version_info < (3, 11):  # pragma: no cover
    from exceptiongroup import BaseExceptionGroup

__all__ = ["ByteStream", "Streamed", "open_stream"]


class _Flow:
    """What the task moving the body and the caller reading it share."""

    __slots__ = ("delivered", "error", "ready")

    def __init__(self) -> None:
        self.ready = anyio.Event()  # an answer's body is about to flow, or all failed
        self.delivered = 0  # bytes that have reached the caller
        self.error: Exception | None = None  # why the stream ended early


class ByteStream(AsyncIterator[bytes]):
    """The body of a streamed download: ``async for chunk in body`` gives ``bytes``.

    The iteration ends when the whole body has arrived; a transfer that breaks
    raises instead (:class:`~uprock_async.APIConnectionError`, or the error of
    the answer), so a stream that ends is complete.
    """

    __slots__ = ("_flow", "_receive")

    def __init__(self, receive: MemoryObjectReceiveStream[bytes], flow: _Flow) -> None:
        self._receive = receive
        self._flow = flow

    def __aiter__(self) -> ByteStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._receive.receive()
        except anyio.EndOfStream:
            pass
        except anyio.ClosedResourceError:
            raise RuntimeError(
                "this stream ended with its `async with` block; read it inside the block"
            ) from None
        error = self._flow.error
        if error is not None:
            raise error  # outside the except block: its own cause stays, no context is added
        raise StopAsyncIteration


class Streamed:
    """The async context manager :func:`open_stream` returns; it yields a :class:`ByteStream`.

    Entering sends the request and returns once an answer's body is about to
    flow; an error answer (after the retries it is worth) raises here. Leaving,
    early or not, cancels the transfer and closes its connection.
    """

    def __init__(
        self,
        transport: Transport,
        url: URL,
        *,
        not_ready: frozenset[int],
        gone: frozenset[int],
        cap: int | None,
    ) -> None:
        self._transport = transport
        self._url = url
        self._not_ready = not_ready
        self._gone = gone
        self._cap = cap
        self._flow: _Flow | None = None  # made on entering: anyio objects need a running loop
        self._group: anyio.abc.TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[bytes] | None = None
        self._entered = False

    async def __aenter__(self) -> ByteStream:
        if self._entered:
            raise RuntimeError("a streamed download can be entered only once")
        self._entered = True
        # Unbuffered: a chunk leaves the task only when the caller takes it, so
        # "it reached the caller" is exact and memory holds one chunk at most.
        send, receive = anyio.create_memory_object_stream[bytes](0)
        self._receive = receive
        flow = self._flow = _Flow()
        group = self._group = anyio.create_task_group()
        await group.__aenter__()
        group.start_soon(self._produce, send, flow)
        try:
            await flow.ready.wait()
        except BaseException:
            await self._stop()
            raise
        if flow.error is not None:  # no chunk reached anyone: it is the answer's error
            error = flow.error
            await self._stop()
            raise error
        return ByteStream(receive, flow)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        """Cancel the transfer, wait for its task, close the caller's end.

        The block's own exception is not handed to the task group, which would
        wrap it in an ``ExceptionGroup``: returning lets it propagate as itself.
        The task raises nothing but its cancellation, which the group absorbs.
        """
        group, self._group = self._group, None
        if group is None:
            return
        group.cancel_scope.cancel()
        raised: BaseException | None = None
        try:
            await group.__aexit__(None, None, None)
        except BaseExceptionGroup as caught:
            raised = caught.exceptions[0] if len(caught.exceptions) == 1 else caught
        finally:
            if self._receive is not None:
                self._receive.close()
        if raised is not None:
            raise raised

    async def _produce(self, send: MemoryObjectSendStream[bytes], flow: _Flow) -> None:
        transport, cap, not_ready = self._transport, self._cap, self._not_ready

        async def consume(resp: aiohttp.ClientResponse) -> tuple[None, int]:
            check_ready(resp.status, not_ready)
            length = resp.content_length
            plain = "Content-Encoding" not in resp.headers  # else the length is the wire's
            if cap is not None and plain and length is not None and length > cap:
                raise _too_big(resp.status, f"download of {length} bytes", cap)
            flow.ready.set()
            total = 0
            content = resp.content
            while True:
                try:
                    chunk = await content.read(CHUNK)
                except MAPPED as exc:
                    if not flow.delivered:
                        raise  # nothing reached the caller: the exchange retries it
                    raise _broken(exc, resp.url, transport, flow.delivered) from cause_of(
                        exc, transport.redact
                    )
                if not chunk:
                    return None, total
                total += len(chunk)
                if cap is not None and total > cap:
                    # Counted after decompression: a small gzip can inflate to anything.
                    raise _too_big(resp.status, "download", cap)
                await send.send(chunk)
                flow.delivered += len(chunk)

        with send, expecting(not_ready=not_ready, gone=self._gone):
            try:
                await transport.exchange("GET", self._url, consume=consume)
            except Exception as exc:  # the caller's to see: raised where it reads
                flow.error = exc
            finally:
                flow.ready.set()


def _broken(exc: BaseException, url: URL, transport: Transport, delivered: int) -> Failure:
    """A transfer that broke after ``delivered`` bytes reached the caller: not retried."""
    mapped = exception_failure(exc, url, transport.timeout, transport.redact).error
    error = type(mapped)(
        f"{mapped.message} (after {delivered} bytes had been streamed, so not retried)"
    )
    return Failure(error, retryable=False, sent=True)


def open_stream(
    transport: Transport,
    url: URL,
    *,
    not_ready: frozenset[int] = frozenset(),
    gone: frozenset[int] = frozenset(),
    cap: int | None = None,
) -> Streamed:
    """``GET url`` as a stream of ``bytes`` chunks (``async with ... as body``).

    ``not_ready`` statuses are retried like a 503, then raised as
    :class:`~uprock_async.APIStatusError`; ``gone`` ones are not retried (see
    :func:`~._failures.expecting`). ``cap`` bounds the body in bytes, after
    decompression (``None``: no cap).
    """
    return Streamed(transport, url, not_ready=not_ready, gone=gone, cap=cap)
