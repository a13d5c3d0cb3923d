"""Bytes in, structs out: one cached decoder per type, errors mapped to ours.

The hot path is one plain ``Decoder.decode``, nothing before or after it: any
scan of the body costs a third of the decode of a 2.3 MB crawl info, so none is
made. ``""`` timestamps need no help here: timestamp fields are ``str`` for
msgspec and parsed on access (:mod:`uprock_async._timestamps`).

The services also send ``null`` where the documents promise a value (a Go
service sends ``null`` for an empty slice; the official ScreenshotCenter SDK's
fixtures send ``"error": null``). When, and only when, the plain decode fails on
a ``null``, the lenient path runs, here and nowhere else: the body is decoded
into plain Python objects, walked along the target type, and every ``null`` of
a field that has a default but does not accept ``None`` is dropped, so that the
default applies; then ``msgspec.convert`` builds the structs. Fields that
accept ``None`` keep it; required fields (the identifier of an object:
``Job.job_id``, ``Screenshot.id`` …) keep their ``null`` and fail with msgspec's
own message and JSON path. Free-form values (``dict[str, Any]``, ``Any``) are
never looked into, so user data comes back exactly as sent. The walk plan of
each target type is built once, from ``msgspec.inspect``, and cached.

Every failure is a :class:`ResponseDecodeError` quoting msgspec's JSON path
(``$.data.screenshots[3].cost``) and a short excerpt; ``.body`` is always the
original bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from ._errors import ResponseDecodeError, excerpt

__all__ = ["decode", "encode", "json_body", "lenient_plan"]

T = TypeVar("T")

_Fix = Callable[[Any], None]  # repairs one decoded JSON value in place

_encoder = msgspec.json.Encoder()
_plans: dict[Any, _Fix | None] = {}
# msgspec's wording for a null where the type does not allow one.
_GOT_NULL = "got `null`"


def decode(
    decoder: msgspec.json.Decoder[T],
    body: bytes,
    *,
    status: int = 200,
    what: str = "response",
    redact: Callable[[str], str] | None = None,
) -> T:
    """Decode ``body`` with ``decoder``; a ``null`` where the type has a default
    takes the default (see the module docstring); anything else but the
    documented shape raises :class:`ResponseDecodeError` quoting the JSON path and
    a short excerpt (``redact`` scrubs the API key from it, should a server echo
    it back). ``.body`` is always the original bytes."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if _GOT_NULL not in str(exc):
            # Only nulls are forgiven: a wrong type or a missing field would fail
            # the lenient path the same way, so do not pay for it.
            raise _decode_error(exc, body, status, what, redact) from exc
        try:
            repaired: T = _lenient(decoder.type, body)
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as again:
            raise _decode_error(again, body, status, what, redact) from again
        return repaired
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise _decode_error(exc, body, status, what, redact) from exc


def _lenient(target: Any, body: bytes) -> Any:
    data = msgspec.json.decode(body)
    fix = lenient_plan(target)
    if fix is not None:
        fix(data)
    return msgspec.convert(data, target)


def _decode_error(
    exc: Exception,
    body: bytes,
    status: int,
    what: str,
    redact: Callable[[str], str] | None,
) -> ResponseDecodeError:
    reason = str(exc)
    if redact is not None:
        reason = redact(reason)
    # excerpt() redacts the whole text before cutting and quoting it, so a key
    # that straddles the cut or contains a backslash is still caught.
    quoted = excerpt(body, redact=redact)
    if isinstance(exc, msgspec.ValidationError):
        message = f"{what} does not match the documented shape ({reason}); body: {quoted}"
    else:
        kind = "empty" if not body.strip() else "not valid JSON"
        message = f"{what} is {kind} ({reason}); body: {quoted}"
    return ResponseDecodeError(message, body=body, status_code=status)


# -- the lenient walk ------------------------------------------------------------------


def lenient_plan(target: Any) -> _Fix | None:
    """The cached in-place repair of a plain decoded value of type ``target``:
    drops the ``null`` of every field that has a default but does not accept
    ``None``. ``None`` when the type has no such field anywhere."""
    try:
        return _plans[target]
    except KeyError:
        pass
    except TypeError:  # an unhashable type: build the plan without caching it
        return _Planner().build(mi.type_info(target))
    plan = _plans[target] = _Planner().build(mi.type_info(target))
    return plan


def _accepts_none(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return _accepts_none(info.type)
    if isinstance(info, (mi.NoneType, mi.AnyType)):
        return True
    if isinstance(info, mi.LiteralType):
        return None in info.values
    if isinstance(info, mi.UnionType):
        return any(_accepts_none(member) for member in info.types)
    return False


class _StructFix:
    """Drops the droppable nulls of one object, then repairs its nested values."""

    __slots__ = ("drop", "nested")

    def __init__(self) -> None:
        self.drop: frozenset[str] = frozenset()
        self.nested: tuple[tuple[str, _Fix], ...] = ()

    def __call__(self, value: Any) -> None:
        if type(value) is not dict:
            return  # not an object: msgspec.convert reports it with its path
        if self.drop:
            drop = self.drop
            for key in [key for key, item in value.items() if item is None and key in drop]:
                del value[key]
        for key, fix in self.nested:
            item = value.get(key)
            if item is not None:
                fix(item)


def _each_item(fix: _Fix) -> _Fix:
    def each_item(value: Any) -> None:
        if type(value) is list:
            for item in value:
                fix(item)

    return each_item


def _each_value(fix: _Fix) -> _Fix:
    def each_value(value: Any) -> None:
        if type(value) is dict:
            for item in value.values():
                fix(item)

    return each_value


def _by_kind(object_fix: _Fix | None, array_fix: _Fix | None) -> _Fix:
    def by_kind(value: Any) -> None:
        if type(value) is dict:
            if object_fix is not None:
                object_fix(value)
        elif type(value) is list and array_fix is not None:
            array_fix(value)

    return by_kind


_ARRAYS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
_OBJECTS = (mi.StructType, mi.DictType)


class _Planner:
    """Builds the repair of one type from its ``msgspec.inspect`` description."""

    def __init__(self) -> None:
        # By node identity: a recursive struct refers back to its own node.
        self._structs: dict[int, _StructFix] = {}

    def build(self, info: mi.Type) -> _Fix | None:
        if isinstance(info, mi.Metadata):
            return self.build(info.type)
        if isinstance(info, mi.StructType):
            return self._struct(info)
        if isinstance(info, _ARRAYS):
            item = self.build(info.item_type)
            return None if item is None else _each_item(item)
        if isinstance(info, mi.DictType):
            value = self.build(info.value_type)
            return None if value is None else _each_value(value)
        if isinstance(info, mi.UnionType):
            return self._union(info)
        return None  # scalars, Any and free-form containers: left as sent

    def _struct(self, info: mi.StructType) -> _Fix | None:
        known = self._structs.get(id(info))
        if known is not None:
            return known
        fix = self._structs[id(info)] = _StructFix()
        if info.array_like:
            return None  # positional: a null cannot be dropped without shifting the rest
        fix.drop = frozenset(
            field.encode_name
            for field in info.fields
            if not field.required and not _accepts_none(field.type)
        )
        nested = []
        for field in info.fields:
            inner = self.build(field.type)
            if inner is not None:
                nested.append((field.encode_name, inner))
        fix.nested = tuple(nested)
        return fix if fix.drop or fix.nested else None

    def _union(self, info: mi.UnionType) -> _Fix | None:
        object_fix: _Fix | None = None
        array_fix: _Fix | None = None
        for member in info.types:
            while isinstance(member, mi.Metadata):
                member = member.type
            if isinstance(member, _OBJECTS) and object_fix is None:
                object_fix = self.build(member)
            elif isinstance(member, _ARRAYS) and array_fix is None:
                array_fix = self.build(member)
        if object_fix is None and array_fix is None:
            return None
        return _by_kind(object_fix, array_fix)


# -- requests -----------------------------------------------------------------------------


def encode(value: Any) -> bytes:
    """JSON-encode a request body (structs, dicts, lists)."""
    return _encoder.encode(value)


def json_body(**fields: Any) -> bytes:
    """A JSON object of the fields that are not ``None``."""
    return _encoder.encode({k: v for k, v in fields.items() if v is not None})
