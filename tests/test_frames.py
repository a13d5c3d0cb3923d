"""uprock_async.frames: models, outcomes and failures as Arrow, polars and pandas tables."""

from __future__ import annotations

import importlib
import random
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pyarrow as pa
import pytest

from uprock_async import NotFoundError, Outcome, ServerError, frames
from uprock_async.frames import to_arrow, to_pandas, to_polars
from uprock_async.screenshotcenter import App, Batch, Crawl, Screenshot, Tracker, TrackerReturn
from uprock_async.testing._data import crawl_payload, job_detail_payload
from uprock_async.uprock import Cookie, Header, Job, JobDetail, JobResult

UTC = timezone.utc
TS = pa.timestamp("us", tz="UTC")
STR = pa.string()
HEADERS = pa.list_(pa.struct([("name", STR), ("value", STR)]))
COOKIES = pa.list_(
    pa.struct(
        [
            ("name", STR),
            ("value", STR),
            ("domain", STR),
            ("path", STR),
            ("expires", STR),
            ("max_age", pa.int64()),
            ("secure", pa.bool_()),
            ("httponly", pa.bool_()),
            ("samesite", STR),
        ]
    )
)
JOB_DETAIL_SCHEMA = [
    ("job.job_id", STR),
    ("job.status", STR),
    ("job.url", STR),
    ("job.method", STR),
    ("job.placement", STR),
    ("job.session_id", STR),
    ("job.submitted_at", TS),
    ("job.timeout_sec", pa.int64()),
    ("download_url", STR),
    ("request_headers", HEADERS),
    ("response_headers", HEADERS),
    ("request_cookies", COOKIES),
    ("response_cookies", COOKIES),
    ("result.id", STR),
    ("result.success", pa.bool_()),
    ("result.status_code", pa.int64()),
    ("result.created_at", TS),
    ("result.time_ms", pa.int64()),
    ("result.timestamp_ms", pa.int64()),
    ("result.size_bytes", pa.int64()),
    ("result.error_type", STR),
    ("result.error_message", STR),
    ("result.tls_version", STR),
    ("result.tls_cipher_suite", STR),
    ("error", STR),
    ("error_message", STR),
]


def details(n: int, *, seed: int = 0) -> list[JobDetail]:
    rng = random.Random(seed)
    return [
        msgspec.json.decode(
            msgspec.json.encode(job_detail_payload(rng, f"job-{i}", headers=3, cookies=2)),
            type=JobDetail,
        )
        for i in range(n)
    ]


def crawl(screenshots: int = 3) -> Crawl:
    payload = crawl_payload(random.Random(0), 7, screenshots, first_shot_id=100)
    return msgspec.json.decode(msgspec.json.encode(payload), type=Crawl)


def wire(text: str) -> Any:
    """A wire string where the type says ``datetime``: the slot of a decoded struct holds one."""
    return text


def job_at(stored: Any) -> Job:
    """A job whose ``submitted_at`` slot holds ``stored``: a wire string or a datetime."""
    return Job(job_id="j", status="queued", submitted_at=stored)


def schema(table: pa.Table) -> list[tuple[str, pa.DataType]]:
    return [(field.name, field.type) for field in table.schema]


# -- columns and types -------------------------------------------------------------------


def test_job_details_have_dotted_columns_list_columns_and_utc_timestamps() -> None:
    items = details(3)
    table = to_arrow(items)
    assert schema(table) == JOB_DETAIL_SCHEMA
    assert table.num_rows == 3
    row = table.slice(1, 1).to_pylist()[0]
    detail = items[1]
    assert row["job.job_id"] == "job-1"
    assert row["job.status"] == detail.job.status
    assert row["result.status_code"] == 200
    assert detail.result is not None
    assert detail.job.submitted_at is not None
    assert row["job.submitted_at"] == detail.job.submitted_at
    assert row["result.created_at"] == detail.result.created_at
    assert row["response_headers"] == msgspec.to_builtins(detail.response_headers)
    assert row["request_cookies"] == msgspec.to_builtins(detail.request_cookies)
    assert msgspec.json.decode(row["job.placement"]) == detail.job.placement
    assert row["error"] is None
    assert row["error_message"] is None


def test_jobs_batches_and_screenshots_get_their_own_columns() -> None:
    job = Job(job_id="j", status="queued", placement={"country": "DE"}, submitted_at=None)
    assert schema(to_arrow([job])) == [
        (name.removeprefix("job."), type_)
        for name, type_ in JOB_DETAIL_SCHEMA
        if name.startswith("job.")
    ] + [("error", STR), ("error_message", STR)]

    batch = Batch(
        id=5, status="finished", error="", count=3, processed=3, failed=0, zip_url="https://z/5.zip"
    )
    assert to_arrow([batch]).to_pylist() == [
        {
            "id": 5,
            "status": "finished",
            "error": "",
            "count": 3,
            "processed": 3,
            "failed": 0,
            "zip_url": "https://z/5.zip",
            "error_message": None,
        }
    ]

    shots = to_arrow(crawl().screenshots)
    types = dict(schema(shots))
    assert shots.num_rows == 3
    assert types["id"] == pa.int64()
    assert types["video_speed"] == pa.float64()
    assert types["final_urls"] == pa.list_(STR)
    assert types["created_at"] == TS
    assert types["finished_at"] == TS
    assert types["steps"] == pa.list_(STR)  # free-form objects: JSON text
    apps = types["apps"].value_type
    assert apps.field("updated_at").type == TS
    assert apps.field("output_data").type == STR
    returns = types["trackers"].value_type.field("return").type.value_type
    assert [f.name for f in returns] == ["found", "shot", "value", "name"]


def test_a_crawl_keeps_its_screenshots_as_a_list_of_structs() -> None:
    source = crawl(4)
    table = to_arrow([source])
    types = dict(schema(table))
    assert types["created_at"] == TS
    assert pa.types.is_list(types["screenshots"])
    shots = table.column("screenshots")[0].as_py()
    assert [shot["id"] for shot in shots] == [100, 101, 102, 103]
    assert shots[0]["url"] == source.screenshots[0].url
    assert shots[0]["apps"][0]["updated_at"] is None  # "" on the wire


def test_nested_timestamps_any_values_and_renamed_fields_convert() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    shot = Screenshot(
        id=1,
        apps=[
            App(id=2, updated_at=wire("2026-03-01T13:00:00.25+01:00")),
            App(id=3, updated_at=moment),
        ],
        trackers=[Tracker(id="t", return_=[TrackerReturn(found=1, value={"price": 9.5})])],
        steps=[{"action": "click"}],
    )
    row = to_arrow([shot]).to_pylist()[0]
    assert [app["updated_at"] for app in row["apps"]] == [moment, moment]
    (tracker,) = row["trackers"]
    assert tracker["return"][0]["found"] == 1
    assert msgspec.json.decode(tracker["return"][0]["value"]) == {"price": 9.5}
    assert msgspec.json.decode(row["steps"][0]) == {"action": "click"}


def test_every_timestamp_column_is_a_field_ending_in_at() -> None:
    """The rule, pinned over every kind of row: a column is a UTC timestamp
    exactly when its field's name ends in ``_at``."""

    def leaves(name: str, type_: pa.DataType) -> Iterator[tuple[str, pa.DataType]]:
        if pa.types.is_list(type_):
            yield from leaves(name, type_.value_type)
        elif pa.types.is_struct(type_):
            for field in type_:
                yield from leaves(f"{name}.{field.name}", field.type)
        else:
            yield name, type_

    found = set()
    for kind in (JobDetail, Job, Crawl, Screenshot, Batch):
        for name, type_ in schema(to_arrow([], kind=kind)):
            for leaf, leaf_type in leaves(name, type_):
                assert (leaf_type == TS) == leaf.endswith("_at"), leaf
                if leaf_type == TS:
                    found.add(f"{kind.__name__}:{leaf}")
    assert found == {
        "JobDetail:job.submitted_at",
        "JobDetail:result.created_at",
        "Job:submitted_at",
        "Crawl:created_at",
        "Crawl:screenshots.created_at",
        "Crawl:screenshots.finished_at",
        "Crawl:screenshots.apps.updated_at",
        "Screenshot:created_at",
        "Screenshot:finished_at",
        "Screenshot:apps.updated_at",
    }


# -- timestamps -----------------------------------------------------------------------------

EXPECTED = datetime(2026, 2, 17, 11, 38, 58, 467667, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-02-17T11:38:58.467667051Z", EXPECTED),  # nanoseconds, rounded as on access
        ("2026-02-17T11:38:58.4676665Z", EXPECTED),  # round half up
        ("2026-02-17T11:38:58.467667Z", EXPECTED),
        ("2026-02-17T12:38:58.467667+01:00", EXPECTED),
        ("2026-02-17T06:08:58.467667051-05:30", EXPECTED),
        ("2026-02-17T11:38:58.467667", EXPECTED),  # no offset: UTC
        ("2026-02-17 11:38:58.467667051", EXPECTED),
        ("2026-02-17t11:38:58.467667z", EXPECTED),
        ("2026-02-17T11:38:58.4676670519Z", EXPECTED),  # more digits than nanoseconds
        ("2026-02-17T11:38:58Z", EXPECTED.replace(microsecond=0)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),  # Go's zero time
        (EXPECTED, EXPECTED),
        (EXPECTED.astimezone(timezone(timedelta(hours=-7))), EXPECTED),
        (EXPECTED.replace(tzinfo=None), EXPECTED),  # a naive datetime: UTC
        ("", None),
        (None, None),
    ],
)
def test_every_timestamp_spelling_becomes_a_utc_timestamp(stored: Any, expected: Any) -> None:
    table = to_arrow([job_at(stored)])
    assert table.schema.field("submitted_at").type == TS
    assert table.column("submitted_at")[0].as_py() == expected


def test_timestamps_match_attribute_access_over_many_random_nanoseconds() -> None:
    rng = random.Random(3)
    jobs = [job_at(f"2026-02-17T11:38:58.{rng.randrange(10**9):09d}Z") for _ in range(2000)]
    assert to_arrow(jobs).column("submitted_at").to_pylist() == [j.submitted_at for j in jobs]


def test_mixed_spellings_in_one_column_all_convert() -> None:
    stored: list[Any] = [
        "2026-02-17T11:38:58.467667Z",
        "",
        None,
        EXPECTED,
        "2026-02-17T11:38:58.467667",
    ]
    jobs = [job_at(value) for value in stored]
    assert to_arrow(jobs).column("submitted_at").to_pylist() == [
        EXPECTED,
        None,
        None,
        EXPECTED,
        EXPECTED,
    ]


def test_a_value_that_is_not_a_timestamp_names_column_and_row_but_not_the_value() -> None:
    jobs = [
        job_at("2026-02-17T11:38:58Z"),
        job_at("sk-secret"),
    ]
    with pytest.raises(ValueError, match=r"submitted_at of row 1 is not an RFC 3339") as info:
        to_arrow(jobs)
    assert "sk-secret" not in str(info.value)


def test_a_timestamp_slot_holding_something_else_raises_type_error() -> None:
    with pytest.raises(TypeError, match="submitted_at: int is not a timestamp"):
        to_arrow([job_at(1771328337)])


# -- failures, outcomes, order ----------------------------------------------------------------


def test_failed_items_are_rows_of_nulls_with_the_error_in_input_order() -> None:
    ok = details(2)
    missing = NotFoundError("job not found", status_code=404, request_id="r-1")
    items: list[Any] = [ok[0], missing, ok[1], ServerError("boom", status_code=503)]
    table = to_arrow(items)
    assert schema(table) == JOB_DETAIL_SCHEMA
    assert table.column("job.job_id").to_pylist() == ["job-0", None, "job-1", None]
    assert table.column("error").to_pylist() == [None, "NotFoundError", None, "ServerError"]
    assert table.column("error_message").to_pylist() == [None, str(missing), None, str(items[3])]
    failed = table.slice(1, 1).to_pylist()[0]
    assert {k for k, v in failed.items() if v is not None} == {"error", "error_message"}


def test_outcomes_add_index_and_item_first() -> None:
    ok = details(2)
    outcomes: list[Outcome[str, JobDetail]] = [
        Outcome(2, "job-1", ok[1], None),
        Outcome(0, "job-0", ok[0], None),
        Outcome(1, "nope", None, NotFoundError("job not found", status_code=404)),
    ]
    table = to_arrow(outcomes)
    assert table.column_names[:2] == ["index", "item"]
    assert schema(table)[2:] == JOB_DETAIL_SCHEMA
    assert table.column("index").to_pylist() == [2, 0, 1]
    assert table.column("item").to_pylist() == ["job-1", "job-0", "nope"]
    assert table.column("job.job_id").to_pylist() == ["job-1", "job-0", None]
    assert table.column("error").to_pylist() == [None, None, "NotFoundError"]


def test_outcome_items_stay_integers_or_become_text() -> None:
    batch = Batch(id=1)
    ids = to_arrow([Outcome(0, 7, batch, None), Outcome(1, 8, batch, None)]).column("item")
    assert ids.type == pa.int64()
    assert ids.to_pylist() == [7, 8]
    job_id = uuid.UUID(int=1)
    items = to_arrow([Outcome(0, job_id, batch, None), Outcome(1, ("x", 2), batch, None)])
    assert items.column("item").to_pylist() == [str(job_id), "('x', 2)"]


def test_a_model_with_its_own_error_field_shares_the_error_column() -> None:
    table = to_arrow([Batch(id=1, error="quota"), Batch(id=2, error=""), RuntimeError("lost")])
    assert table.column_names.count("error") == 1
    assert table.column("error").to_pylist() == ["quota", "", "RuntimeError"]
    assert table.column("error_message").to_pylist() == [None, None, "lost"]


def test_any_iterable_works_and_rows_keep_their_order_across_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    items = details(7)
    whole = to_arrow(items)
    monkeypatch.setattr(frames, "_BATCH_ROWS", 3)
    batched = to_arrow(iter(items))
    assert batched.equals(whole)
    assert batched.column("job.job_id").num_chunks == 3


# -- empty and bad input ---------------------------------------------------------------------


def test_an_empty_list_is_an_empty_table_without_columns() -> None:
    table = to_arrow([])
    assert table.num_rows == 0
    assert table.num_columns == 0


def test_kind_gives_the_columns_when_no_item_shows_them() -> None:
    assert schema(to_arrow([], kind=JobDetail)) == JOB_DETAIL_SCHEMA
    assert to_arrow([], kind=JobDetail).num_rows == 0
    failed = to_arrow([NotFoundError("gone", status_code=404)], kind=JobDetail)
    assert schema(failed) == JOB_DETAIL_SCHEMA
    assert failed.column("error").to_pylist() == ["NotFoundError"]


def test_all_failed_without_kind_gives_only_the_error_columns() -> None:
    table = to_arrow([NotFoundError("gone", status_code=404)])
    assert table.column_names == ["error", "error_message"]
    outcome: Outcome[str, Job] = Outcome(0, "x", None, NotFoundError("gone", status_code=404))
    assert to_arrow([outcome]).column_names == ["index", "item", "error", "error_message"]


def test_two_kinds_of_model_raise_type_error_naming_both() -> None:
    with pytest.raises(TypeError, match="JobDetail and Screenshot"):
        to_arrow([*details(1), Screenshot(id=1)])
    with pytest.raises(TypeError, match="JobDetail and Batch"):
        to_arrow([Batch(id=1)], kind=JobDetail)


@pytest.mark.parametrize("item", [None, {"job_id": "x"}, "job-1", Outcome(0, "x", 42, None)])
def test_something_that_is_not_a_model_raises_type_error(item: Any) -> None:
    with pytest.raises(TypeError, match="takes models"):
        to_arrow([item])


def test_structs_inside_lists_may_hold_none_rows() -> None:
    class Holder(msgspec.Struct):
        headers: list[Header | None] = []
        cookies: list[Cookie | None] = []
        result: JobResult | None = None

    cookie = Cookie("c", "v", max_age=60, secure=True)
    table = to_arrow([Holder(headers=[Header("a", "1"), None], cookies=[None, cookie]), Holder()])
    assert table.column("headers").to_pylist() == [[{"name": "a", "value": "1"}, None], []]
    assert table.column("cookies").to_pylist() == [[None, msgspec.to_builtins(cookie)], []]
    assert table.column("result.status_code").to_pylist() == [None, None]


def test_small_batches_and_pieces_give_the_same_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows convert in batches of about ``_BATCH_VALUES`` values, cookies by rows in
    pieces of ``_PIECE_ROWS``: neither changes a value, a null or a row's place."""
    from uprock_async import _frames_columns

    items: list[Any] = [*details(30), NotFoundError("gone", status_code=404), *details(5, seed=1)]
    whole = to_arrow(items)
    monkeypatch.setattr(frames, "_BATCH_VALUES", 100)  # a few details a batch
    monkeypatch.setattr(_frames_columns, "_PIECE_ROWS", 3)  # cookies three at a time
    small = to_arrow(items)
    assert small.equals(whole)
    assert small.column("job.job_id").num_chunks > 1
    assert small.column("error").to_pylist()[30] == "NotFoundError"
    assert small.column("response_cookies").to_pylist() == [
        msgspec.to_builtins(d.response_cookies) if isinstance(d, JobDetail) else None for d in items
    ]


def test_a_null_struct_among_many_cookies_stays_null(monkeypatch: pytest.MonkeyPatch) -> None:
    from uprock_async import _frames_columns

    class Holder(msgspec.Struct):
        cookies: list[Cookie | None] = []

    monkeypatch.setattr(_frames_columns, "_PIECE_ROWS", 2)
    cookies: list[Cookie | None] = [Cookie(f"c{i}", "v", max_age=i) for i in range(5)]
    cookies[3] = None
    (row,) = to_arrow([Holder(cookies=cookies)]).column("cookies").to_pylist()
    assert [c and c["max_age"] for c in row] == [0, 1, 2, None, 4]


# -- polars and pandas -----------------------------------------------------------------------


def test_to_polars_keeps_names_types_and_values() -> None:
    pl = pytest.importorskip("polars")
    items: list[Any] = [*details(2), NotFoundError("gone", status_code=404)]
    df = to_polars(items)
    assert df.columns == [name for name, _ in JOB_DETAIL_SCHEMA]
    assert df.height == 3
    assert df.schema["job.submitted_at"] == pl.Datetime("us", "UTC")
    assert df.schema["result.status_code"] == pl.Int64
    assert df.schema["response_headers"] == pl.List(
        pl.Struct({"name": pl.String, "value": pl.String})
    )
    assert df["job.job_id"].to_list() == ["job-0", "job-1", None]
    assert df["job.submitted_at"][0] == items[0].job.submitted_at
    assert df["error"].to_list() == [None, None, "NotFoundError"]
    assert to_polars([]).shape == (0, 0)


def test_to_pandas_keeps_integers_nullable_and_timestamps_utc() -> None:
    pd = pytest.importorskip("pandas")
    items: list[Any] = [*details(2), NotFoundError("gone", status_code=404)]
    df = to_pandas(items)
    assert list(df.columns) == [name for name, _ in JOB_DETAIL_SCHEMA]
    assert len(df) == 3
    assert str(df["result.status_code"].dtype) == "Int64"
    assert df["result.status_code"].tolist()[:2] == [200, 200]
    assert df["result.status_code"].isna().tolist() == [False, False, True]
    assert str(df["result.success"].dtype) == "boolean"
    assert str(df["job.submitted_at"].dtype) == "datetime64[us, UTC]"
    assert df["job.submitted_at"].iloc[0] == pd.Timestamp(items[0].job.submitted_at)
    assert df["error"].tolist()[2] == "NotFoundError"
    assert list(df["response_headers"].iloc[0]) == msgspec.to_builtins(items[0].response_headers)


@pytest.mark.parametrize(("convert", "module"), [(to_polars, "polars"), (to_pandas, "pandas")])
def test_a_missing_dataframe_library_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, convert: Any, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes ``import module`` fail
    with pytest.raises(ImportError, match=rf"pip install 'uprock-async\[frames\]' {module}"):
        convert(details(1))


def test_importing_frames_without_pyarrow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.delitem(sys.modules, "uprock_async.frames")
    with pytest.raises(ImportError, match=r"needs pyarrow: pip install 'uprock-async\[frames\]'"):
        importlib.import_module("uprock_async.frames")


def test_to_polars_holds_what_to_arrow_holds() -> None:
    """to_polars() builds its text as string views (polars' own layout); the frame is
    the one polars reads from to_arrow()'s table, for every kind of row."""
    pl = pytest.importorskip("polars")
    failed = NotFoundError("gone", status_code=404)
    cases: list[list[Any]] = [
        [*details(3), failed],
        crawl(4).screenshots,
        [crawl(2)],
        [Batch(id=1, error="quota"), Batch(id=2), RuntimeError("lost")],  # shared error column
        [Outcome(0, "job-0", details(1)[0], None), Outcome(1, "nope", None, failed)],
    ]
    for items in cases:
        expected = pl.from_arrow(to_arrow(items))
        assert to_polars(items).equals(expected)
        assert to_polars(items).schema == expected.schema


def test_to_pandas_list_cells_read_as_lists_without_objects_per_item() -> None:
    pd = pytest.importorskip("pandas")
    items: list[Any] = [*details(2), NotFoundError("gone", status_code=404)]
    df = to_pandas(items)
    headers = df["response_headers"]
    assert isinstance(headers.dtype, pd.ArrowDtype)
    assert headers.dtype.pyarrow_dtype == HEADERS
    assert headers.iloc[0] == msgspec.to_builtins(items[0].response_headers)
    assert headers.isna().tolist() == [False, False, True]
    shots = to_pandas(crawl(2).screenshots)
    assert shots["final_urls"].iloc[0] == crawl(2).screenshots[0].final_urls


def test_tables_live_outside_pyarrows_mimalloc_pool() -> None:
    """pyarrow's mimalloc keeps about twice a table resident; the arrays come from the
    system allocator then, and another default pool is used as it is."""
    from uprock_async import _frames_columns

    default = pa.default_memory_pool()
    expected = pa.system_memory_pool() if default.backend_name == "mimalloc" else default
    assert _frames_columns.pool().backend_name == expected.backend_name
    if default.backend_name == "mimalloc":
        before = default.bytes_allocated()
        table = to_arrow(details(50))
        assert default.bytes_allocated() - before < table.nbytes // 10
