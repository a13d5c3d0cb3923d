"""Reading bodies: whole answers into memory, downloads into files, with size caps.

A body is refused past its cap (also after ``gzip``/``deflate`` are undone); a
download goes to a temporary file beside ``dest`` that is renamed over it only
once complete, so a failed or truncated transfer leaves nothing at ``dest``.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import aiohttp

from .._errors import APIStatusError, ResponseDecodeError
from ._failures import Failure, not_ready_message

__all__ = [
    "check_dest",
    "check_ready",
    "read_body",
    "read_prefix",
    "stream_to",
]

CHUNK = 256 * 1024

Progress = Callable[[int, int | None], None]


async def read_body(resp: aiohttp.ClientResponse, cap: int, progress: Progress | None) -> bytes:
    """The whole body, refusing more than ``cap`` bytes (also after decompression)."""
    length = resp.content_length
    encoded = "Content-Encoding" in resp.headers
    if length is not None and length > cap and not encoded:
        raise Failure(
            ResponseDecodeError(
                f"response body of {length} bytes exceeds max_body_size={cap}",
                status_code=resp.status,
            ),
            retryable=False,
            sent=True,
        )
    if length is not None and not encoded and progress is None:
        return await resp.read()  # the fast path: one buffer, no copies
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK):
        buf += chunk
        if len(buf) > cap:
            raise Failure(
                ResponseDecodeError(
                    f"response body exceeds max_body_size={cap} bytes",
                    status_code=resp.status,
                ),
                retryable=False,
                sent=True,
            )
        if progress is not None:
            progress(len(buf), length if not encoded else None)
    return bytes(buf)


async def stream_to(
    resp: aiohttp.ClientResponse, dest: Path, progress: Progress | None, cap: int | None
) -> int:
    """Write the body to ``dest`` atomically; the bytes written."""
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    total = resp.content_length if not resp.headers.get("Content-Encoding") else None
    if cap is not None and total is not None and total > cap:
        raise _too_big(resp.status, f"download of {total} bytes", cap)
    done = 0
    # No await between making the folders and opening the file in them: another
    # download of this loop that fails cannot remove them in between.
    created = _make_parents(dest.parent)
    try:
        # Page-cache writes of 256 KiB take microseconds; a thread hop per chunk
        # would cost more than it saves.
        with open(tmp, "wb") as fh:  # noqa: ASYNC230
            async for chunk in resp.content.iter_chunked(CHUNK):
                done += len(chunk)
                if cap is not None and done > cap:
                    # Counted after decompression: a small gzip can inflate to anything.
                    raise _too_big(resp.status, "download", cap)
                fh.write(chunk)
                if progress is not None:
                    progress(done, total)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        _remove_dirs(created)
        raise
    return done


def _too_big(status: int, what: str, cap: int) -> Failure:
    return Failure(
        ResponseDecodeError(
            f"{what} exceeds max_download_size={cap} bytes (Limits.max_download_size)",
            status_code=status,
        ),
        retryable=False,
        sent=True,
    )


def check_dest(dest: Path) -> None:
    """Refuse, before any request, a ``dest`` no file can be written to."""
    if dest.is_dir():
        raise IsADirectoryError(
            errno.EISDIR, "dest is a directory; pass the path of the file to write", str(dest)
        )
    for parent in dest.parents:  # the nearest existing ancestor must be a folder
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, "a parent of dest is a file, not a folder", str(parent)
                )
            return


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; returns those made here, outermost first."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created: list[Path] = []
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue  # made meanwhile by another thread or process: theirs, not ours
        created.append(path)
    return created


def _remove_dirs(created: list[Path]) -> None:
    """Undo :func:`_make_parents`, innermost first, as far as the folders are empty."""
    for path in reversed(created):
        try:
            path.rmdir()
        except OSError:
            return  # another download's file lives there now: it and its parents stay


def check_ready(status: int, not_ready: frozenset[int]) -> None:
    """A status in ``not_ready`` (Uprock's 202) is not content: retried like a 503,
    then raised as :class:`APIStatusError`. (One >= 400, Uprock's 409, never gets
    here: the retry loop reads it first; see :func:`~._failures.expecting`.)"""
    if status in not_ready:
        raise Failure(
            APIStatusError(not_ready_message(status), status_code=status),
            retryable=True,
            sent=True,
        )


async def read_prefix(resp: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most ``cap`` bytes of a body we only quote (error pages, redirects).

    A bigger body is cut, not refused: a 503 page from a proxy is still a
    retryable 503. The unread rest is dropped with the connection on release,
    never buffered.
    """
    buf = bytearray()
    while len(buf) < cap:
        chunk = await resp.content.read(min(CHUNK, cap - len(buf)))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)
