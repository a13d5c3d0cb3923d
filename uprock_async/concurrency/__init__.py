"""Concurrency: the fan-out engine over pluggable meters (window, rate, adaptive),
``fan_out`` and ``gather`` on top, and polling beside them.

This is the package's public face for the rest of the library: modules outside
``concurrency/`` import from here, never from its private modules
(``tests/test_layers.py`` holds that line). ``resolve_concurrency`` is the one
check of a ``concurrency=`` argument; :class:`TaskScope` is how a streaming
helper owns its task group; :class:`Progress` reports ``progress=``.
"""

from ._adaptive import AdaptiveConcurrency, ConcurrencyArg, resolve_concurrency
from ._fanout import FanOut, FanOutOptions, Outcome, ProgressArg, fan_out, gather
from ._gates import Progress
from ._meters import Meter, MeterState
from ._poll import Polled, poll_until_terminal
from ._scope import TaskScope

__all__ = [
    "AdaptiveConcurrency",
    "ConcurrencyArg",
    "FanOut",
    "FanOutOptions",
    "Meter",
    "MeterState",
    "Outcome",
    "Polled",
    "Progress",
    "ProgressArg",
    "TaskScope",
    "fan_out",
    "gather",
    "poll_until_terminal",
    "resolve_concurrency",
]
