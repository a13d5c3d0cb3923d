"""How one client's pool reaches the network: its proxy and its TLS settings.

:meth:`Network.build` turns the ``proxy=``, ``trust_env=`` and ``ssl=`` options
into one frozen value, once per client; :func:`~._session.new_session` builds
the connector from it and the transport asks :meth:`Network.proxy_for` which
proxy each request goes through.

The environment is read here, not by aiohttp: aiohttp's own ``trust_env`` also
reads ``~/.netrc`` (and then sets, or refuses next to ours, an ``Authorization``
header), ignores ``ALL_PROXY`` and ``https://`` proxies, and asks the operating
system for proxy settings on macOS and Windows. Ours follows httpx: ``HTTPS_PROXY``
/ ``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``; ``NO_PROXY`` bypasses;
``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` replace the default trust store; an explicit
``proxy=`` wins over the environment (and ``NO_PROXY`` does not apply to it).

A SOCKS proxy (``[socks]`` extra, aiohttp-socks) carries every connection of the
pool from its connector; one from the environment is used when it is the proxy
for ``base_url``. Proxy credentials are secrets like the key: :attr:`Network.secrets`
lists every spelling a message could hold, for the transport's redactor.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import os
import ssl as _ssl
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from .. import _validate

__all__ = ["DIRECT", "Network"]

log = logging.getLogger("uprock_async")

_SOCKS = frozenset({"socks5", "socks5h"})
_SOCKS_PORT = 1080
_ENV_SCHEMES = ("http", "https", "all")  # HTTP_PROXY, HTTPS_PROXY, ALL_PROXY
_CACHE_SIZE = 1024  # (scheme, host, port) answers kept; a client talks to a few hosts
_SESSION_CONFLICT = (
    "proxy=, trust_env= and ssl= configure the connection pool the client creates; "
    "with session= your session is used as it is: configure them on it, or leave "
    "session= out"
)


@dataclass(frozen=True, eq=False, repr=False)
class Network:
    """A client's network settings, resolved (see the module docstring).

    ``proxy``: the http(s) proxy of every request (``proxy=``); ``env``: the
    environment's proxies by scheme (``http``, ``https``, ``all``) with
    ``no_proxy``; ``socks``: the SOCKS proxy the connector dials; ``ssl``: what
    the connector verifies with. ``Network()`` is a direct connection with
    aiohttp's default verification, which is what a caller's session gets.
    """

    proxy: URL | None = None
    socks: URL | None = None
    env: Mapping[str, URL] = field(default_factory=dict)
    no_proxy: str = ""
    ssl: _ssl.SSLContext | bool = True
    trust_env: bool = False
    secrets: tuple[str, ...] = ()
    _cache: dict[tuple[str, str, int], URL | None] = field(default_factory=dict, init=False)

    @classmethod
    def build(
        cls,
        proxy: object = None,
        trust_env: object = True,
        ssl: object = True,
        *,
        base_url: str,
        session: aiohttp.ClientSession | None = None,
    ) -> Network | None:
        """The checked settings of a client (``None`` with a caller's ``session``,
        which is used as it is: giving any of them too is a ``ValueError``).

        Reads the environment now (as httpx does when a client is made). A SOCKS
        proxy without aiohttp-socks installed, an unreadable ``SSL_CERT_FILE`` or a
        malformed proxy variable is a ``ValueError`` that says what to do.
        ``ssl=False`` logs one WARNING.
        """
        explicit = _validate.proxy_url(proxy)
        trusting = _validate.flag(trust_env, "trust_env")
        tls = _validate.tls(ssl)
        if session is not None:
            if explicit is not None or tls is not True or not trusting:
                raise ValueError(_SESSION_CONFLICT)
            return None
        env: dict[str, URL] = {}
        no_proxy = ""
        if explicit is None and trusting:
            env, no_proxy = _environment_proxies()
        chosen = URL(explicit) if explicit is not None else None
        socks: URL | None = None
        where = ""
        if chosen is not None and chosen.scheme in _SOCKS:
            socks, chosen = chosen, None
        elif env:
            for_base = _env_proxy(env, no_proxy, _url_or_empty(base_url))
            if for_base is not None and for_base.scheme in _SOCKS:
                socks, env = for_base, {}  # it carries every connection: nothing per request
                where = " (the environment's proxy for base_url; or pass trust_env=False)"
        if socks is not None:
            _socks_connector_class(where)  # installed? (fails here, not on a first request)
        if tls is False:
            log.warning(
                "ssl=False: TLS certificates are not verified; anyone on the network path "
                "can read and change this client's traffic, API key included"
            )
        elif tls is True and trusting:
            tls = _environment_context() or True
        proxies = [p for p in (chosen, socks, *env.values()) if p is not None]
        return cls(
            proxy=chosen,
            socks=socks,
            env=env,
            no_proxy=no_proxy,
            ssl=tls,
            trust_env=trusting,
            secrets=tuple(s for p in proxies for s in _credentials(p)),
        )

    def proxy_for(self, url: URL) -> URL | None:
        """The http(s) proxy a request to ``url`` goes through (``None``: direct, or
        through the SOCKS connector). Environment answers are cached per
        ``(scheme, host, port)``."""
        if not self.env:
            return self.proxy
        key = (url.scheme, url.raw_host or "", url.port or 0)
        cache = self._cache
        try:
            return cache[key]
        except KeyError:
            pass
        found = _env_proxy(self.env, self.no_proxy, url)
        if found is not None and found.scheme in _SOCKS:
            found = None  # SOCKS is the connector's, never per request (see build)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = found
        return found

    def connector(self, **options: Any) -> aiohttp.TCPConnector:
        """The pool's one connector (``options``: its limits), verifying with
        :attr:`ssl`, dialling the SOCKS proxy if there is one."""
        if self.socks is None:
            return aiohttp.TCPConnector(ssl=self.ssl, **options)
        proxy = self.socks
        return _socks_connector_class()(
            host=proxy.host,
            port=proxy.port or _SOCKS_PORT,
            username=proxy.user,
            password=proxy.password,
            rdns=proxy.scheme == "socks5h",  # socks5h: the proxy resolves host names
            ssl=self.ssl,
            **options,
        )

    def __repr__(self) -> str:
        via = self.proxy or self.socks
        shown = None if via is None else str(via.with_user(None))
        return f"Network(proxy={shown!r}, trust_env={self.trust_env}, ssl={self.ssl!r})"


#: A direct connection, aiohttp's default verification (a caller's session).
DIRECT = Network()


def _url_or_empty(text: str) -> URL:
    try:
        return URL(text)
    except ValueError:  # the transport refuses it, with its own message
        return URL()


def _environment_proxies() -> tuple[dict[str, URL], str]:
    """``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` (either case, the lower
    winning, as urllib reads them), checked, and ``NO_PROXY``."""
    found = urllib.request.getproxies_environment()
    proxies: dict[str, URL] = {}
    for scheme in _ENV_SCHEMES:
        value = found.get(scheme)
        if not value:
            continue
        if "://" not in value:
            value = f"http://{value}"  # "proxy:3128", as httpx reads it
        refused = ""
        try:
            _validate.proxy_url(value, f"{scheme.upper()}_PROXY")
            proxies[scheme] = URL(value)
        except ValueError as exc:
            refused = str(exc)  # raised below, outside the handler: nothing else chained
        if refused:
            raise ValueError(f"{refused} (or pass trust_env=False to ignore the environment)")
    return proxies, found.get("no", "")


def _env_proxy(env: Mapping[str, URL], no_proxy: str, url: URL) -> URL | None:
    """The environment's proxy for ``url``: by its scheme, else ``ALL_PROXY``;
    none for a host ``NO_PROXY`` names."""
    if not url.host or (no_proxy and _bypassed(no_proxy, url)):
        return None
    return env.get(url.scheme) or env.get("all")


def _bypassed(no_proxy: str, url: URL) -> bool:
    """Does ``NO_PROXY`` name ``url``'s host? As httpx reads it: ``*`` is every
    host; ``example.com`` is it and its subdomains, ``.example.com`` (or
    ``*.example.com``) its subdomains only; an entry may add ``:port`` or
    ``scheme://``. As curl and requests read it, an address block
    (``10.0.0.0/8``, ``fd00::/8``) names the addresses in it, never a host name."""
    host = (url.host or "").lower()
    for entry in no_proxy.lower().split(","):
        entry = entry.strip()
        if entry == "*":
            return True
        scheme, sep, rest = entry.partition("://")
        if sep:
            if scheme not in (url.scheme, "all"):
                continue
            entry = rest
        if "/" in entry:
            if _in_block(host, entry):
                return True
            continue
        name, port = entry, ""
        if entry.startswith("["):  # [::1]:8080
            name, _, port = entry[1:].partition("]")
            port = port.removeprefix(":")
        elif entry.count(":") == 1:
            name, _, port = entry.partition(":")
        if not name or (port and port != str(url.port)):
            continue
        name = name.removeprefix("*")
        if host == name or host.endswith(name if name.startswith(".") else "." + name):
            return True
    return False


def _in_block(host: str, block: str) -> bool:
    """Is ``host`` an IP address inside ``block`` (``10.0.0.0/8``)? A name never is,
    and an entry that is no address block names nothing."""
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(block, strict=False)
    except ValueError:
        return False


def _environment_context() -> _ssl.SSLContext | None:
    """A context trusting ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` instead of the default
    store (read now: aiohttp's default context was made when it was imported)."""
    cafile = os.environ.get("SSL_CERT_FILE") or None
    capath = os.environ.get("SSL_CERT_DIR") or None
    if cafile is None and capath is None:
        return None
    if capath is not None and not os.path.isdir(capath):
        raise ValueError(
            f"SSL_CERT_DIR={capath!r} is not a directory (or pass trust_env=False to "
            "ignore the environment)"
        )
    problem = ""
    try:
        return _bundle_context(cafile, capath)
    except (OSError, _ssl.SSLError) as exc:
        problem = str(exc)
    raise ValueError(
        f"SSL_CERT_FILE={cafile!r} cannot be loaded as a CA bundle ({problem}); fix it, or "
        "pass trust_env=False to ignore the environment"
    )


# Loading a system bundle takes ~25 ms: clients made with the same files share one
# context (as they share aiohttp's default one); a changed file makes a new one.
_contexts: dict[tuple[object, ...], _ssl.SSLContext] = {}


def _bundle_context(cafile: str | None, capath: str | None) -> _ssl.SSLContext:
    stat = None if cafile is None else os.stat(cafile)
    key = (cafile, capath, None if stat is None else (stat.st_mtime_ns, stat.st_size))
    context = _contexts.get(key)
    if context is None:
        context = _ssl.create_default_context(cafile=cafile, capath=capath)
        if len(_contexts) >= 8:
            _contexts.clear()
        _contexts[key] = context
    return context


def _credentials(proxy: URL) -> tuple[str, ...]:
    """Every spelling of ``proxy``'s credentials a message could hold: the
    password (or a lone user, a token), decoded and as the URL writes it, the
    ``user:password`` pair, and the ``Proxy-Authorization`` token made of it."""
    user, password = proxy.user or "", proxy.password or ""
    if not user and not password:
        return ()
    pair = f"{user}:{password}"
    token = base64.b64encode(pair.encode("latin-1", "replace")).decode("ascii")
    raw_pair = f"{proxy.raw_user or ''}:{proxy.raw_password or ''}"
    secret = (password, proxy.raw_password or "") if password else (user, proxy.raw_user or "")
    return tuple(s for s in dict.fromkeys((*secret, pair, raw_pair, token)) if s)


_socks_classes: dict[int, Callable[..., aiohttp.TCPConnector]] = {}


def _socks_connector_class(where: str = "") -> Callable[..., aiohttp.TCPConnector]:
    """aiohttp-socks' ``ProxyConnector``, its errors turned into aiohttp's own (what
    ``_failures`` maps: a refused or failed proxy is a connection error, a
    certificate is a certificate error); a ``ValueError`` naming the extra if it
    is not installed."""
    try:
        import aiohttp_socks
    except ImportError:
        raise ValueError(
            f"a socks5:// proxy needs aiohttp-socks: pip install 'uprock-async[socks]'{where}"
        ) from None
    made = _socks_classes.get(id(aiohttp_socks))
    if made is not None:
        return made
    from aiohttp.client_proto import ResponseHandler

    socks_failures = (
        aiohttp_socks.ProxyConnectionError,
        aiohttp_socks.ProxyError,
        OSError,
    )

    class SocksConnector(aiohttp_socks.ProxyConnector):
        async def _wrap_create_connection(
            self, *args: Any, req: aiohttp.ClientRequest, **kwargs: Any
        ) -> tuple[asyncio.Transport, ResponseHandler]:
            try:
                return await super()._wrap_create_connection(*args, req=req, **kwargs)
            except _ssl.SSLCertVerificationError as exc:
                raise aiohttp.ClientConnectorCertificateError(req.connection_key, exc) from None
            except _ssl.SSLError as exc:
                raise aiohttp.ClientConnectorSSLError(req.connection_key, exc) from None
            except aiohttp_socks.ProxyTimeoutError:
                message = "timed out connecting via the SOCKS proxy"
                raise aiohttp.ConnectionTimeoutError(message) from None
            except socks_failures as exc:
                error = OSError(getattr(exc, "errno", None), f"SOCKS proxy: {exc}")
                raise aiohttp.ClientProxyConnectionError(req.connection_key, error) from None

    _socks_classes[id(aiohttp_socks)] = SocksConnector
    return SocksConnector
