"""The columns behind :mod:`uprock_async.frames`: a plan per model type, and a batch of
rows turned into Arrow arrays by it.

The plan has one node per field, derived from the model type (never from the values),
so a table of partial failures has the schema of one without. A batch is read field by
field with C-level iteration (``map`` over a slot getter), or row by row where a struct
inside a list has many plain fields (``msgspec.structs.astuple``, one C call a row), and
Arrow gets whole Python lists: what remains is Arrow copying each value once, and the
first touch of each object. ``None`` (a failed row, a null struct or list) is rare: the
fast path assumes there is none, the path that builds a validity mask runs only when
Python says otherwise.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from functools import cache, partial
from itertools import accumulate, chain
from operator import attrgetter
from types import MemberDescriptorType
from typing import Any, NamedTuple

import msgspec
import msgspec.inspect as mi
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "Record",
    "TooBig",
    "Unfit",
    "columns",
    "flat_fields",
    "leaf",
    "plain",
    "plan_of",
    "pool",
    "weight",
]

_UTC_US = pa.timestamp("us", tz="UTC")
# What a UTC datetime can show: a frame beyond cannot be printed or turned into Python.
_FIRST = pa.scalar(datetime.min.replace(tzinfo=timezone.utc), _UTC_US)
_LAST = pa.scalar(datetime.max.replace(tzinfo=timezone.utc), _UTC_US)
_INT64 = range(-(2**63), 2**63)
# The parser attribute access uses (``_timestamps``), over a whole column in one C call.
_datetimes = partial(msgspec.convert, type=list[datetime | None])
_to_json = msgspec.json.Encoder().encode
_astuple = msgspec.structs.astuple
# Fields from which a struct inside a list is converted by rows (slot tuples): on job
# details 9-field cookies convert ~35% faster so, 2-field headers no faster.
_BY_ROWS_FROM = 5
# Structs converted by rows at once: 1,024 cookies' tuples and strings (about 0.5 MB)
# are still in a core's cache when Arrow copies them.
_PIECE_ROWS = 1024


def pool() -> Any:
    """The memory pool of the arrays: pyarrow's default, but the system allocator in
    place of mimalloc. On pyarrow 26 its bundled mimalloc kept about twice what a table
    of job details holds resident (the peak RSS regression of mimalloc 2.2,
    microsoft/mimalloc#1111) and made the first conversion in a process about twice as
    slow, zeroing fresh pages; malloc keeps what the table holds."""
    default = pa.default_memory_pool()
    return pa.system_memory_pool() if default.backend_name == "mimalloc" else default


class Unfit(Exception):
    """``(column, row, what)``: a value the column cannot hold (row in the values at hand)."""

    def at(self, row: int) -> Unfit:
        return Unfit(self.args[0], row, self.args[2])


class TooBig(Exception):
    """``(column,)`` of a batch would outgrow one Arrow array (the ``limit`` in bytes)."""


# -- the plan: one node per field, derived from the model type ------------------------

# (values, column name, memory pool) -> pyarrow.Array
_Convert = Callable[[Sequence[Any], str, Any], Any]


class _Leaf(NamedTuple):
    type: Any  # pyarrow.DataType
    convert: _Convert
    plain: bool = False  # Arrow takes the Python values as they are


class _List(NamedTuple):
    type: Any
    item: _Node


class Record(NamedTuple):
    """A struct type: flattened with dots at the top level, a struct inside a list."""

    type: Any  # the struct type, used where the record sits inside a list
    fields: tuple[tuple[str, _Node], ...]  # (JSON name, node), in slot order
    getters: tuple[Callable[[Any], Any], ...]  # each field's slot value, in the same order
    by_rows: bool  # Arrow converts whole rows (slot tuples) rather than field by field


_Node = _Leaf | _List | Record


def plain(type_: Any) -> _Leaf:
    """A leaf whose Python values Arrow takes as they are (``str``, ``int`` …)."""
    return _Leaf(type_, lambda values, _name, into: pa.array(values, type_, memory_pool=into), True)


def _json_text(text: Any) -> _Leaf:
    """A leaf of free-form JSON (``Any``, dicts …): its JSON text, of type ``text``."""

    def convert(values: Sequence[Any], _name: str, into: Any) -> Any:
        encoded = [None if v is None else _to_json(v) for v in values]
        return pa.array(encoded, text, memory_pool=into)

    return _Leaf(text, convert)


def _timestamp_marked(t: mi.Type) -> bool:
    # Fields declared ``Timestamp`` in the models are ``str`` to msgspec, marked
    # in their metadata; ``datetime`` fields are timestamps too, whatever their name.
    return isinstance(t, mi.DateTimeType) or (
        isinstance(t, mi.Metadata) and (t.extra or {}).get("uprock_async") == "timestamp"
    )


_SCALARS: dict[type[mi.Type], Any] = {
    mi.IntType: pa.int64(),
    mi.FloatType: pa.float64(),
    mi.BoolType: pa.bool_(),
}
_LISTS = (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)


def _node(t: mi.Type, seen: frozenset[type], text: Any) -> _Node:
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) != 1:
            if {type(m) for m in members} <= {mi.IntType, mi.FloatType}:
                return plain(pa.float64())  # ``int | float``: a number
            return _json_text(text)
        t = members[0]
    if _timestamp_marked(t):
        return _Leaf(_UTC_US, _timestamps)
    if isinstance(t, mi.Metadata):
        t = t.type
    if type(t) in _SCALARS:
        return plain(_SCALARS[type(t)])
    if isinstance(t, mi.StrType) or (
        isinstance(t, mi.LiteralType) and all(type(v) is str for v in t.values)
    ):
        return plain(text)
    if isinstance(t, _LISTS):
        item = _node(t.item_type, seen, text)
        return _List(pa.list_(item.type), item)
    if isinstance(t, mi.StructType) and t.cls not in seen:
        return _plan(t, seen | {t.cls}, text)
    return _json_text(text)  # Any, dicts, a recursive struct …


def _slot_getter(cls: type, name: str, index: int) -> Callable[[Any], Any]:
    """A function reading field ``name`` of a ``cls`` as stored in its slot: a timestamp
    field's descriptor parses on every read, ``astuple`` reads the slot itself, so the
    column gets the wire string (or a stored ``datetime``), parsed once per column."""
    for klass in cls.__mro__:
        if name in vars(klass):
            if isinstance(vars(klass)[name], MemberDescriptorType):
                return attrgetter(name)  # the plain slot: no tuple per row
            break
    return lambda obj: _astuple(obj)[index]


def _plan(info: mi.StructType, seen: frozenset[type], text: Any) -> Record:
    fields = tuple((f.encode_name, _node(f.type, seen, text)) for f in info.fields)
    getters = tuple(_slot_getter(info.cls, f.name, i) for i, f in enumerate(info.fields))
    by_rows = len(fields) >= _BY_ROWS_FROM and all(
        isinstance(node, _Leaf) and node.plain for _, node in fields
    )
    struct = pa.struct([(name, node.type) for name, node in fields])
    return Record(struct, fields, getters, by_rows)


@cache
def plan_of(cls: type[msgspec.Struct], text: Any) -> Record:
    """The plan of a model type with text of Arrow type ``text`` (``string``, or
    ``string_view`` for polars), computed once per type."""
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return _plan(info, frozenset({cls}), text)


def flat_fields(record: Record, prefix: str = "") -> list[tuple[str, Any]]:
    """The (dotted name, type) of each column ``record`` becomes at the top level."""
    out: list[tuple[str, Any]] = []
    for name, node in record.fields:
        if isinstance(node, Record):
            out += flat_fields(node, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", node.type))
    return out


def weight(node: _Node, value: Any) -> int:
    """About how many values ``value`` holds, a list's items each weighing its first:
    what sizes a batch (never raises, whatever the value)."""
    if isinstance(node, _Leaf) or value is None:
        return 1
    try:
        if isinstance(node, Record):
            children = zip(node.fields, node.getters, strict=True)
            return sum(weight(child, get(value)) for (_, child), get in children)
        return len(value) * weight(node.item, next(iter(value))) if value else 1
    except (AttributeError, TypeError):  # not the model's shape: the conversion will say
        return 1


# -- a batch of rows to arrays --------------------------------------------------------


def columns(record: Record, values: Sequence[Any], limit: int, into: Any) -> list[Any]:
    """The top-level arrays of ``record`` over ``values`` (structs, or ``None``: a row
    of nulls), nested records flattened, allocated from the pool ``into``.
    :class:`Unfit` names column and row, :class:`TooBig` a column over ``limit`` bytes."""
    return _Batch(limit, into).columns(record, values, "")


def leaf(node: _Leaf, values: Sequence[Any], name: str, limit: int, into: Any) -> Any:
    """One column of ``values`` that need no struct: :class:`Unfit` names its row."""
    return _Batch(limit, into).leaf(node, values, name)


class _Batch:
    """The conversion of one batch: ``limit`` is the most bytes one array may hold,
    ``into`` the memory pool."""

    def __init__(self, limit: int, into: Any) -> None:
        self.limit = limit
        self.into = into

    def columns(self, record: Record, values: Sequence[Any], prefix: str) -> list[Any]:
        arrays: list[Any] = []
        slots, _ = _slots(record, values)
        for (name, node), column in zip(record.fields, slots, strict=True):
            if isinstance(node, Record):
                arrays += self.columns(node, column, f"{prefix}{name}.")
            else:
                arrays.append(self.array(node, column, f"{prefix}{name}"))
        return arrays

    def array(self, node: _Node, values: Sequence[Any], name: str) -> Any:
        if isinstance(node, _Leaf):
            return self.leaf(node, values, name)
        if isinstance(node, Record):  # a struct inside a list
            return self.struct(node, values, name)
        return self.list(node, values, name)

    def leaf(self, node: _Leaf, values: Sequence[Any], name: str) -> Any:
        try:
            return self.fit(node.convert(values, name, self.into), name)
        except (OverflowError, pa.ArrowInvalid):  # msgspec decodes ints of any size
            for row in (r for r, v in enumerate(values) if type(v) is int and v not in _INT64):
                raise Unfit(name, row, "is an integer outside 64 bits") from None
            raise

    def list(self, node: _List, values: Sequence[Any], name: str) -> Any:
        mask = None
        try:
            ends = list(accumulate(map(len, values), initial=0))
        except TypeError:  # a ``None`` list, in a struct built in Python: a null row
            mask = self.mask(values)
            values = [() if v is None else v for v in values]
            ends = list(accumulate(map(len, values), initial=0))
        try:
            items = self.array(node.item, list(chain.from_iterable(values)), name)
        except Unfit as exc:
            raise exc.at(bisect_right(ends, exc.args[1]) - 1) from None  # the item's row
        offsets = pa.array(ends, pa.int32(), memory_pool=self.into)
        return pa.ListArray.from_arrays(offsets, items, type=node.type, pool=self.into, mask=mask)

    def struct(self, node: Record, values: Sequence[Any], name: str) -> Any:
        if node.by_rows:
            with contextlib.suppress(OverflowError, pa.ArrowInvalid):  # by fields: names the row
                return self.fit(self.rows(node.type, values), name)
        slots, nulls = _slots(node, values)
        children = [
            self.array(child, column, f"{name}.{field}")
            for (field, child), column in zip(node.fields, slots, strict=True)
        ]
        mask = self.mask(values) if nulls else None
        fields = list(node.type)
        return pa.StructArray.from_arrays(children, fields=fields, mask=mask, memory_pool=self.into)

    def rows(self, type_: Any, values: Sequence[Any]) -> Any:
        """Structs (or ``None``) to one struct array by rows, a slot tuple each, in pieces
        whose tuples and strings are still in the CPU cache when Arrow copies them."""
        if not values:
            return pa.array([], type_, memory_pool=self.into)
        pieces = []
        for start in range(0, len(values), _PIECE_ROWS):
            part = values[start : start + _PIECE_ROWS]
            rows: list[Any]
            try:
                rows = list(map(_astuple, part))
            except TypeError:  # ``None`` items: Arrow takes ``None`` for a null struct
                rows = [v if v is None else _astuple(v) for v in part]
            pieces.append(pa.array(rows, type_, memory_pool=self.into))
        if len(pieces) == 1:
            return pieces[0]
        if any(isinstance(piece, pa.ChunkedArray) for piece in pieces):
            raise pa.ArrowInvalid("a piece outgrew one array")  # by fields, which says where
        return pa.concat_arrays(pieces, memory_pool=self.into)

    def mask(self, values: Sequence[Any]) -> Any:
        return pa.array([v is None for v in values], pa.bool_(), memory_pool=self.into)

    def fit(self, array: Any, name: str) -> Any:  # a batch's part of one column, fit for one array
        # Beyond 2 GiB of text pa.array returns a ChunkedArray, which no list or struct takes.
        if isinstance(array, pa.ChunkedArray) or array.nbytes > self.limit:
            raise TooBig(name)
        return array


def _slots(record: Record, values: Sequence[Any]) -> tuple[list[list[Any]], bool]:
    """Per field of ``record``, its values over ``values`` (structs, or ``None``: null),
    and whether any of ``values`` is ``None``."""
    # ``map`` over a getter allocates nothing per row (a tuple per row, as ``astuple``
    # and a transpose make, makes the garbage collector the cost).
    try:
        return [list(map(get, values)) for get in record.getters], False
    except (AttributeError, TypeError):
        if None not in values:
            raise
    return [[None if v is None else get(v) for v in values] for get in record.getters], True


def _timestamps(values: Sequence[Any], name: str, into: Any) -> Any:
    """Wire strings, stored datetimes and ``None`` to ``timestamp[us, UTC]``, parsed as
    attribute access parses them; Arrow reads a naive datetime (no offset) as UTC."""
    for kind in set(map(type, values)) - {str, type(None), datetime}:
        if not issubclass(kind, datetime):  # only a struct built in Python holds a datetime
            raise TypeError(f"{name}: {kind.__name__} is not a timestamp")
        values = [v.isoformat() if type(v) is kind else v for v in values]  # pandas.Timestamp
    wire = [value or None for value in values]  # "" is no time
    try:
        moments = _datetimes(wire)
    except msgspec.ValidationError as exc:  # "Invalid RFC3339 … - at `$[row]`", no value
        row = int(str(exc).rpartition("$[")[2].partition("]")[0])
        raise Unfit(name, row, "is not an RFC 3339 timestamp") from None
    array = pa.array(moments, _UTC_US, memory_pool=into)
    outside = pc.or_(pc.less(array, _FIRST), pc.greater(array, _LAST))
    if pc.any(outside).as_py():
        raise Unfit(name, pc.index(outside, True).as_py(), "is outside the years 1 to 9999 in UTC")
    return array
