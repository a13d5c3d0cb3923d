"""FakeServer routes of the ScreenshotCenter API (under /api/v1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ._server import SC_PREFIX, error_response

if TYPE_CHECKING:
    from ._server import FakeServer


def _int_param(request: web.Request, name: str = "id") -> int | None:
    value = request.query.get(name, "")
    return int(value) if value.isascii() and value.isdigit() else None


def setup(server: FakeServer, app: web.Application) -> None:
    async def crawl_info(request: web.Request) -> web.StreamResponse:
        crawl_id = _int_param(request)
        if crawl_id is None:
            return error_response(
                request.path, 400, "Request validation failed", code="VALIDATION_ERROR"
            )
        body = server.crawl_bytes(crawl_id)
        if body is None:
            return error_response(request.path, 404, "Crawl not found", code="NOT_FOUND")
        return web.Response(body=body, content_type="application/json")

    app.router.add_get(SC_PREFIX + "/crawl/info", crawl_info)
