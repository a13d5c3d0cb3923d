"""What travels down the transport: one :class:`Request` in, one :class:`Response` out.

:class:`~._api.Api` builds the request value once (the model is anthropic's
``FinalRequestOptions``); the retry loop, the redirect loop and the single
aiohttp call each read what they need of it instead of a row of loose keywords.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple, TypeVar

import aiohttp
import msgspec
from yarl import URL

__all__ = ["Consume", "Multipart", "Request", "Response"]

T = TypeVar("T")

# (field name, value, filename or None, content type or None)
Multipart = Sequence[tuple[str, "str | bytes", "str | None", "str | None"]]

#: What a 2xx response is turned into by the transport: the value and the body bytes read.
Consume = Callable[[aiohttp.ClientResponse], Awaitable[tuple[T, int]]]


class Request(msgspec.Struct, frozen=True, gc=False):
    """One request as the caller means it (redirects may change its method and URL).

    ``json`` is an already-encoded body, ``multipart`` form parts (at most one
    of the two); ``idempotent=False`` (a create) is never sent again once it may
    have reached the service. (A struct: built in C, once per request.)
    """

    method: str
    url: URL
    json: bytes | None = None
    multipart: Multipart | None = None
    idempotent: bool = True
    #: ``url`` is the base URL followed by a path that starts with ``/`` (so it has
    #: the base's scheme and authority): the transport trusts it as it trusts the
    #: base, without parsing it again. Only :class:`~._api.Api` sets it.
    on_base: bool = False


class Response(NamedTuple):
    """A finished exchange: the final attempt's status, headers and whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
