"""Every error status and body shape maps to its class, with its attributes filled."""

from __future__ import annotations

import json
import pickle

import pytest

from uprock_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    ServerError,
    UprockAsyncError,
    UprockClient,
    WaitTimeoutError,
)
from uprock_async._errors import excerpt, redactor, status_error
from uprock_async._retry_after import parse_retry_after
from uprock_async.testing import FakeServer

SC_ENVELOPE = (
    b'{"success": false, "error": "Invalid API key", "code": "INVALID_API_KEY",'
    b' "details": {"request_id": "req_123456"}}'
)


# -- Uprock: a bare JSON string, or {"error": ...} -------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, b'"invalid request: url is required"', BadRequestError),
        (401, b'"unauthorized: invalid or missing API key"', AuthenticationError),
        (
            404,
            b'"not found: job does not exist or you are not authorized to view it"',
            NotFoundError,
        ),
        (500, b'"internal server error: please try again later"', ServerError),
        (400, b'{"error": "invalid request: url is required"}', BadRequestError),
        (404, b'{"error": "not found: no such job"}', NotFoundError),
    ],
)
def test_uprock_error_bodies_map_by_status(status: int, body: bytes, cls: type) -> None:
    error = status_error(status, body)
    assert type(error) is cls
    assert error.status_code == status
    assert error.message.split(":")[0] in body.decode()
    assert error.body == body
    assert error.code is None


@pytest.mark.parametrize(
    ("message", "cls"),
    [
        ("invalid request: url is required", BadRequestError),
        ("unauthorized: invalid or missing API key", AuthenticationError),
        ("forbidden: not for this key", PermissionDeniedError),
        ("not found: job does not exist", NotFoundError),
        ("internal server error: please try again later", ServerError),
        ("too many requests: slow down", RateLimitError),
    ],
)
def test_uprock_message_prefix_decides_when_the_status_is_unusual(message: str, cls: type) -> None:
    # A status outside the usual map (here 409) leaves the prefix to decide.
    for body in (f'"{message}"'.encode(), f'{{"error": "{message}"}}'.encode()):
        error = status_error(409, body)
        assert type(error) is cls
        assert error.message == message


# -- ScreenshotCenter: the envelope --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AuthenticationError),  # INVALID_API_KEY refines a generic 400
        (401, AuthenticationError),
        (404, NotFoundError),
        (500, ServerError),
    ],
)
def test_screenshotcenter_envelope_maps_and_fills_attributes(status: int, cls: type) -> None:
    error = status_error(status, SC_ENVELOPE)
    assert type(error) is cls
    assert error.status_code == status
    assert error.message == "Invalid API key"
    assert error.code == "INVALID_API_KEY"
    assert error.request_id == "req_123456"
    assert error.body == SC_ENVELOPE
    assert "req_123456" in str(error)
    assert "INVALID_API_KEY" in str(error)


def test_validation_error_body_is_a_bad_request_with_fields() -> None:
    body = (
        b'{"error": "Request validation failed", "code": "VALIDATION_ERROR",'
        b' "fields": {"id": "must be an integer"}}'
    )
    error = status_error(400, body)
    assert type(error) is BadRequestError
    assert error.code == "VALIDATION_ERROR"
    assert error.fields == {"id": "must be an integer"}
    assert error.message == "Request validation failed"


def test_error_envelope_with_http_200_maps_by_code() -> None:
    error = status_error(200, SC_ENVELOPE)
    assert type(error) is AuthenticationError
    assert error.status_code == 200


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (422, BadRequestError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
def test_html_and_empty_bodies_still_map_by_status(status: int, cls: type) -> None:
    html = b"<html><body><h1>" + str(status).encode() + b" Oops</h1></body></html>"
    for body in (html, b"", b"   "):
        error = status_error(status, body)
        assert type(error) is cls
        assert error.status_code == status
        assert error.body == body
        assert error.message  # a reason phrase, never empty
    assert "Oops" in status_error(status, html).message


def test_rate_limit_error_carries_retry_after() -> None:
    error = status_error(429, b'"too many requests"', {"Retry-After": "7"})
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert status_error(429, b"").retry_after is None  # type: ignore[attr-defined]


def test_request_id_falls_back_to_the_response_header() -> None:
    error = status_error(500, b"", {"X-Request-Id": "abc-1"})
    assert error.request_id == "abc-1"


def test_excerpt_is_short_and_counts_the_whole_body() -> None:
    text = excerpt(b"x" * 10_000)
    assert len(text) < 300
    assert "10000 bytes" in text


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("3", 3.0),
        ("0.25", 0.25),
        ("-5", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(
    header: str | None, expected: float | None
) -> None:
    now = 1445412470.0  # 10 s before the date above
    assert parse_retry_after(header, now=now) == expected


def test_redact_removes_a_key_the_server_echoes() -> None:
    error = status_error(401, b'"unauthorized: key sk-SECRET is revoked"', redact="sk-SECRET")
    assert "sk-SECRET" not in str(error)
    assert "sk-SECRET" not in repr(error)
    assert "[redacted]" in error.message


# A key with every character a JSON string or repr() escapes (all legal in a header).
ODD_KEY = "sk-ab\\cd\"ef'gh-0123456789abcdef0123456789"


def _fragments(key: str, size: int = 8) -> list[str]:
    """Every run of ``size`` characters of ``key``: a partial leak shows as one."""
    return [key[i : i + size] for i in range(len(key) - size + 1)]


def _assert_no_part_of(key: str, text: str) -> None:
    for spellings in (key, repr(key)[1:-1], key.replace("\\", "\\\\").replace('"', '\\"')):
        for fragment in _fragments(spellings):
            assert fragment not in text, f"{fragment!r} of the key survived in {text!r}"


@pytest.mark.parametrize("offset", [150, 170, 190, 199, 200])
def test_excerpt_redacts_a_key_echoed_across_the_cut(offset: int) -> None:
    key = "sk-live-" + "0123456789abcdef" * 2 + "ZYXWVUTS"  # 44 characters
    body = b"x" * offset + key.encode() + b"y" * 500
    text = excerpt(body, redact=redactor(key))
    _assert_no_part_of(key, text)
    assert f"({len(body)} bytes)" in text
    assert len(text) < 300
    # Without a redactor the cut is where it always was: the key's start shows.
    assert key[:8] in excerpt(b"x" * 150 + key.encode() + b"y" * 500)


@pytest.mark.parametrize(
    "spelling",
    [
        ODD_KEY,  # as is, in an HTML page
        ODD_KEY.replace("\\", "\\\\").replace('"', '\\"'),  # inside a JSON string
    ],
    ids=["raw", "json-escaped"],
)
def test_excerpt_redacts_a_key_with_backslashes_and_quotes(spelling: str) -> None:
    body = f"<html>your key {spelling} is revoked</html>".encode()
    text = excerpt(body, redact=redactor(ODD_KEY))
    _assert_no_part_of(ODD_KEY, text)
    assert "[redacted]" in text


def test_excerpt_never_splits_a_character_after_redacting() -> None:
    body = ("é" * 150).encode()  # 300 bytes of two-byte characters
    text = excerpt(body, 201, redact=redactor("unrelated"))
    assert "\ufffd" not in text
    assert text.startswith("'" + "é" * 100)


@pytest.mark.parametrize("where", ["html", "json", "error", "code", "request_id", "header"])
def test_status_error_removes_an_odd_key_wherever_it_is_echoed(where: str) -> None:
    headers = {"X-Request-Id": f"req-{ODD_KEY}"} if where == "header" else {}
    if where == "html":
        body = f"<p>{'x' * 180}{ODD_KEY}</p>".encode()  # across the excerpt's cut
    elif where == "json":
        body = json.dumps({"detail": ODD_KEY}).encode()  # no message: quoted as excerpt
    elif where == "error":
        body = json.dumps({"error": f"key {ODD_KEY} revoked"}).encode()
    elif where == "code":
        body = json.dumps({"error": "denied", "code": ODD_KEY}).encode()
    elif where == "request_id":
        body = json.dumps({"error": "x", "details": {"request_id": ODD_KEY}}).encode()
    else:
        body = b""
    error = status_error(500, body, headers, redact=ODD_KEY)
    for text in (str(error), repr(error), error.message, error.code or "", error.request_id or ""):
        _assert_no_part_of(ODD_KEY, text)


def test_status_error_accepts_a_redacting_function() -> None:
    error = status_error(404, b'"not found: sk-1 again"', redact=lambda t: t.replace("sk-1", "?"))
    assert error.message == "not found: ? again"


# -- naming the request ---------------------------------------------------------------


def test_a_status_error_names_the_method_and_path() -> None:
    url = "https://edge.uprock.com/crawl/v1/jobs/0f8b1c2e-0000-4000-8000-000000000001/detail"
    error = status_error(404, b'"not found: job does not exist"', method="GET", url=url)
    assert error.method == "GET"
    assert error.url == url
    assert str(error) == (
        "GET /crawl/v1/jobs/0f8b1c2e-0000-4000-8000-000000000001/detail: "
        "HTTP 404: not found: job does not exist"
    )
    assert error.message == "not found: job does not exist"  # the service's own words
    unnamed = status_error(404, b'"not found: job does not exist"')
    assert unnamed.method is None
    assert unnamed.url is None
    assert str(unnamed) == "HTTP 404: not found: job does not exist"


def test_a_connection_error_names_the_method_and_path_with_the_query() -> None:
    error = APIConnectionError(
        "connection reset",
        method="GET",
        url="https://api.screenshotcenter.com/api/v1/crawl/info?id=42",
    )
    assert str(error) == "GET /api/v1/crawl/info?id=42: connection reset"
    assert error.message == "connection reset"
    assert str(APITimeoutError("slow")) == "slow"


# -- pickling: errors cross process boundaries ----------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        status_error(404, SC_ENVELOPE),
        status_error(429, b"", {"Retry-After": "2"}),
        status_error(400, b'{"error": "bad", "code": "VALIDATION_ERROR", "fields": {"a": "b"}}'),
        ResponseDecodeError("bad json", body=b"{", status_code=200),
        WaitTimeoutError("still running", last_status="processing"),
        APIConnectionError("reset"),
        APITimeoutError("slow"),
        UprockAsyncError("base"),
        status_error(404, b'"not found: x"', method="GET", url="http://h/crawl/v1/jobs/x/detail"),
        APIConnectionError("reset", method="POST", url="http://h/crawl/v1/new"),
        APITimeoutError("slow", method="GET", url="http://h/a?b=1"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_pickling(error: UprockAsyncError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert copy.__dict__ == error.__dict__


def test_error_tree_is_as_documented() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    status_classes: tuple[type[APIStatusError], ...] = (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RateLimitError,
        ServerError,
    )
    for cls in status_classes:
        assert issubclass(cls, APIStatusError)
    others: tuple[type[UprockAsyncError], ...] = (
        APIConnectionError,
        APIStatusError,
        ResponseDecodeError,
        WaitTimeoutError,
    )
    for other in others:
        assert issubclass(other, UprockAsyncError)


# -- the same, end to end through the clients -----------------------------------------


async def test_uprock_errors_reach_the_caller_with_their_class(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1)
    path = f"/crawl/v1/jobs/{job_id}/detail"
    cases: list[tuple[int, str | dict[str, str] | None, type[APIStatusError]]] = [
        (400, None, BadRequestError),
        (401, None, AuthenticationError),
        (403, None, PermissionDeniedError),
        (404, None, NotFoundError),
        (422, {"error": "invalid request: bad url"}, BadRequestError),
        (502, "<html><h1>502 Bad Gateway</h1></html>", ServerError),
        (500, "", ServerError),
    ]
    for status, body, cls in cases:
        server.inject(path, status=status, times=3, body=body)
        with pytest.raises(cls) as info:
            await uprock.job_detail(job_id)
        assert info.value.status_code == status
        server.clear_faults()
    with pytest.raises(NotFoundError, match="not found"):
        await uprock.job_detail("0" * 8)


async def test_rate_limit_after_retries_keeps_retry_after(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    server.inject("/crawl/v1/jobs/*/detail", status=429, times=1, retry_after=0)
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=0) as client:
        with pytest.raises(RateLimitError) as info:
            await client.job_detail(job_id)
    assert info.value.retry_after == 0.0
    assert info.value.status_code == 429


async def test_screenshotcenter_200_with_success_false_raises(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(screenshots=2)
    body = {
        "success": False,
        "error": "Invalid API key",
        "code": "INVALID_API_KEY",
        "details": {"request_id": "req_9"},
    }
    server.inject("/api/v1/crawl/info", status=200, times=1, body=body)
    with pytest.raises(AuthenticationError) as info:
        await sc.crawl_info(crawl_id)
    assert info.value.status_code == 200
    assert info.value.request_id == "req_9"


async def test_screenshotcenter_validation_error_from_the_server(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    body = {
        "error": "Request validation failed",
        "code": "VALIDATION_ERROR",
        "fields": {"id": "bad"},
    }
    server.inject("/api/v1/crawl/info", status=400, times=1, body=body)
    with pytest.raises(BadRequestError) as info:
        await sc.crawl_info(1)
    assert info.value.fields == {"id": "bad"}
    with pytest.raises(NotFoundError) as missing:
        await sc.crawl_info(999_999)
    assert missing.value.code == "NOT_FOUND"
    assert missing.value.request_id is not None
    assert missing.value.request_id.startswith("req_")
