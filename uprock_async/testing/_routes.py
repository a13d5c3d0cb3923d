"""Registers each service's routes on the FakeServer app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from . import _screenshotcenter, _uprock

if TYPE_CHECKING:
    from ._server import FakeServer


def setup(server: FakeServer, app: web.Application) -> None:
    _uprock.setup(server, app)
    _screenshotcenter.setup(server, app)
