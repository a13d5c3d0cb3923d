"""The null leniency: a ``null`` in a field that has a default gives the default.

The services send ``null`` where the documents promise a value (a Go service
sends ``null`` for an empty slice; the official ScreenshotCenter SDK's fixtures
send ``"error": null``). When the plain decode fails on a ``null``,
:func:`uprock_async._codec.decode` takes the twin (:mod:`uprock_async._twins`,
the fast path) if it can, else the walk here. Both give one result; the walk is
the reference.

The walk: the body is decoded into plain Python objects, walked along the target
type, and every ``null`` of a field that has a default but does not accept
``None`` is dropped, so that the default applies; then ``msgspec.convert``
builds the structs. Fields that accept ``None`` keep it; required fields (the
identifier of an object: ``Job.job_id``, ``Screenshot.id`` …) keep their
``null`` and fail with msgspec's own message and JSON path. Free-form values
(``dict[str, Any]``, ``Any``) are never looked into, so user data comes back
exactly as sent. The walk plan of each target type is built once, from
``msgspec.inspect``, and cached.

Each null the walk drops is remembered, per struct type and for the whole
process (:func:`learned`): those are the fields the twins accept ``null`` in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec.inspect as mi

__all__ = ["ARRAYS", "GOT_NULL", "accepts_none", "learned", "lenient_plan", "version"]

_Fix = Callable[[Any], None]  # repairs one decoded JSON value in place

#: msgspec's wording for a null where the type does not allow one.
GOT_NULL = "got `null`"

_plans: dict[Any, _Fix | None] = {}
# Per struct type (a generic one as its alias, as msgspec.inspect names it): the
# wire names of the fields the walk has dropped a null from. Only ever grows.
_seen: dict[Any, set[str]] = {}


class _Version:
    """Bumped whenever a field is learned: twins built before it are rebuilt."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


_version = _Version()


def version() -> int:
    """How many times a field has been learned: a twin built before a change is stale."""
    return _version.value


def learned(struct: Any) -> frozenset[str]:
    """The wire names of the fields of ``struct`` (a class, or a generic alias) the
    walk has dropped a ``null`` from."""
    return frozenset(_seen.get(struct, ()))


# -- the walk --------------------------------------------------------------------------


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


def accepts_none(info: mi.Type) -> bool:
    if isinstance(info, mi.Metadata):
        return accepts_none(info.type)
    if isinstance(info, (mi.NoneType, mi.AnyType)):
        return True
    if isinstance(info, mi.LiteralType):
        return None in info.values
    if isinstance(info, mi.UnionType):
        return any(accepts_none(member) for member in info.types)
    return False


class _StructFix:
    """Drops the droppable nulls of one object, then repairs its nested values."""

    __slots__ = ("drop", "nested", "seen")

    def __init__(self, seen: set[str]) -> None:
        self.drop: frozenset[str] = frozenset()
        self.nested: tuple[tuple[str, _Fix], ...] = ()
        self.seen = seen  # shared by every plan that meets this struct type

    def __call__(self, value: Any) -> None:
        if type(value) is not dict:
            return  # not an object: msgspec.convert reports it with its path
        if self.drop:
            drop = self.drop
            dropped = [key for key, item in value.items() if item is None and key in drop]
            for key in dropped:
                del value[key]
            if dropped and not self.seen.issuperset(dropped):
                self.seen.update(dropped)
                _version.value += 1
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


ARRAYS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)
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
        if isinstance(info, ARRAYS):
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
        fix = self._structs[id(info)] = _StructFix(_seen.setdefault(info.cls, set()))
        if info.array_like:
            return None  # positional: a null cannot be dropped without shifting the rest
        fix.drop = frozenset(
            field.encode_name
            for field in info.fields
            if not field.required and not accepts_none(field.type)
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
            elif isinstance(member, ARRAYS) and array_fix is None:
                array_fix = self.build(member)
        if object_fix is None and array_fix is None:
            return None
        return _by_kind(object_fix, array_fix)
