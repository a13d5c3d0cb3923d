"""Screenshot artifacts: image/HTML/PDF/video downloads (whole or streamed),
``save_screenshot``, ``save_crawl``.

Every file name ``save_*`` writes is built from the caller's ``basename`` or a
screenshot id (an int) and an extension that is either a constant or a short
plain ``video_format``: no string the service sends becomes a path unchecked.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path, PureWindowsPath
from typing import Any, overload

import anyio

from .. import _validate
from .._api import SMALL_FAN_OUT, HasApi, query
from .._errors import NotFoundError, UprockAsyncError
from .._validate import KINDS
from ..concurrency import ConcurrencyArg, ProgressArg
from ._core import check_options, crawl_info, screenshot_info
from .models import Screenshot

__all__ = ["KINDS"]

_ENDPOINTS = {
    "image": "/screenshot/thumbnail",
    "html": "/screenshot/html",
    "pdf": "/screenshot/pdf",
    "video": "/screenshot/video",
}
_IMAGE_OPTIONS = frozenset({"format", "width", "height", "shot"})
_NO_OPTIONS: frozenset[str] = frozenset()

# A basename is a file name stem: with its extension (at most 9 bytes), the
# staging name ``save_*`` adds and the transport's own ``.part`` name, it must
# still fit the 255 bytes most filesystems allow for one name.
_MAX_BASENAME_BYTES = 200
_MAX_VIDEO_FORMAT = 8
_DEFAULT_VIDEO_FORMAT = "webm"

StrPath = str | os.PathLike[str]


def is_plain_name(name: str) -> bool:
    """Is ``name`` one file name that stays inside whatever folder it is joined to?

    Refused: empty, ``.``/``..``, any ``/`` or ``\\`` (a folder on POSIX or
    Windows), NUL (which ``open`` rejects only after the downloads), and a
    Windows drive prefix (``C:x`` would leave the folder there).
    """
    return (
        bool(name)
        and name not in (".", "..")
        and not any(char in name for char in "/\\\x00")
        and not PureWindowsPath(name).drive
    )


def _check_basename(basename: object) -> str | None:
    if basename is None:
        return None
    if not isinstance(basename, str):
        raise TypeError(f"basename must be a str, got {type(basename).__name__}")
    # A basename names a file inside ``directory``; it may not climb out of it.
    if not is_plain_name(basename):
        raise ValueError(f"basename must be a plain file name without folders, got {basename!r}")
    try:
        size = len(os.fsencode(basename))
    except UnicodeEncodeError:
        raise ValueError(f"basename cannot be a file name here, got {basename!r}") from None
    if size > _MAX_BASENAME_BYTES:
        raise ValueError(f"basename must be at most {_MAX_BASENAME_BYTES} bytes, got {size} bytes")
    return basename


def available(shot: Screenshot, kind: str) -> bool:
    """Does ``shot`` have a ``kind`` artifact to download?

    ``image`` once finished; ``html``/``pdf``/``video`` when ``has_*`` says so.
    Payloads without ``has_*`` (older shapes) fall back to "requested and finished".
    """
    if kind == "image":
        return shot.is_finished
    has = {"html": shot.has_html, "pdf": shot.has_pdf, "video": shot.has_video}[kind]
    if has is not None:
        return has
    return shot.is_finished and bool(getattr(shot, kind))


def video_extension(video_format: str | None) -> str:
    """The file extension for a video: ``video_format`` when it is 1-8 ASCII
    letters or digits (``mp4``, ``webm``), else ``webm``.

    ``video_format`` comes from the service: anything else (``x/../../escaped``,
    an absolute path, ``..``, a NUL, a very long string) must not become part of
    a path. Falling back rather than failing still saves the video, which is
    what the caller asked for; only its extension is a guess.
    """
    fmt = video_format or ""
    if len(fmt) <= _MAX_VIDEO_FORMAT and fmt.isascii() and fmt.isalnum():
        return fmt
    return _DEFAULT_VIDEO_FORMAT


def filename(shot: Screenshot, kind: str, stem: str) -> str:
    """``{stem}.png|.html|.pdf|.{video_format or webm}`` (as the official SDK names them)."""
    if kind == "image":
        return f"{stem}.png"
    if kind == "video":
        return f"{stem}.{video_extension(shot.video_format)}"
    return f"{stem}.{kind}"


def inside(folder: Path, name: str) -> Path:
    """``folder / name``, refusing any ``name`` that is not one plain file name.

    The last check before a path is written: whatever built ``name``, the file
    lands directly in ``folder``.
    """
    if not is_plain_name(name):
        raise ValueError(f"refusing to save to {name!r}: not a plain file name")
    return folder / name


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) as far as they are empty.

    Only folders that were missing before this call are passed in; one that is
    not empty holds someone else's file (another screenshot of the crawl), so it
    and its parents stay.
    """
    for path in folders:
        try:
            path.rmdir()
        except OSError:
            return


def _staging(target: Path) -> Path:
    """A hidden name beside ``target`` to download to until every kind is done."""
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}.saving")


async def _first_error_wins(fn: Callable[[str], Awaitable[None]], items: Iterable[str]) -> None:
    """Run ``fn(item)`` for every item at once; the first failure cancels the
    others and is raised as itself (a task group would wrap it in an
    ``ExceptionGroup``, which no caller of ``save_screenshot`` expects)."""
    failures: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def run(item: str) -> None:
            try:
                await fn(item)
            except Exception as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        for item in items:
            tg.start_soon(run, item)
    if failures:
        raise failures[0]


def _suggest_waiting(error: NotFoundError, screenshot_id: int) -> None:
    """Add to a 404's message what to do when the artifact is only not ready yet."""
    error.message = (
        f"{error.message} (not found, or not ready yet: if screenshot {screenshot_id} "
        f"is still processing, await wait_for_screenshot({screenshot_id}) first)"
    )
    error.args = (error.message,)


@asynccontextmanager
async def _hinting(
    stream: AbstractAsyncContextManager[AsyncIterator[bytes]], screenshot_id: int
) -> AsyncIterator[AsyncIterator[bytes]]:
    """``stream``, whose 404 on entering says what to do when the artifact is only
    not ready yet (a ``NotFoundError`` raised inside the caller's block is theirs)."""
    async with AsyncExitStack() as stack:
        try:
            body = await stack.enter_async_context(stream)
        except NotFoundError as error:
            _suggest_waiting(error, screenshot_id)
            raise
        yield body


class _Artifacts(HasApi):
    @overload
    async def download_screenshot(
        self, screenshot_id: int, *, kind: str = ..., dest: None = None, **options: Any
    ) -> bytes: ...

    @overload
    async def download_screenshot(
        self, screenshot_id: int, *, kind: str = ..., dest: StrPath, **options: Any
    ) -> Path: ...

    async def download_screenshot(
        self,
        screenshot_id: int,
        *,
        kind: str = "image",
        dest: StrPath | None = None,
        **options: Any,
    ) -> bytes | Path:
        """Download one artifact: ``GET /screenshot/{thumbnail|html|pdf|video}?id=``.

        ``kind``: ``image`` (the thumbnail endpoint; ``options``: ``format``,
        ``width``, ``height``, ``shot``), ``html``, ``pdf`` or ``video`` (no
        options). Returns the bytes, or — with ``dest`` — streams into a
        temporary file beside ``dest``, renamed over it only once complete (a
        failed or truncated transfer leaves nothing at ``dest``; missing folders
        are created) and returns ``dest`` as a ``Path``.

        An artifact that is not there yet is a 404 like one that never will be
        (the service documents "not found or not ready"): on a screenshot still
        processing this raises :class:`~uprock_async.NotFoundError`, whose message
        says to :meth:`wait_for_screenshot` first.
        """
        screenshot_id = _validate.positive_id(screenshot_id, "screenshot_id")
        (kind,) = _validate.kinds((kind,))
        url = self._artifact_url(screenshot_id, kind, options)
        try:
            return await self._api.download(url, dest=dest)
        except NotFoundError as error:
            _suggest_waiting(error, screenshot_id)
            raise

    def stream_screenshot(
        self, screenshot_id: int, *, kind: str = "image", **options: Any
    ) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """One artifact, chunk by chunk, never held whole in memory::

            async with client.stream_screenshot(shot_id, kind="video") as body:
                async for chunk in body:  # bytes
                    await sink.write(chunk)

        ``kind`` and ``options`` are those of :meth:`download_screenshot`; bad ones
        raise here, before any request. The body is capped at
        :attr:`Limits.max_download_size <uprock_async.Limits>` decompressed bytes
        (:class:`~uprock_async.ResponseDecodeError` past it), and the key goes in
        the ``X-API-KEY`` header to the configured host only. Entering the block
        sends the request; an error answer raises there (a 404 saying to
        :meth:`wait_for_screenshot` first, as :meth:`download_screenshot` does).

        A failed transfer is retried only until the first chunk has reached you;
        after that a broken connection raises
        :class:`~uprock_async.APIConnectionError` from ``async for``, so a stream
        that ends is complete. Leaving the block early closes the connection. The
        client's ``Timeout.total`` bounds the whole transfer, your time between
        chunks included.
        """
        screenshot_id = _validate.positive_id(screenshot_id, "screenshot_id")
        (kind,) = _validate.kinds((kind,))
        url = self._artifact_url(screenshot_id, kind, options)
        return _hinting(self._api.open_stream(url), screenshot_id)

    def _artifact_url(self, screenshot_id: int, kind: str, options: dict[str, Any]) -> Any:
        check_options(options, _IMAGE_OPTIONS if kind == "image" else _NO_OPTIONS)
        path = _ENDPOINTS[kind] + query({"id": screenshot_id, **options})
        return self._api.url(path)

    async def save_screenshot(
        self,
        screenshot_id: int,
        directory: StrPath,
        *,
        basename: str | None = None,
        kinds: Collection[str] | None = None,
    ) -> dict[str, Path | None]:
        """Save every artifact the screenshot has into ``directory``, concurrently.

        Fetches ``screenshot_info`` first, then each of ``kinds`` (default: all)
        the screenshot has (``image`` once finished; ``html``/``pdf``/``video``
        when ``has_*``) as ``{basename or id}.png|.html|.pdf|.{video_format or
        webm}``. Returns ``{"image": Path | None, "html": …, "pdf": …, "video":
        …}`` with ``None`` for what was skipped.

        ``basename`` must be a plain file name (no ``/``, ``\\``, ``..``, NUL or
        drive; at most 200 bytes): else ``ValueError`` before any request. A
        ``video_format`` that is not 1-8 ASCII letters or digits is not used in
        the name: the video is saved as ``.webm``.

        All or nothing: every kind is downloaded to a hidden temporary name and
        the files appear under their real names only once all have arrived. If
        one fails (or the call is cancelled), the others are cancelled, nothing
        of this call is left in ``directory`` — no file, no folder it created; a
        file already there under a real name is untouched — and the first
        failure is raised as itself (e.g. :class:`~uprock_async.NotFoundError`,
        never an ``ExceptionGroup``).
        """
        screenshot_id = _validate.positive_id(screenshot_id, "screenshot_id")
        wanted = _validate.kinds(kinds)
        stem = _check_basename(basename) or str(screenshot_id)
        folder = Path(directory)
        shot = await screenshot_info(self._api, screenshot_id)
        return await self._save(shot, folder, stem, wanted, concurrent=True)

    async def _save(
        self,
        shot: Screenshot,
        folder: Path,
        stem: str,
        kinds: tuple[str, ...],
        *,
        concurrent: bool,
    ) -> dict[str, Path | None]:
        """Download ``kinds`` of ``shot`` all or nothing (see :meth:`save_screenshot`)."""
        saved: dict[str, Path | None] = dict.fromkeys(KINDS)
        targets = {
            kind: inside(folder, filename(shot, kind, stem))
            for kind in kinds
            if available(shot, kind)
        }
        for target in targets.values():
            # Found now, before any transfer, rather than by the rename at the end.
            if target.is_dir():
                raise IsADirectoryError(errno.EISDIR, "a folder is in the way", str(target))
        staged: dict[str, Path] = {}
        missing = _missing_folders(folder) if targets else []

        async def fetch(kind: str) -> None:
            part = staged[kind] = _staging(targets[kind])
            await self._api.download(self._artifact_url(shot.id, kind, {}), dest=part)

        try:
            if concurrent and len(targets) > 1:
                await _first_error_wins(fetch, targets)
            else:
                for kind in targets:
                    await fetch(kind)
            # No await from here on: a cancellation cannot land between renames.
            for kind, target in targets.items():
                os.replace(staged.pop(kind), target)
                saved[kind] = target
        except BaseException:
            for part in staged.values():
                part.unlink(missing_ok=True)
            _remove_empty(missing)
            raise
        return saved

    async def save_crawl(
        self,
        crawl_id: int,
        directory: StrPath,
        *,
        kinds: Collection[str] = ("image",),
        concurrency: ConcurrencyArg = SMALL_FAN_OUT,
        progress: ProgressArg = None,
    ) -> dict[int, dict[str, Path | None] | UprockAsyncError]:
        """Save the artifacts of every finished screenshot of a crawl into ``directory``.

        The crawl info is fetched and decoded once; then the screenshots are
        fanned out with at most ``concurrency`` downloads in flight (an int,
        ``"auto"`` or an :class:`~uprock_async.AdaptiveConcurrency`; one
        screenshot's artifacts are fetched one after another so the bound holds
        for requests, not screenshots). Files are named ``{id}.png`` etc. as in
        :meth:`save_screenshot`; a screenshot listed twice is saved once.
        ``progress``: ``True`` for a tqdm bar or a callable ``(done, total)``
        counted in screenshots.

        Returns ``{screenshot_id: {"image": Path | None, …}}`` for every finished
        screenshot; a screenshot whose download failed (after retries) maps to
        its :class:`~uprock_async.UprockAsyncError` instead, leaves none of its
        files behind (all or nothing per screenshot, as in
        :meth:`save_screenshot`), and the others carry on. An error that is not
        the service's (a full disk) cancels the rest and is raised as itself.
        """
        crawl_id = _validate.positive_id(crawl_id)
        wanted = _validate.kinds(kinds)
        folder = Path(directory)
        crawl = await crawl_info(self._api, crawl_id)
        # Keyed by id: a crawl that lists a screenshot twice must not have two
        # downloads racing for one file name.
        shots = list({shot.id: shot for shot in crawl.screenshots if shot.is_finished}.values())

        async def save_one(shot: Screenshot) -> dict[str, Path | None] | UprockAsyncError:
            try:
                return await self._save(shot, folder, str(shot.id), wanted, concurrent=False)
            except UprockAsyncError as exc:
                return exc  # the service's answer for this screenshot: kept in place

        results = await self._api.many(save_one, shots, concurrency=concurrency, progress=progress)
        # Without return_exceptions gather raises rather than lists an exception:
        # every error in ``results`` is one save_one returned as its value.
        return {shot.id: result for shot, result in zip(shots, results, strict=True)}
