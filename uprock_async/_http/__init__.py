"""The one place that does network I/O: the transport every request goes through.

After every HTTP attempt it hands one :class:`AttemptEvent` to its observers
(stats, the Retry-After pause, the circuit breaker, the log) and to the
:data:`current_observer` of the calling task, which the concurrency layer sets.
It imports nothing from the concurrency layer.
"""

from ._events import AttemptEvent, AttemptObserver, CallObserver, current_observer
from ._transport import DEFAULT_MAX_BODY_SIZE, Multipart, Transport

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "AttemptEvent",
    "AttemptObserver",
    "CallObserver",
    "Multipart",
    "Transport",
    "current_observer",
]
