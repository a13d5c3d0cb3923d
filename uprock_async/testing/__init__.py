"""Testing helpers: :class:`FakeServer`, a real loopback server speaking both APIs.

Use it in your own tests to exercise code built on uprock_async without a
network or an API key.

Inside: ``_server`` (the generic server: app, pipeline, faults, recording)
composes one class per API, ``_uprock.UprockService`` and
``_screenshotcenter.ScreenshotCenterService``, each with its own state and its
routes as methods; ``_faults`` (injected faults), ``_responses`` (JSON and error
shapes) and ``_data`` (seeded payloads) serve them; ``_thread`` runs a server on a
thread of its own (``FakeServer.in_thread()``, :class:`FakeServerThread`).
``_server``'s docstring says how to add a third service.
"""

from .._public import publish as _publish
from ._faults import Fault
from ._server import FakeServer, RecordedRequest
from ._thread import FakeServerThread

__all__ = ["FakeServer", "FakeServerThread", "Fault", "RecordedRequest"]

_publish(__name__, globals())  # uprock_async.testing.FakeServer in reprs and tracebacks
