"""Which URLs get the API key, where redirects may go, and how URLs are shown.

The key goes only to the configured base origin, or to https URLs whose host
ends with one of the trusted suffixes; never with ``user:password@`` in the URL.
A redirect to anything but a plain http(s) URL is refused. Errors and logs show
a URL without credentials, fragment, or (for a foreign host) query string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from yarl import URL

from .._errors import APIConnectionError, excerpt
from ._failures import Failure

__all__ = ["UrlPolicy"]


class UrlPolicy:
    """Trust, redirects and redaction of URLs for one base URL and key."""

    __slots__ = ("_base", "_base_authority", "_base_trusted", "_origin", "_suffixes", "redact")

    def __init__(
        self, base: URL, trusted_host_suffixes: Sequence[str], redact: Callable[[str], str]
    ) -> None:
        self._base = base
        self._origin = base.origin()
        self._suffixes = tuple(s.lower().lstrip("*") for s in trusted_host_suffixes)
        self.redact = redact
        self._base_authority = base.raw_authority
        self._base_trusted = self._trusted(base)

    @property
    def base_trusted(self) -> bool:
        """May the key go to the base URL (to any ``base + "/path"``)?"""
        return self._base_trusted

    def is_trusted(self, url: URL) -> bool:
        """May the API key be sent to ``url``? Never with ``user:password@`` in it."""
        # The verdict depends on scheme, user, password, host and port only: the base
        # URL's (every API request's) is worked out once.
        if url.raw_authority == self._base_authority and url.scheme == self._base.scheme:
            return self._base_trusted
        return self._trusted(url)

    def _trusted(self, url: URL) -> bool:
        if url.user is not None or url.password is not None:
            return False
        if url.origin() == self._origin:
            return True
        if url.scheme != "https":
            return False
        host = (url.host or "").lower()
        return any(host.endswith(suffix) for suffix in self._suffixes)

    def public_url(self, url: URL) -> str:
        """``url`` as errors and logs show it: no ``user:password@``, no fragment,
        and no query for a host that is not the API's (a pre-signed URL's
        signature is a credential too)."""
        clean = url.with_user(None).with_fragment(None)
        if not self.is_trusted(clean):
            clean = clean.with_query(None)
        return self.redact(str(clean))

    def describe(self, url: URL) -> str:
        """``url`` for a log line: the path alone under the base URL, else :meth:`public_url`."""
        if url.origin() == self._origin:
            return self.redact(url.path_qs)
        return self.public_url(url)

    def redirect_target(self, url: URL, location: str) -> URL:
        """Where a redirect points; a ``Location`` that is not a plain http(s) URL
        (malformed, another scheme, ``user:password@``) is refused, never followed."""
        target = url
        try:
            target = url.join(URL(location))
            usable = (
                target.scheme in ("http", "https")
                and bool(target.host)
                and target.user is None
                and target.password is None
            )
        except ValueError:
            usable = False
        if not usable:
            quoted = excerpt(location.encode("utf-8", "replace"), redact=self.redact)
            raise Failure(
                APIConnectionError(
                    f"the server redirected to {quoted}, which is not an http(s) URL "
                    "without credentials; not followed"
                ),
                retryable=False,
                sent=True,
            )
        return target
