"""FakeServer routes of the ScreenshotCenter API (under /api/v1), stateful and deterministic.

Created crawls, screenshots and batches start ``processing`` and turn
``finished`` once ``server.crawl_completion_delay`` /
``screenshot_completion_delay`` / ``batch_completion_delay`` seconds have
passed (checked whenever they are read, no background tasks). Artifacts are
``server.artifact_size`` bytes derived from the screenshot id, kind and options
(same request, same bytes), served after ``server.artifact_latency`` seconds.
Batch downloads are real zip files. Bad arguments answer the service's 400
``VALIDATION_ERROR`` shape. Screenshots made here and batches carry the ``null``
fields of the official SDK's fixtures (``error``, ``region``; ``final_url`` and
``finished_at`` while processing).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import io
import time
import zipfile
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from . import _data
from ._server import SC_PREFIX, envelope, error_response, json_response

if TYPE_CHECKING:
    from ._server import FakeServer

_MAGIC = {
    "image": b"\x89PNG\r\n\x1a\n",
    "html": b"<!doctype html><html><body>",
    "pdf": b"%PDF-1.7\n",
    "video": b"\x1aE\xdf\xa3",
}
_CONTENT_TYPES = {
    "image": "image/png",
    "html": "text/html",
    "pdf": "application/pdf",
    "video": "video/webm",
}
_DELETE_DATA = frozenset({"image", "metadata", "url", "all"})
_ZIP_TIME = (2026, 2, 1, 0, 0, 0)  # fixed, so the same batch zips to the same bytes


def artifact_bytes(shot_id: int, kind: str, options: dict[str, str], size: int) -> bytes:
    """The deterministic content of one artifact: a file-type magic, then filler."""
    key = f"{shot_id}:{kind}:{sorted(options.items())}".encode()
    block = hashlib.sha256(key).digest() * 64  # 2 KiB
    magic = _MAGIC[kind]
    body = magic + block * (max(size - len(magic), 0) // len(block) + 1)
    return body[: max(size, len(magic))]


def validation_error(**fields: str) -> web.Response:
    """400 in the service's validation shape (no ``success`` key)."""
    return json_response(
        {"error": "Request validation failed", "code": "VALIDATION_ERROR", "fields": fields},
        status=400,
    )


def _int_param(request: web.Request, name: str = "id") -> int | None:
    value = request.query.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and int(value) > 0 else None


def _page(request: web.Request, items: list[Any]) -> web.Response:
    limit = _int_param(request, "limit") or 100
    offset_text = request.query.get("offset", "0")
    offset = int(offset_text) if offset_text.isascii() and offset_text.isdigit() else 0
    return envelope(items[offset : offset + limit])


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[bytes, str | None]]:
    """``{name: (content, filename)}`` of a multipart/form-data body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, tuple[bytes, str | None]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name:
            content = payload if isinstance(payload, bytes) else b""
            fields[str(name)] = (content, part.get_filename())
    return fields


class _State:
    """What the ScreenshotCenter routes remember between requests."""

    def __init__(self, server: FakeServer) -> None:
        self.server = server
        self.crawl_due: dict[int, tuple[float, int]] = {}  # id -> (finish time, pages)
        self.shots: dict[int, dict[str, Any]] = {}  # made by screenshot/create
        self.shot_due: dict[int, float] = {}
        self.index: dict[int, dict[str, Any]] = {}  # every screenshot of every crawl
        self.deleted: set[int] = set()
        self.deleted_images: set[int] = set()
        self.batches: dict[int, dict[str, Any]] = {}
        self.batch_due: dict[int, float] = {}
        self.batch_urls: dict[int, list[str]] = {}
        self.balance = 500

    # -- progress ------------------------------------------------------------------

    def advance(self) -> None:
        """Finish whatever is due."""
        now = time.monotonic()
        server = self.server
        for crawl_id, (due, pages) in list(self.crawl_due.items()):
            if now < due:
                continue
            del self.crawl_due[crawl_id]
            old = server.crawls[crawl_id]
            crawl = _data.crawl_payload(
                server.rng,
                crawl_id,
                pages,
                first_shot_id=server.next_id() * 1000,
                domain=old["domain"],
            )
            crawl.update(start_url=old["start_url"], max_urls=old["max_urls"])
            server.crawls[crawl_id] = crawl
            server.invalidate(crawl_id)
        for shot_id, due in list(self.shot_due.items()):
            if now >= due:
                del self.shot_due[shot_id]
                shot = self.shots[shot_id]
                shot.update(status="finished", response_code=200, finished_at=shot["created_at"])
                shot.update(final_url=shot["url"])
                shot.update(has_html=shot["html"], has_pdf=shot["pdf"], has_video=shot["video"])
        for batch_id, due in list(self.batch_due.items()):
            if now >= due:
                del self.batch_due[batch_id]
                batch = self.batches[batch_id]
                batch.update(status="finished", processed=batch["count"])
                batch["zip_url"] = f"{server.screenshotcenter_url}/batch/download?id={batch_id}"

    def shot(self, shot_id: int) -> dict[str, Any] | None:
        self.advance()
        if shot_id in self.deleted:
            return None
        found = self.shots.get(shot_id) or self.index.get(shot_id)
        if found is None:  # a crawl may have been added or finished since: re-index
            self.index = {
                s["id"]: s for crawl in self.server.crawls.values() for s in crawl["screenshots"]
            }
            found = self.index.get(shot_id)
        return found

    def all_shots(self) -> list[dict[str, Any]]:
        self.shot(0)  # advance and re-index
        everything = {**self.index, **self.shots}
        return [everything[i] for i in sorted(everything) if i not in self.deleted]


def setup(server: FakeServer, app: web.Application) -> None:
    """Register every ScreenshotCenter route on ``app``."""
    state = _State(server)
    route = app.router

    def not_found(request: web.Request, what: str) -> web.Response:
        return error_response(request.path, 404, f"{what} not found", code="NOT_FOUND")

    async def json_object(request: web.Request) -> dict[str, Any] | None:
        try:
            body = msgspec.json.decode(await request.read())
        except msgspec.DecodeError:
            return None
        return body if isinstance(body, dict) else None

    # -- crawls --------------------------------------------------------------------

    async def crawl_info(request: web.Request) -> web.StreamResponse:
        crawl_id = _int_param(request)
        if crawl_id is None:
            return validation_error(id="must be a positive integer")
        state.advance()
        body = server.crawl_bytes(crawl_id)
        if body is None:
            return not_found(request, "Crawl")
        return web.Response(body=body, content_type="application/json")

    async def crawl_create(request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        if body is None:
            return validation_error(body="must be a JSON object")
        url, max_urls = body.get("url"), body.get("max_urls", 10)
        if not _is_http_url(url):
            return validation_error(url="must be an http(s) URL")
        if isinstance(max_urls, bool) or not isinstance(max_urls, int) or max_urls < 1:
            return validation_error(max_urls="must be a positive integer")
        crawl_id = server.next_id()
        domain = str(body.get("domain") or urlsplit(str(url)).hostname)
        crawl = _data.crawl_payload(server.rng, crawl_id, 0, first_shot_id=0, domain=domain)
        crawl.update(status="processing", start_url=url, max_urls=max_urls, total_discovered=0)
        server.crawls[crawl_id] = crawl
        state.crawl_due[crawl_id] = (
            time.monotonic() + server.crawl_completion_delay,
            min(max_urls, 1000),
        )
        return envelope(crawl)

    async def crawl_list(request: web.Request) -> web.StreamResponse:
        state.advance()
        crawls = [
            {k: v for k, v in server.crawls[i].items() if k != "screenshots"}
            for i in sorted(server.crawls)
        ]
        return _page(request, crawls)

    async def crawl_cancel(request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        crawl_id = body.get("id") if body else None
        if not isinstance(crawl_id, int) or crawl_id < 1:
            return validation_error(id="must be a positive integer")
        state.advance()
        crawl = server.crawls.get(crawl_id)
        if crawl is None:
            return not_found(request, "Crawl")
        if state.crawl_due.pop(crawl_id, None) is not None:
            crawl["status"] = "cancelled"
            server.invalidate(crawl_id)
        return envelope({k: v for k, v in crawl.items() if k != "screenshots"})

    # -- screenshots -----------------------------------------------------------------

    async def shot_create(request: web.Request) -> web.StreamResponse:
        url = request.query.get("url", "")
        if not _is_http_url(url):
            return validation_error(url="must be an http(s) URL")
        shot_id = server.next_id()
        shot = _data.screenshot_payload(server.rng, shot_id, url, "processing")
        for flag in ("html", "pdf", "video"):
            shot[flag] = request.query.get(flag, "false") == "true"
        shot.update(has_html=False, has_pdf=False, has_video=False)
        shot["country"] = request.query.get("country", "us")
        # The nulls of the official SDK's fixtures: no error, no region, and no
        # final URL or finish time while processing.
        shot.update(error=None, region=None, final_url=None, finished_at=None)
        state.shots[shot_id] = shot
        state.shot_due[shot_id] = time.monotonic() + server.screenshot_completion_delay
        state.balance -= 1
        return envelope(shot)

    async def shot_info(request: web.Request) -> web.StreamResponse:
        shot_id = _int_param(request)
        if shot_id is None:
            return validation_error(id="must be a positive integer")
        shot = state.shot(shot_id)
        return envelope(shot) if shot is not None else not_found(request, "Screenshot")

    async def shot_list(request: web.Request) -> web.StreamResponse:
        return _page(request, state.all_shots())

    async def shot_search(request: web.Request) -> web.StreamResponse:
        needle = request.query.get("url", "")
        if not needle:
            return validation_error(url="is required")
        return _page(request, [s for s in state.all_shots() if needle in s["url"]])

    async def shot_delete(request: web.Request) -> web.StreamResponse:
        shot_id, data = _int_param(request), request.query.get("data", "all")
        if shot_id is None:
            return validation_error(id="must be a positive integer")
        if data not in _DELETE_DATA:
            return validation_error(data="must be one of image, metadata, url, all")
        shot = state.shot(shot_id)
        if shot is None:
            return not_found(request, "Screenshot")
        if data == "image":
            state.deleted_images.add(shot_id)
        elif data == "url":
            shot["url"] = shot["final_url"] = ""
        else:
            state.deleted.add(shot_id)
        return json_response({"success": True, "data": None})

    def artifact(kind: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            shot_id = _int_param(request)
            if shot_id is None:
                return validation_error(id="must be a positive integer")
            shot = state.shot(shot_id)
            if shot is None:
                return not_found(request, "Screenshot")
            finished = shot["status"] == "finished"
            has = (
                finished and shot_id not in state.deleted_images
                if kind == "image"
                else bool(shot.get(f"has_{kind}", finished and shot.get(kind)))
            )
            if not has:
                return not_found(request, f"The {kind} of this screenshot")
            options = {k: v for k, v in request.query.items() if k not in ("id", "key")}
            if server.artifact_latency:
                await asyncio.sleep(server.artifact_latency)
            body = artifact_bytes(shot_id, kind, options, server.artifact_size)
            return web.Response(body=body, content_type=_CONTENT_TYPES[kind])

        return handler

    # -- batches ---------------------------------------------------------------------

    async def batch_create(request: web.Request) -> web.StreamResponse:
        fields = _multipart(request.headers.get("Content-Type", ""), await request.read())
        country = fields.get("country", (b"", None))[0].decode()
        content, filename = fields.get("file", (b"", None))
        urls = [line for line in content.decode().splitlines() if line.strip()]
        if filename is None or not urls:
            return validation_error(file="a urls.txt file with one URL a line is required")
        if not all(_is_http_url(u) for u in urls):
            return validation_error(file="every line must be an http(s) URL")
        if len(country) != 2 or not country.isalpha():
            return validation_error(country="must be a two-letter country code")
        batch_id = server.next_id()
        state.batches[batch_id] = batch = {
            "id": batch_id,
            "status": "processing",
            "error": None,  # as in the official SDK's fixtures
            "count": len(urls),
            "processed": 0,
            "failed": 0,
            "zip_url": None,
        }
        state.batch_urls[batch_id] = urls
        state.batch_due[batch_id] = time.monotonic() + server.batch_completion_delay
        return envelope(batch)

    def batch_or_none(request: web.Request) -> dict[str, Any] | None:
        state.advance()
        batch_id = _int_param(request)
        return state.batches.get(batch_id) if batch_id is not None else None

    async def batch_info(request: web.Request) -> web.StreamResponse:
        batch = batch_or_none(request)
        return envelope(batch) if batch is not None else not_found(request, "Batch")

    async def batch_list(request: web.Request) -> web.StreamResponse:
        state.advance()
        return _page(request, [state.batches[i] for i in sorted(state.batches)])

    async def batch_cancel(request: web.Request) -> web.StreamResponse:
        body = await json_object(request)
        batch_id = body.get("id") if body else None
        if not isinstance(batch_id, int) or batch_id < 1:
            return validation_error(id="must be a positive integer")
        state.advance()
        if batch_id not in state.batches:
            return not_found(request, "Batch")
        if state.batch_due.pop(batch_id, None) is not None:
            state.batches[batch_id]["status"] = "cancelled"
        return json_response({"success": True, "data": None})

    async def batch_download(request: web.Request) -> web.StreamResponse:
        batch = batch_or_none(request)
        if batch is None:
            return not_found(request, "Batch")
        if batch["status"] != "finished":
            return error_response(request.path, 400, "Batch is not finished", code="NOT_READY")
        buf = io.BytesIO()
        urls = state.batch_urls[batch["id"]]
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(zipfile.ZipInfo("urls.txt", _ZIP_TIME), "\n".join(urls) + "\n")
            for i in range(len(urls)):
                image = artifact_bytes(batch["id"] * 100_000 + i, "image", {}, server.artifact_size)
                zf.writestr(zipfile.ZipInfo(f"{i + 1:05d}.png", _ZIP_TIME), image)
        return web.Response(body=buf.getvalue(), content_type="application/zip")

    async def account_info(request: web.Request) -> web.StreamResponse:
        return envelope({"balance": state.balance})

    p = SC_PREFIX
    route.add_get(p + "/crawl/info", crawl_info)
    route.add_post(p + "/crawl/create", crawl_create)
    route.add_get(p + "/crawl/list", crawl_list)
    route.add_post(p + "/crawl/cancel", crawl_cancel)
    route.add_get(p + "/screenshot/create", shot_create)
    route.add_get(p + "/screenshot/info", shot_info)
    route.add_get(p + "/screenshot/list", shot_list)
    route.add_get(p + "/screenshot/search", shot_search)
    route.add_get(p + "/screenshot/delete", shot_delete)
    for kind, name in (
        ("image", "thumbnail"),
        ("html", "html"),
        ("pdf", "pdf"),
        ("video", "video"),
    ):
        route.add_get(f"{p}/screenshot/{name}", artifact(kind))
    route.add_post(p + "/batch/create", batch_create)
    route.add_get(p + "/batch/info", batch_info)
    route.add_get(p + "/batch/list", batch_list)
    route.add_post(p + "/batch/cancel", batch_cancel)
    route.add_get(p + "/batch/download", batch_download)
    route.add_get(p + "/account/info", account_info)
