"""JSON lines out for ``job-details`` and ``watch``: one whole line per id, counted.

Line shapes: ``{"id": ..., "detail": {...}}`` (``"job"`` for ``watch
--no-details``) on success, ``{"id": ..., "error": {"type", "status",
"message"}}`` on failure. ``--resume`` reads a previous run's output line by
line, keeps the ids that have a ``"detail"``, and appends.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from typing import Any, BinaryIO, Literal

import msgspec

from ._common import CliError, error_object, say

__all__ = ["JsonLines", "Output", "Tally", "open_output"]

_encoder = msgspec.json.Encoder()


class Tally:
    """Counts for the summary line and the exit status."""

    __slots__ = ("failed", "invalid", "ok", "skipped")

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.invalid = 0
        self.skipped = 0

    def summary(self, stopped: str | None = None) -> str:
        """``N ids: A ok, B failed[, C invalid][, D already done]`` and, when the
        run was stopped early, how (``interrupted``, ``terminated by SIGTERM``)."""
        done = self.ok + self.failed + self.invalid + self.skipped
        text = f"{done} ids: {self.ok} ok, {self.failed} failed"
        if self.invalid:
            text += f", {self.invalid} invalid"
        if self.skipped:
            text += f", {self.skipped} already done"
        return text + (f" ({stopped})" if stopped else "")

    @property
    def exit_code(self) -> int:
        """2 if any line was not a job id, else 1 if any lookup failed, else 0."""
        if self.invalid:
            return 2
        return 1 if self.failed else 0


class JsonLines:
    """JSON lines to a binary stream; every write is one whole line."""

    def __init__(self, stream: BinaryIO, tally: Tally) -> None:
        self._stream = stream
        self._tally = tally
        # Flush per line on a terminal or pipe (a reader sees results as they
        # come); buffer for a regular file.
        try:
            self._flush = not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        except (OSError, ValueError):
            self._flush = True

    def detail(self, job_id: str, detail: Any, key: str = "detail") -> None:
        """A successful lookup: ``{"id", key: value}``."""
        self._tally.ok += 1
        self._write({"id": job_id, key: detail})

    def error(self, job_id: str, exc: BaseException) -> None:
        """A lookup of ``job_id`` failed: whatever the error's type, the id was
        well formed (it passed the up-front check), so it counts as failed."""
        self._tally.failed += 1
        self._write({"id": job_id, "error": error_object(exc)})

    def invalid(self, line: str, exc: ValueError) -> None:
        """An input line our check refused before any request: an invalid id."""
        self._tally.invalid += 1
        self._write({"id": line, "error": error_object(exc)})

    def _write(self, line: dict[str, Any]) -> None:
        # One write of the whole line: a stop between lines never leaves half of one.
        self._stream.write(_encoder.encode(line) + b"\n")
        if self._flush:
            self._stream.flush()

    def flush(self) -> None:
        """Push buffered lines to the file."""
        self._stream.flush()

    def flush_quietly(self) -> None:
        """Flush on the way out of an interrupted run, where a closed pipe is no news."""
        with contextlib.suppress(OSError):
            self._stream.flush()


class Output:
    """Where the lines go, and the ids a previous run already finished (``--resume``)."""

    def __init__(self, stream: BinaryIO, done: frozenset[str] | set[str]) -> None:
        self.stream = stream
        self.done = done

    def close(self) -> None:
        """Close the file (never stdout)."""
        if self.stream is not sys.stdout.buffer:
            self.stream.close()


class _Line(msgspec.Struct):
    """The part of an output line that resuming needs; the detail stays undecoded."""

    id: str
    detail: msgspec.Raw = msgspec.Raw(b"")


_line_decoder = msgspec.json.Decoder(_Line)


def _finished(path: str) -> tuple[set[str], int, bool]:
    """The ids with a ``"detail"`` in ``path``, the count of unreadable lines, and
    whether the file ends in the middle of a line.

    Read one line at a time, never the whole file at once. A line that does not
    parse is skipped: the last line of a run killed mid-write is cut short, and
    after a resume such a remnant sits inside the file.
    """
    done: set[str] = set()
    unreadable = 0
    ends_mid_line = False
    with open(path, "rb") as stream:
        for raw in stream:
            ends_mid_line = not raw.endswith(b"\n")
            if not raw.strip():
                continue
            try:
                line = _line_decoder.decode(raw)
            except msgspec.DecodeError:
                unreadable += 1
                continue
            if len(line.detail) and bytes(line.detail) != b"null":
                done.add(line.id)
    return done, unreadable, ends_mid_line


def open_output(
    path: str | None, *, resume: bool = False, source: BinaryIO | None = None
) -> Output:
    """Stdout, ``path`` truncated, or with ``resume`` ``path`` appended to.

    Usage errors (exit 2): ``--resume`` without a file, a file that cannot be
    opened, and a file that is the input (writing would destroy the ids).
    """
    if path is None or path == "-":
        if resume:
            raise CliError(
                "error: --resume needs --output FILE: the file of the run to continue", code=2
            )
        return Output(sys.stdout.buffer, frozenset())
    if source is not None and _same_file(path, source):
        raise CliError(f"error: --output {path} is the input file", code=2)
    done: set[str] = set()
    ends_mid_line = False
    mode: Literal["wb", "ab"] = "wb"
    try:
        if resume and os.path.exists(path):
            done, unreadable, ends_mid_line = _finished(path)
            mode = "ab"
            note = f"; {unreadable} unreadable lines ignored" if unreadable else ""
            say(f"resuming: {len(done)} ids already done in {path}{note}")
        stream = open(path, mode)  # noqa: SIM115 - Output.close closes it when the run ends
    except OSError as exc:
        raise CliError(f"error: cannot write {path}: {exc.strerror}", code=2) from None
    if ends_mid_line:
        stream.write(b"\n")  # the next line starts on a line of its own
    return Output(stream, done)


def _same_file(path: str, source: BinaryIO) -> bool:
    """Whether ``path`` names the file ``source`` reads (False if it does not exist)."""
    try:
        mine = os.stat(path)
        theirs = os.fstat(source.fileno())
    except (OSError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
