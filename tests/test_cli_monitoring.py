"""The command line of a monitoring worker: ``job-details --resume``, ``watch``,
``--metrics-port`` and SIGTERM, run as subprocesses against a loopback FakeServer."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
import time
import tracemalloc
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import aiohttp
import anyio
import anyio.abc
import pytest

from tests.test_cli import _env, _json_lines, _keys, child, cli
from uprock_async.cli import main
from uprock_async.cli._output import open_output
from uprock_async.testing import FakeServer

DETAIL = "/detail"
BATCH = "/crawl/v1/jobs/batch/status"
UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _ids_file(tmp_path: Path, ids: Sequence[str], name: str = "ids.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(ids) + "\n")
    return path


def _looked_up(server: FakeServer) -> list[str]:
    """The job ids whose detail was requested, in order."""
    return [r.path.split("/")[-2] for r in server.requests if r.path.endswith(DETAIL)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _finishing(server: FakeServer, n: int, *, within: float) -> list[str]:
    """``n`` pending jobs that complete at evenly spread times over ``within`` seconds."""
    ids = server.add_jobs(n, headers=2, cookies=0, status="pending")
    now = asyncio.get_running_loop().time()
    server.job_completion_delay = within
    for i, job_id in enumerate(ids):
        server.job_created[job_id] = now - within + within * (i + 1) / n
    return ids


def _start(*args: str, server: FakeServer) -> AbstractAsyncContextManager[anyio.abc.Process]:
    return child(
        [sys.executable, "-m", "uprock_async", *args, "--base-url", server.uprock_url],
        env=_env(_keys(server)),
    )


async def _stderr(process: anyio.abc.Process) -> str:
    assert process.stderr is not None
    return b"".join([chunk async for chunk in process.stderr]).decode()


# -- job-details --resume ---------------------------------------------------------------


async def test_resume_looks_up_only_what_is_missing_and_survives_a_cut_last_line(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(30, headers=2, cookies=0)
    source = _ids_file(tmp_path, ids)
    output = tmp_path / "out.jsonl"
    done = [
        json.dumps({"id": job_id, "detail": {"job": {"job_id": job_id}}}) for job_id in ids[:10]
    ]
    failed = json.dumps({"id": ids[10], "error": {"type": "ServerError", "status": 503}})
    # a run killed in the middle of writing its last line
    output.write_text("\n".join([*done, failed]) + "\n" + '{"id": "' + ids[11][:8])

    result = await cli(
        "job-details", str(source), "--output", str(output), "--resume",
        "--base-url", server.uprock_url, env=_keys(server),
    )  # fmt: skip

    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert sorted(_looked_up(server)) == sorted(ids[10:])  # the failed one is tried again
    assert "resuming: 10 ids already done" in err
    assert "1 unreadable lines ignored" in err
    assert "30 ids: 20 ok, 0 failed, 10 already done" in err
    raw = output.read_bytes().decode().splitlines()
    assert raw[11] == '{"id": "' + ids[11][:8]  # the cut line kept as it was, on its own
    lines = [json.loads(line) for i, line in enumerate(raw) if i != 11]
    with_detail = [line["id"] for line in lines if "detail" in line]
    assert sorted(with_detail) == sorted(ids)  # each id has exactly one detail line


async def test_resume_of_a_file_that_does_not_exist_yet_is_a_fresh_run(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(5, headers=2, cookies=0)
    output = tmp_path / "new.jsonl"
    result = await cli(
        "job-details", str(_ids_file(tmp_path, ids)), "-o", str(output), "--resume",
        "--base-url", server.uprock_url, env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(str(line["id"]) for line in _json_lines(output.read_bytes())) == sorted(ids)


@pytest.mark.parametrize("output", [[], ["--output", "-"]])
def test_resume_without_an_output_file_is_a_usage_error(
    output: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPROCK_API_KEY", "k" * 32)
    assert main(["job-details", "--resume", *output]) == 2
    err = capsys.readouterr().err
    assert "--resume needs --output FILE" in err
    assert len(err.strip().splitlines()) == 1


def test_an_output_that_is_the_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPROCK_API_KEY", "k" * 32)
    source = _ids_file(tmp_path, [UNKNOWN])
    assert main(["job-details", str(source), "-o", str(source), "--resume"]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert source.read_text() == UNKNOWN + "\n"  # not truncated, nothing appended


def test_resume_reads_the_output_a_line_at_a_time(tmp_path: Path) -> None:
    output = tmp_path / "big.jsonl"
    detail = json.dumps({"headers": ["x" * 100] * 400})  # ~40 KB a line
    with output.open("w") as stream:
        for i in range(1000):  # ~40 MB
            stream.write(f'{{"id": "job-{i}", "detail": {detail}}}\n')
    tracemalloc.start()
    try:
        opened = open_output(str(output), resume=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    opened.close()
    assert len(opened.done) == 1000
    assert peak < 4_000_000  # a few lines and the set of ids, never the 40 MB file


# -- watch ------------------------------------------------------------------------------


async def test_watch_writes_a_line_per_job_as_it_finishes_with_batch_polls_only(
    server: FakeServer, tmp_path: Path
) -> None:
    done = server.add_jobs(3, headers=2, cookies=0)
    later = _finishing(server, 5, within=0.5)
    output = tmp_path / "watch.jsonl"
    result = await cli(
        "watch", str(_ids_file(tmp_path, [*done, *later, UNKNOWN])), "-o", str(output),
        "--poll-interval", "0.1", "--timeout", "20", "--base-url", server.uprock_url,
        env=_keys(server),
    )  # fmt: skip
    err = result.stderr.decode()
    assert result.returncode == 1, err  # the unknown id failed
    by_id = {line["id"]: line for line in _json_lines(output.read_bytes())}
    assert set(by_id) == {*done, *later, UNKNOWN}
    for job_id in [*done, *later]:
        assert by_id[job_id]["detail"]["job"]["status"] == "completed"  # type: ignore[index]
    assert by_id[UNKNOWN]["error"]["type"] == "NotFoundError"  # type: ignore[index]
    assert "9 ids: 8 ok, 1 failed" in err
    paths = {r.path for r in server.requests}
    assert {p for p in paths if not p.endswith(DETAIL)} == {BATCH}  # never one status per job
    assert sorted(_looked_up(server)) == sorted([*done, *later])  # each detail once


async def test_watch_from_stdin_without_details_and_with_a_timeout(server: FakeServer) -> None:
    [finished] = server.add_jobs(1, headers=2, cookies=0)
    [stuck] = server.add_jobs(1, headers=2, cookies=0, status="pending")  # never finishes
    result = await cli(
        "watch", "-", "--no-details", "--poll-interval", "0.05", "--timeout", "0.3",
        "--base-url", server.uprock_url, env=_keys(server),
        stdin=f"{finished}\n\nnot an id\n{stuck}\n".encode(),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr.decode()  # a line that is not an id
    by_id = {line["id"]: line for line in _json_lines(result.stdout)}
    assert by_id[finished]["job"]["status"] == "completed"  # type: ignore[index]
    assert by_id[stuck]["error"]["type"] == "WaitTimeoutError"  # type: ignore[index]
    assert by_id["not an id"]["error"]["type"] == "ValueError"  # type: ignore[index]
    assert _looked_up(server) == []  # --no-details: no detail request
    assert "3 ids: 1 ok, 1 failed, 1 invalid" in result.stderr.decode()


@pytest.mark.parametrize(
    "arguments",
    [
        ["watch", "--poll-interval", "0"],
        ["watch", "--poll-interval", "-1"],
        ["watch", "--poll-interval", "inf"],
        ["watch", "--timeout", "-1"],
        ["watch", "--timeout", "nan"],
        ["watch", "--metrics-port", "0"],
        ["watch", "--metrics-port", "65536"],
        ["job-details", "--metrics-port", "-1"],
        ["job-details", "--metrics-port", "http"],
    ],
)
def test_bad_watch_and_metrics_arguments_exit_2_before_any_request(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert "error: argument" in capsys.readouterr().err


# -- --metrics-port ---------------------------------------------------------------------


async def _scrape(port: int, within: float = 15.0) -> str:
    """``/metrics`` once it answers with the request counter."""
    async with aiohttp.ClientSession() as session:
        with anyio.fail_after(within):
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                        text = await response.text()
                        if response.status == 200 and 'requests_total{client="uprock"}' in text:
                            return text
                except aiohttp.ClientConnectionError:
                    pass  # not listening yet
                await anyio.sleep(0.05)


async def test_metrics_are_served_while_watching_and_sigterm_stops_the_watch(
    server: FakeServer,
) -> None:
    [finished] = server.add_jobs(1, headers=2, cookies=0)
    stuck = server.add_jobs(3, headers=2, cookies=0, status="pending")
    port = _free_port()
    async with _start(
        "watch", "-", "--poll-interval", "0.05", "--metrics-port", str(port), server=server
    ) as process:
        assert process.stdin is not None
        assert process.stdout is not None
        await process.stdin.send("\n".join([finished, *stuck]).encode() + b"\n")
        await process.stdin.aclose()
        first = await process.stdout.receive()  # the finished job's line: requests were sent
        text = await _scrape(port)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        with anyio.fail_after(10):
            await process.wait()
            rest = b"".join([chunk async for chunk in process.stdout])
            err = await _stderr(process)
    assert time.monotonic() - started < 5
    [requests] = [line for line in text.splitlines() if line.startswith("uprock_async_requests")]
    assert requests.startswith('uprock_async_requests_total{client="uprock"} ')
    assert float(requests.split()[-1]) >= 1
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert "1 ids: 1 ok, 0 failed (terminated by SIGTERM)" in err
    [line] = _json_lines(first + rest)  # the stuck jobs never wrote anything
    assert line["id"] == finished
    with pytest.raises(ConnectionRefusedError):  # the metrics endpoint went away with the process
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_a_metrics_port_in_use_is_one_line_and_exit_2_before_any_request(
    server: FakeServer,
) -> None:
    ids = server.add_jobs(2, headers=2, cookies=0)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for command in ("job-details", "watch"):
            result = await cli(
                command, "--metrics-port", str(port), "--base-url", server.uprock_url,
                env=_keys(server), stdin="\n".join(ids).encode(),
            )  # fmt: skip
            err = result.stderr.decode().strip()
            assert result.returncode == 2, err
            [line] = err.splitlines()
            assert line.startswith(f"uprock-async: error: cannot serve metrics on 127.0.0.1:{port}")
            assert result.stdout == b""
    assert server.requests == []


def test_a_missing_prometheus_client_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPROCK_API_KEY", "k" * 32)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as if absent
    assert main(["job-details", "--metrics-port", "9", "--base-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [
        "uprock-async: error: --metrics-port needs prometheus_client: "
        "pip install 'uprock-async[prometheus]'"
    ]


def test_metrics_port_and_processes_do_not_mix(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPROCK_API_KEY", "k" * 32)
    assert main(["job-details", "--processes", "2", "--metrics-port", "9100"]) == 2
    assert "--metrics-port works only in one process" in capsys.readouterr().err


# -- SIGTERM, then --resume -------------------------------------------------------------


async def test_sigterm_leaves_whole_lines_and_resume_finishes_the_run(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(200, headers=2, cookies=0)
    server.latency = 0.5  # 200 lookups at 4 at a time: ~25 s, so SIGTERM lands mid-run
    # even on a loaded machine, where this test's polls lag
    source = _ids_file(tmp_path, ids)
    output = tmp_path / "out.jsonl"
    async with _start(
        "job-details", str(source), "-o", str(output), "--concurrency", "4", server=server
    ) as process:
        with anyio.fail_after(20):
            while not output.exists() or output.stat().st_size == 0:  # noqa: ASYNC110 - a file
                await anyio.sleep(0.02)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            await process.wait()
            err = await _stderr(process)
    assert time.monotonic() - started < 5  # promptly: in-flight lookups are cancelled
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert "(terminated by SIGTERM)" in err
    assert output.read_bytes().endswith(b"\n")
    first = _json_lines(output.read_bytes())  # every line parses
    assert 0 < len(first) < 200
    assert all("detail" in line for line in first)

    server.latency = 0
    server.requests.clear()
    result = await cli(
        "job-details", str(source), "-o", str(output), "--resume",
        "--base-url", server.uprock_url, env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert len(_looked_up(server)) == 200 - len(first)  # only what was missing
    assert f"{len(first)} already done" in result.stderr.decode()
    lines = _json_lines(output.read_bytes())
    assert sorted(str(line["id"]) for line in lines) == sorted(ids)  # each id once
