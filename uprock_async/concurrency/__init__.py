"""Concurrency: the fan-out engine, its limits (window, rate, adaptive) and polling."""

from ._adaptive import AdaptiveConcurrency, ConcurrencyArg
from ._fanout import FanOut, Outcome, ProgressArg, fan_out, gather
from ._poll import poll_until_terminal

__all__ = [
    "AdaptiveConcurrency",
    "ConcurrencyArg",
    "FanOut",
    "Outcome",
    "ProgressArg",
    "fan_out",
    "gather",
    "poll_until_terminal",
]
