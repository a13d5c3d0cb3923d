"""What a table cannot hold (``uprock_async.frames``): integers beyond 64 bits,
timestamps attribute access refuses or no UTC datetime shows, and more text in
one batch than one Arrow array addresses. Each is a ``ValueError`` naming the
column and the row, or (for the text) a table split into more chunks."""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone
from typing import Any

import msgspec
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_frames import details
from uprock_async import ResponseDecodeError, frames
from uprock_async.frames import to_arrow, to_pandas, to_polars
from uprock_async.screenshotcenter import Crawl, Screenshot
from uprock_async.testing._data import job_detail_payload
from uprock_async.uprock import Job, JobDetail

BIG = 2**63
GO_ZERO = "0001-01-01T00:00:00Z"


def _decoded(payloads: list[dict[str, Any]]) -> list[JobDetail]:
    """Job details decoded from JSON, as the client hands them out."""
    return msgspec.json.decode(msgspec.json.encode(payloads), type=list[JobDetail])


def _payloads(n: int) -> list[dict[str, Any]]:
    rng = random.Random(0)
    return [job_detail_payload(rng, f"job-{i}", headers=2, cookies=2) for i in range(n)]


# -- integers beyond 64 bits ---------------------------------------------------------------


@pytest.mark.parametrize("value", [BIG, 2**64, -(2**63) - 1, 10**40])
def test_an_integer_beyond_64_bits_names_its_column_and_row(value: int) -> None:
    payloads = _payloads(5)
    payloads[3]["result"]["size_bytes"] = value
    items = _decoded(payloads)
    assert items[3].result is not None
    assert items[3].result.size_bytes == value  # msgspec decodes it
    for convert in (to_arrow, to_polars, to_pandas):
        with pytest.raises(ValueError, match=r"^result\.size_bytes of row 3 is an integer outside"):
            convert(items)


def test_an_integer_beyond_64_bits_inside_a_list_names_the_row_that_holds_it() -> None:
    payloads = _payloads(4)
    payloads[2]["response_cookies"][1]["max_age"] = BIG  # cookies convert row by row
    with pytest.raises(ValueError, match=r"^response_cookies\.max_age of row 2 is an integer"):
        to_arrow(_decoded(payloads))


def test_a_big_integer_in_a_later_piece_of_cookies_names_its_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from uprock_async import _frames_columns

    monkeypatch.setattr(_frames_columns, "_PIECE_ROWS", 3)  # cookies convert three at a time
    payloads = _payloads(6)
    payloads[5]["response_cookies"][0]["max_age"] = -BIG - 1
    with pytest.raises(ValueError, match=r"^response_cookies\.max_age of row 5 is an integer"):
        to_arrow(_decoded(payloads))


def test_the_row_of_a_big_integer_counts_across_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frames, "_BATCH_ROWS", 3)
    payloads = _payloads(8)
    payloads[7]["job"]["timeout_sec"] = BIG
    with pytest.raises(ValueError, match=r"^job\.timeout_sec of row 7 is an integer outside"):
        to_arrow(_decoded(payloads))


def test_the_largest_64_bit_integers_still_convert() -> None:
    payloads = _payloads(2)
    payloads[0]["result"]["size_bytes"] = BIG - 1
    payloads[1]["result"]["size_bytes"] = -BIG
    column = to_arrow(_decoded(payloads)).column("result.size_bytes")
    assert column.type == pa.int64()
    assert column.to_pylist() == [BIG - 1, -BIG]


def test_a_big_integer_item_of_an_outcome_names_the_item_column() -> None:
    from uprock_async import Outcome

    outcomes = [Outcome(0, 1, Job(job_id="a"), None), Outcome(1, BIG, Job(job_id="b"), None)]
    with pytest.raises(ValueError, match=r"^item of row 1 is an integer outside 64 bits"):
        to_arrow(outcomes)


# -- timestamps: one rule with attribute access -------------------------------------------


def _job(stored: str) -> Job:
    return msgspec.json.decode(
        msgspec.json.encode({"job_id": "j", "submitted_at": stored}), type=Job
    )


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-17T11:38:58+01",  # an offset without minutes
        "2026-02-17T00:00Z",  # no seconds
        "0000-01-01T00:00:00Z",  # year 0
        "9999-12-31T23:59:59.9999999Z",  # rounds past the last microsecond
    ],
)
def test_a_timestamp_attribute_access_refuses_is_refused_by_to_arrow(text: str) -> None:
    job = _job(text)
    with pytest.raises(ResponseDecodeError):
        _ = job.submitted_at
    with pytest.raises(ValueError, match=r"^submitted_at of row 1 is not an RFC 3339 timestamp"):
        to_arrow([_job(GO_ZERO), job])


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_a_time_no_utc_datetime_shows_is_refused_and_never_an_unprintable_frame(
    text: str,
) -> None:
    assert _job(text).submitted_at is not None  # a datetime in its own offset
    with pytest.raises(ValueError, match=r"^submitted_at of row 0 is outside the years 1 to 9999"):
        to_arrow([_job(text), _job(GO_ZERO)])


def test_the_first_and_last_utc_instants_convert_and_print() -> None:
    jobs = [_job("0001-01-01T00:00:00Z"), _job("9999-12-31T23:59:59.999999Z")]
    table = to_arrow(jobs)
    assert table.column("submitted_at").to_pylist() == [j.submitted_at for j in jobs]
    assert table.to_pylist()[1]["submitted_at"] == jobs[1].submitted_at
    assert "9999-12-31" in str(to_pandas(jobs)["submitted_at"])
    assert "9999-12-31" in str(to_polars(jobs)["submitted_at"])


_EDGES = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59), datetime(2024, 2, 29, 12)]
_MOMENTS = st.one_of(
    st.sampled_from(_EDGES), st.datetimes(min_value=_EDGES[0], max_value=_EDGES[1])
)
_OFFSETS = ["", "Z", "z", "+01:00", "-23:59", "+23:59", "-00:00", "+0100", "+14:30"]
_FRACTIONS = ["", ".5", ".467667", ".4676665", ".467667051", ".9999995", ".12345678912"]
_BROKEN = ["", "0000", "00", "1", "13", "24", "60", "+01", "+24:00", ".", "T", ":", "-", "Z"]


@st.composite
def _timestamp_like(draw: st.DrawFn) -> str:
    """RFC 3339 strings in every spelling the services might use, half of them with
    one piece cut, changed or doubled."""
    m = draw(_MOMENTS)
    parts = [
        f"{m.year:04d}",
        "-",
        f"{m.month:02d}",
        "-",
        f"{m.day:02d}",
        draw(st.sampled_from("Tt ")),
    ]
    parts += [f"{m.hour:02d}", ":", f"{m.minute:02d}", ":", f"{m.second:02d}"]
    parts += [draw(st.sampled_from(_FRACTIONS)), draw(st.sampled_from(_OFFSETS))]
    if draw(st.booleans()):
        at = draw(st.integers(0, len(parts) - 1))
        parts[at] = draw(st.sampled_from([*_BROKEN, parts[at] * 2]))
    return "".join(parts)


def _utc(moment: datetime) -> datetime | None:
    """``moment`` (aware, as attribute access gives it) in UTC, or ``None`` when no
    datetime holds it there."""
    try:
        return (
            moment.astimezone(timezone.utc)
            if moment.tzinfo
            else moment.replace(tzinfo=timezone.utc)
        )
    except OverflowError:
        return None


@given(_timestamp_like())
def test_to_arrow_accepts_exactly_the_timestamps_attribute_access_reads(text: str) -> None:
    job = _job(text)
    try:
        moment = job.submitted_at
    except ResponseDecodeError:
        with pytest.raises(ValueError, match="is not an RFC 3339 timestamp"):
            to_arrow([job])
        return
    expected = None if moment is None else _utc(moment)
    if moment is not None and expected is None:
        with pytest.raises(ValueError, match="is outside the years 1 to 9999"):
            to_arrow([job])
        return
    assert to_arrow([job]).column("submitted_at").to_pylist() == [expected]


# -- more text than one Arrow array holds -------------------------------------------------


def test_a_batch_with_more_text_than_one_array_holds_is_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = details(40)
    whole = to_arrow(items)
    # The real bound is 2 GiB of one array (32-bit offsets); a smaller one takes the same path.
    monkeypatch.setattr(frames, "_MAX_ARRAY_BYTES", 4_000)
    split = to_arrow(items)
    assert split.equals(whole)
    assert split.column("response_headers").num_chunks > 1
    assert all(chunk.nbytes <= 4_000 for chunk in split.column("response_headers").chunks)
    assert split.column("job.job_id").to_pylist() == [f"job-{i}" for i in range(40)]


def test_a_single_row_with_more_text_than_one_array_holds_names_column_and_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shots = [Screenshot(id=i, url="https://example.com/") for i in range(3)]
    crawls = [Crawl(id=1), Crawl(id=2, screenshots=shots), Crawl(id=3)]
    monkeypatch.setattr(frames, "_MAX_ARRAY_BYTES", 60)
    with pytest.raises(ValueError, match=r"^screenshots\.\S+ of row 1 holds more than one Arrow"):
        to_arrow(crawls)


@pytest.mark.skipif(
    os.environ.get("UPROCK_ASYNC_BIG_MEMORY") != "1",
    reason="needs ~4.5 GB of memory: set UPROCK_ASYNC_BIG_MEMORY=1",
)
def test_more_than_2_gib_of_strings_in_one_batch_converts_for_real() -> None:
    text = "x" * (1 << 20)  # one string object, referenced 2,100 times: 2.1 GB in Arrow
    jobs = [Job(job_id=str(i), url=text) for i in range(2100)]
    table = to_arrow(jobs)
    assert table.num_rows == 2100
    assert table.column("url").num_chunks >= 2
    assert table.column("job_id")[2099].as_py() == "2099"


def test_a_stored_datetime_subclass_converts_as_the_datetime_it_is() -> None:
    pd = pytest.importorskip("pandas")
    stamp = pd.Timestamp("2026-02-17T12:38:58.467667+01:00")
    table = to_arrow([Job(job_id="j", submitted_at=stamp)])
    assert table.column("submitted_at").to_pylist() == [stamp.to_pydatetime()]
