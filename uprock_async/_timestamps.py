"""Timestamps kept as the wire string and parsed on access.

Both services send ``""`` for "no time yet" next to RFC 3339 timestamps (with
nanoseconds, sometimes without an offset). Declaring those fields ``datetime``
makes msgspec reject ``""``, and every way around that inside the decode was
measured too slow: on a 2.3 MB crawl info, any full scan of the body
(``bytes.find``/``replace``) costs 1.4 to 2 ms of the 4.4 ms decode, and a failed
decode followed by a second one costs twice that. So for msgspec a timestamp
field is ``str | None`` (``""``, real timestamps and ``null`` all decode in the
one C pass, as fast as a bare struct with ``str`` fields), while type checkers
see ``datetime | None`` (:data:`Timestamp`).

:func:`timestamps` puts a small descriptor in front of each such field's slot.
Reading the attribute gives:

* ``None`` for ``null`` and ``""``;
* a timezone-aware ``datetime`` for a wire string (parsed by msgspec, in C, on
  every access: nothing is cached or written back, so reading never changes
  equality; an offset-less timestamp is taken as UTC, never returned naive;
  nanoseconds are rounded to microseconds);
* a ``datetime`` stored by the constructor (``App(updated_at=...)``) unchanged.

A string that is not RFC 3339 raises :class:`~uprock_async.ResponseDecodeError`
on access, naming the struct and field but not quoting the value (a hostile
server may echo the API key there).

Everything that reads the slot directly sees the wire string: ``repr``,
``==``, ``msgspec.structs.asdict``/``astuple``, ``msgspec.to_builtins`` and
``msgspec.json.encode``, which therefore gives back exactly the string that was
received (``""`` included). Pickle, ``copy`` and ``msgspec.structs.replace``
keep the wire string too.
"""

from __future__ import annotations

from datetime import datetime, timezone
from types import MemberDescriptorType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args

import msgspec

from ._errors import ResponseDecodeError

__all__ = ["TIMESTAMP_FIELDS", "Timestamp", "TimestampField", "timestamps"]

S = TypeVar("S", bound=type[msgspec.Struct])

# The marker that tells a timestamp field from any other ``str`` field. No
# ``date-time`` format for generated JSON Schema: the services also send "".
_MARK = msgspec.Meta(
    description='An RFC 3339 timestamp, or "" for none',
    extra={"uprock_async": "timestamp"},
)

if TYPE_CHECKING:
    Timestamp = datetime
else:
    Timestamp = Annotated[str, _MARK]

#: Every struct class given descriptors by :func:`timestamps`, with its timestamp fields.
TIMESTAMP_FIELDS: dict[type[msgspec.Struct], tuple[str, ...]] = {}

_UTC = timezone.utc


def _is_timestamp(annotation: Any) -> bool:
    if annotation is Timestamp:
        return True
    return any(_is_timestamp(arg) for arg in get_args(annotation))


class TimestampField:
    """The descriptor in front of one timestamp field's slot (see the module docstring)."""

    __slots__ = ("_name", "_owner", "_slot")

    def __init__(self, slot: Any, owner: str, name: str) -> None:
        self._slot = slot  # the struct's own member descriptor: decode/encode use the slot
        self._owner = owner
        self._name = name

    def __get__(self, obj: object, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        raw = self._slot.__get__(obj, objtype)
        if type(raw) is not str:
            return raw  # None, or a datetime the caller stored
        if not raw:
            return None
        try:
            moment: datetime = msgspec.convert(raw, datetime)
        except msgspec.ValidationError:
            raise ResponseDecodeError(
                f"{self._owner}.{self._name} is not an RFC 3339 timestamp"
            ) from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=_UTC)

    def __set__(self, obj: object, value: Any) -> None:
        self._slot.__set__(obj, value)

    def __delete__(self, obj: object) -> None:
        self._slot.__delete__(obj)

    def __repr__(self) -> str:
        return f"<timestamp field {self._owner}.{self._name}>"


def timestamps(cls: S) -> S:
    """Class decorator: put a :class:`TimestampField` in front of every field of
    ``cls`` annotated :data:`Timestamp` (``Timestamp | None`` included)."""
    names = []
    for field in msgspec.structs.fields(cls):
        slot = cls.__dict__.get(field.name)
        # Only the class that declares the field owns its slot; a subclass of a
        # decorated struct inherits the descriptor already in place.
        if isinstance(slot, MemberDescriptorType) and _is_timestamp(field.type):
            setattr(cls, field.name, TimestampField(slot, cls.__name__, field.name))
            names.append(field.name)
    if not names:
        raise TypeError(f"{cls.__name__} has no Timestamp field")
    TIMESTAMP_FIELDS[cls] = tuple(names)
    return cls
