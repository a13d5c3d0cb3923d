"""The pure half of the Uprock endpoints, with no server: request bodies and answers."""

from __future__ import annotations

import base64
import uuid

import msgspec
import pytest

from uprock_async import APIStatusError, BadRequestError, NotFoundError, ResponseDecodeError
from uprock_async.uprock import Job
from uprock_async.uprock._build import (
    create_job_body,
    decode_job,
    decode_session,
    merge_batch,
    session_body,
)
from uprock_async.uprock.models import BatchJobStatus, BatchStatusResponse

JOB = b'{"job_id": "j1", "status": "running", "submitted_at": "2026-02-17T11:38:58.467667051Z"}'


def test_create_job_body_normalizes_and_encodes() -> None:
    body = msgspec.json.decode(
        create_job_body(
            "https://example.com/",
            method="crawl_full_page",
            headers={"A": "1", "B": ["2", "3"]},
            body=b"\x00\xff",
            session_id=uuid.UUID(int=1),
        )
    )
    assert body["method"] == "CRAWL_FULL_PAGE"
    assert body["headers"] == {"A": ["1"], "B": ["2", "3"]}
    assert base64.b64decode(body["body"]) == b"\x00\xff"
    assert body["session_id"] == str(uuid.UUID(int=1))


def test_session_body_leaves_out_what_was_not_given() -> None:
    assert session_body() == b"{}"
    assert msgspec.json.decode(session_body(3600, {"country": "US"})) == {
        "duration_seconds": 3600,
        "placement": {"country": "US"},
    }


def test_a_job_decodes_bare_or_wrapped() -> None:
    bare = decode_job(JOB)
    assert bare.status == "running"
    assert bare.submitted_at is not None
    assert decode_job(b'{"job": ' + JOB + b"}") == bare


def test_a_body_that_is_neither_a_job_nor_a_wrapped_one_is_a_decode_error() -> None:
    with pytest.raises(ResponseDecodeError, match="job"):
        decode_job(b'{"something": "else"}', 201)


def test_a_session_decodes_bare_or_wrapped() -> None:
    raw = b'{"id": "s1", "status": "active", "created_at": "", "job_ids": ["j1"]}'
    session = decode_session(raw)
    assert session.created_at is None
    assert session.job_ids == ["j1"]
    assert decode_session(b'{"session": ' + raw + b"}") == session


def test_merge_batch_maps_every_entry_kind() -> None:
    upper = "0F8FAD5B-D9CB-469F-A165-70867728950E"
    answer = {
        "found_count": 1,
        "requested_count": 5,
        "results": {
            upper.lower(): {"job": {"job_id": upper.lower(), "status": "completed"}},
            "gone": {"error": "not_found"},
            "bad": {"error": "invalid_uuid"},
            "odd": {"error": "quota_exceeded"},
            "empty": {},
        },
    }
    merged = merge_batch([upper, "gone", "bad", "odd", "empty"], msgspec.json.encode(answer))
    assert isinstance(merged[upper], Job)  # matched case-insensitively
    assert isinstance(merged["gone"], NotFoundError)
    assert isinstance(merged["bad"], BadRequestError)
    odd = merged["odd"]
    assert type(odd) is APIStatusError
    assert odd.code == "quota_exceeded"
    assert isinstance(merged["empty"], ResponseDecodeError)


def test_the_batch_answer_round_trips_through_its_structs() -> None:
    answer = BatchStatusResponse(
        results={
            "a": BatchJobStatus(job=Job(job_id="a", status="completed")),
            "b": BatchJobStatus(error="not_found"),
        },
        found_count=1,
        requested_count=2,
    )
    wire = msgspec.json.decode(msgspec.json.encode(answer))
    assert wire["results"]["b"] == {"error": "not_found"}
    assert "error" not in wire["results"]["a"]
    assert msgspec.json.decode(msgspec.json.encode(answer), type=BatchStatusResponse) == answer


def test_build_decoders_keep_an_echoed_key_out_of_their_messages() -> None:
    key = "sk-live-echoed"

    def redact(text: str) -> str:
        return text.replace(key, "[redacted]")

    with pytest.raises(ResponseDecodeError) as caught:
        decode_job(f'{{"job": "{key}"}}'.encode(), 200, redact=redact)
    assert key not in str(caught.value)
    with pytest.raises(ResponseDecodeError) as caught:
        decode_session(f'"{key}"'.encode(), 200, redact=redact)
    assert key not in str(caught.value)
    answer = {"found_count": 0, "requested_count": 1, "results": {"a": {"error": key}}}
    merged = merge_batch(["a"], msgspec.json.encode(answer), redact=redact)
    assert key not in str(merged["a"])
    assert "[redacted]" in str(merged["a"])
