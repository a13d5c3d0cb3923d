"""The command line, run as a subprocess (``python -m uprock_async``) against FakeServer."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from uprock_async import ScreenshotCenterClient, __version__
from uprock_async.cli import build_parser, main
from uprock_async.testing import FakeServer

_KEY_VARS = (
    "UPROCK_API_KEY",
    "SCREENSHOTCENTER_API_KEY",
    "UPROCK_BASE_URL",
    "SCREENSHOTCENTER_BASE_URL",
)


def _env(keys: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test's environment without any key or base URL, plus ``keys``."""
    env = {name: value for name, value in os.environ.items() if name not in _KEY_VARS}
    env.update(keys or {})
    return env


def _keys(server: FakeServer) -> dict[str, str]:
    return {"UPROCK_API_KEY": server.api_key, "SCREENSHOTCENTER_API_KEY": server.api_key}


async def cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m uprock_async ARGS`` to completion (without blocking the server)."""
    with anyio.fail_after(30):
        return await anyio.run_process(
            [sys.executable, "-m", "uprock_async", *args],
            input=stdin,
            env=_env(env),
            check=False,
        )


@asynccontextmanager
async def child(command: list[str], **options: Any) -> AsyncIterator[anyio.abc.Process]:
    """``anyio.open_process``, killed if the test fails inside: on the way out anyio
    waits for the process to end, and a server or a watch never ends by itself, so
    a failed assertion would turn into a hang that hides it."""
    ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    if ignored:
        # A run started in the background by a non-interactive shell ignores SIGINT,
        # and a child inherits that: Ctrl-C could never reach it. A handled signal
        # is reset to its default across exec, so the child gets Python's.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        started = await anyio.open_process(command, **options)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    async with started as process:
        try:
            yield process
        except BaseException:
            process.kill()
            raise


def _json_lines(data: bytes) -> list[dict[str, object]]:
    return [json.loads(line) for line in data.decode().splitlines()]


def _one_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# -- demo ------------------------------------------------------------------------


async def test_demo_runs_offline_without_a_key_and_prints_the_table() -> None:
    result = await cli("demo", "--jobs", "200", "--screenshots", "100")
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    for row in ("requests/s", "MB/s decoded", "failed", "retries", "latency p50/p90/p99"):
        assert row in out
    assert "job details (200 lookups" in out
    assert "crawl info (100 screenshots)" in out


async def test_demo_with_faults_shows_retries_absorbing_them() -> None:
    result = await cli(
        "demo", "--jobs", "400", "--screenshots", "50", "--faults", "--concurrency", "auto"
    )
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    retries = re.search(r"^\s+retries\s+(\d+)$", out, re.MULTILINE)
    failed = re.search(r"^\s+failed\s+(\d+)$", out, re.MULTILINE)
    assert retries is not None
    assert int(retries.group(1)) > 0
    assert failed is not None
    assert int(failed.group(1)) == 0
    assert "503 answers" in out
    assert "concurrency auto" in out


# -- help, version, usage (one subprocess each way, the rest in-process: cheap) --------


async def test_help_works_without_a_key() -> None:
    for command in ([], ["job-details"]):
        result = await cli(*command, "--help")
        assert result.returncode == 0, command
        assert result.stdout.decode().startswith("usage: uprock-async"), command
        assert result.stderr == b"", command


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["job-detail"], ["job-details"], ["crawl-info"], ["save-crawl"]]
)
def test_every_subcommand_has_help(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: uprock-async {' '.join(command)}".rstrip())


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"uprock-async {__version__}"


@pytest.mark.parametrize(
    "arguments",
    [
        ["job-details", "--concurrency", "0"],
        ["job-details", "--concurrency", "fast"],
        ["job-details", "--per-second", "-1"],
        ["save-crawl", "1", "dir", "--concurrency", "0"],
        ["save-crawl", "1", "dir", "--concurrency", "Auto"],
        ["demo", "--jobs", "many"],
        ["save-crawl", "1", "dir", "--kinds", "image,gif"],
        ["crawl-info", "abc"],
        ["no-such-command"],
    ],
)
def test_bad_arguments_are_a_usage_error_with_exit_status_2(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["demo"], ["job-details"], ["save-crawl", "1", "dir"]])
def test_every_concurrency_option_takes_an_int_or_auto(command: list[str]) -> None:
    parser = build_parser()
    assert parser.parse_args([*command, "--concurrency", "auto"]).concurrency == "auto"
    assert parser.parse_args([*command, "--concurrency", "7"]).concurrency == 7


def test_a_bad_concurrency_names_both_forms(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["save-crawl", "1", "dir", "--concurrency", "fast"])
    assert "expected a positive integer or 'auto', got 'fast'" in capsys.readouterr().err


async def test_a_missing_key_is_one_line_naming_the_variable_in_a_subprocess() -> None:
    result = await cli("job-details", stdin=b"")
    assert result.returncode == 2
    assert "UPROCK_API_KEY" in _one_line(result.stderr)


@pytest.mark.parametrize(
    ("command", "variable"),
    [
        (["job-detail", "x"], "UPROCK_API_KEY"),
        (["job-details", "-"], "UPROCK_API_KEY"),
        (["crawl-info", "1"], "SCREENSHOTCENTER_API_KEY"),
        (["save-crawl", "1", "somewhere"], "SCREENSHOTCENTER_API_KEY"),
    ],
)
def test_a_missing_key_is_one_line_naming_the_variable(
    command: list[str],
    variable: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in _KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    assert main(command) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert variable in _one_line(captured.err.encode())


# -- job-detail, crawl-info ---------------------------------------------------------


async def test_job_detail_prints_the_detail_as_json(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1)
    result = await cli(
        "job-detail", job_id, "--parse-cookies", "--base-url", server.uprock_url,
        env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.count(b"\n") == 1  # not a terminal: one compact line
    detail = json.loads(result.stdout)
    assert detail["job"]["job_id"] == job_id
    assert detail["request_cookies"] or detail["response_cookies"]


async def test_an_api_error_is_one_line_without_a_traceback(server: FakeServer) -> None:
    result = await cli(
        "job-detail", "no-such-job", "--base-url", server.uprock_url, env=_keys(server)
    )
    assert result.returncode == 1
    assert "NotFoundError" in _one_line(result.stderr)
    assert server.api_key not in result.stderr.decode()


async def test_an_invalid_job_id_is_a_usage_error(server: FakeServer) -> None:
    result = await cli("job-detail", "../etc", "--base-url", server.uprock_url, env=_keys(server))
    assert result.returncode == 2
    assert "invalid job_id" in _one_line(result.stderr)
    assert server.requests == []


async def test_debug_shows_the_traceback(server: FakeServer) -> None:
    result = await cli(
        "job-detail", "no-such-job", "--debug", "--base-url", server.uprock_url,
        env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" in result.stderr.decode()


async def test_crawl_info_prints_the_crawl_as_json(server: FakeServer) -> None:
    crawl_id = server.add_crawl(screenshots=30)
    result = await cli(
        "--base-url", server.screenshotcenter_url, "crawl-info", str(crawl_id),
        env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    crawl = json.loads(result.stdout)
    assert crawl["id"] == crawl_id
    assert len(crawl["screenshots"]) == 30


# -- job-details ---------------------------------------------------------------------


async def test_job_details_writes_one_line_per_id_and_exits_1_when_one_is_unknown(
    server: FakeServer,
) -> None:
    ids = server.add_jobs(5)
    unknown = "00000000-0000-0000-0000-000000000000"
    stdin = "\n".join([*ids[:2], "", unknown, *ids[2:]]).encode() + b"\n\n"
    result = await cli(
        "job-details", "--base-url", server.uprock_url, env=_keys(server), stdin=stdin
    )
    assert result.returncode == 1
    lines = _json_lines(result.stdout)
    assert sorted(str(line["id"]) for line in lines) == sorted([*ids, unknown])
    by_id = {line["id"]: line for line in lines}
    assert by_id[unknown]["error"] == {
        "type": "NotFoundError",
        "status": 404,
        "message": "not found: job does not exist or you are not authorized to view it",
    }
    assert all("detail" in by_id[job_id] for job_id in ids)
    assert "6 ids: 5 ok, 1 failed" in result.stderr.decode()


async def test_job_details_exits_0_when_every_lookup_succeeds(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(20)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids) + "\n")
    output = tmp_path / "out.jsonl"
    result = await cli(
        "job-details", str(source), "--output", str(output), "--concurrency", "auto",
        "--per-second", "1000", "--base-url", server.uprock_url, env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    lines = _json_lines(output.read_bytes())
    assert sorted(str(line["id"]) for line in lines) == sorted(ids)
    assert all(line["detail"]["job"]["job_id"] == line["id"] for line in lines)  # type: ignore[index]


async def test_an_invalid_id_line_becomes_an_error_line(server: FakeServer) -> None:
    ids = server.add_jobs(2)
    stdin = f"{ids[0]}\nnot a/valid id\n{ids[1]}\n".encode()
    result = await cli(
        "job-details", "--base-url", server.uprock_url, env=_keys(server), stdin=stdin
    )
    assert result.returncode == 2
    by_id = {line["id"]: line for line in _json_lines(result.stdout)}
    assert set(by_id) == {*ids, "not a/valid id"}
    error = by_id["not a/valid id"]["error"]
    assert isinstance(error, dict)
    assert error["type"] == "ValueError"
    assert error["status"] is None
    assert all("detail" in by_id[job_id] for job_id in ids)


async def test_stats_prints_the_stats_table_to_stderr(server: FakeServer) -> None:
    ids = server.add_jobs(3)
    result = await cli(
        "job-details", "--stats", "--base-url", server.uprock_url,
        env=_keys(server), stdin="\n".join(ids).encode(),
    )  # fmt: skip
    assert result.returncode == 0
    err = result.stderr.decode()
    assert re.search(r"^requests\s+3$", err, re.MULTILINE)
    assert re.search(r"^responses\s+200: 3$", err, re.MULTILINE)
    assert "latency p99" in err


async def test_a_closed_stdout_exits_quietly_without_a_traceback(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(50)
    source = tmp_path / "ids.txt"
    source.write_text("\n".join(ids * 20) + "\n")  # 1,000 lookups: far more than one line
    # Our own pipe, so that closing the read end really hangs up on the writer.
    read_end, write_end = os.pipe()
    try:
        async with child(
            [sys.executable, "-m", "uprock_async", "job-details", str(source),
             "--concurrency", "4", "--base-url", server.uprock_url],
            env=_env(_keys(server)),
            stdout=write_end,
        ) as process:  # fmt: skip
            os.close(write_end)
            write_end = -1
            assert process.stderr is not None
            with anyio.fail_after(20):
                # like `| head -1`: read a little, then hang up
                first = await anyio.to_thread.run_sync(os.read, read_end, 4096)
                os.close(read_end)
                read_end = -1
                await process.wait()
                err = b"".join([chunk async for chunk in process.stderr])
    finally:
        for fd in (read_end, write_end):
            if fd != -1:
                os.close(fd)
    assert first.startswith(b'{"id":"')
    assert first[7:43].decode() in ids
    assert "Traceback" not in err.decode()
    assert b"BrokenPipe" not in err
    assert process.returncode == 141  # 128 + SIGPIPE, as for a Unix tool, never 1


async def test_ctrl_c_stops_cleanly_leaving_valid_json_lines(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(20)
    server.latency = 0.05  # 4,000 lookups at 4 at a time: ~50 s, so Ctrl-C lands mid-run
    source = tmp_path / "ids.txt"  # even on a loaded machine, where this test's polls lag
    source.write_text("\n".join(ids * 200) + "\n")
    output = tmp_path / "out.jsonl"
    async with child(
        [sys.executable, "-m", "uprock_async", "job-details", str(source), "-o", str(output),
         "--concurrency", "4", "--base-url", server.uprock_url],
        env=_env(_keys(server)),
    ) as process:  # fmt: skip
        assert process.stderr is not None
        with anyio.fail_after(20):
            while not output.exists() or output.stat().st_size == 0:  # noqa: ASYNC110 - a file
                await anyio.sleep(0.02)
            process.send_signal(signal.SIGINT)
            await process.wait()
            err = b"".join([chunk async for chunk in process.stderr]).decode()
    assert process.returncode == 130
    assert "Traceback" not in err
    assert "(interrupted)" in err
    lines = _json_lines(output.read_bytes())
    assert 0 < len(lines) < 4000
    assert all("detail" in line for line in lines)


# -- save-crawl ----------------------------------------------------------------------


@pytest.mark.skipif(
    not hasattr(ScreenshotCenterClient, "save_crawl"),
    reason="ScreenshotCenterClient.save_crawl is not implemented in this build",
)
async def test_save_crawl_writes_the_screenshots_to_the_directory(
    server: FakeServer, tmp_path: Path
) -> None:
    crawl_id = server.add_crawl(screenshots=10)
    target = tmp_path / "shots"
    result = await cli(
        "save-crawl", str(crawl_id), str(target), "--concurrency", "4",
        "--base-url", server.screenshotcenter_url, env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    files = sorted(target.iterdir())
    assert files
    assert all(path.suffix == ".png" and path.stat().st_size > 0 for path in files)
    assert f"saved {len(files)} files" in result.stdout.decode()


@pytest.mark.skipif(
    not hasattr(ScreenshotCenterClient, "save_crawl"),
    reason="ScreenshotCenterClient.save_crawl is not implemented in this build",
)
async def test_save_crawl_exits_1_when_a_screenshot_fails(
    server: FakeServer, tmp_path: Path
) -> None:
    crawl_id = server.add_crawl(screenshots=4)
    server.inject("*/screenshot/*", status=404, times=None)  # 404: not retried
    result = await cli(
        "save-crawl", str(crawl_id), str(tmp_path), "--base-url", server.screenshotcenter_url,
        env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr.decode()
    assert "failed" in result.stdout.decode()


@pytest.mark.skipif(
    not hasattr(ScreenshotCenterClient, "save_crawl"),
    reason="ScreenshotCenterClient.save_crawl is not implemented in this build",
)
async def test_save_crawl_accepts_concurrency_auto(server: FakeServer, tmp_path: Path) -> None:
    crawl_id = server.add_crawl(screenshots=12)
    result = await cli(
        "save-crawl", str(crawl_id), str(tmp_path), "--concurrency", "auto",
        "--kinds", "image,html", "--base-url", server.screenshotcenter_url, env=_keys(server),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    assert "saved 24 files of 12 screenshots" in result.stdout.decode()


async def test_job_details_reads_crlf_ids_split_across_pipe_reads(server: FakeServer) -> None:
    ids = server.add_jobs(3)
    padding = b"\r\n" * 40_000  # blank lines: the ids land beyond the first 64 KiB read
    stdin = padding + f"{ids[0]}\r\n\r\n  {ids[1]}  \r\n".encode() + padding + ids[2].encode()
    result = await cli(
        "job-details", "--base-url", server.uprock_url, env=_keys(server), stdin=stdin
    )
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(str(line["id"]) for line in _json_lines(result.stdout)) == sorted(ids)
    assert "3 ids: 3 ok, 0 failed" in result.stderr.decode()
