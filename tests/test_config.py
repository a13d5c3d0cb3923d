"""Configuration objects validate their values; backoff grows, caps and jitters."""

from __future__ import annotations

import random
from typing import Any

import msgspec
import pytest

from uprock_async import CircuitBreaker, Limits, RetryPolicy, Timeout, UprockClient
from uprock_async._codec import decode
from uprock_async._errors import ResponseDecodeError
from uprock_async.uprock import JobDetail


@pytest.mark.parametrize(
    "kwargs",
    [{"total": -1}, {"connect": 0}, {"read": -0.5}, {"total": float("nan")}],
)
def test_timeout_refuses_non_positive_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Timeout"):
        Timeout(**kwargs)


@pytest.mark.parametrize("value", ["3", True, [1]])
def test_timeout_refuses_non_numbers(value: Any) -> None:
    with pytest.raises(TypeError):
        Timeout(total=value)
    with pytest.raises(TypeError):
        Timeout.coerce(value)


def test_timeout_coerce_accepts_seconds_objects_and_none() -> None:
    assert Timeout.coerce(5) == Timeout(total=5.0, connect=5.0)
    assert Timeout.coerce(60) == Timeout(total=60.0, connect=10.0)
    custom = Timeout(total=None, connect=1.0, read=2.0)
    assert Timeout.coerce(custom) is custom
    assert Timeout.coerce(None) == Timeout(total=None, connect=None, read=None)
    with pytest.raises(ValueError, match="timeout"):
        Timeout.coerce(-1)


def test_client_maps_timeout_to_aiohttp() -> None:
    client = UprockClient("k", timeout=Timeout(total=7.0, connect=2.0, read=3.0))
    aiohttp_timeout = client._transport._client_timeout
    assert (aiohttp_timeout.total, aiohttp_timeout.sock_connect, aiohttp_timeout.sock_read) == (
        7.0,
        2.0,
        3.0,
    )
    assert client.timeout == Timeout(total=7.0, connect=2.0, read=3.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_connections": -1},
        {"max_connections_per_host": -2},
        {"max_connections": 1.5},
        {"max_connections": True},
        {"keepalive_expiry": 0},
        {"keepalive_expiry": None},
    ],
)
def test_limits_refuse_bad_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Limits(**kwargs)


def test_limits_zero_means_unlimited() -> None:
    assert Limits(max_connections=0, max_connections_per_host=0).max_connections == 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_retries": -1}, ValueError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_retries": True}, TypeError),
        ({"max_retries": "3"}, TypeError),
        ({"backoff_initial": -0.1}, ValueError),
        ({"backoff_max": -1}, ValueError),
        ({"max_retry_after": -1}, ValueError),
        ({"backoff_initial": float("nan")}, ValueError),
        ({"max_retry_after": float("inf")}, ValueError),
    ],
)
def test_retry_policy_refuses_bad_values(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        RetryPolicy(**kwargs)


def test_retry_policy_coerce() -> None:
    assert RetryPolicy.coerce(None) == RetryPolicy()
    assert RetryPolicy.coerce(0).max_retries == 0
    assert RetryPolicy.coerce(5).max_retries == 5
    policy = RetryPolicy(max_retries=1)
    assert RetryPolicy.coerce(policy) is policy
    with pytest.raises(TypeError):
        RetryPolicy.coerce("3")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        RetryPolicy.coerce(True)
    assert RetryPolicy(retry_statuses={503}).retry_statuses == frozenset({503})  # type: ignore[arg-type]


def test_documented_defaults() -> None:
    assert Timeout() == Timeout(total=30.0, connect=10.0, read=None)
    assert Limits() == Limits(
        max_connections=100, max_connections_per_host=0, keepalive_expiry=30.0
    )
    policy = RetryPolicy()
    assert (policy.max_retries, policy.backoff_initial, policy.backoff_max) == (2, 0.5, 8.0)
    assert policy.jitter is True
    assert policy.retry_statuses == frozenset({408, 429, 500, 502, 503, 504})
    assert policy.max_retry_after == 60.0


def test_backoff_grows_exponentially_and_caps() -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=8.0, jitter=False)
    assert [policy.backoff(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.backoff(10_000) == 8.0  # no overflow for absurd attempt numbers


def test_backoff_jitter_stays_within_half_and_full(monkeypatch: pytest.MonkeyPatch) -> None:
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=8.0, jitter=True)
    rng = random.Random(0)
    monkeypatch.setattr("uprock_async._config.random.random", rng.random)
    for attempt in range(6):
        full = min(8.0, 0.5 * 2**attempt)
        samples = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.5 * full <= s <= full for s in samples)
        assert max(samples) - min(samples) > 0.3 * full  # it really varies


def test_retry_after_overrides_backoff_and_is_capped() -> None:
    policy = RetryPolicy(backoff_initial=0.5, max_retry_after=10.0)
    assert policy.backoff(0, retry_after=3.0) == 3.0
    assert policy.backoff(0, retry_after=3600.0) == 10.0
    assert policy.backoff(0, retry_after=-5.0) == 0.0


# -- _decode: pure --------------------------------------------------------------------

_decoder = msgspec.json.Decoder(JobDetail)


def test_decode_reads_empty_timestamps_as_none_in_compact_and_pretty_json() -> None:
    for body in (
        b'{"job":{"job_id":"a","status":"x","submitted_at":""}}',
        b'{"job": {"job_id": "a", "status": "x", "submitted_at" : "" }}',
        b'{"job": {"job_id": "a", "status": "x", "submitted_at":\n""}}',
    ):
        assert decode(_decoder, body).job.submitted_at is None


def test_decode_leaves_empty_strings_that_are_not_timestamps_alone() -> None:
    body = b'{"job":{"job_id":"a","status":"","url":"","submitted_at":""}}'
    detail = decode(_decoder, body)
    assert detail.job.status == ""
    assert detail.job.url == ""


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"<html>oops</html>", "not valid JSON"),
        (b'{"job": ', "not valid JSON"),
        (b'{"job": {"job_id": 5, "status": "x"}}', "does not match"),
        (b"[1, 2, 3]", "does not match"),
        # A malformed timestamp string fails on access (tests/test_decode_leniency.py).
        (b'{"job":{"job_id":"a","status":"x","submitted_at":5}}', "does not match"),
        (
            b'{"job":{"job_id":"a","status":"x","submitted_at":""},"result":{"created_at":[]}}',
            "does not match",
        ),
    ],
)
def test_decode_errors_quote_an_excerpt_and_keep_the_original_body(body: bytes, words: str) -> None:
    with pytest.raises(ResponseDecodeError, match=words) as info:
        decode(_decoder, body, status=201, what="job detail")
    assert info.value.body == body  # never the rewritten body
    assert info.value.status_code == 201
    assert str(info.value).startswith("job detail")


def test_decode_error_message_is_short_for_huge_bodies() -> None:
    body = b'{"job": ' + b"x" * 1_000_000
    with pytest.raises(ResponseDecodeError) as info:
        decode(_decoder, body)
    assert len(str(info.value)) < 600
    assert info.value.body is body


def test_decode_error_redacts_the_key() -> None:
    body = b"not json, key=sk-123"
    with pytest.raises(ResponseDecodeError) as info:
        decode(_decoder, body, redact=lambda text: text.replace("sk-123", "[redacted]"))
    assert "sk-123" not in str(info.value)
    assert "[redacted]" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"threshold": 0}, ValueError),
        ({"threshold": 1.5}, TypeError),
        ({"threshold": True}, TypeError),
        ({"cooldown": 0}, ValueError),
        ({"cooldown": -1.0}, ValueError),
        ({"max_wait": 0}, ValueError),
        ({"max_wait": float("inf")}, ValueError),
        ({"cooldown": float("nan")}, ValueError),
    ],
)
def test_bad_circuit_breaker_values_raise_at_construction(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


def test_the_circuit_breaker_is_on_by_default_and_none_turns_it_off() -> None:
    assert CircuitBreaker() == CircuitBreaker(threshold=10, cooldown=1.0, max_wait=60.0)
    on = UprockClient("k" * 20, base_url="http://127.0.0.1:9")
    off = UprockClient("k" * 20, base_url="http://127.0.0.1:9", circuit_breaker=None)
    assert on._transport.circuit_breaker == CircuitBreaker()
    assert off._transport.circuit_breaker is None
    with pytest.raises(TypeError, match="circuit_breaker"):
        UprockClient("k" * 20, circuit_breaker="on")  # type: ignore[arg-type]
