"""Hostile bodies: fuzzed decoders and error mapper, and the response size cap.

Every body a server could send goes through every decoder: the outcome is a
struct of the right type or a :class:`ResponseDecodeError`, never a stray
``KeyError``/``TypeError``/``UnicodeDecodeError``/``RecursionError``. Bodies
come from realistic payloads (FakeServer's generators) with fields deleted or
replaced by wrong types, huge strings, deep nesting and non-UTF-8 bytes, and
from raw random bytes. Each property runs 200 examples (``deadline=None``: the
machine is shared and timing is not what is being tested).
"""

from __future__ import annotations

import copy
import gzip
import json
import math
import random
import tracemalloc
import typing
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIStatusError,
    RateLimitError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    ServerError,
    UprockAsyncError,
    UprockClient,
)
from uprock_async._codec import decode
from uprock_async._errors import status_error
from uprock_async.screenshotcenter._core import envelope
from uprock_async.screenshotcenter.models import Account, Batch, Crawl, Envelope, Screenshot
from uprock_async.testing import FakeServer, _data
from uprock_async.uprock.models import Cookie, CrawlSession, Header, Job, JobDetail, JobResult

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "JobDetail": msgspec.json.Decoder(JobDetail),
    "Job": msgspec.json.Decoder(Job),
    "CrawlSession": msgspec.json.Decoder(CrawlSession),
    "Envelope[Crawl]": msgspec.json.Decoder(Envelope[Crawl]),
    "Envelope[Screenshot]": msgspec.json.Decoder(Envelope[Screenshot]),
    "Envelope[Batch]": msgspec.json.Decoder(Envelope[Batch]),
    "Envelope[Account]": msgspec.json.Decoder(Envelope[Account]),
    "Envelope[list[Screenshot]]": msgspec.json.Decoder(Envelope[list[Screenshot]]),
}
ENVELOPES = [name for name in DECODERS if name.startswith("Envelope")]

# -- strategies ----------------------------------------------------------------


def _field_names() -> list[str]:
    names = {"success", "data", "error", "code", "details", "request_id", "message"}
    for model in (JobDetail, Job, JobResult, Header, Cookie, CrawlSession, Crawl, Screenshot):
        names.update(field.encode_name for field in msgspec.structs.fields(model))
    names.update(field.encode_name for field in msgspec.structs.fields(Batch))
    names.update(field.encode_name for field in msgspec.structs.fields(Account))
    return sorted(names)


FIELD_NAMES = _field_names()
scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", "2026-02-17T11:38:58.123456789Z", "not a date", "completed", "0"])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=10,
)


def _realistic(seed: int) -> list[Any]:
    rng = random.Random(seed)
    job_id = _data._uuid(rng)
    detail = _data.job_detail_payload(rng, job_id, headers=3, cookies=4)
    crawl = _data.crawl_payload(rng, 7, 3, first_shot_id=100)
    shot = crawl["screenshots"][0]
    return [
        detail,
        detail["job"],
        {"id": job_id, "status": "active", "created_at": "", "job_ids": [job_id]},
        {"success": True, "data": crawl},
        {"success": True, "data": shot},
        {"success": True, "data": [shot, shot]},
        {"success": True, "data": {"id": 5, "status": "finished", "count": 2}},
        {"success": True, "data": {"balance": 10}},
        {"success": False, "error": "nope", "code": "NOT_FOUND", "details": {"request_id": 3}},
        "not found: job does not exist",
    ]


REALISTIC = _realistic(1)


def _slots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) position inside a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield value, key
            yield from _slots(item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield value, index
            yield from _slots(item)


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A realistic payload with a few fields deleted or replaced by hostile values."""
    value = copy.deepcopy(draw(st.sampled_from(REALISTIC)))
    for _ in range(draw(st.integers(0, 4))):
        slots = list(_slots(value))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["delete", "replace", "huge", "deep", "date"]))
        if action == "delete":
            del container[key]
        elif action == "replace":
            container[key] = draw(json_values)
        elif action == "huge":
            container[key] = "x" * draw(st.integers(100_000, 1_000_000))
        elif action == "deep":
            container[key] = _deep(draw(st.integers(10, 200)))
        else:
            container[key] = draw(st.sampled_from(["", "2026-13-45T99:99:99Z", "0001-01-01"]))
    return value


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Bytes a hostile or broken server might send."""
    kind = draw(st.sampled_from(["mutated", "json", "bytes", "non-utf8", "deep", "cut"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "deep":  # far past any recursion limit
        depth = draw(st.integers(1_000, 200_000))
        opener = draw(st.sampled_from([b"[", b'{"a":', b'{"job":{"placement":{"x":[']))
        return opener * depth
    value = draw(mutated()) if kind in ("mutated", "non-utf8", "cut") else draw(json_values)
    body = json.dumps(value, ensure_ascii=False).encode()
    if kind == "non-utf8":
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
        body += body[at:]
    elif kind == "cut":
        body = body[: draw(st.integers(0, len(body)))]
    return body


# -- decoders ------------------------------------------------------------------


def _sc_client() -> ScreenshotCenterClient:
    # Never entered: reading an envelope and status_error are pure, no session is created.
    return ScreenshotCenterClient("fuzz-key", base_url="http://127.0.0.1:9/api/v1")


@FUZZ
@given(body=bodies())
def test_every_decoder_returns_its_struct_or_raises_response_decode_error(body: bytes) -> None:
    for name, decoder in DECODERS.items():
        error: ResponseDecodeError | None = None
        try:
            result = decode(decoder, body, status=200, what=name)
        except ResponseDecodeError as exc:  # anything else fails the test
            error = exc
        if error is None:
            expected: Any = typing.get_origin(decoder.type) or decoder.type
            assert isinstance(result, expected), name
        else:
            assert error.body == body
            assert len(error.message) < 2_000, f"{name}: message quotes too much"


@FUZZ
@given(body=bodies(), status=st.sampled_from([200, 201, 400, 404, 500]))
def test_envelope_unwrapping_only_raises_our_errors(body: bytes, status: int) -> None:
    client = _sc_client()
    for name in ENVELOPES:
        error: UprockAsyncError | None = None
        try:
            data = envelope(DECODERS[name], name)(body, status, {}, client._api.hooks)
        except UprockAsyncError as exc:  # anything else fails the test
            error = exc
        if error is None:
            assert data is not None
        else:
            assert isinstance(error, (ResponseDecodeError, APIStatusError))


# -- the error mapper ----------------------------------------------------------

header_values = st.text(max_size=40) | st.sampled_from(
    ["0", "-5", "1e400", "nan", "inf", "Wed, 21 Oct 2015 07:28:00 GMT", "Mon, 01 Jan 99999"]
)
error_bodies = bodies() | st.builds(
    lambda v: json.dumps(v, ensure_ascii=False).encode(),
    st.fixed_dictionaries(
        {},
        optional={
            "error": json_values,
            "message": scalars,
            "code": scalars,
            "details": scalars | st.fixed_dictionaries({"request_id": scalars}),
            "request_id": scalars,
            "fields": json_values,
            "success": scalars,
        },
    ),
)


@FUZZ
@given(
    status=st.integers(100, 599),
    body=error_bodies,
    headers=st.fixed_dictionaries(
        {}, optional={"Retry-After": header_values, "X-Request-Id": header_values}
    ),
)
def test_status_error_always_returns_an_api_status_error(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    for mapping in (headers, CIMultiDictProxy(CIMultiDict(headers))):
        exc = status_error(status, body, mapping)
        assert isinstance(exc, APIStatusError)
        assert exc.status_code == status
        assert exc.body == body
        assert str(exc)
        assert repr(exc)
        assert exc.code is None or isinstance(exc.code, str)
        assert exc.request_id is None or isinstance(exc.request_id, str)
        if isinstance(exc, RateLimitError) and exc.retry_after is not None:
            assert math.isfinite(exc.retry_after)
            assert exc.retry_after >= 0


# -- round trip ------------------------------------------------------------------

texts = st.text(max_size=30)
ints = st.integers(-(2**63), 2**63 - 1)
moments = st.none() | st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.astimezone(timezone(timedelta(hours=-5))))
placements = st.dictionaries(texts, st.none() | st.booleans() | ints | texts, max_size=3)
jobs = st.builds(
    Job,
    job_id=texts,
    status=texts,
    url=st.none() | texts,
    method=st.none() | texts,
    placement=placements,
    session_id=st.none() | texts,
    submitted_at=moments,
    timeout_sec=st.none() | ints,
)
headers_ = st.lists(st.builds(Header, name=texts, value=texts), max_size=3)
cookies = st.lists(
    st.builds(
        Cookie,
        name=texts,
        value=texts,
        domain=st.none() | texts,
        max_age=st.none() | ints,
        secure=st.none() | st.booleans(),
    ),
    max_size=2,
)
results = st.none() | st.builds(
    JobResult,
    id=st.none() | texts,
    success=st.none() | st.booleans(),
    status_code=st.none() | ints,
    created_at=moments,
    size_bytes=st.none() | ints,
    error_message=st.none() | texts,
)
job_details = st.builds(
    JobDetail,
    job=jobs,
    download_url=st.none() | texts,
    request_headers=headers_,
    response_headers=headers_,
    request_cookies=cookies,
    response_cookies=cookies,
    result=results,
)


@FUZZ
@given(detail=job_details)
def test_an_encoded_job_detail_decodes_to_the_same_values(detail: JobDetail) -> None:
    body = msgspec.json.encode(detail)
    decoded = decode(DECODERS["JobDetail"], body)
    # Timestamps are kept as the wire string (the struct holds a str where
    # ``detail`` holds a datetime): they read back as the same instant, and
    # everything encodes back to the same bytes.
    assert decoded.job.submitted_at == detail.job.submitted_at
    if detail.result is not None:
        assert decoded.result is not None
        assert decoded.result.created_at == detail.result.created_at
    assert msgspec.json.encode(decoded) == body
    assert decode(DECODERS["JobDetail"], body) == decoded


# -- the body size cap -------------------------------------------------------------

CAP = 1 * 2**20
HUGE = 256 * 2**20  # what the server would send if nobody stopped it
CHUNK = b"\0" * (256 * 2**10)
GZIP_BOMB = gzip.compress(b"\0" * (64 * 2**20), compresslevel=9)  # ~64 KiB on the wire


@pytest.fixture
async def huge_server() -> AsyncIterator[tuple[FakeServer, dict[str, int]]]:
    """A FakeServer with routes that send far more than ``CAP``, counting what got out."""
    sent: dict[str, int] = {}

    def route(name: str, *, length: bool, status: int = 200, location: str = "") -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse(
                status=status, headers={"Content-Type": "application/json"}
            )
            if location:
                response.headers["Location"] = location
            if length:
                response.content_length = HUGE
            else:
                response.enable_chunked_encoding()
            await response.prepare(request)
            sent[name] = 0
            while sent[name] < HUGE:
                await response.write(CHUNK)  # fails once the client hangs up
                sent[name] += len(CHUNK)
            return response

        return handler

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(
            body=GZIP_BOMB, headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}
        )

    server = FakeServer(seed=5)
    server.app.router.add_get("/crawl/v1/jobs/with-length/detail", route("length", length=True))
    server.app.router.add_get("/crawl/v1/jobs/chunked/detail", route("chunked", length=False))
    server.app.router.add_get("/crawl/v1/jobs/gzip-bomb/detail", bomb)
    server.app.router.add_get(
        "/crawl/v1/jobs/error-page/detail", route("error", length=False, status=503)
    )
    [known] = server.add_jobs(1, headers=1, cookies=0)
    server.app.router.add_get(
        "/crawl/v1/jobs/redirect/detail",
        route("redirect", length=True, status=302, location=f"/crawl/v1/jobs/{known}/detail"),
    )
    async with server:
        yield server, sent


@pytest.mark.parametrize("route", ["with-length", "chunked", "gzip-bomb"])
async def test_a_body_over_max_body_size_is_refused_without_being_read(
    huge_server: tuple[FakeServer, dict[str, int]], route: str
) -> None:
    server, sent = huge_server
    async with UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        retry=FAST_RETRY,
        timeout=10.0,
        max_body_size=CAP,
    ) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ResponseDecodeError, match="max_body_size") as caught:
                await client.job_detail(route)
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(CAP) in str(caught.value)
    assert peak < 16 * CAP, f"peak {peak} bytes while refusing a huge body"
    # The streaming routes stopped early: the client hung up instead of reading on.
    streamed = {"with-length": "length", "chunked": "chunked"}.get(route)
    if streamed is not None:
        assert sent[streamed] < 64 * 2**20
    assert server.request_count == 1  # a refused body is not retried


async def test_a_huge_error_page_is_cut_not_refused_and_still_retried(
    huge_server: tuple[FakeServer, dict[str, int]],
) -> None:
    server, sent = huge_server
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=10.0
    ) as client:
        tracemalloc.start()
        try:
            with pytest.raises(ServerError) as caught:
                await client.job_detail("error-page")
            _size, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert caught.value.status_code == 503
    assert len(caught.value.body) <= 2**20  # only a quotable prefix is kept
    assert server.request_count == 1 + FAST_RETRY.max_retries  # a 503 is a 503
    assert peak < 32 * 2**20
    assert sent["error"] < 64 * 2**20


async def test_a_huge_redirect_body_is_not_read_before_following(
    huge_server: tuple[FakeServer, dict[str, int]],
) -> None:
    server, sent = huge_server
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=10.0
    ) as client:
        detail = await client.job_detail("redirect")
    assert detail.job_id in server.jobs
    assert sent["redirect"] < 64 * 2**20
