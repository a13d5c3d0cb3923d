"""``--metrics-port N``: Prometheus metrics on ``http://127.0.0.1:N/metrics`` while running.

The endpoint is a small aiohttp app on the command's own event loop: no thread,
and it stops with the command. Its registry is a fresh
``prometheus_client.CollectorRegistry`` holding only this run's
:class:`~uprock_async.metrics.PrometheusCollector`, never the process-wide
``REGISTRY`` (whose default process and platform collectors are not ours to
publish). Each scrape reads the client's stats snapshot at that moment.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from .._stats import ClientStats
from ._common import CliError

__all__ = ["serve_metrics"]

_EXTRA = "pip install 'uprock-async[prometheus]'"


class _HasStats(Protocol):
    """Anything with ``stats()``: both clients."""

    def stats(self) -> ClientStats: ...


@contextlib.asynccontextmanager
async def serve_metrics(port: int | None, client: _HasStats) -> AsyncIterator[None]:
    """Serve ``client``'s metrics on 127.0.0.1:``port`` for the duration of the block.

    ``port=None`` serves nothing. A missing ``prometheus_client`` or a port that
    cannot be bound is a usage error (exit 2), raised before the block runs,
    so before the command sends any request.
    """
    if port is None:
        yield
        return
    try:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST

        from ..metrics import PrometheusCollector
    except ImportError:
        raise CliError(f"error: --metrics-port needs prometheus_client: {_EXTRA}", code=2) from None

    registry = CollectorRegistry(auto_describe=True)
    registry.register(PrometheusCollector(client))

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CliError(
                f"error: cannot serve metrics on 127.0.0.1:{port}: {reason}", code=2
            ) from None
        yield
    finally:
        await runner.cleanup()
