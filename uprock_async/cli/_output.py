"""JSON lines out for ``job-details`` and ``watch``: one whole line per id, counted.

Line shapes: ``{"id": ..., "detail": {...}}`` (``"job"`` for ``watch
--no-details``) on success, ``{"id": ..., "error": {"type", "status",
"message"}}`` on failure. ``--resume`` reads a previous run's output line by
line, keeps the ids that have a ``"detail"`` (a line that does not parse, cut
short or nested too deeply, is counted as unreadable and skipped), and appends.

An ``--output`` file is opened for appending and, if it is a regular file,
locked (``fcntl.flock``, an advisory lock; POSIX only) before anything is read
or written: a second run on the same
file stops at once with exit status 2 instead of fetching and writing every id
again; without ``--resume`` the file is emptied once the lock is held.

When the reader of stdout goes away (``| head -1``), the run stops quietly with
exit status 141 (128 + SIGPIPE, what the shell reports for a Unix tool that
SIGPIPE ended); when a line cannot be written (a full disk) it stops saying so,
with exit status 74 (``EX_IOERR``), never the 1 that means "lookups failed".
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO

import msgspec

from ._common import CliError, error_object, say

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "EXIT_PIPE_CLOSED",
    "EXIT_WRITE_FAILED",
    "JsonLines",
    "Output",
    "PipeClosed",
    "Tally",
    "WriteFailed",
    "open_output",
    "pipe_closed",
]

_encoder = msgspec.json.Encoder()
EXIT_PIPE_CLOSED = 128 + 13  # 128 + SIGPIPE, as the shell reports a tool SIGPIPE ended
EXIT_WRITE_FAILED = 74  # EX_IOERR of sysexits.h: an I/O error on a file


class PipeClosed(Exception):
    """The reader of the output went away (``| head -1``): the run stops quietly."""


class WriteFailed(CliError):
    """A line could not be written (a full disk): the run stops, saying so."""

    def __init__(self, name: str, exc: OSError) -> None:
        super().__init__(f"error: cannot write {name}: {exc.strerror or exc}", EXIT_WRITE_FAILED)


@contextlib.contextmanager
def _writing(name: str) -> Iterator[None]:
    """OS errors of writing to ``name`` as :class:`PipeClosed` or :class:`WriteFailed`."""
    try:
        yield
    except BrokenPipeError:
        raise PipeClosed from None
    except OSError as exc:
        raise WriteFailed(name, exc) from None


def pipe_closed() -> int:
    """Stop quietly after :class:`PipeClosed`: stdout is pointed at the null device, so
    nothing flushed at exit complains; the exit status, 141."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_PIPE_CLOSED


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
    """JSON lines to a binary stream; every write is one whole line. A failed write
    raises :class:`PipeClosed` or :class:`WriteFailed` (naming ``name``)."""

    def __init__(self, stream: BinaryIO, tally: Tally, name: str = "stdout") -> None:
        self._stream = stream
        self._tally = tally
        self._name = name
        # Flush per line on a terminal or pipe (a reader sees results as they
        # come); buffer for a regular file.
        try:
            self._flush = not stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        except (OSError, ValueError):
            self._flush = True

    def detail(self, job_id: str, detail: Any, key: str = "detail") -> None:
        """A successful lookup: ``{"id", key: value}``."""
        self._write({"id": job_id, key: detail})
        self._tally.ok += 1

    def error(self, job_id: str, exc: BaseException) -> None:
        """A lookup of ``job_id`` failed: whatever the error's type, the id was
        well formed (it passed the up-front check), so it counts as failed."""
        self._write({"id": job_id, "error": error_object(exc)})
        self._tally.failed += 1

    def invalid(self, line: str, exc: ValueError) -> None:
        """An input line our check refused before any request: an invalid id."""
        self._write({"id": line, "error": error_object(exc)})
        self._tally.invalid += 1

    def _write(self, line: dict[str, Any]) -> None:
        # One write of the whole line: a stop between lines never leaves half of one.
        with _writing(self._name):
            self._stream.write(_encoder.encode(line) + b"\n")
            if self._flush:
                self._stream.flush()

    def flush(self) -> None:
        """Push buffered lines to the file."""
        with _writing(self._name):
            self._stream.flush()

    def flush_quietly(self) -> None:
        """Flush on the way out of an interrupted run, where a closed pipe is no news."""
        with contextlib.suppress(OSError):
            self._stream.flush()


class Output:
    """Where the lines go (``name`` for messages), and the ids a previous run already
    finished (``--resume``)."""

    def __init__(
        self, stream: BinaryIO, done: frozenset[str] | set[str], name: str = "stdout"
    ) -> None:
        self.stream = stream
        self.done = done
        self.name = name

    def close(self) -> None:
        """Close the file, which releases its lock (never stdout)."""
        if self.stream is not sys.stdout.buffer:
            with _writing(self.name):
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
            except (msgspec.DecodeError, RecursionError):  # cut short, or nested too deep
                unreadable += 1
                continue
            if len(line.detail) and bytes(line.detail) != b"null":
                done.add(line.id)
    return done, unreadable, ends_mid_line


def open_output(
    path: str | None, *, resume: bool = False, source: BinaryIO | None = None
) -> Output:
    """Stdout, or ``path`` opened for appending and locked: emptied once locked, or
    with ``resume`` read for the ids already done and appended to.

    Usage errors (exit 2): ``--resume`` without a file, a file that cannot be
    opened, a file that is the input (writing would destroy the ids), and a file
    another run holds locked.
    """
    if path is None or path == "-":
        if resume:
            raise CliError(
                "error: --resume needs --output FILE: the file of the run to continue", code=2
            )
        return Output(sys.stdout.buffer, frozenset())
    if source is not None and _same_file(path, source):
        raise CliError(f"error: --output {path} is the input file", code=2)
    existed = os.path.exists(path)
    try:
        # Always appending: every line goes at the end, whatever else writes there.
        stream = open(path, "ab")  # noqa: SIM115 - Output.close closes it when the run ends
    except OSError as exc:
        raise CliError(f"error: cannot write {path}: {exc.strerror}", code=2) from None
    try:
        regular = _lock(stream, path)
        done = _prepare(stream, path, resume=resume and existed, regular=regular)
    except BaseException:
        stream.close()
        raise
    return Output(stream, done, path)


def _lock(stream: BinaryIO, path: str) -> bool:
    """Lock ``stream`` for this run if it is a regular file (whether it is one). A
    device or a pipe (``/dev/null``) is never locked: many may write there."""
    if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
        return False
    if fcntl is not None:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CliError(
                f"error: {path} is locked by another uprock-async run writing to it; "
                "wait for that run to end, or choose another --output",
                code=2,
            ) from None
    return True


def _prepare(stream: BinaryIO, path: str, *, resume: bool, regular: bool) -> set[str]:
    """With the lock held: a resumed run's finished ids (and a line end after a cut
    last line), or, for a fresh run, the file emptied."""
    try:
        if not resume:
            if regular:
                stream.truncate(0)
            return set()
        done, unreadable, ends_mid_line = _finished(path)
        if ends_mid_line:
            stream.write(b"\n")  # the next line starts on a line of its own
    except OSError as exc:
        raise CliError(f"error: cannot write {path}: {exc.strerror}", code=2) from None
    note = f"; {unreadable} unreadable lines ignored" if unreadable else ""
    say(f"resuming: {len(done)} ids already done in {path}{note}")
    return done


def _same_file(path: str, source: BinaryIO) -> bool:
    """Whether ``path`` names the file ``source`` reads (False if it does not exist)."""
    try:
        mine = os.stat(path)
        theirs = os.fstat(source.fileno())
    except (OSError, ValueError):
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)
