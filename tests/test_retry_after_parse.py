"""``Retry-After`` is read totally: any header value gives ``None`` (ignored) or a
finite number of seconds >= 0, and never an exception out of the transport.

``Mon, 01 Jan 99999999999999999999 00:00:00 GMT`` used to raise a bare
``OverflowError`` from the date parser, past the transport's error mapping: the
request died without stats, without breaker accounting, and took a whole
``watch_jobs`` with it.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import FAST_RETRY
from uprock_async import CircuitBreaker, RateLimitError, ServerError, UprockClient
from uprock_async._errors import status_error
from uprock_async._retry_after import parse_retry_after
from uprock_async.testing import FakeServer

HUGE_YEAR = "Mon, 01 Jan 99999999999999999999 00:00:00 GMT"
DETAIL = "/crawl/v1/jobs/*/detail"

# Strings shaped like what the parser tries hardest on: numbers of every size and
# sign, and HTTP dates with any year, day, time and offset.
NUMBERS = st.from_regex(r"\s*[+-]?[0-9]{0,400}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,5})?\s*")
DATES = st.builds(
    "{}, {} {} {} {}:{}:{} {}".format,
    st.sampled_from(["Mon", "Tue", "Sun", "Xyz"]),
    st.integers(-5, 99),
    st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    st.integers(-(10**30), 10**30),
    st.integers(-1, 99),
    st.integers(-1, 99),
    st.integers(-1, 99),
    st.sampled_from(["GMT", "UTC", "+2359", "-9999", "+0000", "EST", ""]),
)
NOWS = st.none() | st.floats(allow_nan=True, allow_infinity=True)


def well_formed(seconds: float | None) -> bool:
    return seconds is None or (
        isinstance(seconds, float) and math.isfinite(seconds) and seconds >= 0
    )


@settings(max_examples=500, deadline=None)
@given(st.text() | NUMBERS | DATES, NOWS)
def test_every_string_gives_none_or_a_finite_number_of_seconds(
    value: str, now: float | None
) -> None:
    assert well_formed(parse_retry_after(value, now=now))


@pytest.mark.parametrize(
    "value",
    [
        HUGE_YEAR,
        "Mon, 01 Jan 10000 00:00:00 GMT",  # past datetime's year 9999
        "Mon, 99 Jan 2026 00:00:00 GMT",
        "Mon, 01 Jan 2026 00:00:00 -9999",  # an offset datetime refuses
        "1e400",  # a delta past what a float holds
        "soon",
    ],
)
def test_an_unparseable_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None


def test_a_date_far_ahead_is_still_a_finite_wait() -> None:
    seconds = parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=0.0)
    assert seconds is not None
    assert math.isfinite(seconds)
    assert seconds > 1e11


def test_a_429_built_from_such_a_header_has_no_retry_after() -> None:
    error = status_error(429, b'"too many requests: slow down"', {"Retry-After": HUGE_YEAR})
    assert isinstance(error, RateLimitError)
    assert error.retry_after is None


@pytest.mark.parametrize("status", [503, 429])
async def test_such_a_header_on_an_overload_answer_does_not_crash_the_request(
    server: FakeServer, status: int
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.inject(DETAIL, status=status, times=1, retry_after=HUGE_YEAR)
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=5.0
    ) as client:
        detail = await client.job_detail(job_id)  # retried as if no Retry-After came
        stats = client.stats()
    assert detail.job_id == job_id
    assert stats.responses == {status: 1, 200: 1}
    assert (stats.requests, stats.retries) == (2, 1)
    assert stats.errors == {}


async def test_such_answers_still_count_for_the_stats_and_the_breaker(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=None, retry_after=HUGE_YEAR)
    breaker = CircuitBreaker(threshold=2, cooldown=0.01, max_wait=0.3)
    async with UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        retry=FAST_RETRY,
        timeout=5.0,
        circuit_breaker=breaker,
    ) as client:
        with pytest.raises(ServerError) as info:
            await client.job_detail(job_id)
        stats = client.stats()
    assert info.value.status_code == 503
    assert stats.breaker_trips == 1  # two 503s in a row opened it
    assert stats.responses[503] == stats.requests >= 3
    assert stats.errors == {"ServerError": 1}


async def test_such_a_header_on_a_batch_status_round_does_not_end_the_watch(
    server: FakeServer,
) -> None:
    ids = server.add_jobs(3, headers=2, cookies=0)
    server.inject("/crawl/v1/jobs/batch/status", status=503, times=1, retry_after=HUGE_YEAR)
    async with (
        UprockClient(
            server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=5.0
        ) as client,
        client.watch_jobs(ids, poll_interval=0.01, timeout=10, details=False) as outcomes,
    ):
        values = [outcome.unwrap() async for outcome in outcomes]
    assert sorted(job.job_id for job in values) == sorted(ids)
    assert client.stats().responses[503] == 1
