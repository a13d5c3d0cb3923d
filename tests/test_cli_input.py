"""Reading ids for ``job-details``: lines from chunks, linear and bounded, and what counts
as an invalid id.

The splitter is a pure function of the chunks, so chunk boundaries, line ends
and very long lines are tested directly; ``_pipe_ids`` is tested over a real
pipe, and the end-to-end cases run the command against a loopback server.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from tests.test_cli import _json_lines, cli
from uprock_async.cli._ids import LineSplitter, file_ids, split_chunks
from uprock_async.cli._ids import pipe_ids as _pipe_ids
from uprock_async.cli._output import JsonLines as _Lines
from uprock_async.cli._output import Tally

# -- correctness -------------------------------------------------------------------


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at ``cuts`` (positions, any order, repeats allowed)."""
    points = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def test_ids_split_across_chunk_boundaries_come_out_whole() -> None:
    data = b"alpha\nbravo\ncharlie\n"
    for size in range(1, len(data) + 1):
        pieces = [data[i : i + size] for i in range(0, len(data), size)]
        assert list(split_chunks(pieces)) == ["alpha", "bravo", "charlie"], size


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\r\nb\r\nc\r\n", ["a", "b", "c"]),  # CRLF
        (b"a\rb\rc", ["a", "b", "c"]),  # lone CR (old Mac files)
        (b"a\n\n\n  \n\t\nb\n", ["a", "b"]),  # blank lines skipped
        (b"  a  \n\tb\t\n", ["a", "b"]),  # surrounding whitespace stripped
        (b"a\nb", ["a", "b"]),  # a last line without a line end
        (b"a", ["a"]),
        (b"", []),
        (b"\n\r\n\r", []),
        (b"caf\xc3\xa9\n\xff\n", ["caf\u00e9", "\ufffd"]),  # not UTF-8: replaced, still a line
    ],
)
def test_line_ends_blank_lines_and_a_last_line_without_an_end(
    data: bytes, expected: list[str]
) -> None:
    assert list(split_chunks([data])) == expected
    assert list(split_chunks([data[i : i + 1] for i in range(len(data))])) == expected


def test_a_crlf_cut_between_its_cr_and_lf_is_one_line_end() -> None:
    assert list(split_chunks([b"a\r", b"\nb\r", b"\n"])) == ["a", "b"]


ids = st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True), max_size=30)


@given(
    ids=ids,
    ends=st.lists(st.sampled_from(["\n", "\r\n", "\r", "\n\n", " \n", "\r\n\t\r\n"]), min_size=1),
    last_end=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=2000)),
)
def test_any_chunking_of_any_line_ends_gives_the_ids_in_order(
    ids: list[str], ends: list[str], last_end: bool, cuts: list[int]
) -> None:
    text = "".join(job_id + ends[i % len(ends)] for i, job_id in enumerate(ids))
    if ids and not last_end:
        text = text.rstrip()  # the last id without any line end
    data = text.encode()
    assert list(split_chunks(chunked(data, cuts))) == ids


def test_file_ids_reads_a_stream_lazily_in_chunks() -> None:
    reads: list[int] = []

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            reads.append(-1 if size is None else size)
            return super().read(size)

    body = b"".join(b"%032d\n" % i for i in range(10_000))  # 330 KB: several chunks
    lines = file_ids(Counting(body))
    assert next(lines) == "0" * 32
    assert len(reads) == 1  # one chunk read, not the whole file
    assert sum(1 for _ in lines) == 9_999
    assert all(size == 1 << 16 for size in reads)


# -- bounded memory, linear time -----------------------------------------------------


def endless_line(chunks: int, chunk: bytes = b"x" * (1 << 16)) -> Iterator[bytes]:
    """``chunks`` times ``chunk``: by default one 64 KiB-a-chunk line that never ends,
    the worst case for re-joining."""
    for _ in range(chunks):
        yield chunk


def test_a_line_without_an_end_is_held_to_max_line_bytes() -> None:
    splitter = LineSplitter(max_line=4096)
    for piece in endless_line(160):  # 10 MiB
        assert splitter.feed(piece) == []
        assert splitter.held == 4096  # not the 10 MiB seen so far
    [line] = splitter.end()
    assert line == "x" * 4096 + "\u2026"  # cut, and marked so it cannot pass as an id
    assert splitter.held == 0


def test_a_long_line_of_whitespace_around_an_id_is_still_that_id() -> None:
    data = b"abc" + b" " * 100_000 + b"\n" + b"\t" * 70_000 + b"def\n" + b"g" * 5000 + b" h"
    expected = ["abc", "def", "g" * 4096 + "\u2026"]
    assert list(split_chunks([data])) == expected
    assert list(split_chunks(chunked(data, list(range(0, len(data), 4093))))) == expected


@given(
    data=st.binary(max_size=200).map(lambda b: bytes(b"ab \t\r\n"[x % 6] for x in b)),
    cuts=st.lists(st.integers(min_value=0, max_value=200)),
)
def test_where_chunks_end_never_changes_the_lines(data: bytes, cuts: list[int]) -> None:
    # max_line=8 makes cut lines common: whether a line is cut, and where, must
    # not depend on whether it arrived whole or in pieces.
    whole = list(split_chunks([data], max_line=8))
    assert list(split_chunks(chunked(data, cuts), max_line=8)) == whole
    assert all(len(line.rstrip("\u2026")) <= 8 for line in whole)


def best_of_three(run: Callable[[], object]) -> float:
    times = []
    for _ in range(3):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(endless_line, id="one line without an end"),
        pytest.param(
            lambda n: endless_line(n, (b"y" * 300_000 + b"\n") * 2 + b"z" * 5000),
            id="lines longer than a chunk",
        ),
        pytest.param(
            lambda n: endless_line(n, b"".join(b"%036d\r\n" % i for i in range(1725))),
            id="ordinary ids",
        ),
    ],
)
def test_reading_time_grows_linearly_with_the_input(
    make: Callable[[int], Iterator[bytes]],
) -> None:
    # 8x the input: linear takes ~8x, the old `pending + chunk` took ~78x on a
    # line without an end. The bound (and the 1 ms floor under the small run)
    # is wide enough that a busy machine cannot trip it.
    small = best_of_three(lambda: sum(1 for _ in split_chunks(make(32))))
    large = best_of_three(lambda: sum(1 for _ in split_chunks(make(256))))
    assert large / max(small, 1e-3) < 24


# -- the pipe reader ------------------------------------------------------------------


async def test_pipe_ids_reads_a_slow_producer_in_odd_pieces() -> None:
    data = b"".join(f"id-{i:05d}\r\n\n".encode() for i in range(20_000)) + b"last-one"
    pieces = chunked(data, list(range(0, len(data), 7919)))  # never on a line end
    read_end, write_end = os.pipe()

    def produce() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as out:
            for index, piece in enumerate(pieces):
                out.write(piece)
                if index % 10 == 0:
                    time.sleep(0.001)  # a producer slower than the reader

    writer = threading.Thread(target=produce)
    writer.start()
    try:
        got = [line async for line in _pipe_ids(read_end)]
    finally:
        writer.join()
        os.close(read_end)
    assert got == [f"id-{i:05d}" for i in range(20_000)] + ["last-one"]


# -- what counts as an invalid id --------------------------------------------------------


def test_only_the_up_front_check_counts_an_invalid_id() -> None:
    tally = Tally()
    lines = _Lines(io.BytesIO(), tally)
    lines.invalid("not/an/id", ValueError("invalid job_id"))
    # Lookup errors of well-formed ids are failures, whatever their type: a raw
    # ValueError from a malformed redirect is not the id's fault.
    lines.error("abc", ValueError("Invalid IPv6 URL"))
    lines.error("def", RuntimeError("boom"))
    assert (tally.ok, tally.failed, tally.invalid) == (0, 2, 1)
    assert tally.summary() == "3 ids: 0 ok, 2 failed, 1 invalid"


@pytest.fixture
async def odd_server() -> AsyncIterator[str]:
    """A loopback Uprock that answers each job id in its own odd way."""

    async def detail(request: web.Request) -> web.StreamResponse:
        job_id = request.match_info["job_id"]
        if job_id == "bad-location":  # a redirect to a URL that does not parse
            return web.Response(status=302, headers={"Location": "http://[::1"})
        if job_id == "credentials":
            location = "http://user:secret@127.0.0.1:1/crawl/v1/jobs/x/detail"
            return web.Response(status=302, headers={"Location": location})
        if job_id == "not-json":
            return web.Response(body=b"<html>oops</html>", content_type="text/html")
        if job_id == "wrong-type":
            return web.json_response({"job": {"job_id": 42, "status": []}})
        return web.json_response({"error": "job not found"}, status=404)

    app = web.Application()
    app.router.add_get("/crawl/v1/jobs/{job_id}/detail", detail)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_errors_that_are_not_about_the_id_are_failures_not_invalid_ids(
    odd_server: str,
) -> None:
    looked_up = ["bad-location", "credentials", "not-json", "wrong-type", "unknown-id"]
    result = await cli(
        "job-details", "--base-url", odd_server,
        env={"UPROCK_API_KEY": "k" * 32}, stdin="\n".join(looked_up).encode(),
    )  # fmt: skip
    err = result.stderr.decode()
    assert "Traceback" not in err
    assert "5 ids: 0 ok, 5 failed" in err
    assert "invalid" not in err
    assert result.returncode == 1
    by_id = {line["id"]: line for line in _json_lines(result.stdout)}
    assert sorted(map(str, by_id)) == sorted(looked_up)
    assert by_id["unknown-id"]["error"]["type"] == "NotFoundError"  # type: ignore[index]
    assert "k" * 32 not in result.stdout.decode() + err


async def test_a_line_that_is_not_an_id_is_invalid_beside_lookup_failures(
    odd_server: str,
) -> None:
    result = await cli(
        "job-details", "--base-url", odd_server,
        env={"UPROCK_API_KEY": "k" * 32}, stdin=b"not-json\r\nnot an id\r\nbad-location",
    )  # fmt: skip
    assert "3 ids: 0 ok, 2 failed, 1 invalid" in result.stderr.decode()
    assert result.returncode == 2
    by_id = {line["id"]: line for line in _json_lines(result.stdout)}
    assert by_id["not an id"]["error"]["type"] == "ValueError"  # type: ignore[index]
