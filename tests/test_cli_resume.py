"""``job-details --output FILE --resume`` and the output's edges, as a user meets them:
two runs on one file, a line nested too deeply to read, a reader that goes away
(``| head -1``) and a disk that is full. Run as subprocesses against a FakeServer."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from tests.test_cli import _env, _json_lines, _keys, cli
from tests.test_cli_monitoring import _ids_file, _looked_up, _start
from uprock_async.cli._common import CliError
from uprock_async.cli._output import open_output
from uprock_async.testing import FakeServer

FULL = Path("/dev/full")


async def _shell(script: str, server: FakeServer) -> subprocess.CompletedProcess[bytes]:
    """``script`` in bash, ``$CLI`` standing for the command line."""
    command = f"{shlex.quote(sys.executable)} -m uprock_async"
    with anyio.fail_after(30):
        return await anyio.run_process(
            ["bash", "-c", script],
            env={**_env(_keys(server)), "CLI": command},
            check=False,
        )


# -- appending, and one run per file ------------------------------------------------------


def test_resume_of_a_new_file_appends_so_another_writer_is_never_overwritten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "new.jsonl"
    output = open_output(str(path), resume=True)  # the file does not exist yet
    with path.open("ab") as other:  # e.g. a run that took no lock, or a shell's >>
        other.write(b'{"id": "other"}\n')
    output.stream.write(b'{"id": "mine"}\n')
    output.close()
    assert path.read_bytes() == b'{"id": "other"}\n{"id": "mine"}\n'


async def test_a_second_run_on_the_same_output_exits_2_and_looks_nothing_up(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(40, headers=2, cookies=0)
    others = server.add_jobs(5, headers=2, cookies=0)  # what the second run would look up
    server.latency = 0.25  # 40 lookups 2 at a time: ~5 s, so the second run meets the first
    output = tmp_path / "out.jsonl"
    first_args = ("job-details", str(_ids_file(tmp_path, ids)), "-o", str(output), "--resume")
    async with _start(*first_args, "--concurrency", "2", server=server) as first:
        with anyio.fail_after(20):
            while not output.exists() or output.stat().st_size == 0:  # noqa: ASYNC110 - a file
                await anyio.sleep(0.02)
        second = await cli(
            "job-details", str(_ids_file(tmp_path, others, "others.txt")), "-o", str(output),
            "--resume", "--base-url", server.uprock_url, env=_keys(server),
        )  # fmt: skip
        assert first.returncode is None  # the first run was still going
        await first.wait()
    err = second.stderr.decode()
    assert second.returncode == 2, err
    assert "is locked by another uprock-async run writing to it" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not set(_looked_up(server)) & set(others)  # the second run fetched nothing
    assert first.returncode == 0
    lines = _json_lines(output.read_bytes())
    assert sorted(str(line["id"]) for line in lines) == sorted(ids)  # each id once, whole
    assert sorted(_looked_up(server)) == sorted(ids)


@pytest.mark.parametrize("resume", [True, False])
def test_a_locked_output_is_refused_and_left_as_it_was(tmp_path: Path, resume: bool) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "a", "detail": {}}\n')
    with path.open("ab") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)  # another run holds the file
        with pytest.raises(CliError, match="is locked by another uprock-async run") as info:
            open_output(str(path), resume=resume)
        assert info.value.code == 2
    assert path.read_bytes() == b'{"id": "a", "detail": {}}\n'  # not emptied, not appended to
    open_output(str(path), resume=resume).close()  # free again once the holder is gone


def test_outputs_that_are_not_regular_files_are_never_locked() -> None:
    first = open_output(os.devnull)
    second = open_output(os.devnull)  # many runs may write to /dev/null at once
    first.close()
    second.close()


# -- unreadable lines -----------------------------------------------------------------------


def test_a_line_nested_too_deeply_is_an_unreadable_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "out.jsonl"
    deep = b'{"id": "deep", "detail": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    good = [json.dumps({"id": f"job-{i}", "detail": {"job": {}}}).encode() for i in range(3)]
    path.write_bytes(b"\n".join([good[0], deep, good[1], good[2]]) + b"\n")
    output = open_output(str(path), resume=True)
    output.close()
    assert output.done == {"job-0", "job-1", "job-2"}
    err = capsys.readouterr().err
    assert "resuming: 3 ids already done" in err
    assert "1 unreadable lines ignored" in err


async def test_resume_over_a_deeply_nested_line_finishes_the_run(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(3, headers=2, cookies=0)
    output = tmp_path / "out.jsonl"
    output.write_bytes(b'{"id": "x", "detail": ' + b"[" * 50_000 + b"]" * 50_000 + b"}\n")
    result = await cli(
        "job-details", str(_ids_file(tmp_path, ids)), "-o", str(output), "--resume",
        "--base-url", server.uprock_url, env=_keys(server),
    )  # fmt: skip
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "1 unreadable lines ignored" in err
    assert "3 ids: 3 ok, 0 failed" in err


# -- a reader that goes away, a disk that is full --------------------------------------------


async def test_a_closed_stdout_ends_the_run_quietly_like_a_unix_tool(
    server: FakeServer, tmp_path: Path
) -> None:
    ids = server.add_jobs(300, headers=2, cookies=0)  # ~300 KB of lines: more than a pipe holds
    source = _ids_file(tmp_path, ids)
    script = (
        f"$CLI job-details {shlex.quote(str(source))} --base-url {server.uprock_url} "
        '| head -1; echo "status=${PIPESTATUS[0]}" >&2'
    )
    result = await _shell(script, server)
    err = result.stderr.decode()
    assert err == "status=141\n"  # 128 + SIGPIPE, and not a word more
    [line] = _json_lines(result.stdout)
    assert line["id"] in ids


@pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")
@pytest.mark.parametrize("target", ["-o /dev/full", "> /dev/full"])
async def test_a_failed_write_says_so_and_is_not_a_lookup_failure(
    server: FakeServer, tmp_path: Path, target: str
) -> None:
    ids = server.add_jobs(5, headers=2, cookies=0)
    source = _ids_file(tmp_path, ids)
    script = f"$CLI job-details {shlex.quote(str(source))} --base-url {server.uprock_url} {target}"
    result = await _shell(script, server)
    err = result.stderr.decode()
    assert result.returncode == 74, err  # EX_IOERR, never 1 ("some lookups failed")
    assert "Traceback" not in err
    name = "/dev/full" if target.startswith("-o") else "stdout"
    assert f"error: cannot write {name}: No space left on device" in err
    assert "(stopped: the output could not be written)" in err
