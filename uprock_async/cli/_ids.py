"""Reading job ids for ``job-details`` and ``watch``: a file or stdin, streamed.

Ids are read lazily, so a file of a million ids goes through in constant
memory: a regular file in 64 KiB chunks on the event loop (reading one never
blocks for long), a pipe or terminal by a daemon thread. Lines are stripped and
blank ones skipped; one line is kept to a bounded length.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import BinaryIO

from ._common import CliError

__all__ = ["LineSplitter", "file_ids", "open_input", "pipe_ids", "read_lines", "split_chunks"]

_CHUNK = 1 << 16
# Bytes kept of one input line. A job id is at most 128 characters, so a longer
# line can only be refused; keeping all of it would let one endless line (a
# binary file, a stream without newlines) take all memory.
_MAX_LINE = 4096
_CUT = "\u2026"  # marks a line cut at _MAX_LINE, so what is left never passes as an id


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


async def pipe_ids(fd: int) -> AsyncIterator[str]:
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


def open_input(path: str) -> BinaryIO:
    """``path`` opened for reading, stdin for ``-``; a usage error (exit 2) if it cannot be."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CliError(f"error: cannot read {path}: {exc.strerror}", code=2) from None


async def read_lines(source: BinaryIO) -> AsyncIterator[str]:
    """The lines of ``source``: chunked on the loop for a regular file, else by a thread."""
    if stat.S_ISREG(os.fstat(source.fileno()).st_mode):
        for line in file_ids(source):
            yield line
    else:
        async for line in pipe_ids(source.fileno()):
            yield line
