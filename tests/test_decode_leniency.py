"""What the services really send decodes: nulls anywhere, ``""`` timestamps,
user data untouched; what cannot decode is a ResponseDecodeError naming the path.

The seed payloads come from tests/test_models.py (copied from the services'
documentation), so this file runs from a fresh clone.
"""

from __future__ import annotations

import copy
import pickle
import random
import re
import typing
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_models import CRAWL_INFO_SEED, JOB_DETAIL_SEED
from uprock_async import ResponseDecodeError, ScreenshotCenterClient, UprockClient, _codec
from uprock_async._codec import decode, lenient_plan
from uprock_async._timestamps import TimestampField
from uprock_async.screenshotcenter._core import envelope
from uprock_async.screenshotcenter.models import App, Batch, Crawl, Envelope, Screenshot
from uprock_async.testing import FakeServer, _data
from uprock_async.uprock.models import BatchStatusResponse, CrawlSession, Job, JobDetail

UTC = timezone.utc
Path = tuple[str | int, ...]

DETAIL = msgspec.json.Decoder(JobDetail)
CRAWL = msgspec.json.Decoder(Envelope[Crawl])
SHOT = msgspec.json.Decoder(Envelope[Screenshot])
SHOTS = msgspec.json.Decoder(Envelope[list[Screenshot]])
BATCH = msgspec.json.Decoder(Envelope[Batch])
JOB = msgspec.json.Decoder(Job)
SESSION = msgspec.json.Decoder(CrawlSession)
BATCH_STATUS = msgspec.json.Decoder(BatchStatusResponse)


# -- helpers ---------------------------------------------------------------------------


def _text(path: Path) -> str:
    """A path spelled as msgspec spells it: ``$.data.screenshots[3].cost``."""
    return "$" + "".join(f"[{key}]" if isinstance(key, int) else f".{key}" for key in path)


def _field_paths(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every object member inside a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _field_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _field_paths(item, (*path, index))


def _with(value: Any, path: Path, new: Any) -> Any:
    """A copy of ``value`` with the member at ``path`` replaced by ``new``."""
    value = copy.deepcopy(value)
    container = value
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = new
    return value


def _field(owner: msgspec.Struct, wire_name: str) -> msgspec.structs.FieldInfo:
    [field] = [f for f in msgspec.structs.fields(owner) if f.encode_name == wire_name]
    return field


def _value_at(decoded: Any, path: Path) -> tuple[msgspec.structs.FieldInfo | None, Any]:
    """The field at ``path`` (``None`` inside free-form data) and its decoded value."""
    node: Any = decoded
    field: msgspec.structs.FieldInfo | None = None
    for key in path:
        if isinstance(node, msgspec.Struct):
            field = _field(node, str(key))
            node = getattr(node, field.name)
        else:  # a list item, a map value, or free-form data kept as sent
            field = None
            node = node[key]
    return field, node


def _default(field: msgspec.structs.FieldInfo) -> Any:
    args = typing.get_args(field.type)
    if field.type is Any or type(None) in args:
        return None
    if field.default is not msgspec.NODEFAULT:
        return field.default
    assert field.default_factory is not msgspec.NODEFAULT, field
    return field.default_factory()


def _seed(raw: bytes) -> Any:
    return msgspec.json.decode(raw)


# The identifier of each object, whose null or absence is an error.
DETAIL_IDS = re.compile(r"\$\.job(\.job_id)?")
CRAWL_IDS = re.compile(r"\$\.data(\.screenshots\[\d+\])?\.id")


# -- a null in each field of the seeds, one at a time -------------------------------------

DETAIL_PATHS = list(_field_paths(_seed(JOB_DETAIL_SEED)))
CRAWL_PATHS = list(_field_paths(_seed(CRAWL_INFO_SEED)))


def test_the_seeds_have_every_field_this_file_nulls() -> None:
    assert len(DETAIL_PATHS) == 48
    assert len(CRAWL_PATHS) == 104
    assert [_text(p) for p in DETAIL_PATHS if DETAIL_IDS.fullmatch(_text(p))] == [
        "$.job",
        "$.job.job_id",
    ]
    assert [_text(p) for p in CRAWL_PATHS if CRAWL_IDS.fullmatch(_text(p))] == [
        "$.data.id",
        "$.data.screenshots[0].id",
    ]


def _check_null_at(decoder: msgspec.json.Decoder[Any], seed: bytes, path: Path) -> None:
    body = msgspec.json.encode(_with(_seed(seed), path, None))
    field, value = _value_at(decode(decoder, body), path)
    expected = None if field is None else _default(field)
    assert value == expected, (_text(path), value)
    assert type(value) is type(expected), _text(path)


@pytest.mark.parametrize(
    "path", [p for p in DETAIL_PATHS if not DETAIL_IDS.fullmatch(_text(p))], ids=_text
)
def test_a_null_in_any_job_detail_field_decodes_to_none_or_the_default(path: Path) -> None:
    _check_null_at(DETAIL, JOB_DETAIL_SEED, path)


@pytest.mark.parametrize(
    "path", [p for p in CRAWL_PATHS if not CRAWL_IDS.fullmatch(_text(p))], ids=_text
)
def test_a_null_in_any_crawl_info_field_decodes_to_none_or_the_default(path: Path) -> None:
    _check_null_at(CRAWL, CRAWL_INFO_SEED, path)


@pytest.mark.parametrize(
    ("decoder", "seed", "path"),
    [
        (DETAIL, JOB_DETAIL_SEED, ("job",)),
        (DETAIL, JOB_DETAIL_SEED, ("job", "job_id")),
        (CRAWL, CRAWL_INFO_SEED, ("data", "id")),
        (CRAWL, CRAWL_INFO_SEED, ("data", "screenshots", 0, "id")),
    ],
    ids=lambda value: _text(value) if isinstance(value, tuple) else "",
)
def test_a_null_or_missing_identifier_is_a_decode_error_naming_it(
    decoder: msgspec.json.Decoder[Any], seed: bytes, path: Path
) -> None:
    body = msgspec.json.encode(_with(_seed(seed), path, None))
    with pytest.raises(ResponseDecodeError, match=re.escape(f"`{_text(path)}`")) as info:
        decode(decoder, body, status=200, what="thing")
    assert info.value.body == body
    assert "got `null`" in str(info.value)

    missing = _seed(seed)
    container = missing
    for key in path[:-1]:
        container = container[key]
    del container[path[-1]]
    with pytest.raises(ResponseDecodeError, match=f"missing required field `{path[-1]}`"):
        decode(decoder, msgspec.json.encode(missing))


def test_go_style_null_slices_decode_to_empty_lists() -> None:
    body = (
        b'{"job":{"job_id":"a","status":"completed","placement":null},'
        b'"request_headers":null,"response_headers":null,'
        b'"request_cookies":null,"response_cookies":null,"result":null}'
    )
    detail = decode(DETAIL, body)
    assert detail.request_headers == detail.response_headers == []
    assert detail.request_cookies == detail.response_cookies == []
    assert detail.job.placement == {}
    assert detail.result is None
    crawl = decode(CRAWL, b'{"success":true,"data":{"id":1,"screenshots":null}}').data
    assert crawl is not None
    assert crawl.screenshots == []
    shot = decode(SHOT, b'{"data":{"id":1,"apps":null,"trackers":[{"return":null}],"tag":null}}')
    assert shot.data is not None
    assert (shot.data.apps, shot.data.tag, shot.data.trackers[0].return_) == ([], [], [])


def test_defaults_made_for_nulls_are_fresh_per_struct() -> None:
    body = b'{"data":[{"id":1,"tag":null},{"id":2,"tag":null}]}'
    first, second = decode(SHOTS, body).data or []
    first.tag.append("mine")
    assert second.tag == []


# -- the official ScreenshotCenter SDK's fixtures ----------------------------------------

SDK_SCREENSHOT = {
    "id": 123,
    "status": "finished",
    "url": "https://example.com",
    "error": None,
    "region": None,
    "country": "us",
    "created_at": "2024-01-01T00:00:00Z",
    "finished_at": None,
}
SDK_BATCH = {"id": 7, "status": "processing", "count": 2, "processed": 0, "failed": 0}


def test_official_sdk_screenshots_and_batches_with_null_error_and_region_decode() -> None:
    shot = decode(SHOT, msgspec.json.encode({"success": True, "data": SDK_SCREENSHOT})).data
    assert shot is not None
    assert (shot.error, shot.region, shot.finished_at) == (None, None, None)
    assert shot.created_at == datetime(2024, 1, 1, tzinfo=UTC)
    shots = decode(SHOTS, msgspec.json.encode({"success": True, "data": [SDK_SCREENSHOT]})).data
    assert shots == [shot]
    for batch_error in (None, ""):
        body = msgspec.json.encode({"success": True, "data": {**SDK_BATCH, "error": batch_error}})
        batch = decode(BATCH, body).data
        assert batch is not None
        assert batch.error == batch_error
        assert batch.zip_url is None
    crawl = decode(CRAWL, b'{"success":true,"data":{"id":3,"error":null}}').data
    assert crawl is not None
    assert crawl.error is None


def test_official_sdk_envelopes_unwrap_through_the_client() -> None:
    client = ScreenshotCenterClient("sdk-key", base_url="http://127.0.0.1:9/api/v1")
    body = msgspec.json.encode({"success": True, "data": {**SDK_BATCH, "error": None}})
    batch = envelope(BATCH, "batch info")(body, 200, {}, client._api.hooks)
    assert batch is not None
    assert batch.error is None


async def test_screenshot_and_crawl_info_accept_nulls_from_the_server(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(3)
    shots = server.crawls[crawl_id]["screenshots"]
    shots[0].update(error=None, region=None, finished_at=None, cost=None, apps=None)
    shots[1].update(trackers=None, steps=None, created_at=None)
    server.crawls[crawl_id]["error"] = None
    server.invalidate(crawl_id)
    crawl = await sc.crawl_info(crawl_id)
    assert crawl.error is None
    first, second, third = crawl.screenshots
    assert (first.error, first.region, first.finished_at, first.cost, first.apps) == (
        None,
        None,
        None,
        0,
        [],
    )
    assert (second.trackers, second.steps, second.created_at) == ([], [], None)
    assert third.created_at is not None
    assert await sc.screenshot_info(first.id) == first


async def test_job_detail_accepts_go_style_nulls_from_the_server(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=4, cookies=4)
    detail = server.jobs[job_id]
    detail.update(request_headers=None, response_cookies=None, result=None)
    detail["job"].update(status=None, placement=None, submitted_at=None)
    server.invalidate(job_id=job_id)
    got = await uprock.job_detail(job_id)
    assert got.job_id == job_id
    assert (got.request_headers, got.response_cookies, got.result) == ([], [], None)
    assert (got.status, got.job.placement, got.job.submitted_at) == ("", {}, None)
    assert len(got.response_headers) == 3


# -- "" timestamps: one decode, any spacing --------------------------------------------


def test_empty_timestamps_never_take_the_lenient_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def second_decode(target: Any, body: bytes) -> Any:
        raise AssertionError("the plain decode failed")

    monkeypatch.setattr(_codec, "_lenient", second_decode)
    spaced = msgspec.json.decode(CRAWL_INFO_SEED)
    for body in (CRAWL_INFO_SEED, msgspec.json.encode(spaced)):
        crawl = decode(CRAWL, body).data
        assert crawl is not None
        assert crawl.created_at is None
        assert crawl.screenshots[0].apps[0].updated_at is None


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ('"created_at":""', None),
        ('"created_at": ""', None),
        ('"created_at" :\n""', None),
        ('"created_at":null', None),
        ('"created_at": null', None),
        (
            '"created_at":"2026-02-17T11:38:58.467667051Z"',
            datetime(2026, 2, 17, 11, 38, 58, 467667),
        ),
        ('"created_at":"2026-02-17T11:38:58.9999999Z"', datetime(2026, 2, 17, 11, 38, 59)),
        ('"created_at":"2026-02-17T11:38:58"', datetime(2026, 2, 17, 11, 38, 58)),
        ('"created_at":"2026-02-17T11:38:58.123456789"', datetime(2026, 2, 17, 11, 38, 58, 123457)),
        ('"created_at": "2026-02-17T12:38:58+01:00"', datetime(2026, 2, 17, 11, 38, 58)),
    ],
)
def test_timestamps_read_as_aware_datetimes_or_none(wire: str, expected: datetime | None) -> None:
    body = f'{{"data": {{"id": 1, {wire}, "screenshots": []}}}}'.encode()
    crawl = decode(CRAWL, body).data
    assert crawl is not None
    moment = crawl.created_at
    if expected is None:
        assert moment is None
    else:
        assert moment is not None
        assert moment.utcoffset() is not None  # naive on the wire is taken as UTC
        assert moment == expected.replace(tzinfo=UTC)


def test_a_malformed_timestamp_fails_on_access_without_quoting_it() -> None:
    secret = "sk-live-0123456789abcdef"
    app = decode(msgspec.json.Decoder(App), f'{{"id":1,"updated_at":"{secret}"}}'.encode())
    with pytest.raises(ResponseDecodeError, match=r"App\.updated_at") as info:
        _ = app.updated_at
    assert secret not in str(info.value)
    assert info.value.__cause__ is None
    assert app.id == 1  # the rest of the struct is unaffected


def test_reading_a_timestamp_changes_nothing_and_the_wire_string_round_trips() -> None:
    body = b'{"id":"s5","status":"x","created_at":"2026-02-17T11:38:58.467667051Z","job_ids":[]}'
    session = decode(SESSION, body)
    before = (repr(session), msgspec.structs.asdict(session), msgspec.to_builtins(session))
    assert session.created_at == datetime(2026, 2, 17, 11, 38, 58, 467667, tzinfo=UTC)
    assert session.created_at is not session.created_at  # parsed afresh, never cached
    assert (repr(session), msgspec.structs.asdict(session), msgspec.to_builtins(session)) == before
    assert msgspec.structs.asdict(session)["created_at"] == "2026-02-17T11:38:58.467667051Z"
    assert session == decode(SESSION, body)
    assert b'"created_at":"2026-02-17T11:38:58.467667051Z"' in msgspec.json.encode(session)
    for clone in (
        pickle.loads(pickle.dumps(session)),  # noqa: S301 - our own bytes
        copy.copy(session),
        copy.deepcopy(session),
        msgspec.structs.replace(session, status="closed"),
    ):
        assert clone.created_at == session.created_at
        assert msgspec.structs.asdict(clone)["created_at"] == "2026-02-17T11:38:58.467667051Z"


def test_a_timestamp_set_by_the_caller_is_kept_and_encoded() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    session = CrawlSession(id="s", created_at=moment)
    assert session.created_at is moment
    assert b'"created_at":"2026-01-02T03:04:05+02:00"' in msgspec.json.encode(session)
    session.expires_at = moment
    assert session.expires_at is moment
    session.expires_at = "2026-01-02T01:04:05Z"  # type: ignore[assignment]
    assert session.expires_at == moment
    session.expires_at = None
    assert session.expires_at is None
    assert repr(CrawlSession.__dict__["created_at"]) == "<timestamp field CrawlSession.created_at>"
    assert isinstance(CrawlSession.created_at, TimestampField)


def test_a_subclass_of_a_model_keeps_parsing_timestamps() -> None:
    class MyShot(Screenshot, gc=False):
        note: str = ""

    shot = msgspec.json.decode(
        b'{"id":1,"created_at":"2026-02-17T11:38:58Z","note":"n"}', type=MyShot
    )
    assert shot.created_at == datetime(2026, 2, 17, 11, 38, 58, tzinfo=UTC)
    assert shot.note == "n"


# -- free-form user data comes back as sent --------------------------------------------


@pytest.mark.parametrize("spaced", [False, True])
@pytest.mark.parametrize("lenient", [False, True], ids=["plain", "after-a-null"])
def test_user_data_in_free_form_fields_is_never_rewritten(spaced: bool, lenient: bool) -> None:
    user: dict[str, Any] = {
        "pinned_at": "",
        "created_at": None,
        "nested": {"updated_at": ""},
        "list": [None],
    }
    job: dict[str, Any] = {
        "job_id": "a",
        "status": None if lenient else "queued",
        "placement": user,
    }
    shot: dict[str, Any] = {"id": 1, "cost": None if lenient else 1, "steps": [user, {}]}
    shot["apps"] = [{"output_data": user, "updated_at": ""}]
    cases: list[tuple[msgspec.json.Decoder[Any], Any]] = [(JOB, job), (SHOT, {"data": shot})]
    for decoder, payload in cases:
        body = msgspec.json.encode(payload)
        if spaced:
            body = msgspec.json.format(body, indent=0).replace(b"\n", b" ")
            assert b'"pinned_at": ""' in body
        decoded = decode(decoder, body)
        if decoder is JOB:
            assert decoded.placement == user
            assert msgspec.json.encode(decoded.placement) == msgspec.json.encode(user)
        else:
            assert decoded.data.steps == [user, {}]
            assert decoded.data.apps[0].output_data == user
            assert decoded.data.apps[0].updated_at is None


def test_a_compact_body_encodes_back_byte_for_byte() -> None:
    body = (
        b'{"id":1,"app_id":"a","type":"ocr","name":"n","status":"done","filename":"f",'
        b'"error":"","output_url":"","output_data":{"pinned_at":"","x_at":null},"updated_at":""}'
    )
    assert msgspec.json.encode(decode(msgspec.json.Decoder(App), body)) == body
    job = (
        b'{"job_id":"a","status":"queued","url":null,"method":"GET","placement":{"pinned_at":""},'
        b'"session_id":null,"submitted_at":"2026-02-17T11:38:58.467667051Z","timeout_sec":30}'
    )
    assert msgspec.json.encode(decode(JOB, job)) == job


# -- bad input: our error, the path, an excerpt, the original body ------------------------


def _crawl_with(**changes: Any) -> bytes:
    crawl = _data.crawl_payload(random.Random(3), 9, 5, first_shot_id=100)
    for index, fields in changes.items():
        crawl["screenshots"][int(index[1:])].update(fields)
    return msgspec.json.encode({"success": True, "data": crawl})


@pytest.mark.parametrize("null_first", [False, True])
def test_a_wrong_type_is_a_decode_error_quoting_the_path(null_first: bool) -> None:
    body = _crawl_with(s0={"cost": None if null_first else 1}, s3={"cost": "one"})
    with pytest.raises(ResponseDecodeError) as info:
        decode(CRAWL, body, status=200, what="crawl info")
    message = str(info.value)
    assert message.startswith("crawl info does not match the documented shape")
    assert "Expected `int`, got `str` - at `$.data.screenshots[3].cost`" in message
    assert 'body: \'{"success":true' in message
    assert info.value.body is body


def test_a_null_list_item_is_a_decode_error_not_a_lost_item() -> None:
    body = b'{"data":{"id":1,"screenshots":[{"id":2},null]}}'
    with pytest.raises(ResponseDecodeError, match=re.escape("`$.data.screenshots[1]`")):
        decode(CRAWL, body)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "is empty"),
        (b" \n", "is empty"),
        (b"<html>502</html>", "is not valid JSON"),
        (b'{"success":true,"data":{"id":1,', "is not valid JSON"),
        (b'{"success":true,"data":{"id":null,', "is not valid JSON"),
        (b"\xff\xfe{}", "is not valid JSON"),
        (b"[1, 2]", "does not match"),
    ],
)
def test_bodies_that_are_not_the_json_we_expect_are_decode_errors(body: bytes, words: str) -> None:
    with pytest.raises(ResponseDecodeError, match=words) as info:
        decode(CRAWL, body, status=502, what="crawl info")
    assert info.value.body is body
    assert info.value.status_code == 502


def test_a_key_echoed_across_the_excerpt_cut_is_redacted_whole() -> None:
    key = "sk-" + "k" * 41
    for body in (
        b"x" * 190 + key.encode(),
        b'{"data":{"id":"' + b"y" * 170 + key.encode() + b'"}}',
    ):
        with pytest.raises(ResponseDecodeError) as info:
            decode(CRAWL, body, redact=lambda text: text.replace(key, "[redacted]"))
        assert "sk-kkkk" not in str(info.value)
        # the raw body is kept, with the echoed key taken out of it too (issue 21)
        assert info.value.body == body.replace(key.encode(), b"[redacted]")


# -- the walk plan ---------------------------------------------------------------------


class _Node(msgspec.Struct, gc=False):
    name: str = ""
    children: list[_Node] = []
    data: dict[str, Any] = {}


def test_the_walk_plan_is_cached_and_skips_types_with_nothing_to_repair() -> None:
    assert lenient_plan(Envelope[Crawl]) is lenient_plan(Envelope[Crawl])
    assert lenient_plan(dict[str, Any]) is None
    assert lenient_plan(list[int | None]) is None
    assert lenient_plan(Any) is None


def test_recursive_structs_are_repaired_at_every_depth() -> None:
    body = (
        b'{"name":null,"children":[{"children":[{"name":null,"children":null,"data":{"a":null}}]}]}'
    )
    node = decode(msgspec.json.Decoder(_Node), body)
    leaf = node.children[0].children[0]
    assert (node.name, leaf.name, leaf.children, leaf.data) == ("", "", [], {"a": None})


# -- properties ------------------------------------------------------------------------

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cases() -> list[tuple[str, msgspec.json.Decoder[Any], Any, re.Pattern[str]]]:
    rng = random.Random(11)
    job_id = _data._uuid(rng)
    detail = _data.job_detail_payload(rng, job_id, headers=2, cookies=4)
    crawl = _data.crawl_payload(rng, 7, 2, first_shot_id=100)
    shot = crawl["screenshots"][0]
    session = {"id": job_id, "status": "active", "created_at": "", "job_ids": [job_id]}
    batch = {"results": {job_id: {"job": detail["job"]}, "x": {"error": "not_found"}}}
    return [
        ("JobDetail", DETAIL, detail, DETAIL_IDS),
        ("Job", JOB, detail["job"], re.compile(r"\$\.job_id")),
        ("CrawlSession", SESSION, session, re.compile(r"\$\.id")),
        ("Envelope[Crawl]", CRAWL, {"success": True, "data": crawl}, CRAWL_IDS),
        ("Envelope[Screenshot]", SHOT, {"data": shot}, re.compile(r"\$\.data\.id")),
        ("Envelope[list]", SHOTS, {"data": [shot, shot]}, re.compile(r"\$\.data\[\d\]\.id")),
        (
            "Envelope[Batch]",
            BATCH,
            {"data": {**SDK_BATCH, "error": ""}},
            re.compile(r"\$\.data\.id"),
        ),
        # An entry of the results map is a map value, not a field: null is refused.
        ("BatchStatus", BATCH_STATUS, batch, re.compile(r"\$\.results\.[^.]+(\.job\.job_id)?")),
    ]


CASES = _cases()


@st.composite
def nulled(draw: st.DrawFn) -> tuple[str, msgspec.json.Decoder[Any], bytes, list[Path], bool]:
    name, decoder, payload, identifiers = draw(st.sampled_from(CASES))
    paths = list(_field_paths(payload))
    chosen = draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4, unique=True))
    value = copy.deepcopy(payload)
    for path in sorted(chosen, key=len, reverse=True):  # deepest first: parents stay reachable
        value = _with(value, path, None)
    spaced = draw(st.booleans())
    body = msgspec.json.encode(value)
    if spaced:
        body = msgspec.json.format(body, indent=2)
    # A null under a nulled parent is gone with it.
    chosen = [p for p in chosen if not any(p[: len(q)] == q for q in chosen if q != p)]
    refused = any(identifiers.fullmatch(_text(path)) for path in chosen)
    return name, decoder, body, chosen, refused


@FUZZ
@given(case=nulled())
def test_nulls_anywhere_decode_unless_an_identifier_is_null(
    case: tuple[str, msgspec.json.Decoder[Any], bytes, list[Path], bool],
) -> None:
    name, decoder, body, chosen, refused = case
    if refused:
        with pytest.raises(ResponseDecodeError, match="got `null`") as info:
            decode(decoder, body, what=name)
        assert info.value.body is body
        return
    decoded = decode(decoder, body, what=name)  # anything raised fails the test
    if len(chosen) == 1:
        [path] = chosen
        field, value = _value_at(decoded, path)
        assert value == (None if field is None else _default(field)), (name, _text(path))


@st.composite
def nulled_anywhere(draw: st.DrawFn) -> tuple[msgspec.json.Decoder[Any], bytes]:
    """A null put at any position, list items included."""
    _name, decoder, payload, _ids = draw(st.sampled_from(CASES))
    value = copy.deepcopy(payload)
    for _ in range(draw(st.integers(1, 3))):
        slots: list[tuple[Any, Any]] = []
        stack = [value]
        while stack:
            node = stack.pop()
            keys = node.keys() if isinstance(node, dict) else range(len(node))
            for key in keys:
                slots.append((node, key))
                if isinstance(node[key], (dict, list)):
                    stack.append(node[key])
        if not slots:
            break
        node, key = draw(st.sampled_from(slots))
        node[key] = None
    return decoder, msgspec.json.encode(value)


@FUZZ
@given(case=nulled_anywhere())
def test_a_null_at_any_position_decodes_or_is_a_decode_error(
    case: tuple[msgspec.json.Decoder[Any], bytes],
) -> None:
    decoder, body = case
    error: ResponseDecodeError | None = None
    try:
        decoded = decode(decoder, body)
    except ResponseDecodeError as exc:  # anything else fails the test
        error = exc
    if error is None:
        expected: Any = typing.get_origin(decoder.type) or decoder.type
        assert isinstance(decoded, expected)
    else:
        assert error.body is body
        assert "$" in str(error)
