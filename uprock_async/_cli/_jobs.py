"""``uprock-async job-details``: ids in (file or stdin, streamed), JSON lines out.

Ids are read lazily and fed to ``UprockClient.iter_job_details``, so a file of
a million ids runs in constant memory. Each result is written as one whole
line the moment it completes; Ctrl-C cancels what is in flight, and what was
written stays valid JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import stat
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, BinaryIO

import anyio
import msgspec

from ..uprock import UprockClient
from ..uprock._client import validate_job_id
from ._common import CliError, api_key, base_url, error_object, progress_for_stderr, say

__all__ = ["Tally", "run_job_details"]

_encoder = msgspec.json.Encoder()
_CHUNK = 1 << 16


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
        if isinstance(exc, ValueError):
            self._tally.invalid += 1
        else:
            self._tally.failed += 1
        self._write({"id": job_id, "error": error_object(exc)})

    def _write(self, line: dict[str, Any]) -> None:
        self._stream.write(_encoder.encode(line) + b"\n")
        if self._flush:
            self._stream.flush()

    def flush(self) -> None:
        self._stream.flush()


# -- reading ids ---------------------------------------------------------------


def _split(lines: Iterator[bytes]) -> Iterator[str]:
    for raw in lines:
        text = raw.decode("utf-8", "replace").strip()
        if text:
            yield text


def _regular_file_ids(stream: BinaryIO) -> Iterator[str]:
    """Lines of a regular file: reading never blocks for long, so plain iteration."""
    return _split(iter(stream))


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
    pending = b""
    while True:
        chunk = await chunks.get()
        room.release()
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for text in _split(iter(lines)):
            yield text
    for text in _split(iter([pending])):
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
            raw: Iterator[str] | AsyncIterator[str] = _regular_file_ids(source)
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
        lines.error(job_id, exc)
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
        ids = list(_split(iter(source)))
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
