"""The account: ``account/info``."""

from __future__ import annotations

import msgspec

from .._api import HasApi
from ._core import envelope
from .models import Account, Envelope

__all__: list[str] = []

_account_decoder = msgspec.json.Decoder(Envelope[Account])
_ACCOUNT = envelope(_account_decoder, "account info")


class _Account(HasApi):
    async def account_info(self) -> Account:
        """``GET /account/info``: your balance (and whatever else the service sends)."""
        return await self._api.get("/account/info", _ACCOUNT)
