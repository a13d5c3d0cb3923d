"""Sticky sessions: ``create_session`` and ``get_session``."""

from __future__ import annotations

import uuid
from typing import Any

from .. import _validate
from .._api import HasApi
from . import _build
from ._build import SESSION
from .models import CrawlSession

__all__: list[str] = []


class _Sessions(HasApi):
    async def create_session(
        self, *, duration_seconds: int | None = None, placement: dict[str, Any] | None = None
    ) -> CrawlSession:
        """``POST /crawl/v1/session/new``: a sticky session (jobs sent with its ``id`` run
        on one device) lasting ``duration_seconds`` (1 to 3600; the service's default if
        omitted), placed by ``placement`` (e.g. ``{"country": "DE"}``). Never retried
        once the request may have reached the service.
        """
        payload = _build.session_body(duration_seconds, placement)
        return await self._api.send(
            "POST", "/crawl/v1/session/new", SESSION, json=payload, idempotent=False
        )

    async def get_session(self, session_id: str | uuid.UUID) -> CrawlSession:
        """``GET /crawl/v1/session/{id}``: the session; ``status`` turns ``"expired"``
        once its time is up (:attr:`CrawlSession.is_active`)."""
        session_id = _validate.token(session_id, "session_id")
        return await self._api.get(f"/crawl/v1/session/{session_id}", SESSION)
