"""Concurrency: the fan-out engine over pluggable meters (window, rate, adaptive),
``fan_out`` and ``gather`` on top, and polling beside them."""

from ._adaptive import AdaptiveConcurrency, ConcurrencyArg
from ._fanout import FanOut, FanOutOptions, Outcome, ProgressArg, fan_out, gather
from ._meters import Meter, MeterState
from ._poll import poll_until_terminal

__all__ = [
    "AdaptiveConcurrency",
    "ConcurrencyArg",
    "FanOut",
    "FanOutOptions",
    "Meter",
    "MeterState",
    "Outcome",
    "ProgressArg",
    "fan_out",
    "gather",
    "poll_until_terminal",
]
