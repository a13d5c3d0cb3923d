"""FakeServer routes of the Uprock Crawl API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ._server import error_response

if TYPE_CHECKING:
    from ._server import FakeServer


def setup(server: FakeServer, app: web.Application) -> None:
    async def job_detail(request: web.Request) -> web.StreamResponse:
        parse = request.query.get("parse_cookies", "false").lower() in ("1", "true", "yes")
        body = server.job_detail_bytes(request.match_info["job_id"], parse)
        if body is None:
            return error_response(request.path, 404)
        return web.Response(body=body, content_type="application/json")

    app.router.add_get("/crawl/v1/jobs/{job_id}/detail", job_detail)
