"""Outcome: what one call of a fan-out came to (its item, then a value or an error)."""

from __future__ import annotations

from typing import Generic, TypeVar, cast

__all__ = ["Outcome"]

I = TypeVar("I")  # noqa: E741 - item
R = TypeVar("R")  # result


class Outcome(Generic[I, R]):
    """The result of one call: ``index`` and ``item`` of the input, then either
    ``value`` or ``error`` (the exception the call raised).

    To a type checker, ``value`` is ``R | None`` whatever ``ok`` says; narrow with
    :meth:`value_or_none` (``if (detail := outcome.value_or_none()) is not None``)
    or :meth:`unwrap`, which both type as ``R``.
    """

    __slots__ = ("error", "index", "item", "value")

    def __init__(self, index: int, item: I, value: R | None, error: Exception | None) -> None:
        self.index = index
        self.item = item
        self.value = value
        self.error = error

    @property
    def ok(self) -> bool:
        """True when the call returned a value."""
        return self.error is None

    def value_or_none(self) -> R | None:
        """The value when the call succeeded, else ``None`` (never raises)."""
        return self.value if self.error is None else None

    def unwrap(self) -> R:
        """The value, or raise the call's exception."""
        if self.error is not None:
            raise self.error
        return cast(R, self.value)

    def __repr__(self) -> str:
        result = f"value={self.value!r}" if self.error is None else f"error={self.error!r}"
        return f"Outcome(index={self.index}, item={self.item!r}, {result})"
