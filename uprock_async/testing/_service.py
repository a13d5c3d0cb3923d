"""What one API of FakeServer is: the :class:`Service` base class and :func:`route`.

A service holds everything one API knows: its state and knobs (attributes),
its routes (methods marked with :func:`route`), how it authenticates
(:meth:`Service.authorized`) and its error shape (:meth:`Service.error`). The
generic :class:`~._server.FakeServer` composes them and gives each request to
the service with the longest ``prefix`` its path starts with.

Adding a third service:

1. Write ``_<name>.py`` with ``class <Name>Service(Service)``: set ``prefix``
   (e.g. ``"/v2"``) and ``error`` (a helper of :mod:`._responses`, or a new one
   there), override ``authorized``, keep state in ``__init__`` (after
   ``super().__init__(...)``) and write each route as a method marked
   ``@route("GET", "/path")`` (the path without the prefix). Draw random
   values from ``self.rng`` (the server's seeded RNG, shared by every
   service); ``self.origin()`` is the server's ``http://host:port``. Import
   only :mod:`._data`, :mod:`._responses` and this module.
2. In :class:`~._server.FakeServer`, construct it in ``__init__``, append it
   to ``services`` and add a ``<name>_url`` property (plus ``_Via`` attributes
   for what tests should reach from the server).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

__all__ = ["Service", "route"]

F = TypeVar("F", bound=Callable[..., Any])


def route(method: str, path: str, **bound: Any) -> Callable[[F], F]:
    """Mark a service method as the handler of ``method prefix+path``.

    ``bound`` keyword arguments are passed to the handler on every call, so one
    method can serve several routes (stack the decorators).
    """

    def mark(handler: F) -> F:
        routes: list[tuple[str, str, dict[str, Any]]] = handler.__dict__.setdefault("_routes", [])
        routes.insert(0, (method, path, bound))  # decorators apply bottom-up
        return handler

    return mark


class Service:
    """One API that FakeServer serves; subclasses set ``prefix`` and ``error``."""

    prefix = ""  # the paths it owns: this, or this + "/..." ("" owns every path)

    def __init__(self, rng: random.Random, *, seed: int, origin: Callable[[], str]) -> None:
        self.rng = rng  # the server's, shared: one seed decides every service's ids
        self.seed = seed
        self.origin = origin  # the server's http://host:port, "" before it starts

    def error(
        self,
        status: int,
        message: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        """An error answer in this service's shape."""
        raise NotImplementedError

    def authorized(self, request: web.Request, api_key: str) -> bool:
        """Whether ``request`` carries ``api_key`` the way this service expects it."""
        raise NotImplementedError

    def add_routes(self, router: web.UrlDispatcher) -> None:
        """Register every method marked with :func:`route`, in the order they are written."""
        for klass in reversed(type(self).__mro__):
            for name, attribute in vars(klass).items():
                for method, path, bound in getattr(attribute, "_routes", ()):
                    handler = getattr(self, name)
                    if bound:
                        handler = functools.partial(handler, **bound)
                    router.add_route(method, self.prefix + path, handler)
