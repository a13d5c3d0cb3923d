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

The table comes in chunks of a few hundred job details (rows convert a batch at a
time, small enough to stay in the CPU cache). Its buffers come from pyarrow's default
memory pool, or from the system allocator where that pool is mimalloc, which kept
about twice the table resident.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from .concurrency import Outcome

_EXTRA = "pip install 'uprock-async[frames]'"
try:
    import pyarrow as pa
    import pyarrow.compute as pc
except ImportError as exc:  # pragma: no cover - exercised in a test that hides pyarrow
    raise ImportError(f"uprock_async.frames needs pyarrow: {_EXTRA}") from exc

from ._frames_columns import (  # noqa: E402 - after the check that pyarrow is there
    Record,
    TooBig,
    Unfit,
    columns,
    flat_fields,
    leaf,
    plain,
    plan_of,
    pool,
    weight,
)

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = ["to_arrow", "to_pandas", "to_polars"]

# The most rows of one chunk of the table.
_BATCH_ROWS = 16_384
# About the most values (fields, and the fields of each header, cookie …) converted at
# once: a batch's Python objects then stay in the CPU cache while Arrow copies them,
# which made job details ~1.5x faster than 16,384 rows at once.
_BATCH_VALUES = 65_536
# The most bytes one array of a batch may hold: 32-bit string offsets address 2 GiB
# (beyond, pyarrow returns a ChunkedArray, which no list or struct array takes).
_MAX_ARRAY_BYTES = 2**31 - 1


def _model_arrays(record: Record, values: list[Any], into: Any) -> list[Any]:
    """The model columns over ``values`` as chunked arrays, one batch at a time; a batch
    with a column that would outgrow one Arrow array is halved until each part fits."""
    sample = next((v for v in values if v is not None), None)
    rows = max(1, min(_BATCH_ROWS, _BATCH_VALUES // weight(record, sample)))
    batches: list[list[Any]] = []
    todo = [(s, min(s + rows, len(values))) for s in range(0, len(values), rows)]
    todo.reverse()  # popped from the end, in row order
    while todo:
        start, stop = todo.pop()
        try:
            batches.append(columns(record, values[start:stop], _MAX_ARRAY_BYTES, into))
        except Unfit as exc:
            raise exc.at(start + exc.args[1]) from None
        except TooBig as exc:
            if stop - start == 1:
                what = f"holds more than one Arrow array can ({_MAX_ARRAY_BYTES:,} bytes)"
                raise Unfit(exc.args[0], start, what) from None
            todo += [((start + stop) // 2, stop), (start, (start + stop) // 2)]
    types = [type_ for _, type_ in flat_fields(record)]
    return [pa.chunked_array([b[i] for b in batches], t) for i, t in enumerate(types)]


# -- rows: models, outcomes and failures --------------------------------------------------


def _split(items: Iterable[Any]) -> tuple[list[Any], list[BaseException | None], list[Any] | None]:
    """``(values, errors, outcomes)``: per row the model or ``None``, the exception or
    ``None``; ``outcomes`` holds the rows' outcomes when any row is one, else ``None``."""
    items = list(items)
    kinds = set(map(type, items))
    if len(kinds) == 1 and issubclass(next(iter(kinds)), msgspec.Struct):  # all models
        return items, [None] * len(items), None
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


def _item_array(items: list[Any], text: Any, into: Any) -> Any:
    """The outcomes' items: integers (crawl ids) stay integers, anything else is text."""
    if set(map(type, items)) <= {int, type(None)}:
        return leaf(plain(pa.int64()), items, "item", _MAX_ARRAY_BYTES, into)
    return pa.array([None if i is None else str(i) for i in items], text, memory_pool=into)


def _failures(errors: list[BaseException | None], into: Any) -> dict[str, Any]:
    """The ``error`` and ``error_message`` columns (``string``): the failed rows' exception."""
    if not any(errors):
        none = pa.nulls(len(errors), pa.string(), memory_pool=into)
        return {"error": none, "error_message": none}
    names = [None if e is None else type(e).__name__ for e in errors]
    messages = [None if e is None else str(e) for e in errors]
    return {
        "error": pa.array(names, pa.string(), memory_pool=into),
        "error_message": pa.array(messages, pa.string(), memory_pool=into),
    }


def to_arrow(items: Iterable[Any], *, kind: type[msgspec.Struct] | None = None) -> pa.Table:
    """A ``pyarrow.Table`` with one row per item, in order (see the module docstring).

    ``kind`` names the model when no item shows it (empty or all failed).
    :class:`TypeError`: items of two models, an item that is no model, ``Outcome`` or
    exception, a timestamp field holding no string or ``datetime``. :class:`ValueError`
    (naming column and row): a timestamp attribute access refuses or no UTC
    ``datetime`` shows, an integer outside 64 bits, one row's column over 2 GiB.
    """
    return _table(items, kind, pa.string())


def _table(items: Iterable[Any], kind: type[msgspec.Struct] | None, text: Any) -> pa.Table:
    """:func:`to_arrow` with text columns of Arrow type ``text``."""
    values, errors, outcomes = _split(items)
    model = _kind(values, kind)
    if not values and model is None:
        return pa.table({})
    into = pool()
    names: list[str] = []
    arrays: list[Any] = []
    try:
        if outcomes is not None:
            names += ["index", "item"]
            indexes = [o and o.index for o in outcomes]
            arrays.append(pa.array(indexes, pa.int64(), memory_pool=into))
            arrays.append(_item_array([o and o.item for o in outcomes], text, into))
        if model is not None:
            record = plan_of(model, text)
            names += [name for name, _ in flat_fields(record)]
            arrays += _model_arrays(record, values, into)
    except Unfit as exc:  # (column, row, what)
        raise ValueError("{} of row {} {}".format(*exc.args)) from None
    for name, failed in _failures(errors, into).items():
        if name in names:  # the model's own field: a failed row has none of its own
            at = names.index(name)
            own = pc.cast(arrays[at], pa.string(), memory_pool=into)
            failed = pc.coalesce(failed, own, memory_pool=into)
        else:
            names.append(name)
            arrays.append(None)
            at = len(arrays) - 1
        arrays[at] = pc.cast(failed, text, memory_pool=into)
    return pa.Table.from_arrays(arrays, names=names)


def to_polars(
    items: Iterable[Any], *, kind: type[msgspec.Struct] | None = None
) -> polars.DataFrame:
    """:func:`to_arrow` as a ``polars.DataFrame`` (zero-copy where polars allows).

    The columns keep the table's chunks (``df.rechunk()`` makes them contiguous): a
    copy into one chunk per column would hold the table twice, briefly.
    """
    try:
        import polars
    except ImportError as exc:
        raise ImportError(f"to_polars() needs polars: {_EXTRA} polars") from exc
    # polars keeps text as string views: given views, it takes Arrow's buffers as they
    # are, where ``string`` columns cost a view built per value (+15% on job details).
    views = hasattr(pa, "string_view") and int(polars.__version__.split(".")[0]) >= 1
    table = _table(items, kind, pa.string_view() if views else pa.string())
    frame = polars.from_arrow(table, rechunk=False)
    assert isinstance(frame, polars.DataFrame)  # a table gives a DataFrame, never a Series
    return frame


def _pandas_type(type_: Any) -> Any:
    import pandas

    # Nullable dtypes: a failed row must not turn ``result.status_code`` into floats.
    if pa.types.is_integer(type_):
        return pandas.Int64Dtype()
    if pa.types.is_boolean(type_):
        return pandas.BooleanDtype()
    # Lists stay Arrow: NumPy arrays of dicts cost a Python object per header and
    # cookie field, which made to_pandas() 2.3x as slow as to_arrow() on job details.
    return pandas.ArrowDtype(type_) if pa.types.is_list(type_) else None


def to_pandas(
    items: Iterable[Any], *, kind: type[msgspec.Struct] | None = None
) -> pandas.DataFrame:
    """:func:`to_arrow` as a ``pandas.DataFrame``.

    Integers and booleans use pandas' nullable dtypes (``Int64``, ``boolean``),
    so a failed row leaves them integers; timestamps are ``datetime64[us, UTC]``;
    list columns are Arrow lists (``pandas.ArrowDtype``, no Python object per header
    or cookie until read): a cell reads as a list, of dicts for headers and cookies.
    """
    try:
        import pandas  # noqa: F401 - only to fail early with the extra's name
    except ImportError as exc:
        raise ImportError(f"to_pandas() needs pandas: {_EXTRA} pandas") from exc
    frame: pandas.DataFrame = to_arrow(items, kind=kind).to_pandas(types_mapper=_pandas_type)
    return frame
