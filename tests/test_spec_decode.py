"""Every body the OpenAPI specs allow decodes into the models.

Payloads come from the specs' own schemas (``tests/spec_support.from_schema``):
any field but an object's identifier may be missing or ``null``, timestamps
are RFC 3339, ``""`` or ``null``, and unknown keys appear. Each is decoded the
way the clients decode an answer (their module-level decoders through
``uprock_async._codec.decode``), compact and pretty-printed, and must come
back with the identifiers it was sent with. Error bodies must map to an
:class:`~uprock_async.APIStatusError` of the answer's status. And every model field
is described by its schema, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings

from tests.spec_support import DOCUMENTS, METHODS, RESOLVED, from_schema, problems
from uprock_async import APIStatusError, spec
from uprock_async._codec import decode
from uprock_async._errors import status_error
from uprock_async.screenshotcenter._account import _account_decoder
from uprock_async.screenshotcenter._batches import _batch_decoder, _batches_decoder
from uprock_async.screenshotcenter._core import _ack_decoder, _crawl_decoder, _screenshot_decoder
from uprock_async.screenshotcenter._crawls import _crawls_decoder
from uprock_async.screenshotcenter._screenshots import _screenshots_decoder
from uprock_async.screenshotcenter.models import (
    Account,
    App,
    Batch,
    Crawl,
    Screenshot,
    Tracker,
    TrackerReturn,
)
from uprock_async.uprock import _build
from uprock_async.uprock._build import _detail_decoder
from uprock_async.uprock.models import (
    BatchJobStatus,
    BatchStatusResponse,
    Cookie,
    CrawlSession,
    Header,
    Job,
    JobDetail,
    JobResult,
)

# Schema (by component name) -> (the client's decoding of such a body, the identifier
# the decoded struct must carry, read from the generated payload).
Decoding = tuple[Callable[[bytes], Any], Callable[[Any], Any], Callable[[Any], Any]]
DECODINGS: dict[tuple[str, str], Decoding] = {
    ("uprock", "JobDetail"): (
        lambda b: decode(_detail_decoder, b),
        lambda d: d.job.job_id,
        lambda p: p["job"]["job_id"],
    ),
    ("uprock", "JobOrWrapper"): (
        _build.decode_job,
        lambda d: d.job_id,
        lambda p: p["job_id"] if "job_id" in p else p["job"]["job_id"],
    ),
    ("uprock", "CrawlSessionOrWrapper"): (
        _build.decode_session,
        lambda d: d.id,
        lambda p: p["id"] if "id" in p else p["session"]["id"],
    ),
    ("uprock", "BatchStatus"): (
        lambda b: decode(_build._batch_decoder, b),
        lambda d: sorted(d.results),
        lambda p: sorted(p.get("results") or {}),
    ),
}


def _envelope(decoder: msgspec.json.Decoder[Any], many: bool) -> Decoding:
    def decode_body(body: bytes) -> Any:
        return decode(decoder, body)

    def decoded_ids(envelope: Any) -> Any:
        return [item.id for item in envelope.data] if many else envelope.data.id

    def payload_ids(payload: Any) -> Any:
        return [item["id"] for item in payload["data"]] if many else payload["data"]["id"]

    return decode_body, decoded_ids, payload_ids


_ENVELOPES: list[tuple[str, msgspec.json.Decoder[Any], bool]] = [
    ("CrawlInfo", _crawl_decoder, False),
    ("CrawlList", _crawls_decoder, True),
    ("ScreenshotInfo", _screenshot_decoder, False),
    ("ScreenshotList", _screenshots_decoder, True),
    ("BatchInfo", _batch_decoder, False),
    ("BatchList", _batches_decoder, True),
]
for _schema, _decoder, _many in _ENVELOPES:
    DECODINGS[("screenshotcenter", _schema)] = _envelope(_decoder, _many)
DECODINGS[("screenshotcenter", "AccountInfo")] = (
    lambda b: decode(_account_decoder, b),
    lambda e: e.data.balance,
    lambda p: p["data"].get("balance"),
)
DECODINGS[("screenshotcenter", "Acknowledgement")] = (
    lambda b: decode(_ack_decoder, b),
    lambda e: e.success,
    lambda p: p["success"],
)


def test_every_success_answer_has_a_decoding_under_test() -> None:
    """A new success schema in a spec needs its row in DECODINGS."""
    answered = set()
    for name in spec.NAMES:
        document = DOCUMENTS[name]
        for item in document["paths"].values():
            for method in METHODS:
                for status, response in item.get(method, {}).get("responses", {}).items():
                    if status.startswith("2"):
                        answered |= {(name, ref) for ref in _schema_refs(response, document)}
    errors = {("uprock", "Error"), ("screenshotcenter", "ErrorEnvelope")}
    assert answered - errors == set(DECODINGS)


def _schema_refs(node: Any, document: dict[str, Any]) -> set[str]:
    """The component schemas a response's JSON content names at its top level."""
    if "$ref" in node and "/responses/" in node["$ref"]:
        node = document["components"]["responses"][node["$ref"].rsplit("/", 1)[1]]
    schema = node.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return set()
    branches = schema.get("anyOf", [schema])
    return {b["$ref"].rsplit("/", 1)[1] for b in branches if "$ref" in b}


def read_every_field(value: Any) -> None:
    """Read every field of every struct in ``value``: timestamps are parsed when
    read, and must come out ``None`` or timezone-aware, never raise."""
    if isinstance(value, msgspec.Struct):
        for field in msgspec.structs.fields(value):
            got = getattr(value, field.name)
            if isinstance(got, datetime):
                assert got.tzinfo is not None, field.name
            read_every_field(got)
    elif isinstance(value, (list, tuple)):
        for item in value:
            read_every_field(item)
    elif isinstance(value, dict):
        for item in value.values():
            read_every_field(item)


# A crawl of screenshots of ~70 fields is a big example to generate; on a shared,
# loaded CI machine that can trip the too_slow health check, which says nothing
# about the code under test (timing is not what is tested, as in test_fuzz).
GENERATED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize(
    ("name", "schema"), sorted(DECODINGS), ids=[f"{n}:{s}" for n, s in sorted(DECODINGS)]
)
def test_every_payload_the_spec_allows_decodes(name: str, schema: str) -> None:
    decode_body, decoded_id, payload_id = DECODINGS[(name, schema)]
    resolved = RESOLVED[name]["components"]["schemas"][schema]

    @GENERATED
    @given(from_schema(resolved))
    def decodes(payload: Any) -> None:
        assert problems(resolved, payload) == []  # the generator stays inside the spec
        # Compact UTF-8 as the services send it, and pretty-printed with \u escapes:
        # whitespace and escapes change nothing but speed.
        compact = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        for body in (compact, json.dumps(payload, indent=1).encode()):
            decoded = decode_body(body)
            assert decoded_id(decoded) == payload_id(payload)
            read_every_field(decoded)
            msgspec.json.encode(decoded)  # and it encodes again

    decodes()


ERROR_SCHEMAS = [("uprock", "Error"), ("screenshotcenter", "Error")]


@pytest.mark.parametrize(("name", "schema"), ERROR_SCHEMAS, ids=[n for n, _ in ERROR_SCHEMAS])
@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500, 503])
def test_every_error_body_the_spec_allows_maps_to_a_status_error(
    name: str, schema: str, status: int
) -> None:
    @settings(max_examples=25, deadline=None)
    @given(from_schema(RESOLVED[name]["components"]["schemas"][schema]))
    def maps(payload: Any) -> None:
        error = status_error(status, msgspec.json.encode(payload))
        assert isinstance(error, APIStatusError)
        assert error.status_code == status
        assert str(error)

    maps()


# Model -> the schema describing it. Fields the spec describes and the model does not
# declare are listed here on purpose: the service sends them, nobody reads them yet.
MODELS: list[tuple[type[msgspec.Struct], str, str, frozenset[str]]] = [
    (JobDetail, "uprock", "JobDetail", frozenset()),
    (Job, "uprock", "Job", frozenset()),
    (JobResult, "uprock", "JobResult", frozenset()),
    (Header, "uprock", "Header", frozenset()),
    (Cookie, "uprock", "Cookie", frozenset()),
    (CrawlSession, "uprock", "CrawlSession", frozenset()),
    (BatchStatusResponse, "uprock", "BatchStatus", frozenset()),
    (BatchJobStatus, "uprock", "BatchStatusEntry", frozenset()),
    (Crawl, "screenshotcenter", "Crawl", frozenset()),
    (Screenshot, "screenshotcenter", "Screenshot", frozenset()),
    (App, "screenshotcenter", "App", frozenset()),
    (Tracker, "screenshotcenter", "Tracker", frozenset()),
    (TrackerReturn, "screenshotcenter", "TrackerReturn", frozenset()),
    (Batch, "screenshotcenter", "Batch", frozenset({"started", "finished"})),
    (Account, "screenshotcenter", "Account", frozenset()),
]


@pytest.mark.parametrize(
    ("model", "name", "schema", "undeclared"), MODELS, ids=[m[0].__name__ for m in MODELS]
)
def test_models_and_schemas_name_the_same_fields(
    model: type[msgspec.Struct], name: str, schema: str, undeclared: frozenset[str]
) -> None:
    declared = {field.encode_name for field in msgspec.structs.fields(model)}
    described = set(DOCUMENTS[name]["components"]["schemas"][schema]["properties"])
    assert declared <= described, "model fields the spec does not describe"
    assert described - declared == undeclared
