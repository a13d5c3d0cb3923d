"""Nulls at full speed: the twins give what the walk gives, or leave the body to it.

``_codec.decode`` forgives a ``null`` two ways (``uprock_async._twins``): the
walk (generic decode, nulls dropped, ``msgspec.convert``), the reference, and
the twins, one C decode into look-alike structs that accept the nulls the walk
has met. These tests hold the twins to the walk: the same values (types,
defaults, fresh lists), the same errors for every body the walk refuses, on Go
bodies, hostile bodies and random null-sprinkled ones.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uprock_async import ResponseDecodeError, _codec, _twins
from uprock_async._codec import decode
from uprock_async.screenshotcenter.models import App, Batch, Crawl, Envelope, Screenshot, Tracker
from uprock_async.testing import _data
from uprock_async.uprock.models import (
    BatchStatusResponse,
    Cookie,
    CrawlSession,
    Header,
    Job,
    JobDetail,
)

CRAWL = msgspec.json.Decoder(Envelope[Crawl])
SHOTS = msgspec.json.Decoder(Envelope[list[Screenshot]])
DETAIL = msgspec.json.Decoder(JobDetail)


@pytest.fixture(autouse=True)
def _fresh_twins() -> None:
    """Each test starts from freshly built twins (the nulls learned so far stay):
    a twin another test's hostile body left resting (``Twin.REST``) would skip
    its next calls, whichever test made them, depending on the order and on
    what hypothesis drew."""
    _twins._twins.clear()


@contextmanager
def _walk_only() -> Iterator[None]:
    """``decode`` as it was before the twins: the plain decode, then the walk."""
    with mock.patch.object(_codec, "twin", return_value=None):
        yield


@contextmanager
def _twins_only() -> Iterator[None]:
    """``decode`` where taking the walk fails the test."""

    def walk(target: Any, body: bytes) -> Any:
        raise AssertionError("the walk ran")

    with mock.patch.object(_codec, "_lenient", walk):
        yield


def _outcome(decoder: msgspec.json.Decoder[Any], body: bytes) -> tuple[Any, ...]:
    """What ``decode`` gives, comparable: the value and its JSON, or the error."""
    try:
        value = decode(decoder, body, status=200, what="thing")
    except ResponseDecodeError as exc:
        return ("error", str(exc), exc.body is body, exc.status_code)
    return ("value", value, msgspec.json.encode(value))


def _walked(decoder: msgspec.json.Decoder[Any], body: bytes) -> tuple[Any, ...]:
    with _walk_only():
        return _outcome(decoder, body)


def _go_crawl(rng: random.Random, shots: int) -> dict[str, Any]:
    crawl = _data.crawl_payload(rng, 5, shots, first_shot_id=10)
    for shot in crawl["screenshots"]:
        shot.update(final_urls=None, tag=None, steps=None, cost=None, delay=None)
        shot["apps"][0]["output_data"] = None
        shot["trackers"][0]["return"] = None
    return {"success": True, "data": crawl}


def _go_detail(rng: random.Random) -> dict[str, Any]:
    detail = _data.job_detail_payload(rng, _data._uuid(rng), headers=8, cookies=8)
    detail.update(request_headers=None, response_cookies=None, result=None)
    detail["job"].update(placement=None, status=None)
    for header in detail["response_headers"]:
        header["value"] = None
    return detail


# -- Go bodies take the twins ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["crawl", "detail"])
def test_go_style_nulls_decode_through_the_twins_to_what_the_walk_gives(kind: str) -> None:
    rng = random.Random(21)
    decoder, payload = (CRAWL, _go_crawl(rng, 4)) if kind == "crawl" else (DETAIL, _go_detail(rng))
    body = msgspec.json.encode(payload)
    expected = _walked(decoder, body)  # the walk meets the nulls and teaches the twins
    assert expected[0] == "value"
    assert _twins.twin(decoder.type) is not None
    with _twins_only():
        assert _outcome(decoder, body) == expected
        assert _outcome(decoder, msgspec.json.format(body, indent=2)) == expected


def test_objects_from_the_twins_are_the_real_classes_with_fresh_defaults() -> None:
    body = msgspec.json.encode(_go_crawl(random.Random(2), 3))
    decode(CRAWL, body)
    with _twins_only():
        crawl = decode(CRAWL, body).data
    assert crawl is not None
    assert type(crawl) is Crawl
    first, second, _ = crawl.screenshots
    for shot in crawl.screenshots:
        assert type(shot) is Screenshot
        assert [type(app) for app in shot.apps] == [App]
        assert [type(tracker) for tracker in shot.trackers] == [Tracker]
        assert (shot.final_urls, shot.tag, shot.steps, shot.cost, shot.delay) == ([], [], [], 0, 0)
        assert (shot.apps[0].output_data, shot.trackers[0].return_) == ({}, [])
        assert shot.created_at is not None  # the timestamp descriptors work as ever
    assert msgspec.json.encode(crawl) == msgspec.json.encode(decode(CRAWL, body).data)
    first.tag.append("mine")
    first.apps[0].output_data["k"] = 1
    assert (second.tag, second.apps[0].output_data) == ([], {})
    assert (Screenshot(id=0).tag, App().output_data) == ([], {})


def test_headers_and_cookies_inside_a_job_detail_are_repaired_too() -> None:
    body = (
        b'{"job":{"job_id":"j","placement":null},"request_headers":[{"name":null,"value":"v"}],'
        b'"response_cookies":[{"name":"c","value":null,"secure":null}],"result":null}'
    )
    expected = _walked(DETAIL, body)
    with _twins_only():
        detail = decode(DETAIL, body)
    assert ("value", detail, msgspec.json.encode(detail)) == expected
    assert detail.request_headers == [Header(name="", value="v")]
    assert detail.response_cookies == [Cookie(name="c", value="", secure=None)]
    assert type(detail.job) is Job
    assert detail.job.placement == {}


def test_a_null_not_met_before_takes_the_walk_and_then_the_twins() -> None:
    decode(SHOTS, b'{"data":[{"id":1,"cost":null}]}')
    body = b'{"data":[{"id":1,"cost":null,"video_fps":null,"trackers":[{"input":null}]}]}'
    expected = _walked(SHOTS, body)
    assert _outcome(SHOTS, body) == expected
    with _twins_only():
        assert _outcome(SHOTS, body) == expected


# -- bodies the walk refuses are refused the same -------------------------------------

HOSTILE = [
    b'"junk":"\xff"',  # invalid UTF-8 in a value the plain decode would skip
    b'"\xff":1',  # ... and in a key
    b'"junk":1e400',  # a number out of range
    b'"junk":' + b"7" * 5000,  # an int past Python's digit limit
    b'"junk":' + b"[" * 5000 + b"]" * 5000,  # deeper than any recursion limit
    b'"steps":[' + b"[" * 50_000 + b"]" * 50_000 + b"]",  # ... in free-form data
    b'"cost":"one"',  # a wrong type
    b'"final_urls":[null]',  # a null list item
    b'"id":null',  # a null identifier
    b'"cost":1,"cost":null,"tag":null,"tag":["a"]',  # repeated keys: the last one wins
    b'"id":null,"id":3',
    b'"video_speed":1e-400,"geo_latitude":123456789012345678901234567890',
]


@pytest.mark.parametrize("fragment", HOSTILE, ids=range(len(HOSTILE)))
@pytest.mark.parametrize("where", ["envelope", "screenshot", "app"])
def test_a_hostile_body_with_nulls_decodes_or_fails_exactly_as_through_the_walk(
    fragment: bytes, where: str
) -> None:
    decode(CRAWL, msgspec.json.encode(_go_crawl(random.Random(4), 2)))  # learn the Go nulls
    body = msgspec.json.encode(_go_crawl(random.Random(4), 2))
    anchor = {
        "envelope": b'{"success":true,',
        "screenshot": b'"screenshots":[{',
        "app": b'"apps":[{',
    }[where]
    assert anchor in body
    body = body.replace(anchor, anchor + fragment + b",", 1)
    expected = _walked(CRAWL, body)
    assert _outcome(CRAWL, body) == expected
    assert _outcome(CRAWL, body) == expected  # and again, while the twin rests


# -- what the twins do not mirror -----------------------------------------------------


class _Node(msgspec.Struct, gc=False):
    name: str = ""
    children: list[_Node] = []


class _Pair(msgspec.Struct, array_like=True, gc=False):
    left: int = 0
    right: list[int] = []


class _Tagged(msgspec.Struct, tag=True, gc=False):
    size: int = 0


class _Frozen(msgspec.Struct, frozen=True, gc=False):
    size: int = 0


class _Checked(msgspec.Struct, gc=False):
    size: int = 0

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError("size must be >= 0")


@dataclasses.dataclass
class _Point:
    x: int = 0


class _WithPoint(msgspec.Struct, gc=False):
    size: int = 0
    point: _Point | None = None


class _WithDecimal(msgspec.Struct, gc=False):
    size: int = 0
    price: Decimal = Decimal(0)


@pytest.mark.parametrize(
    ("target", "body"),
    [
        (_Node, b'{"name":null,"children":[{"name":null,"children":null}]}'),
        (list[_Pair], b"[[1, null], [null, [2]]]"),
        (_Tagged, b'{"type":"_Tagged","size":null}'),
        (_Frozen, b'{"size":null}'),
        (_Checked, b'{"size":null}'),
        (_WithPoint, b'{"size":null,"point":{"x":1}}'),
        (_WithDecimal, b'{"size":null,"price":0.1}'),
    ],
    ids=lambda value: (
        getattr(value, "__name__", str(value)) if not isinstance(value, bytes) else ""
    ),
)
def test_types_the_twins_cannot_mirror_always_take_the_walk(target: Any, body: bytes) -> None:
    decoder = msgspec.json.Decoder(target)
    expected = _walked(decoder, body)
    assert _outcome(decoder, body) == expected  # the walk has taught what it could
    assert _twins.twin(target) is None
    assert _outcome(decoder, body) == expected


def test_a_deeply_nested_recursive_body_is_a_decode_error_as_before() -> None:
    decoder = msgspec.json.Decoder(_Node)
    body = b'{"name":null,"children":' + b'[{"children":' * 20_000 + b"[]" + b"}]" * 20_000 + b"}"
    expected = _walked(decoder, body)
    assert expected[0] == "error"
    assert _outcome(decoder, body) == expected


def test_a_twin_that_failed_on_an_unknown_field_rests_before_trying_again() -> None:
    good = msgspec.json.encode(_go_crawl(random.Random(8), 1))
    decode(CRAWL, good)
    assert _twins.twin(CRAWL.type) is not None
    decode(CRAWL, good.replace(b'"screenshots":[{', b'"screenshots":[{"new_field":1,', 1))
    rested = [_twins.twin(CRAWL.type) for _ in range(_twins.Twin.REST)]
    assert rested == [None] * _twins.Twin.REST
    assert _twins.twin(CRAWL.type) is not None
    with _twins_only():
        decode(CRAWL, good)


# -- the property: the twins and the walk agree on any null-sprinkled body --------------


def _payloads() -> list[tuple[msgspec.json.Decoder[Any], Any]]:
    rng = random.Random(12)
    job_id = _data._uuid(rng)
    detail = _data.job_detail_payload(rng, job_id, headers=2, cookies=3)
    crawl = _data.crawl_payload(rng, 7, 2, first_shot_id=100)
    session = {"id": job_id, "status": "active", "created_at": "", "job_ids": [job_id]}
    batch = {"results": {job_id: {"job": detail["job"]}, "x": {"error": "not_found"}}}
    return [
        (DETAIL, detail),
        (msgspec.json.Decoder(CrawlSession), session),
        (CRAWL, {"success": True, "data": crawl}),
        (SHOTS, {"data": crawl["screenshots"]}),
        (msgspec.json.Decoder(Envelope[Batch]), {"data": {"id": 3, "count": 2, "error": ""}}),
        (msgspec.json.Decoder(BatchStatusResponse), batch),
    ]


PAYLOADS = _payloads()
ODD = [
    msgspec.Raw(b'"\xff"'),
    msgspec.Raw(b"1e400"),
    msgspec.Raw(b"-0.0"),
    msgspec.Raw(b"18446744073709551616"),
    msgspec.Raw(b"[" * 3000 + b"]" * 3000),
    "",
    "x",
    0,
    1.5,
    True,
    [],
    {},
    [None],
    {"k": None},
]


def _positions(value: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        for key in node.keys() if isinstance(node, dict) else range(len(node)):
            found.append((node, key))
            if isinstance(node[key], (dict, list)):
                stack.append(node[key])
    return found


@st.composite
def sprinkled(draw: st.DrawFn) -> tuple[msgspec.json.Decoder[Any], bytes]:
    """A payload with nulls put anywhere, and now and then an odd value or an unknown
    field holding one."""
    decoder, payload = draw(st.sampled_from(PAYLOADS))
    value = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 6))):
        node, key = draw(st.sampled_from(_positions(value)))
        action = draw(st.sampled_from(["null"] * 6 + ["odd", "unknown"]))
        if action == "null":
            node[key] = None
        elif action == "odd":
            node[key] = copy.copy(draw(st.sampled_from(ODD)))  # never ODD's own list or dict
        elif isinstance(node[key], dict):
            odd = copy.copy(draw(st.sampled_from(ODD)))
            node[key]["unknown_" + draw(st.sampled_from("ab"))] = odd
    body = msgspec.json.encode(value)
    if draw(st.booleans()) and b"[[[[" not in body:
        body = msgspec.json.format(body, indent=1)
    return decoder, body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=sprinkled())
def test_the_twins_and_the_walk_agree_on_any_null_sprinkled_body(
    case: tuple[msgspec.json.Decoder[Any], bytes],
) -> None:
    decoder, body = case
    expected = _walked(decoder, body)  # first, so that the walk teaches the twins
    fast: Callable[[bytes], Any] | None = _twins.twin(decoder.type)
    if fast is not None:
        try:
            value = fast(body)
        except (msgspec.DecodeError, RecursionError):
            pass  # left to the walk
        else:
            assert expected == ("value", value, msgspec.json.encode(value))
    assert _outcome(decoder, body) == expected
