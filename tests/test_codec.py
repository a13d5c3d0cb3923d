"""Where bytes become a struct (``uprock_async._codec`` shapes), with no server."""

from __future__ import annotations

import msgspec
import pytest

from uprock_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ResponseDecodeError,
)
from uprock_async._codec import Either, Envelope, Hooks, Plain
from uprock_async.screenshotcenter.models import Batch
from uprock_async.screenshotcenter.models import Envelope as Wire
from uprock_async.uprock import Job
from uprock_async.uprock._build import merge_batch

SECRET = "sk-live-0123456789abcdef"
JOB = b'{"job_id": "j1", "status": "running"}'


def _redact(text: str) -> str:
    return text.replace(SECRET, "***")


def _hooks(counted: list[BaseException]) -> Hooks:
    return Hooks(redact=_redact, count=counted.append)


def test_a_plain_answer_decodes_and_a_failure_is_redacted_and_counted() -> None:
    shape = Plain(msgspec.json.Decoder(Job), "job")
    counted: list[BaseException] = []
    assert shape(JOB, 200, {}, _hooks(counted)).job_id == "j1"
    assert counted == []
    body = b'{"status": "' + SECRET.encode() + b'"}'  # no job_id
    with pytest.raises(ResponseDecodeError) as info:
        shape(body, 200, {}, _hooks(counted))
    assert counted == [info.value]
    assert SECRET not in str(info.value)
    # the raw body is kept, but an echoed key is taken out of it too (issue 21)
    assert SECRET.encode() not in info.value.body
    assert info.value.body.startswith(b'{"status": "')


def test_either_shape_reads_the_bare_and_the_wrapped_object() -> None:
    shape = Either(msgspec.json.Decoder(Job), "job", "job")
    hooks = Hooks()
    assert shape(JOB, 200, {}, hooks).job_id == "j1"
    assert shape(b'{"job": ' + JOB + b"}", 200, {}, hooks).job_id == "j1"
    with pytest.raises(ResponseDecodeError, match="created job"):
        shape.named("created job")(b"[]", 200, {}, hooks)


BATCH_ENVELOPE = msgspec.json.Decoder(Wire[Batch])
LOOSE = msgspec.json.Decoder(Wire[object])


def test_an_envelope_gives_its_data() -> None:
    shape: Envelope[Batch] = Envelope(BATCH_ENVELOPE, LOOSE, "batch info")
    body = b'{"success": true, "data": {"id": 7, "status": "processing"}}'
    assert shape(body, 200, {}, Hooks()).id == 7


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"success": false, "error": "bad key", "code": "INVALID_API_KEY"}', AuthenticationError),
        (b'{"success": false, "error": "no", "code": "VALIDATION_ERROR", "x": 1}', BadRequestError),
        # An error envelope whose fields do not fit the typed shape is still one.
        (b'{"success": false, "error": "no", "data": "not a batch"}', APIStatusError),
        (b'{"success": true, "data": null}', APIStatusError),
    ],
)
def test_an_error_envelope_with_http_200_is_an_api_error(
    body: bytes, error: type[APIStatusError]
) -> None:
    counted: list[BaseException] = []
    shape: Envelope[Batch] = Envelope(BATCH_ENVELOPE, LOOSE, "batch info")
    with pytest.raises(error) as info:
        shape(body, 200, {}, _hooks(counted))
    assert counted == [info.value]


def test_an_acknowledgement_may_carry_no_data() -> None:
    shape: Envelope[object] = Envelope(LOOSE, LOOSE, "cancel", allow_empty=True)
    assert shape(b'{"success": true, "data": null}', 200, {}, Hooks()) is None


def test_a_broken_envelope_is_a_decode_error() -> None:
    shape: Envelope[Batch] = Envelope(BATCH_ENVELOPE, LOOSE, "batch info")
    with pytest.raises(ResponseDecodeError, match="batch info"):
        shape(b"<html>", 200, {}, Hooks())


def test_a_self_contradicting_batch_answer_is_quoted_redacted_before_the_cut() -> None:
    # The key sits right where the excerpt would be cut: redacting first still catches it.
    head = b'{"found_count": 5, "results": {}, "note": "'
    body = head + b"x" * (195 - len(head)) + SECRET.encode() + b'"}'  # cut at 200 bytes
    with pytest.raises(ResponseDecodeError, match="found_count=5") as info:
        merge_batch(["j1"], body, redact=_redact)
    assert SECRET[:5] not in str(info.value)
