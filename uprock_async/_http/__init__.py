"""The one place that does network I/O: the transport every request goes through.

After every HTTP attempt it hands one :class:`AttemptEvent` to its observers
(stats, the Retry-After pause, the circuit breaker, the log) and to the
:data:`current_observer` of the calling task, which the concurrency layer sets.
It imports nothing from the concurrency layer.
"""

from ._events import AttemptEvent, AttemptObserver, CallObserver, current_observer
from ._hooks import EventHooks, RequestInfo, ResponseInfo
from ._request import Multipart, Request, Response
from ._stream import ByteStream, Streamed, open_stream
from ._transport import DEFAULT_MAX_BODY_SIZE, Transport

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "AttemptEvent",
    "AttemptObserver",
    "ByteStream",
    "CallObserver",
    "EventHooks",
    "Multipart",
    "Request",
    "RequestInfo",
    "Response",
    "ResponseInfo",
    "Streamed",
    "Transport",
    "current_observer",
    "open_stream",
]
