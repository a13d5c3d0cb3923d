"""A command line that guides: ``fake-server``, each subcommand's own usage on an
error, ``demo`` refusing ``--base-url``, ``watch --stats``, and progress on a
terminal with and without tqdm (subprocesses, a real pty, a real FakeServer)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
from pathlib import Path

import anyio
import pytest

from uprock_async import ScreenshotCenterClient, UprockClient
from uprock_async.cli import main
from uprock_async.testing import FakeServer

from .test_cli import _env, _keys, child, cli

_EXPORT = re.compile(r"export ([A-Z_]+)=(\S+)")


# -- fake-server -------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_fake_server_prints_export_lines_that_work_and_stops_cleanly_on_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ids_file = tmp_path / "ids.txt"
    async with child(
        [sys.executable, "-m", "uprock_async", "fake-server", "--jobs", "5", "--ids-file",
         str(ids_file)],
        env=_env(),
    ) as process:  # fmt: skip
        assert process.stdout is not None
        assert process.stderr is not None
        exported: dict[str, str] = {}
        with anyio.fail_after(20):
            buffered = b""
            while len(exported) < 4:
                buffered += await process.stdout.receive()
                exported = dict(_EXPORT.findall(buffered.decode()))
        assert set(exported) == {
            "UPROCK_API_KEY",
            "UPROCK_BASE_URL",
            "SCREENSHOTCENTER_API_KEY",
            "SCREENSHOTCENTER_BASE_URL",
        }
        for name, value in exported.items():  # what pasting the lines into a shell does
            monkeypatch.setenv(name, value)
        ids = ids_file.read_text().split()
        async with UprockClient() as uprock, ScreenshotCenterClient() as screenshots:
            details = await uprock.job_details(ids)
            crawls = await screenshots.list_crawls()
        assert [d.job.job_id for d in details] == ids
        assert len(crawls) == 1

        process.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            await process.wait()
            err = b"".join([chunk async for chunk in process.stderr]).decode()
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert "uprock-async job-detail " + ids[0] in err  # commands to try, ready to run
    assert err.rstrip().endswith("fake server stopped")


async def test_fake_server_on_a_taken_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = await cli("fake-server", "--port", str(port))
    assert result.returncode == 2
    [line] = result.stderr.decode().strip().splitlines()
    assert line.startswith(f"uprock-async: error: cannot listen on 127.0.0.1:{port}: ")


# -- usage errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["job-details", "--bogus"], "usage: uprock-async job-details "),
        (["watch", "ids.txt", "--poll-interval", "2", "--nope"], "usage: uprock-async watch "),
        (["save-crawl", "1"], "usage: uprock-async save-crawl "),
        (["fake-server", "--port", "http"], "usage: uprock-async fake-server "),
    ],
)
def test_an_error_in_a_subcommand_prints_that_subcommands_usage(
    argv: list[str], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage)
    assert f"uprock-async {argv[0]}: error: " in err


@pytest.mark.parametrize(
    "argv",
    [["demo", "--base-url", "http://127.0.0.1:9"], ["--base-url", "http://127.0.0.1:9", "demo"]],
)
def test_demo_refuses_base_url_instead_of_ignoring_it(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: uprock-async demo ")
    assert "--base-url does not apply" in err
    assert "fake-server" in err


def test_demo_help_says_base_url_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "refused here: this command serves its own fake APIs" in capsys.readouterr().out


# -- watch --stats -----------------------------------------------------------------------


async def test_watch_accepts_stats_like_job_details(server: FakeServer) -> None:
    ids = server.add_jobs(3)
    result = await cli(
        "watch", "--stats", "--poll-interval", "0.05", "--base-url", server.uprock_url,
        env=_keys(server), stdin="\n".join(ids).encode(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    err = result.stderr.decode()
    assert re.search(r"^requests +4$", err, re.MULTILINE)  # the stats table, as job-details
    assert "3 ids: 3 ok, 0 failed" in err


# -- progress on a terminal --------------------------------------------------------------


async def _on_a_terminal(server: FakeServer, ids_file: Path, *, tqdm: bool) -> tuple[int, str]:
    """``job-details ids_file`` with stderr on a pty; its exit status and stderr."""
    hide_tqdm = "" if tqdm else "sys.modules['tqdm'] = None  # not installed\n"
    code = (
        "import sys\n" + hide_tqdm + "from uprock_async.cli import main\n"
        f"raise SystemExit(main(['job-details', {str(ids_file)!r}, '--concurrency', '4',"
        f" '--base-url', {server.uprock_url!r}, '-o', {str(ids_file) + '.out'!r}]))"
    )
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        with anyio.fail_after(30):
            result = await anyio.run_process(
                [sys.executable, "-W", "error", "-c", code],
                stderr=secondary,
                env=_env(_keys(server)),
                check=False,
            )
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
        if secondary != -1:
            os.close(secondary)
    return result.returncode, b"".join(chunks).decode()


async def test_without_tqdm_a_terminal_gets_one_progress_line_with_the_files_total(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(20, headers=2, cookies=0)
    server.latency = 0.01  # 200 lookups 4 at a time: about half a second, several redraws
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\n".join(ids * 10) + "\n\n")  # a blank line is no id
    code, err = await _on_a_terminal(server, ids_file, tqdm=False)
    assert code == 0, err
    assert "Traceback" not in err
    drawn = [part for part in err.replace("\r\n", "\n").split("\r") if part.strip()]
    assert len(drawn) >= 2  # redrawn in place, not one line per update
    assert all("/200 " in part for part in drawn)  # the total was counted up front
    assert any("ETA " in part for part in drawn)
    last, summary = err.replace("\r\n", "\n").rstrip("\n").split("\n")[-2:]
    assert last.rpartition("\r")[2].startswith("200/200 100% ")
    assert summary == "uprock-async: 200 ids: 200 ok, 0 failed"


async def test_with_tqdm_the_bar_knows_the_files_total(server: FakeServer, tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    ids = server.add_jobs(10, headers=2, cookies=0)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("\r\n".join(ids * 3))  # CRLF and no final line end: still 30
    code, err = await _on_a_terminal(server, ids_file, tqdm=True)
    assert code == 0, err
    assert "30/30 [" in err  # tqdm's bar with a total (and so an ETA while it runs)
    assert err.rstrip().endswith("uprock-async: 30 ids: 30 ok, 0 failed")


def test_not_on_a_terminal_nothing_is_drawn(tmp_path: Path) -> None:
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("x\n")
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "uprock_async", "job-details", str(ids_file)],
        capture_output=True,
        env=_env({"UPROCK_API_KEY": "k" * 16}),
        timeout=30,
        check=False,
    )
    assert b"\r" not in result.stderr
