"""``uprock-async job-details``: ids in (file or stdin, streamed), JSON lines out.

Ids are read lazily and fed to ``UprockClient.iter_job_details``, so a file of
a million ids runs in constant memory. Each result is written as one whole
line the moment it completes; Ctrl-C cancels what is in flight, and what was
written stays valid JSON lines.

Only a line our own check refuses before any request counts as an invalid id
(exit status 2); every error of a lookup — the service's answer for that id, a
connection, a malformed redirect, a body that does not decode — is a failure
of that id (exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, BinaryIO

import anyio
import msgspec

from ..uprock import UprockClient
from ..uprock._client import validate_job_id
from ._common import CliError, api_key, base_url, error_object, progress_for_stderr, say

__all__ = ["LineSplitter", "Tally", "file_ids", "run_job_details", "split_chunks"]

_encoder = msgspec.json.Encoder()
_CHUNK = 1 << 16
# Bytes kept of one input line. A job id is at most 128 characters, so a longer
# line can only be refused; keeping all of it would let one endless line (a
# binary file, a stream without newlines) take all memory.
_MAX_LINE = 4096
_CUT = "\u2026"  # marks a line cut at _MAX_LINE, so what is left never passes as an id


class Tally:
    """Counts for the summary line."""

    __slots__ = ("failed", "invalid", "ok")

    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0
        self.invalid = 0

    def summary(self, interrupted: bool = False) -> str:
        done = self.ok + self.failed + self.invalid
        text = f"{done} ids: {self.ok} ok, {self.failed} failed"
        if self.invalid:
            text += f", {self.invalid} invalid"
        return text + (" (interrupted)" if interrupted else "")

    @property
    def exit_code(self) -> int:
        if self.invalid:
            return 2
        return 1 if self.failed else 0


class _Lines:
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

    def detail(self, job_id: str, detail: Any) -> None:
        self._tally.ok += 1
        self._write({"id": job_id, "detail": detail})

    def error(self, job_id: str, exc: BaseException) -> None:
        """A lookup of ``job_id`` failed: whatever the error's type, the id was
        well formed (it passed :func:`_check`), so it counts as failed."""
        self._tally.failed += 1
        self._write({"id": job_id, "error": error_object(exc)})

    def invalid(self, line: str, exc: ValueError) -> None:
        """An input line our check refused before any request: an invalid id."""
        self._tally.invalid += 1
        self._write({"id": line, "error": error_object(exc)})

    def _write(self, line: dict[str, Any]) -> None:
        self._stream.write(_encoder.encode(line) + b"\n")
        if self._flush:
            self._stream.flush()

    def flush(self) -> None:
        self._stream.flush()


# -- reading ids ---------------------------------------------------------------


class LineSplitter:
    """Bytes in chunks of any size to lines: stripped, blank ones skipped.

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``. Linear in the input:
    each chunk is scanned a fixed number of times, and the piece of a line still
    waiting for its end is kept as a list of parts joined once when the end
    arrives (never ``pending + chunk`` per chunk, which copies a long line again
    for every chunk). Bounded: of one line, leading whitespace is dropped and at
    most ``max_line`` bytes are kept; a line cut there ends in ``…`` unless
    all that was dropped is whitespace. The rule does not depend on where the
    chunks happen to end.
    """

    __slots__ = ("_cut", "_held", "_max", "_parts")

    def __init__(self, max_line: int = _MAX_LINE) -> None:
        self._max = max_line
        self._parts: list[bytes] = []
        self._held = 0
        self._cut = False

    @property
    def held(self) -> int:
        """Bytes kept of the line not ended yet (at most ``max_line``)."""
        return self._held

    def feed(self, chunk: bytes) -> list[str]:
        """The lines that ``chunk`` completes, in order."""
        # Every line end becomes one b"\n": a \r\n turns into an empty line
        # between two ends, and empty lines are skipped anyway.
        data = chunk.replace(b"\r", b"\n")
        first = data.find(b"\n")
        if first < 0:
            self._hold(data)
            return []
        last = data.rfind(b"\n")
        self._hold(data[:first])
        head = self._take()
        lines = [head] if head else []
        if last > first:
            # The whole lines inside this chunk, without a Python step per byte.
            block = data[first + 1 : last]
            raws = block.split(b"\n")
            limit = self._max
            if max(map(len, raws)) <= limit:
                # No b"\n" lies inside a UTF-8 sequence: decoding the block at
                # once gives the same text as decoding each line.
                texts = block.decode("utf-8", "replace").split("\n")
            else:
                texts = [
                    _cut(raw, limit) if len(raw) > limit else raw.decode("utf-8", "replace")
                    for raw in raws
                ]
            lines.extend(text for text in map(str.strip, texts) if text)
        self._hold(data[last + 1 :])
        return lines

    def end(self) -> list[str]:
        """The last line, if the input did not end with a line end."""
        last = self._take()
        return [last] if last else []

    def _hold(self, piece: bytes) -> None:
        if not self._parts:
            piece = piece.lstrip()
        room = self._max - self._held
        if len(piece) > room:
            self._cut = self._cut or bool(piece[room:].strip())
            piece = piece[:room]
        if piece:
            self._parts.append(piece)
            self._held += len(piece)

    def _take(self) -> str:
        parts = self._parts
        raw = parts[0] if len(parts) == 1 else b"".join(parts)
        text = raw.decode("utf-8", "replace").strip()
        if self._cut:
            text += _CUT
        self._parts = []
        self._held = 0
        self._cut = False
        return text


def _cut(raw: bytes, limit: int) -> str:
    """A whole line longer than ``limit``, kept as :class:`LineSplitter` keeps one
    that arrives in pieces: leading whitespace dropped, then ``limit`` bytes."""
    raw = raw.lstrip()
    text = raw[:limit].decode("utf-8", "replace").strip()
    return text + _CUT if raw[limit:].strip() else text


def split_chunks(chunks: Iterable[bytes], max_line: int = _MAX_LINE) -> Iterator[str]:
    """The lines of ``chunks`` (see :class:`LineSplitter`), lazily."""
    splitter = LineSplitter(max_line)
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.end()


def file_ids(stream: BinaryIO) -> Iterator[str]:
    """Lines of a file read in 64 KiB chunks, lazily. Reading a regular file
    never blocks for long, so this runs on the event loop."""
    return split_chunks(iter(lambda: stream.read(_CHUNK), b""))


async def _pipe_ids(fd: int) -> AsyncIterator[str]:
    """Lines of a pipe or terminal, read by a daemon thread so a slow producer never
    blocks the event loop (and Ctrl-C never waits for a blocked read)."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    room = threading.Semaphore(4)  # at most 4 chunks read ahead: constant memory

    def reader() -> None:
        while True:
            room.acquire()
            try:
                chunk = os.read(fd, _CHUNK)
            except OSError:
                chunk = b""
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            except RuntimeError:  # the loop is gone (Ctrl-C): nobody is reading
                return
            if not chunk:
                return

    threading.Thread(target=reader, name="uprock-async stdin", daemon=True).start()
    splitter = LineSplitter()
    while True:
        chunk = await chunks.get()
        room.release()
        if not chunk:
            break
        for text in splitter.feed(chunk):
            yield text
    for text in splitter.end():
        yield text


# -- the command ---------------------------------------------------------------


def _open_input(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CliError(f"error: cannot read {path}: {exc.strerror}", code=2) from None


def _open_output(path: str | None) -> BinaryIO:
    if path is None or path == "-":
        return sys.stdout.buffer
    try:
        return open(path, "wb")
    except OSError as exc:
        raise CliError(f"error: cannot write {path}: {exc.strerror}", code=2) from None


async def run_job_details(args: argparse.Namespace, tally: Tally) -> int:
    """Stream the details of every id of the input as JSON lines; the exit status."""
    key = api_key("UPROCK_API_KEY")
    source = _open_input(args.file)
    sink = _open_output(args.output)
    lines = _Lines(sink, tally)
    try:
        if stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raw: Iterator[str] | AsyncIterator[str] = file_ids(source)
        else:
            raw = _pipe_ids(source.fileno())

        async def valid_ids() -> AsyncIterator[str]:
            # An invalid line becomes its own error line; the rest go on.
            if isinstance(raw, Iterator):
                for job_id in raw:
                    if _check(job_id, lines):
                        yield job_id
            else:
                async for job_id in raw:
                    if _check(job_id, lines):
                        yield job_id

        async with UprockClient(key, base_url=base_url(args)) as client:
            async with client.iter_job_details(
                valid_ids(),
                parse_cookies=args.parse_cookies,
                concurrency=args.concurrency,
                per_second=args.per_second,
                progress=progress_for_stderr(),
            ) as outcomes:
                async for outcome in outcomes:
                    if outcome.error is None:
                        lines.detail(outcome.item, outcome.value)
                    else:
                        lines.error(outcome.item, outcome.error)
            lines.flush()
            if args.stats:
                print(client.stats(), file=sys.stderr)
    except anyio.get_cancelled_exc_class():
        # Ctrl-C: asyncio.run cancels us, then raises KeyboardInterrupt in main().
        _close_quietly(lines)
        raise
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if sink is not sys.stdout.buffer:
            sink.close()
    say(tally.summary())
    return tally.exit_code


def _check(job_id: str, lines: _Lines) -> bool:
    try:
        validate_job_id(job_id)
    except ValueError as exc:
        lines.invalid(job_id, exc)
        return False
    return True


def _close_quietly(lines: _Lines) -> None:
    with contextlib.suppress(OSError):
        lines.flush()


def run_on_cluster(args: argparse.Namespace, tally: Tally) -> int:
    """``--processes N``: the same lookups on a local Dask cluster of N worker processes.

    Synchronous (the cluster runs its own event loops); the ids are read up front
    and the lines come out in input order once the cluster is done.
    """
    try:
        from ..distributed import job_details_on_cluster
    except ImportError as exc:
        raise CliError(f"error: --processes needs uprock-async[dask] ({exc})", code=2) from None
    key = api_key("UPROCK_API_KEY")
    source = _open_input(args.file)
    with source:
        ids = list(file_ids(source))
    sink = _open_output(args.output)
    lines = _Lines(sink, tally)
    try:
        valid = [job_id for job_id in ids if _check(job_id, lines)]
        options: dict[str, Any] = {"api_key": key}
        if base_url(args):
            options["base_url"] = base_url(args)
        results = job_details_on_cluster(
            valid,
            n_workers=args.processes,
            concurrency_per_worker=args.concurrency,
            per_second=args.per_second,
            parse_cookies=args.parse_cookies,
            **options,
        )
        for job_id, result in zip(valid, results, strict=True):
            if isinstance(result, BaseException):
                lines.error(job_id, result)
            else:
                lines.detail(job_id, result)
        lines.flush()
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
    say(tally.summary())
    return tally.exit_code
