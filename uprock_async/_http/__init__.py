"""The one place that does network I/O: the transport every request goes through."""

from ._transport import DEFAULT_MAX_BODY_SIZE, Multipart, Transport

__all__ = ["DEFAULT_MAX_BODY_SIZE", "Multipart", "Transport"]
