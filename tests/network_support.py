"""Real network parts on loopback for ``tests/test_proxy_tls.py``: a relay (plain
or TLS-terminating), a forward HTTP proxy (absolute-form forwarding and CONNECT
tunnels, optionally asking for credentials) and a SOCKS5 proxy.

Each is a small asyncio server written for the tests (no dependency, nothing
mocked): it records what it saw and closes every connection it holds on the
way out, so no task or socket outlives a test.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar
from urllib.parse import urlsplit

__all__ = ["ForwardProxy", "Relay", "Seen", "Socks5Proxy", "basic"]

S = TypeVar("S", bound="_Server")

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authorization", "proxy-connection"})


def basic(user: str, password: str) -> str:
    """The ``Proxy-Authorization`` value for ``user``/``password``."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:  # a reset, or a TLS alert: the other side is gone
        pass
    finally:
        writer.close()


class _Server:
    """An asyncio server on 127.0.0.1 that counts connections and closes them all."""

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self: S) -> S:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()

    async def open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection upstream, closed with the server."""
        reader, writer = await asyncio.open_connection(host, port)
        self._writers.add(writer)
        return reader, writer

    async def splice(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        """Bytes both ways until either side closes."""
        await asyncio.gather(_pipe(reader, upstream[1]), _pipe(upstream[0], writer))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            await self.handle(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # a client that went away, or spoke nonsense: nothing to serve
        finally:
            writer.close()
            self._tasks.discard(task)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class Relay(_Server):
    """Every connection piped to ``127.0.0.1:target``; with ``tls``, TLS is
    terminated here (a TLS front for a plain server)."""

    def __init__(self, target: int, *, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls=tls)
        self.target = target

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.splice(reader, writer, await self.open("127.0.0.1", self.target))


@dataclass(frozen=True)
class Seen:
    """A request a proxy received: ``GET http://host/path`` or ``CONNECT host:port``."""

    method: str
    target: str
    authorization: str | None


class ForwardProxy(_Server):
    """An HTTP forward proxy: absolute-form requests are forwarded (one per
    connection, so each is seen), ``CONNECT`` opens a tunnel. With ``credentials``,
    anything else than their ``Proxy-Authorization`` gets a 407."""

    def __init__(
        self, *, credentials: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(tls=tls)
        self.expected = None if credentials is None else basic(*credentials)
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        method, target, version = request_line.split(" ", 2)
        fields = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)]
        fields = [(k, v) for k, v in fields if k]
        auth = next((v for k, v in fields if k.lower() == "proxy-authorization"), None)
        self.seen.append(Seen(method, target, auth))
        if self.expected is not None and auth != self.expected:
            writer.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )
            await writer.drain()
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await self.open(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await self.splice(reader, writer, upstream)
            return
        parts = urlsplit(target)
        assert parts.hostname is not None
        upstream = await self.open(parts.hostname, parts.port or 80)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = "".join(f"{k}: {v}\r\n" for k, v in fields if k.lower() not in _HOP_BY_HOP)
        head = f"{method} {path} {version}\r\n{kept}Connection: close\r\n\r\n"
        upstream[1].write(head.encode("latin-1"))
        await self.splice(reader, writer, upstream)


class Socks5Proxy(_Server):
    """A SOCKS5 proxy (RFC 1928, CONNECT only; RFC 1929 user/password when
    ``credentials`` are set). ``seen`` holds ``(host, port, user)`` per tunnel."""

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.credentials = credentials
        self.seen: list[tuple[str, int, str | None]] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        user: str | None = None
        if self.credentials is None:
            writer.write(b"\x05\x00")
        elif 2 in methods:
            writer.write(b"\x05\x02")
            _sub, length = await reader.readexactly(2)
            user = (await reader.readexactly(length)).decode()
            password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
            if (user, password) != self.credentials:
                writer.write(b"\x01\x01")
                await writer.drain()
                return
            writer.write(b"\x01\x00")
        else:
            writer.write(b"\x05\xff")
            await writer.drain()
            return
        _version, _command, _reserved, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        else:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.seen.append((host, port, user))
        with contextlib.suppress(OSError):
            upstream = await self.open(host, port)
            writer.write(b"\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00")
            await self.splice(reader, writer, upstream)
            return
        writer.write(b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00")  # connection refused
        await writer.drain()
