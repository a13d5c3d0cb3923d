"""The OpenAPI specs loaded for tests: refs inlined, operations listed, schemas
checked with jsonschema, FakeServer's exchanges checked against the operation
that describes them, and payloads generated from the schemas with hypothesis.

The generator is ours, not hypothesis-jsonschema's: that package's object
strategy relies on hypothesis internals that newer hypothesis releases removed
(``AttributeError: 'many' object has no attribute 'more'``). The specs use a
small part of JSON Schema; :func:`from_schema` covers exactly that part and
refuses any other keyword, so a spec can never be generated from only in part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from uprock_async import spec
from uprock_async.testing._screenshotcenter import SC_PREFIX, _multipart

__all__ = [
    "DOCUMENTS",
    "FORMATS",
    "METHODS",
    "RESOLVED",
    "Exchange",
    "check",
    "find",
    "from_schema",
    "inline",
    "operations",
    "problems",
]

DOCUMENTS = {name: spec.load(name) for name in spec.NAMES}
FORMATS = Draft202012Validator.FORMAT_CHECKER
METHODS = ("get", "post", "put", "delete", "patch", "head", "options")


def inline(node: Any, document: dict[str, Any]) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at (the specs
    have no recursive schemas); keywords beside a ``$ref`` are kept."""
    if isinstance(node, list):
        return [inline(item, document) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        siblings = {k: inline(v, document) for k, v in node.items() if k != "$ref"}
        return {**inline(target, document), **siblings}
    return {key: inline(value, document) for key, value in node.items()}


RESOLVED = {name: inline(document, document) for name, document in DOCUMENTS.items()}


def problems(schema: dict[str, Any], instance: Any) -> list[str]:
    """Why ``instance`` does not fit ``schema``: for each error, the most specific one
    (inside ``anyOf`` too), with its JSON path and a short message."""
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    found = []
    for error in validator.iter_errors(instance):
        specific = best_match([error]) or error
        path = "/".join(map(str, specific.absolute_path))
        found.append(f"{path or '(top)'}: {specific.message[:200]}")
    return found


def operations(name: str) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(METHOD, path template): operation}``, path-level parameters merged in."""
    found = {}
    for template, item in RESOLVED[name]["paths"].items():
        for method in METHODS:
            if method in item:
                operation = dict(item[method])
                operation["parameters"] = item.get("parameters", []) + operation.get(
                    "parameters", []
                )
                found[(method.upper(), template)] = operation
    return found


# -- an exchange FakeServer had, checked against the spec ----------------------------


@dataclass(frozen=True)
class Exchange:
    """One request FakeServer received and the answer it gave."""

    method: str
    path: str
    query: list[tuple[str, str]]
    content_type: str  # the whole header, multipart boundary included
    body: bytes
    status: int
    answer_type: str
    answer: bytes | None  # None: a streamed answer

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


def find(exchange: Exchange) -> tuple[str, tuple[str, str], dict[str, Any]] | None:
    """The spec, key and operation describing ``exchange``, if any."""
    if exchange.path.startswith(SC_PREFIX + "/"):
        name, path = "screenshotcenter", exchange.path.removeprefix(SC_PREFIX)
    else:
        name, path = "uprock", exchange.path
    for (method, template), operation in operations(name).items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if method == exchange.method and re.fullmatch(pattern, path):
            return name, (method, template), operation
    return None


def _coerce(text: str, schema: dict[str, Any]) -> Any:
    """A query value as the type its schema declares (query values are text)."""
    types = schema.get("type", "string")
    types = types if isinstance(types, list) else [types]
    for kind, convert in (
        ("integer", int),
        ("number", float),
        ("boolean", {"true": True, "false": False}.__getitem__),
    ):
        if kind in types:
            try:
                return convert(text)
            except (KeyError, ValueError):
                continue
    return text


def check_query(operation: dict[str, Any], query: list[tuple[str, str]]) -> list[str]:
    declared = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    found = [f"undeclared query parameter {k!r}" for k, _ in query if k not in declared]
    names = {k for k, _ in query}
    found += [
        f"missing query parameter {n!r}"
        for n, p in declared.items()
        if p.get("required") and n not in names
    ]
    for name, parameter in declared.items():
        values = [v for k, v in query if k == name]
        if not values:
            continue
        if "content" in parameter:
            schema = parameter["content"]["application/json"]["schema"]
            instances: list[Any] = [json.loads(v) for v in values]
        elif parameter["schema"].get("type") == "array":
            schema = parameter["schema"]
            instances = [[_coerce(v, schema["items"]) for v in values]]
        else:
            schema = parameter["schema"]
            instances = [_coerce(v, schema) for v in values]
        for instance in instances:
            found += [f"query {name}: {p}" for p in problems(schema, instance)]
    return found


def check_request_body(operation: dict[str, Any], exchange: Exchange) -> list[str]:
    if "requestBody" not in operation:
        return [f"unexpected request body {exchange.body[:60]!r}"] if exchange.body else []
    content = operation["requestBody"]["content"]
    media = exchange.content_type.split(";")[0].strip()
    if media not in content:
        return [f"request media type {media!r} is not one of {sorted(content)}"]
    schema = content[media]["schema"]
    if media == "multipart/form-data":
        fields = _multipart(exchange.content_type, exchange.body)
        instance: Any = {name: value.decode() for name, (value, _filename) in fields.items()}
    else:
        instance = json.loads(exchange.body)
    return [f"request body: {p}" for p in problems(schema, instance)]


def _media_matches(actual: str, declared: str) -> bool:
    major, _, minor = declared.partition("/")
    a_major, _, a_minor = actual.partition("/")
    return declared == "*/*" or (major == a_major and minor in ("*", a_minor))


def check_answer(operation: dict[str, Any], exchange: Exchange) -> list[str]:
    responses = operation["responses"]
    status = str(exchange.status)
    response = responses.get(status) or responses.get(f"{status[0]}XX") or responses.get("default")
    if response is None:
        return [f"status {status} is not described (only {sorted(responses)})"]
    content = response.get("content", {})
    media = next((m for m in content if _media_matches(exchange.answer_type, m)), None)
    if media is None:
        return [f"answer media type {exchange.answer_type!r} is not one of {sorted(content)}"]
    if exchange.answer is None or media != "application/json":
        return []
    return [f"answer: {p}" for p in problems(content[media]["schema"], json.loads(exchange.answer))]


def check(exchange: Exchange) -> list[str]:
    found = find(exchange)
    if found is None:
        return ["no entry in either spec"]
    _name, _key, operation = found
    answer = check_answer(operation, exchange)
    if exchange.status >= 300:  # requests the spec forbids are sent on purpose, to get errors
        return answer
    return check_query(operation, exchange.query) + check_request_body(operation, exchange) + answer


# -- payloads from schemas ---------------------------------------------------------

# Keywords that only annotate: they change nothing a payload may be.
_ANNOTATIONS = frozenset(
    {"description", "summary", "title", "default", "contentMediaType", "contentEncoding"}
)
_HANDLED = frozenset(
    {
        "type",
        "const",
        "enum",
        "anyOf",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "pattern",
        "format",
    }
)
_INT64 = (-(2**63), 2**63 - 1)
_MAX_ITEMS = 3  # enough to show a list's shape; a crawl of 3 screenshots is already large

JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(*_INT64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=_MAX_ITEMS)
        | st.dictionaries(st.text(max_size=10), inner, max_size=_MAX_ITEMS)
    ),
    max_leaves=6,
)


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


# RFC 3339 as the services write it: upper-case T and Z, up to nanoseconds, or a
# numeric offset. Years stay within 1900-2200 so that any offset keeps the instant
# inside what ``datetime`` can hold.
TIMESTAMPS: st.SearchStrategy[str] = st.builds(
    lambda date, h, m, s, fraction, offset: f"{date}T{h}:{m}:{s}{fraction}{offset}",
    st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)).map(str),
    _two(0, 23),
    _two(0, 59),
    _two(0, 59),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,9}", fullmatch=True)),
    st.one_of(
        st.just("Z"),
        st.builds(
            lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"), _two(0, 23), _two(0, 59)
        ),
    ),
)


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """Every value ``schema`` (refs inlined) allows, nulls included wherever the
    schema allows them; objects also get unknown keys, which clients must ignore."""
    if schema is True or schema == {}:
        return JSON_VALUES
    unknown = set(schema) - _ANNOTATIONS - _HANDLED
    if unknown:
        raise ValueError(f"from_schema does not handle {sorted(unknown)} in {schema}")
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        return st.one_of([from_schema(branch) for branch in schema["anyOf"]])
    if "type" not in schema:
        return JSON_VALUES
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return st.one_of([_of_type(kind, schema) for kind in types])


def _of_type(kind: str, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", _INT64[0]), schema.get("maximum", _INT64[1]))
    if kind == "number":
        low = schema.get("minimum")
        return st.integers(min_value=low, max_value=_INT64[1]) | st.floats(
            min_value=low, allow_nan=False, allow_infinity=False
        )
    if kind == "string":
        if schema.get("format") == "date-time":
            return TIMESTAMPS
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True)
        return st.text(min_size=schema.get("minLength", 0), max_size=30)
    if kind == "array":
        return st.lists(
            from_schema(schema.get("items", {})),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", _MAX_ITEMS), _MAX_ITEMS),
        )
    if kind == "object":
        return _object(schema)
    raise ValueError(f"from_schema does not handle type {kind!r}")


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    extra = schema.get("additionalProperties", True)
    known = st.fixed_dictionaries(
        {name: from_schema(s) for name, s in properties.items() if name in required},
        optional={name: from_schema(s) for name, s in properties.items() if name not in required},
    )
    if extra is False:
        return known
    unknown = st.dictionaries(
        st.text(max_size=12).filter(lambda key: key not in properties),
        JSON_VALUES if extra is True else from_schema(extra),
        max_size=2 if properties else _MAX_ITEMS,
    )
    return st.builds(lambda a, b: {**b, **a}, known, unknown)
