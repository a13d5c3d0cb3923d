"""The twins: nulls to defaults at the speed of a plain decode.

Each struct type of a target gets a twin: a subclass with the same slots, in which
every field the walk (:mod:`uprock_async._lenient`) has already dropped a
``null`` from also accepts ``null``. The body is decoded once, in C, into the
twins; then one generated function puts the defaults in place (a fresh value
from each ``default_factory``, as msgspec makes for an absent field) and gives
every object its real class back (``__class__`` assignment, which the identical
layout allows). Python runs once per object, never per field.

A body the twin decodes is one the walk decodes, to the same values: the twins
forbid unknown fields, so every byte is read as the walk's generic decode reads
it (a skipped value would escape its UTF-8 and number-range checks), and they
mirror only the value types whose typed decode and ``msgspec.convert`` agree
exactly (``bool``, ``int``, ``float``, ``str``, ``Literal``, ``Any``,
containers of them, and plain structs). Anything else (a ``null`` not learned
yet, an unknown field, a wrong type, a body too deep) is left to the walk, which
gives the result or the error exactly as before, and teaches the twins its
nulls. A type the twins cannot mirror (recursive, array-like, tagged, frozen,
with ``__post_init__`` or a descriptor in front of a field it must touch …)
always takes the walk.
"""

from __future__ import annotations

import keyword
import types
from collections.abc import Callable
from inspect import getattr_static
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
import msgspec.inspect as mi

from ._lenient import ARRAYS, GOT_NULL, accepts_none, learned, version

__all__ = ["Twin", "twin"]


class Twin:
    """The twin decode of one target type: ``twin(body)`` gives what the walk would."""

    __slots__ = ("decoder", "rest", "walk")

    #: Calls that skip the twin after it failed on anything but a new null (an
    #: unknown field, a wrong type): such a body tends to come again, and each
    #: failure is one more partial decode before the walk.
    REST = 16

    def __init__(self, decoder: msgspec.json.Decoder[Any], walk: Callable[[Any], None]) -> None:
        self.decoder = decoder
        self.walk = walk
        self.rest = 0

    def __call__(self, body: bytes) -> Any:
        value = self.decoder.decode(body)
        self.walk(value)
        return value

    def missed(self, error: Exception) -> None:
        """The twin could not decode a body: rest, unless the walk will teach it."""
        if GOT_NULL not in str(error):
            self.rest = self.REST


_twins: dict[Any, tuple[int, Twin | None]] = {}


def twin(target: Any) -> Twin | None:
    """The cached twin of ``target``, rebuilt when a field has been learned since;
    ``None`` when the walk must decide (nothing learned, or a type not mirrored)."""
    current = version()
    try:
        built = _twins.get(target)
    except TypeError:  # an unhashable type
        return None
    if built is None or built[0] != current:
        built = _twins[target] = (current, _build(target))
    found = built[1]
    if found is not None and found.rest:
        found.rest -= 1
        return None
    return found


def _build(target: Any) -> Twin | None:
    builder = _Builder()
    try:
        annotation, node = builder.build(target)
        if node is None or not builder.fixes:
            return None  # nothing the plain decode would not refuse again
        walk = _Emitter().function(node, repr(target))
        return Twin(msgspec.json.Decoder(annotation), walk)
    except (_Unsupported, TypeError, ValueError):
        return None  # a type msgspec or the twin cannot mirror: the walk decides


class _Unsupported(Exception):
    """A type the twin does not mirror."""


class _Struct:
    """One twinned struct: its real class, its twin, the fields whose learned nulls
    the walk repairs, and the fields holding structs it walks into."""

    __slots__ = ("children", "fixes", "real", "twin")

    def __init__(self, real: type[msgspec.Struct]) -> None:
        self.real = real
        self.twin: type[msgspec.Struct] = real
        self.fixes: list[msgspec.structs.FieldInfo] = []
        self.children: list[tuple[msgspec.structs.FieldInfo, _Node]] = []


class _Each:
    """Every item of a list, set, frozenset or ``tuple[X, ...]``, or every map value."""

    __slots__ = ("item", "values")

    def __init__(self, item: _Node, *, values: bool) -> None:
        self.item = item
        self.values = values


class _Union:
    """The members of a union that hold structs, told apart by their decoded type."""

    __slots__ = ("members",)

    def __init__(self, members: list[tuple[type, _Node]]) -> None:
        self.members = members


_Node = _Struct | _Each | _Union
_SEQUENCES = (list, set, frozenset)
_STRUCT_SETATTR = msgspec.Struct.__setattr__
_PLAIN = (mi.AnyType, mi.NoneType, mi.BoolType, mi.IntType, mi.FloatType, mi.StrType)


def _plain(info: mi.Type) -> bool:
    """True for the values whose typed decode and ``msgspec.convert`` agree exactly."""
    if isinstance(info, mi.Metadata):
        return _plain(info.type)
    if isinstance(info, (*_PLAIN, mi.LiteralType)):
        return True
    if isinstance(info, mi.UnionType):
        return all(_plain(member) for member in info.types)
    if isinstance(info, ARRAYS):
        return _plain(info.item_type)
    if isinstance(info, mi.TupleType):
        return all(_plain(item) for item in info.item_types)
    if isinstance(info, mi.DictType):
        return _plain(info.key_type) and _plain(info.value_type)
    return False


def _is_struct(annotation: Any) -> bool:
    cls = get_origin(annotation) or annotation
    return isinstance(cls, type) and issubclass(cls, msgspec.Struct)


def _decoded_type(annotation: Any) -> type:
    """The Python type a union member decodes to, for the walk to tell it apart."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if isinstance(annotation, type):
        return annotation  # a twin class
    origin = get_origin(annotation)
    if not isinstance(origin, type):
        raise _Unsupported(annotation)
    return origin


class _Builder:
    """Mirrors one target annotation: the twin annotation and the node to walk."""

    def __init__(self) -> None:
        self.structs: dict[Any, _Struct] = {}
        self.busy: set[Any] = set()
        self.fixes = 0

    def build(self, annotation: Any) -> tuple[Any, _Node | None]:
        if _is_struct(annotation):
            node = self.struct(annotation)
            return node.twin, node
        origin, args = get_origin(annotation), get_args(annotation)
        if origin is Annotated:
            inner, found = self.build(args[0])
            if found is None:
                return annotation, None
            return Annotated[(inner, *annotation.__metadata__)], found
        if origin is Union or origin is types.UnionType:
            built = [self.build(member) for member in args]
            members = [(_decoded_type(new), found) for new, found in built if found is not None]
            if not members:
                return annotation, None
            # Subscripted: ``|`` cannot spell a union of a runtime tuple of members.
            return Union[tuple(new for new, _ in built)], _Union(members)  # noqa: UP007
        var_tuple = origin is tuple and len(args) == 2 and args[1] is Ellipsis
        if (origin in _SEQUENCES and len(args) == 1) or var_tuple:
            inner, found = self.build(args[0])
            if found is None:
                return annotation, None
            generic: Any = origin
            mirrored = generic[inner, ...] if var_tuple else generic[inner]
            return mirrored, _Each(found, values=False)
        if origin is dict and len(args) == 2:
            if not _plain(mi.type_info(args[0])):
                raise _Unsupported(annotation)
            inner, found = self.build(args[1])
            if found is None:
                return annotation, None
            mapping: Any = origin
            return mapping[args[0], inner], _Each(found, values=True)
        if not _plain(mi.type_info(annotation)):
            raise _Unsupported(annotation)
        return annotation, None

    def struct(self, annotation: Any) -> _Struct:
        known = self.structs.get(annotation)
        if known is not None:
            return known
        if annotation in self.busy:
            raise _Unsupported("a recursive struct")
        real = get_origin(annotation) or annotation
        config = real.__struct_config__
        if (
            config.array_like
            or config.tag is not None
            or config.frozen
            or getattr(real, "__post_init__", None) is not None
            or real.__setattr__ is not _STRUCT_SETATTR
        ):
            raise _Unsupported(real)
        self.busy.add(annotation)
        fixable_names = learned(annotation)
        node = _Struct(real)
        spec = []
        described = mi.type_info(annotation)
        if not isinstance(described, mi.StructType):
            raise _Unsupported(annotation)
        infos = described.fields
        for field, info in zip(msgspec.structs.fields(annotation), infos, strict=True):
            new, found = self.build(field.type)
            fixable = field.encode_name in fixable_names
            if fixable and not info.required and not accepts_none(info.type):
                new = new | None
                node.fixes.append(field)
                self.fixes += 1
            else:
                fixable = False
            if found is not None:
                node.children.append((field, found))
            if (fixable or found is not None) and not _slot(real, field.name):
                raise _Unsupported(real, field.name)
            spec.append((field.name, new, _same_default(field)))
        twin = msgspec.defstruct(
            f"{real.__name__}Twin",
            spec,
            bases=(real,),
            module=__name__,
            gc=config.gc,
            forbid_unknown_fields=True,
        )
        _check_layout(annotation, twin)
        node.twin = twin
        self.busy.discard(annotation)
        self.structs[annotation] = node
        return node


def _same_default(field: msgspec.structs.FieldInfo) -> Any:
    """The twin's spelling of ``field``'s default and wire name."""
    if field.default_factory is not msgspec.NODEFAULT:
        return msgspec.field(default_factory=field.default_factory, name=field.encode_name)
    if field.default is not msgspec.NODEFAULT:
        return msgspec.field(default=field.default, name=field.encode_name)
    return msgspec.field(name=field.encode_name)


def _slot(real: type, name: str) -> bool:
    """True when ``name`` reads and writes the slot itself (not a descriptor in front)."""
    plain = name.isidentifier() and not keyword.iskeyword(name)
    return plain and isinstance(getattr_static(real, name, None), types.MemberDescriptorType)


def _check_layout(annotation: Any, twin: type[msgspec.Struct]) -> None:
    """The twin must be the real class's layout, fields and defaults exactly."""
    real = get_origin(annotation) or annotation
    if (
        twin.__basicsize__ != real.__basicsize__
        or twin.__struct_fields__ != real.__struct_fields__
        or twin.__struct_encode_fields__ != real.__struct_encode_fields__
    ):
        raise _Unsupported(real)
    for mine, theirs in zip(
        msgspec.structs.fields(twin), msgspec.structs.fields(annotation), strict=True
    ):
        if mine.default is not theirs.default or mine.default_factory is not theirs.default_factory:
            raise _Unsupported(real, mine.name)


_MAX_LOOPS = 16  # Python allows 20 statically nested blocks
_MAX_INDENT = 60
_MAX_LINES = 4000


class _Emitter:
    """Writes the walk of a twin tree as one function: no call per object."""

    def __init__(self) -> None:
        self.lines = ["def walk(v):"]
        self.env: dict[str, Any] = {}
        self.count = 0

    def function(self, node: _Node, name: str) -> Callable[[Any], None]:
        self.emit(node, "v", 1, 0)
        code = compile("\n".join(self.lines), f"<twin walk of {name}>", "exec")
        exec(code, self.env)  # noqa: S102 - our own code, names checked by _slot
        walk: Callable[[Any], None] = self.env["walk"]
        return walk

    def name(self, prefix: str, *value: Any) -> str:
        """A fresh name: a local, or a constant the code reads (``value``)."""
        self.count += 1
        name = f"_{prefix}{self.count}"
        if value:
            [self.env[name]] = value
        return name

    def line(self, indent: int, text: str) -> None:
        if indent > _MAX_INDENT or len(self.lines) > _MAX_LINES:
            raise _Unsupported("too large a tree of types")
        self.lines.append("    " * indent + text)

    def default(self, field: msgspec.structs.FieldInfo) -> str:
        """The default, made as msgspec makes it for an absent field."""
        factory = field.default_factory
        if factory is list or factory is dict:
            return "[]" if factory is list else "{}"  # a fresh one, without a call
        if factory is not msgspec.NODEFAULT:
            return f"{self.name('f', factory)}()"
        return self.name("d", field.default)

    def emit(self, node: _Node, var: str, indent: int, loops: int) -> None:
        if isinstance(node, _Struct):
            self.struct(node, var, indent, loops)
        elif isinstance(node, _Each):
            if loops >= _MAX_LOOPS:
                raise _Unsupported("too deep a tree of types")
            item = self.name("v")
            self.line(indent, f"for {item} in {var}{'.values()' if node.values else ''}:")
            self.emit(node.item, item, indent + 1, loops + 1)
        else:
            for index, (kind, member) in enumerate(node.members):
                keyword_ = "if" if index == 0 else "elif"
                self.line(indent, f"{keyword_} type({var}) is {self.name('t', kind)}:")
                self.emit(member, var, indent + 1, loops)

    def struct(self, node: _Struct, var: str, indent: int, loops: int) -> None:
        self.line(indent, f"{var}.__class__ = {self.name('c', node.real)}")
        nested = {id(field) for field, _ in node.children}
        for field in node.fixes:
            if id(field) not in nested:
                self.line(indent, f"if {var}.{field.name} is None:")
                self.line(indent + 1, f"{var}.{field.name} = {self.default(field)}")
        for field, child in node.children:
            fixed = any(field is fix for fix in node.fixes)
            shared = field.default is not msgspec.NODEFAULT and field.default is not None
            if isinstance(child, _Each) and not fixed and not shared:
                self.emit(child, f"{var}.{field.name}", indent, loops)  # read once: no local
                continue
            item = self.name("x")
            self.line(indent, f"{item} = {var}.{field.name}")
            if fixed:
                self.line(indent, f"if {item} is None:")
                self.line(indent + 1, f"{var}.{field.name} = {self.default(field)}")
            if shared:  # a default object (the field was absent) is real already: leave it
                guard = "elif" if fixed else "if"
                self.line(indent, f"{guard} {item} is not {self.name('d', field.default)}:")
            elif fixed:
                self.line(indent, "else:")
            self.emit(child, item, indent + 1 if fixed or shared else indent, loops)
