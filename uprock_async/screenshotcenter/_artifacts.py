"""Screenshot artifacts: image/HTML/PDF/video downloads, ``save_screenshot``, ``save_crawl``."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path
from typing import Any, overload

import anyio

from .._adaptive import ConcurrencyArg
from .._base import query
from .._errors import UprockAsyncError
from .._fanout import ProgressArg, gather
from ._core import _Base, check_options, validate_id
from .models import Screenshot

__all__ = ["KINDS"]

KINDS = ("image", "html", "pdf", "video")
_ENDPOINTS = {
    "image": "/screenshot/thumbnail",
    "html": "/screenshot/html",
    "pdf": "/screenshot/pdf",
    "video": "/screenshot/video",
}
_IMAGE_OPTIONS = frozenset({"format", "width", "height", "shot"})
_NO_OPTIONS: frozenset[str] = frozenset()

StrPath = str | os.PathLike[str]


def _check_kind(kind: object) -> str:
    if kind not in _ENDPOINTS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    return str(kind)


def _check_kinds(kinds: Collection[str] | None) -> tuple[str, ...]:
    if kinds is None:
        return KINDS
    if isinstance(kinds, str):
        kinds = [k.strip() for k in kinds.split(",") if k.strip()]
    checked = tuple(dict.fromkeys(_check_kind(k) for k in kinds))
    if not checked:
        raise ValueError(f"kinds must name at least one of {', '.join(KINDS)}")
    return checked


def _check_basename(basename: object) -> str | None:
    if basename is None:
        return None
    if not isinstance(basename, str):
        raise TypeError(f"basename must be a str, got {type(basename).__name__}")
    # A basename names a file inside ``directory``; it may not climb out of it.
    if not basename or basename in (".", "..") or "/" in basename or "\\" in basename:
        raise ValueError(f"basename must be a plain file name without folders, got {basename!r}")
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


def filename(shot: Screenshot, kind: str, stem: str) -> str:
    """``{stem}.png|.html|.pdf|.{video_format or webm}`` (as the official SDK names them)."""
    if kind == "image":
        return f"{stem}.png"
    if kind == "video":
        return f"{stem}.{shot.video_format or 'webm'}"
    return f"{stem}.{kind}"


class _Artifacts(_Base):
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
        """
        screenshot_id = validate_id(screenshot_id, "screenshot_id")
        url = self._artifact_url(screenshot_id, _check_kind(kind), options)
        target = None if dest is None else Path(dest)
        return await self._transport.download(url, dest=target)

    def _artifact_url(self, screenshot_id: int, kind: str, options: dict[str, Any]) -> Any:
        check_options(options, _IMAGE_OPTIONS if kind == "image" else _NO_OPTIONS)
        path = _ENDPOINTS[kind] + query({"id": screenshot_id, **options})
        return self._transport.url(path)

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
        """
        screenshot_id = validate_id(screenshot_id, "screenshot_id")
        wanted = _check_kinds(kinds)
        stem = _check_basename(basename) or str(screenshot_id)
        folder = Path(directory)
        shot = await self._screenshot_info(screenshot_id)
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
        saved: dict[str, Path | None] = dict.fromkeys(KINDS)
        todo = [k for k in kinds if available(shot, k)]

        async def fetch(kind: str) -> None:
            dest = folder / filename(shot, kind, stem)
            url = self._artifact_url(shot.id, kind, {})
            saved[kind] = await self._transport.download(url, dest=dest)  # type: ignore[assignment]

        if concurrent and len(todo) > 1:
            async with anyio.create_task_group() as tg:
                for kind in todo:
                    tg.start_soon(fetch, kind)
        else:
            for kind in todo:
                await fetch(kind)
        return saved

    async def save_crawl(
        self,
        crawl_id: int,
        directory: StrPath,
        *,
        kinds: Collection[str] = ("image",),
        concurrency: ConcurrencyArg = 16,
        progress: ProgressArg = None,
    ) -> dict[int, dict[str, Path | None] | UprockAsyncError]:
        """Save the artifacts of every finished screenshot of a crawl into ``directory``.

        The crawl info is fetched and decoded once; then the screenshots are
        fanned out with at most ``concurrency`` downloads in flight (an int,
        ``"auto"`` or an :class:`~uprock_async.AdaptiveConcurrency`; one
        screenshot's artifacts are fetched one after another so the bound holds
        for requests, not screenshots). Files are named ``{id}.png`` etc. as in
        :meth:`save_screenshot`. ``progress``: ``True`` for a tqdm bar or a
        callable ``(done, total)`` counted in screenshots.

        Returns ``{screenshot_id: {"image": Path | None, …}}`` for every finished
        screenshot; a screenshot whose download failed (after retries) maps to
        its :class:`~uprock_async.UprockAsyncError` instead, and the others
        carry on. Errors that are not the service's (a full disk) are raised.
        """
        crawl_id = validate_id(crawl_id)
        wanted = _check_kinds(kinds)
        folder = Path(directory)
        crawl = await self._crawl_info(crawl_id)
        shots = [shot for shot in crawl.screenshots if shot.is_finished]

        async def save_one(shot: Screenshot) -> dict[str, Path | None]:
            return await self._save(shot, folder, str(shot.id), wanted, concurrent=False)

        results = await gather(
            save_one, shots, concurrency=concurrency, return_exceptions=True, progress=progress
        )
        out: dict[int, dict[str, Path | None] | UprockAsyncError] = {}
        for shot, result in zip(shots, results, strict=True):
            if isinstance(result, Exception) and not isinstance(result, UprockAsyncError):
                raise result
            out[shot.id] = result
        return out
