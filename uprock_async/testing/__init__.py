"""Testing helpers: :class:`FakeServer`, a real loopback server speaking both APIs.

Use it in your own tests to exercise code built on uprock_async without a
network or an API key.
"""

from ._server import FakeServer, Fault, RecordedRequest

__all__ = ["FakeServer", "Fault", "RecordedRequest"]
