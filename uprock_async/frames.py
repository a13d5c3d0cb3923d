"""Results as tables: :func:`to_arrow`, :func:`to_polars`, :func:`to_pandas` (extra ``frames``).

::

    from uprock_async.frames import to_arrow, to_polars

    table = to_arrow(details)                  # pyarrow.Table, one row per item
    df = to_polars(crawl.screenshots)

Items are models (``JobDetail``, ``Job``, ``Crawl``, ``Screenshot``, ``Batch``, or
any other struct of this package), :class:`~uprock_async.Outcome` objects holding
them, or exceptions standing in for failed items (what ``job_details(...,
return_exceptions=True)`` returns). One row per item, in input order.

Columns:

* The JSON field names (``return``, not ``return_``). Nested objects are
  flattened with dots (``job.job_id``, ``result.status_code``); inside a list
  they stay structs (``response_headers`` is ``list<struct<name, value>>``).
* Timestamps (the fields ending in ``_at``) are ``timestamp[us, tz=UTC]``, read by
  attribute access's parser (msgspec's), so both refuse the same strings. No offset
  is UTC, nanoseconds round to microseconds, ``""`` and ``null`` are null; a time
  whose UTC instant is outside the years 1 to 9999 (no ``datetime`` shows it) is refused.
* Integers are ``int64``; msgspec decodes any size, an integer outside 64 bits
  is refused (the schema comes from the model, not from the values).
* Fields of free-form JSON (``placement``, ``output_data``, ``steps``, a
  tracker's ``value``) are JSON text.
* ``error`` and ``error_message`` close every table: a failed item is a row of
  nulls but for the exception's class name and its message. A model with its
  own ``error`` field (``Screenshot``, ``Crawl``, ``Batch``) shares that column.
* ``index`` and ``item`` open the table when the input holds outcomes.

The columns come from the model type, not from the values, so a table of
partial failures has the same schema as one without. When no item says what
the model is (an empty or all-failed input), pass ``kind=JobDetail``; without
it an empty input gives a table with no columns, and failures only the error
columns.

A value a column cannot hold is a :class:`ValueError` naming column and row, never
the value (a server may echo the API key there); any amount of text converts.
"""

from __future__ import annotations

import contextlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timezone
from functools import cache, partial
from itertools import accumulate, chain
from operator import attrgetter
from types import MemberDescriptorType
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
import msgspec.inspect as mi

from .concurrency._fanout import Outcome

_EXTRA = "pip install 'uprock-async[frames]'"
try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as exc:  # pragma: no cover - exercised in a test that hides pyarrow
    raise ImportError(f"uprock_async.frames needs pyarrow: {_EXTRA}") from exc

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = ["to_arrow", "to_pandas", "to_polars"]

# Rows converted at once: bounds the temporary Python lists and tuples.
_BATCH_ROWS = 16_384
# The most bytes one array of a batch may hold: 32-bit string offsets address 2 GiB
# (beyond, pyarrow returns a ChunkedArray, which no list or struct array takes).
_MAX_ARRAY_BYTES = 2**31 - 1
_UTC_US = pa.timestamp("us", tz="UTC")
# What a UTC datetime can show: a frame beyond cannot be printed or turned into Python.
_FIRST = pa.scalar(datetime.min.replace(tzinfo=timezone.utc), _UTC_US)
_LAST = pa.scalar(datetime.max.replace(tzinfo=timezone.utc), _UTC_US)
_INT64 = range(-(2**63), 2**63)
# The parser attribute access uses (``_timestamps``), over a whole column in one C call.
_datetimes = partial(msgspec.convert, type=list[datetime | None])
_to_json = msgspec.json.Encoder().encode
# Fields from which a struct inside a list is converted by rows (slot tuples): on job
# details 9-field cookies convert ~30% faster so, 2-field headers ~35% slower.
_BY_ROWS_FROM = 5


class _Unfit(Exception):
    """``(column, row, what)``: a value the column cannot hold (row in the values at hand)."""

    def at(self, row: int) -> _Unfit:
        return _Unfit(self.args[0], row, self.args[2])


class _TooBig(Exception):
    """``(column,)`` of a batch would outgrow one Arrow array (``_MAX_ARRAY_BYTES``)."""


# -- the plan: one node per field, derived from the model type ------------------------


class _Leaf(NamedTuple):
    type: Any  # pyarrow.DataType
    convert: Callable[[Sequence[Any], str], Any]  # (values, column name) -> pyarrow.Array
    plain: bool = False  # Arrow takes the Python values as they are


class _List(NamedTuple):
    type: Any
    item: _Node


class _Record(NamedTuple):
    type: Any  # the struct type, used where the record sits inside a list
    fields: tuple[tuple[str, _Node], ...]  # (JSON name, node), in slot order
    getters: tuple[Callable[[Any], Any], ...]  # each field's slot value, in the same order
    by_rows: bool  # Arrow converts whole rows (slot tuples) rather than field by field


_Node = _Leaf | _List | _Record


def _plain(type_: Any) -> _Leaf:
    return _Leaf(type_, lambda values, _name: pa.array(values, type_), plain=True)


def _json_text(values: Sequence[Any], _name: str) -> Any:
    return pa.array([None if v is None else _to_json(v) for v in values], pa.string())


def _timestamp_marked(t: mi.Type) -> bool:
    # Fields declared ``Timestamp`` in the models are ``str`` to msgspec, marked
    # in their metadata; ``datetime`` fields are timestamps too, whatever their name.
    return isinstance(t, mi.DateTimeType) or (
        isinstance(t, mi.Metadata) and (t.extra or {}).get("uprock_async") == "timestamp"
    )


_SCALARS: dict[type[mi.Type], Any] = {
    mi.StrType: pa.string(),
    mi.IntType: pa.int64(),
    mi.FloatType: pa.float64(),
    mi.BoolType: pa.bool_(),
}
_LISTS = (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)


def _node(t: mi.Type, seen: frozenset[type]) -> _Node:
    if isinstance(t, mi.UnionType):
        members = [m for m in t.types if not isinstance(m, mi.NoneType)]
        if len(members) != 1:
            if {type(m) for m in members} <= {mi.IntType, mi.FloatType}:
                return _plain(pa.float64())  # ``int | float``: a number
            return _Leaf(pa.string(), _json_text)
        t = members[0]
    if _timestamp_marked(t):
        return _Leaf(_UTC_US, _timestamps)
    if isinstance(t, mi.Metadata):
        t = t.type
    if type(t) in _SCALARS:
        return _plain(_SCALARS[type(t)])
    if isinstance(t, mi.LiteralType) and all(type(v) is str for v in t.values):
        return _plain(pa.string())
    if isinstance(t, _LISTS):
        item = _node(t.item_type, seen)
        return _List(pa.list_(item.type), item)
    if isinstance(t, mi.StructType) and t.cls not in seen:
        return _plan(t, seen | {t.cls})
    return _Leaf(pa.string(), _json_text)  # Any, dicts, a recursive struct …


def _slot_getter(cls: type, name: str, index: int) -> Callable[[Any], Any]:
    """A function reading field ``name`` of a ``cls`` as stored in its slot: a timestamp
    field's descriptor parses on every read, ``astuple`` reads the slot itself, so the
    column gets the wire string (or a stored ``datetime``), parsed once per column."""
    for klass in cls.__mro__:
        if name in vars(klass):
            if isinstance(vars(klass)[name], MemberDescriptorType):
                return attrgetter(name)  # the plain slot: no tuple per row
            break
    astuple = msgspec.structs.astuple
    return lambda obj: astuple(obj)[index]


def _plan(info: mi.StructType, seen: frozenset[type]) -> _Record:
    fields = tuple((f.encode_name, _node(f.type, seen)) for f in info.fields)
    getters = tuple(_slot_getter(info.cls, f.name, i) for i, f in enumerate(info.fields))
    plain = all(isinstance(node, _Leaf) and node.plain for _, node in fields)
    struct = pa.struct([(name, node.type) for name, node in fields])
    return _Record(struct, fields, getters, plain and len(fields) >= _BY_ROWS_FROM)


@cache
def _plan_of(cls: type[msgspec.Struct]) -> _Record:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return _plan(info, frozenset({cls}))


def _flat_fields(record: _Record, prefix: str = "") -> list[tuple[str, Any]]:
    """The (dotted name, type) of each column ``record`` becomes at the top level."""
    out: list[tuple[str, Any]] = []
    for name, node in record.fields:
        if isinstance(node, _Record):
            out += _flat_fields(node, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", node.type))
    return out


# -- building arrays -------------------------------------------------------------------


def _slots(record: _Record, values: Sequence[Any]) -> Iterator[list[Any]]:
    """Per field of ``record``, its values over ``values`` (structs, or ``None``: null)."""
    if None in values:
        for get in record.getters:
            yield [None if v is None else get(v) for v in values]
    else:
        # ``map`` over a getter allocates nothing per row: building a tuple per
        # row (``astuple``) and transposing made the garbage collector the cost.
        for get in record.getters:
            yield list(map(get, values))


def _columns(record: _Record, values: Sequence[Any], prefix: str = "") -> list[Any]:
    """The top-level arrays of ``record`` over ``values``, nested records flattened."""
    arrays: list[Any] = []
    for (name, node), column in zip(record.fields, _slots(record, values), strict=True):
        if isinstance(node, _Record):
            arrays += _columns(node, column, f"{prefix}{name}.")
        else:
            arrays.append(_array(node, column, f"{prefix}{name}"))
    return arrays


def _array(node: _Node, values: Sequence[Any], name: str) -> Any:
    if isinstance(node, _Leaf):
        try:
            return _fit(node.convert(values, name), name)
        except (OverflowError, pa.ArrowInvalid):  # msgspec decodes ints of any size
            for row in (r for r, v in enumerate(values) if type(v) is int and v not in _INT64):
                raise _Unfit(name, row, "is an integer outside 64 bits") from None
            raise
    if isinstance(node, _Record):  # a struct inside a list
        return _struct(node, values, name)
    mask = None
    if None in values:
        mask = pa.array([v is None for v in values])
        values = [() if v is None else v for v in values]
    ends = list(accumulate(map(len, values), initial=0))
    try:
        items = _array(node.item, list(chain.from_iterable(values)), name)
    except _Unfit as exc:
        raise exc.at(bisect_right(ends, exc.args[1]) - 1) from None  # the item's row
    offsets = pa.array(ends, pa.int32())
    return pa.ListArray.from_arrays(offsets, items, type=node.type, mask=mask)


def _struct(node: _Record, values: Sequence[Any], name: str) -> Any:
    if node.by_rows:
        # Cookies, millions: a slot tuple per row, converted in C++, beats a pass per field.
        astuple = msgspec.structs.astuple
        if None in values:
            rows = [None if v is None else astuple(v) for v in values]
        else:
            rows = list(map(astuple, values))
        with contextlib.suppress(OverflowError, pa.ArrowInvalid):  # else by fields, named
            return _fit(pa.array(rows, node.type), name)
    children = [
        _array(child, column, f"{name}.{field}")
        for (field, child), column in zip(node.fields, _slots(node, values), strict=True)
    ]
    mask = pa.array([v is None for v in values]) if None in values else None
    return pa.StructArray.from_arrays(children, fields=list(node.type), mask=mask)


def _fit(array: Any, name: str) -> Any:  # a batch's part of one column, fit for one array
    if isinstance(array, pa.ChunkedArray) or array.nbytes > _MAX_ARRAY_BYTES:
        raise _TooBig(name)
    return array


def _timestamps(values: Sequence[Any], name: str) -> Any:
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
        raise _Unfit(name, row, "is not an RFC 3339 timestamp") from None
    array = pa.array(moments, _UTC_US)
    outside = pc.or_(pc.less(array, _FIRST), pc.greater(array, _LAST))
    if pc.any(outside).as_py():
        raise _Unfit(name, pc.index(outside, True).as_py(), "is outside the years 1 to 9999 in UTC")
    return array


def _model_arrays(record: _Record, values: list[Any]) -> list[Any]:
    """The model columns over ``values`` as chunked arrays, one batch at a time; a batch
    with a column that would outgrow one Arrow array is halved until each part fits."""
    batches: list[list[Any]] = []
    todo = [(s, min(s + _BATCH_ROWS, len(values))) for s in range(0, len(values), _BATCH_ROWS)]
    while todo:
        start, stop = todo.pop(0)
        try:
            batches.append(_columns(record, values[start:stop]))
        except _Unfit as exc:
            raise exc.at(start + exc.args[1]) from None
        except _TooBig as exc:
            if stop - start == 1:
                what = f"holds more than one Arrow array can ({_MAX_ARRAY_BYTES:,} bytes)"
                raise _Unfit(exc.args[0], start, what) from None
            todo[:0] = [(start, (start + stop) // 2), ((start + stop) // 2, stop)]
    types = [type_ for _, type_ in _flat_fields(record)]
    return [pa.chunked_array([b[i] for b in batches], t) for i, t in enumerate(types)]


# -- rows: models, outcomes and failures --------------------------------------------------


def _split(items: Iterable[Any]) -> tuple[list[Any], list[BaseException | None], list[Any] | None]:
    """``(values, errors, outcomes)``: per row the model or ``None``, the exception or
    ``None``; ``outcomes`` holds the rows' outcomes when any row is one, else ``None``."""
    values: list[Any] = []
    errors: list[BaseException | None] = []
    outcomes: list[Any] = []
    any_outcome = False
    error: BaseException | None
    for item in items:
        outcome = None
        if isinstance(item, Outcome):
            outcome, any_outcome = item, True
            value, error = (None, item.error) if item.error is not None else (item.value, None)
        elif isinstance(item, BaseException):
            value, error = None, item
        else:
            value, error = item, None
        if error is None and not isinstance(value, msgspec.Struct):
            raise TypeError(
                "to_arrow() takes models (JobDetail, Job, Crawl, Screenshot, Batch …), "
                f"Outcomes of them, or exceptions; got {type(value).__name__}"
            )
        values.append(value)
        errors.append(error)
        outcomes.append(outcome)
    return values, errors, outcomes if any_outcome else None


def _kind(values: list[Any], kind: type[msgspec.Struct] | None) -> type[msgspec.Struct] | None:
    found = list(dict.fromkeys(type(v) for v in values if v is not None))
    if kind is not None:
        found = list(dict.fromkeys([kind, *found]))
    if len(found) > 1:
        first, second = (cls.__name__ for cls in found[:2])
        raise TypeError(f"to_arrow() makes one table per kind of model; got {first} and {second}")
    return found[0] if found else None


def _item_array(items: list[Any]) -> Any:
    """The outcomes' items: integers (crawl ids) stay integers, anything else is text."""
    if set(map(type, items)) <= {int, type(None)}:
        return _array(_plain(pa.int64()), items, "item")
    return pa.array([None if i is None else str(i) for i in items], pa.string())


def to_arrow(items: Iterable[Any], *, kind: type[msgspec.Struct] | None = None) -> pa.Table:
    """A ``pyarrow.Table`` with one row per item, in order (see the module docstring).

    ``kind`` names the model when no item shows it (empty or all failed).
    :class:`TypeError`: items of two models, an item that is no model, ``Outcome`` or
    exception, a timestamp field holding no string or ``datetime``. :class:`ValueError`
    (naming column and row): a timestamp attribute access refuses or no UTC
    ``datetime`` shows, an integer outside 64 bits, one row's column over 2 GiB.
    """
    values, errors, outcomes = _split(items)
    model = _kind(values, kind)
    if not values and model is None:
        return pa.table({})
    names: list[str] = []
    arrays: list[Any] = []
    try:
        if outcomes is not None:
            names += ["index", "item"]
            arrays.append(pa.array([o and o.index for o in outcomes], pa.int64()))
            arrays.append(_item_array([o and o.item for o in outcomes]))
        if model is not None:
            record = _plan_of(model)
            names += [name for name, _ in _flat_fields(record)]
            arrays += _model_arrays(record, values)
    except _Unfit as exc:  # (column, row, what)
        raise ValueError("{} of row {} {}".format(*exc.args)) from None
    failures = {
        "error": pa.array([None if e is None else type(e).__name__ for e in errors], pa.string()),
        "error_message": pa.array([None if e is None else str(e) for e in errors], pa.string()),
    }
    for name, failed in failures.items():
        if name in names:  # the model's own field: a failed row has none of its own
            at = names.index(name)
            arrays[at] = pc.coalesce(failed, pc.cast(arrays[at], pa.string()))
        else:
            names.append(name)
            arrays.append(failed)
    return pa.Table.from_arrays(arrays, names=names)


def to_polars(
    items: Iterable[Any], *, kind: type[msgspec.Struct] | None = None
) -> polars.DataFrame:
    """:func:`to_arrow` as a ``polars.DataFrame`` (zero-copy where polars allows)."""
    try:
        import polars
    except ImportError as exc:
        raise ImportError(f"to_polars() needs polars: {_EXTRA} polars") from exc
    return polars.DataFrame(to_arrow(items, kind=kind))


def _pandas_type(type_: Any) -> Any:
    import pandas

    # Nullable dtypes: a failed row must not turn ``result.status_code`` into floats.
    if pa.types.is_integer(type_):
        return pandas.Int64Dtype()
    return pandas.BooleanDtype() if pa.types.is_boolean(type_) else None


def to_pandas(
    items: Iterable[Any], *, kind: type[msgspec.Struct] | None = None
) -> pandas.DataFrame:
    """:func:`to_arrow` as a ``pandas.DataFrame``.

    Integers and booleans use pandas' nullable dtypes (``Int64``, ``boolean``),
    so a failed row leaves them integers; timestamps are ``datetime64[us, UTC]``;
    list columns hold arrays.
    """
    try:
        import pandas  # noqa: F401 - only to fail early with the extra's name
    except ImportError as exc:
        raise ImportError(f"to_pandas() needs pandas: {_EXTRA} pandas") from exc
    frame: pandas.DataFrame = to_arrow(items, kind=kind).to_pandas(types_mapper=_pandas_type)
    return frame
