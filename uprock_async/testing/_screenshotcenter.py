"""The ScreenshotCenter API of FakeServer (under /api/v1): :class:`ScreenshotCenterService`.

Stateful and deterministic. Created crawls, screenshots and batches start
``processing`` and turn ``finished`` once ``crawl_completion_delay`` /
``screenshot_completion_delay`` / ``batch_completion_delay`` seconds have
passed (checked whenever they are read, no background tasks). Artifacts are
``artifact_size`` bytes derived from the screenshot id, kind and options
(same request, same bytes), served after ``artifact_latency`` seconds; one that
is not there yet (the screenshot is still processing) answers 404, as the
endpoint pages document ("Screenshot not found or not ready"). Batch downloads
are real zip files.

The shapes follow the endpoint pages and the official SDKs' fixtures: bad
arguments answer the 400 ``VALIDATION_ERROR`` shape with a list of messages
per field; a 429 the JS SDK's ``{"error", "code", "retry_after"}``; screenshots
made here carry the fixtures' ``null`` fields (``error``, ``region``;
``final_url`` and ``finished_at`` while processing); a batch's ``error`` is
``""`` (the documented list example), left out (the SDK fixtures) or ``null``
(the SDK's types allow it), by batch id, and ``batch/list`` leaves out
``zip_url`` as the documented example does. Messages and codes not shown on a
page are FakeServer's own (marked "guess").
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import random
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from . import _data
from ._responses import envelope, json_response, screenshotcenter_error, validation_error
from ._service import Service, route

__all__ = ["SC_PREFIX", "ScreenshotCenterService"]

SC_PREFIX = "/api/v1"
_CONTENT_TYPES = {
    "image": "image/png",
    "html": "text/html",
    "pdf": "application/pdf",
    "video": "video/webm",
}
_DELETE_DATA = frozenset({"image", "metadata", "url", "all"})
_BAD_ID = "must be a positive integer"  # guess, as every validation message here


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


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = msgspec.json.decode(await request.read())
    except msgspec.DecodeError:
        return None
    return body if isinstance(body, dict) else None


def _not_found(what: str) -> web.Response:
    # guess: the pages' 404 examples are copies of their 401 (INVALID_API_KEY)
    return screenshotcenter_error(404, f"{what} not found", code="NOT_FOUND")


def _batch_error(batch_id: int) -> dict[str, Any]:
    """A new batch's ``error``, in each of the three forms the sources show."""
    forms: list[dict[str, Any]] = [{"error": ""}, {}, {"error": None}]
    return forms[batch_id % 3]


class ScreenshotCenterService(Service):
    """The ScreenshotCenter API: crawls, screenshots and their artifacts, batches, account."""

    prefix = SC_PREFIX
    error = staticmethod(screenshotcenter_error)

    def __init__(self, rng: random.Random, *, seed: int, origin: Callable[[], str]) -> None:
        super().__init__(rng, seed=seed, origin=origin)
        self.crawls: dict[int, dict[str, Any]] = {}
        self._crawl_bytes: dict[int, bytes] = {}
        self._next_id = 1000 + seed * 1_000_000
        # knobs
        self.crawl_completion_delay = 0.05  # s from crawl/create to "finished"
        self.screenshot_completion_delay = 0.05  # s from screenshot/create to "finished"
        self.batch_completion_delay = 0.05  # s from batch/create to "finished"
        self.artifact_size = 2048  # bytes of each image/html/pdf/video artifact
        self.artifact_latency = 0.0  # s added to every artifact download
        # what the routes remember between requests
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

    def authorized(self, request: web.Request, api_key: str) -> bool:
        return request.headers.get("X-API-KEY") == api_key or request.query.get("key") == api_key

    # -- data ----------------------------------------------------------------------

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_crawl(
        self, screenshots: int = 1000, *, status: str = "finished", domain: str = "example.com"
    ) -> int:
        """Add a crawl with ``screenshots`` screenshots (every 50th failed); returns its id."""
        crawl_id = self.next_id()
        first = self.next_id() * 1000
        self.crawls[crawl_id] = _data.crawl_payload(
            self.rng, crawl_id, screenshots, first_shot_id=first, status=status, domain=domain
        )
        return crawl_id

    def crawl_bytes(self, crawl_id: int) -> bytes | None:
        """The encoded ``crawl/info`` answer of a crawl (cached), or ``None`` if unknown."""
        cached = self._crawl_bytes.get(crawl_id)
        if cached is None:
            crawl = self.crawls.get(crawl_id)
            if crawl is None:
                return None
            cached = self._crawl_bytes[crawl_id] = msgspec.json.encode(
                {"success": True, "data": crawl}
            )
        return cached

    def invalidate(self, crawl_id: int) -> None:
        """Forget the cached bytes of a crawl changed in place."""
        self._crawl_bytes.pop(crawl_id, None)

    def advance(self) -> None:
        """Finish whatever is due."""
        now = time.monotonic()
        for crawl_id, (due, pages) in list(self.crawl_due.items()):
            if now < due:
                continue
            del self.crawl_due[crawl_id]
            old = self.crawls[crawl_id]
            crawl = _data.crawl_payload(
                self.rng, crawl_id, pages, first_shot_id=self.next_id() * 1000, domain=old["domain"]
            )
            crawl.update(start_url=old["start_url"], max_urls=old["max_urls"])
            self.crawls[crawl_id] = crawl
            self.invalidate(crawl_id)
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
                batch["zip_url"] = f"{self.origin()}{self.prefix}/batch/download?id={batch_id}"

    def shot(self, shot_id: int) -> dict[str, Any] | None:
        self.advance()
        if shot_id in self.deleted:
            return None
        found = self.shots.get(shot_id) or self.index.get(shot_id)
        if found is None:  # a crawl may have been added or finished since: re-index
            self.index = {
                s["id"]: s for crawl in self.crawls.values() for s in crawl["screenshots"]
            }
            found = self.index.get(shot_id)
        return found

    def all_shots(self) -> list[dict[str, Any]]:
        self.shot(0)  # advance and re-index
        everything = {**self.index, **self.shots}
        return [everything[i] for i in sorted(everything) if i not in self.deleted]

    # -- crawls --------------------------------------------------------------------

    @route("GET", "/crawl/info")
    async def crawl_info(self, request: web.Request) -> web.StreamResponse:
        crawl_id = _int_param(request)
        if crawl_id is None:
            return validation_error(id=_BAD_ID)
        self.advance()
        body = self.crawl_bytes(crawl_id)
        if body is None:
            return _not_found("Crawl")
        return web.Response(body=body, content_type="application/json")

    @route("POST", "/crawl/create")
    async def crawl_create(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        if body is None:
            return validation_error(body="must be a JSON object")
        url, max_urls = body.get("url"), body.get("max_urls", 10)
        if not _is_http_url(url):
            return validation_error(url="must be an http(s) URL")
        if isinstance(max_urls, bool) or not isinstance(max_urls, int) or max_urls < 1:
            return validation_error(max_urls=_BAD_ID)
        crawl_id = self.next_id()
        domain = str(body.get("domain") or urlsplit(str(url)).hostname)
        crawl = _data.crawl_payload(self.rng, crawl_id, 0, first_shot_id=0, domain=domain)
        crawl.update(status="processing", start_url=url, max_urls=max_urls, total_discovered=0)
        self.crawls[crawl_id] = crawl
        due = time.monotonic() + self.crawl_completion_delay
        self.crawl_due[crawl_id] = (due, min(max_urls, 1000))
        return envelope(crawl)

    @route("GET", "/crawl/list")
    async def crawl_list(self, request: web.Request) -> web.StreamResponse:
        self.advance()
        crawls = [
            {k: v for k, v in self.crawls[i].items() if k != "screenshots"}
            for i in sorted(self.crawls)
        ]
        return _page(request, crawls)

    @route("POST", "/crawl/cancel")
    async def crawl_cancel(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        crawl_id = body.get("id") if body else None
        if not isinstance(crawl_id, int) or crawl_id < 1:
            return validation_error(id=_BAD_ID)
        self.advance()
        crawl = self.crawls.get(crawl_id)
        if crawl is None:
            return _not_found("Crawl")
        if self.crawl_due.pop(crawl_id, None) is not None:
            crawl["status"] = "cancelled"  # the status the JS SDK stops on
            self.invalidate(crawl_id)
        return envelope({k: v for k, v in crawl.items() if k != "screenshots"})

    # -- screenshots -----------------------------------------------------------------

    @route("GET", "/screenshot/create")
    async def shot_create(self, request: web.Request) -> web.StreamResponse:
        url = request.query.get("url", "")
        if not _is_http_url(url):
            return validation_error(url="must be an http(s) URL")
        shot_id = self.next_id()
        shot = _data.screenshot_payload(self.rng, shot_id, url, "processing")
        for flag in ("html", "pdf", "video"):
            shot[flag] = request.query.get(flag, "false") == "true"
        shot.update(has_html=False, has_pdf=False, has_video=False)
        shot["country"] = request.query.get("country", "us")
        # The nulls of the official SDK's fixtures: no error, no region, and no
        # final URL or finish time while processing.
        shot.update(error=None, region=None, final_url=None, finished_at=None)
        self.shots[shot_id] = shot
        self.shot_due[shot_id] = time.monotonic() + self.screenshot_completion_delay
        self.balance -= 1
        return envelope(shot)

    @route("GET", "/screenshot/info")
    async def shot_info(self, request: web.Request) -> web.StreamResponse:
        shot_id = _int_param(request)
        if shot_id is None:
            return validation_error(id=_BAD_ID)
        shot = self.shot(shot_id)
        return envelope(shot) if shot is not None else _not_found("Screenshot")

    @route("GET", "/screenshot/list")
    async def shot_list(self, request: web.Request) -> web.StreamResponse:
        return _page(request, self.all_shots())

    @route("GET", "/screenshot/search")
    async def shot_search(self, request: web.Request) -> web.StreamResponse:
        needle = request.query.get("url", "")
        if not needle:
            return validation_error(url="is required")
        return _page(request, [s for s in self.all_shots() if needle in s["url"]])

    @route("GET", "/screenshot/delete")
    async def shot_delete(self, request: web.Request) -> web.StreamResponse:
        shot_id, data = _int_param(request), request.query.get("data", "all")
        if shot_id is None:
            return validation_error(id=_BAD_ID)
        if data not in _DELETE_DATA:
            return validation_error(data="must be one of image, metadata, url, all")
        shot = self.shot(shot_id)
        if shot is None:
            return _not_found("Screenshot")
        if data == "image":
            self.deleted_images.add(shot_id)
        elif data == "url":
            shot["url"] = shot["final_url"] = ""
        else:
            self.deleted.add(shot_id)
        return json_response({"success": True, "data": None})  # guess: no page shows it

    @route("GET", "/screenshot/thumbnail", kind="image")
    @route("GET", "/screenshot/html", kind="html")
    @route("GET", "/screenshot/pdf", kind="pdf")
    @route("GET", "/screenshot/video", kind="video")
    async def artifact(self, request: web.Request, *, kind: str) -> web.StreamResponse:
        """``GET /screenshot/{thumbnail,html,pdf,video}``: one artifact of a screenshot."""
        shot_id = _int_param(request)
        if shot_id is None:
            return validation_error(id=_BAD_ID)
        shot = self.shot(shot_id)
        if shot is None:
            return _not_found("Screenshot")
        finished = shot["status"] == "finished"
        if not finished:  # the words of the thumbnail page's 404 (its code: a guess)
            return screenshotcenter_error(
                404, "Screenshot not found or not ready", code="NOT_FOUND"
            )
        has = (
            finished and shot_id not in self.deleted_images
            if kind == "image"
            else bool(shot.get(f"has_{kind}", finished and shot.get(kind)))
        )
        if not has:
            return _not_found(f"The {kind} of this screenshot")
        options = {k: v for k, v in request.query.items() if k not in ("id", "key")}
        if self.artifact_latency:
            await asyncio.sleep(self.artifact_latency)
        body = _data.artifact_bytes(shot_id, kind, options, self.artifact_size)
        return web.Response(body=body, content_type=_CONTENT_TYPES[kind])

    # -- batches and account -----------------------------------------------------------

    @route("POST", "/batch/create")
    async def batch_create(self, request: web.Request) -> web.StreamResponse:
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
        batch_id = self.next_id()
        self.batches[batch_id] = batch = {
            "id": batch_id,
            "status": "processing",
            **_batch_error(batch_id),
            "count": len(urls),
            "processed": 0,
            "failed": 0,
            "zip_url": None,
        }
        self.batch_urls[batch_id] = urls
        self.batch_due[batch_id] = time.monotonic() + self.batch_completion_delay
        return envelope(batch)

    def _batch(self, request: web.Request) -> dict[str, Any] | None:
        self.advance()
        batch_id = _int_param(request)
        return self.batches.get(batch_id) if batch_id is not None else None

    @route("GET", "/batch/info")
    async def batch_info(self, request: web.Request) -> web.StreamResponse:
        batch = self._batch(request)
        return envelope(batch) if batch is not None else _not_found("Batch")

    @route("GET", "/batch/list")
    async def batch_list(self, request: web.Request) -> web.StreamResponse:
        self.advance()
        listed = [self.batches[i] for i in sorted(self.batches)]
        return _page(request, [{k: v for k, v in b.items() if k != "zip_url"} for b in listed])

    @route("POST", "/batch/cancel")
    async def batch_cancel(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        batch_id = body.get("id") if body else None
        if not isinstance(batch_id, int) or batch_id < 1:
            return validation_error(id=_BAD_ID)
        self.advance()
        if batch_id not in self.batches:
            return _not_found("Batch")
        if self.batch_due.pop(batch_id, None) is not None:
            self.batches[batch_id]["status"] = "cancelled"
        return json_response({"success": True, "data": None})  # guess: no page shows it

    @route("GET", "/batch/download")
    async def batch_download(self, request: web.Request) -> web.StreamResponse:
        batch = self._batch(request)
        if batch is None:
            return _not_found("Batch")
        if batch["status"] != "finished":  # guess: no page says what this answers
            return screenshotcenter_error(400, "Batch is not finished", code="NOT_READY")
        body = _data.batch_zip(self.batch_urls[batch["id"]], batch["id"], self.artifact_size)
        return web.Response(body=body, content_type="application/zip")

    @route("GET", "/account/info")
    async def account_info(self, request: web.Request) -> web.StreamResponse:
        return envelope({"balance": self.balance})
