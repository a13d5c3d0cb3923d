"""Batches: a file of URLs in, a zip of screenshots out (``batch/*``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, overload

import msgspec

from .. import _validate
from .._api import Api, HasApi, query
from .._codec import encode
from ._core import ack, check_options, envelope, wait_for
from .models import Batch, Envelope

__all__: list[str] = []

_batch_decoder = msgspec.json.Decoder(Envelope[Batch])
_batches_decoder = msgspec.json.Decoder(Envelope[list[Batch]])
_BATCH = envelope(_batch_decoder, "batch info")
_CREATED = envelope(_batch_decoder, "created batch")
_LIST = envelope(_batches_decoder, "batch list")
_CANCELLED = ack("batch cancel")

StrPath = str | os.PathLike[str]


def _file_lines(text: str) -> list[str]:
    """The lines of a file of URLs; the white space around each is the file's, not the URL's."""
    return [line.strip() for line in text.splitlines()]


def batch_file(urls: object) -> bytes:
    """The ``urls.txt`` contents: one checked http(s) URL a line.

    ``urls`` is a list (or any iterable) of URLs, a newline-separated ``str``, or
    ``bytes`` (a file's contents, UTF-8). Blank lines are dropped; no URL at all,
    or any URL that is not absolute http(s), is a ``ValueError``.
    """
    lines: Iterable[object]
    if isinstance(urls, (bytes, bytearray, memoryview)):
        try:
            lines = _file_lines(bytes(urls).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError(f"urls bytes are not UTF-8 text: {exc}") from None
    elif isinstance(urls, str):
        lines = _file_lines(urls)
    elif isinstance(urls, Iterable):
        lines = list(urls)
    else:
        raise TypeError(f"urls must be a list of URLs, a str or bytes, got {type(urls).__name__}")
    checked = []
    for number, line in enumerate(lines, 1):
        if isinstance(line, str) and not line.strip():
            continue
        checked.append(_validate.http_url(line, f"URL #{number}"))
    if not checked:
        raise ValueError("urls holds no URL: a batch needs at least one http(s) URL")
    return ("\n".join(checked) + "\n").encode()


def _field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as in query strings
    return str(value)


async def batch_info(api: Api, batch_id: int) -> Batch:
    """``GET /batch/info?id=`` for a checked id."""
    return await api.get(f"/batch/info?id={batch_id}", _BATCH)


class _Batches(HasApi):
    async def create_batch(self, urls: Any, *, country: str, **options: Any) -> Batch:
        """``POST /batch/create``: screenshot every URL of ``urls`` from ``country``.

        ``urls``: a list of URLs, a newline-separated ``str`` or ``bytes`` (a
        file's contents), uploaded as the multipart ``file`` ``urls.txt``;
        ``country``: a two-letter code; other ``options`` (``size`` …) are sent
        as form fields (booleans as ``true``/``false``, ``None`` left out). Bad
        input raises ``ValueError`` before any request, and the upload is never
        retried once it may have reached the server (a duplicate batch is
        billed twice). Follow up with :meth:`wait_for_batch`.
        """
        content = batch_file(urls)
        if not isinstance(country, str) or len(country) != 2 or not country.isascii():
            raise ValueError(f"country must be a two-letter code such as 'us', got {country!r}")
        if not country.isalpha():
            raise ValueError(f"country must be a two-letter code such as 'us', got {country!r}")
        check_options(options)
        if "file" in options:
            raise ValueError("'file' cannot be passed as an option: pass the URLs as urls=")
        fields: list[tuple[str, str | bytes, str | None, str | None]] = [
            ("country", country.lower(), None, None)
        ]
        fields += [(k, _field(v), None, None) for k, v in options.items() if v is not None]
        fields.append(("file", content, "urls.txt", "text/plain"))
        return await self._api.send(
            "POST", "/batch/create", _CREATED, multipart=fields, idempotent=False
        )

    async def batch_info(self, batch_id: int) -> Batch:
        """``GET /batch/info?id=``: the batch's progress, and ``zip_url`` once finished."""
        return await batch_info(self._api, _validate.positive_id(batch_id, "batch_id"))

    async def list_batches(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[Batch]:
        """``GET /batch/list``: one page of your batches."""
        path = "/batch/list" + query(_validate.page(limit, offset))
        return await self._api.get(path, _LIST)

    async def cancel_batch(self, batch_id: int) -> None:
        """``POST /batch/cancel`` ``{"id"}``: stop a running batch."""
        batch_id = _validate.positive_id(batch_id, "batch_id")
        # Cancelling twice is harmless, so a lost answer may be retried.
        await self._api.send("POST", "/batch/cancel", _CANCELLED, json=encode({"id": batch_id}))

    async def wait_for_batch(
        self, batch_id: int, *, poll_interval: float = 2.0, timeout: float = 600.0
    ) -> Batch:
        """Poll ``batch_info`` until the batch is finished, failed or cancelled.

        After ``timeout`` seconds raises :class:`~uprock_async.WaitTimeoutError`
        with ``last_status``.
        """
        batch_id = _validate.positive_id(batch_id, "batch_id")
        return await wait_for(self._api, batch_info, batch_id, poll_interval, timeout, "batch")

    @overload
    async def download_batch(self, batch_id: int, *, dest: None = None) -> bytes: ...

    @overload
    async def download_batch(self, batch_id: int, *, dest: StrPath) -> Path: ...

    async def download_batch(self, batch_id: int, *, dest: StrPath | None = None) -> bytes | Path:
        """``GET /batch/download?id=``: the batch's zip, as bytes or streamed to ``dest``
        (atomically: a failed transfer leaves nothing at ``dest``)."""
        batch_id = _validate.positive_id(batch_id, "batch_id")
        return await self._api.download(self._api.url(f"/batch/download?id={batch_id}"), dest=dest)

    def stream_batch(self, batch_id: int) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """``GET /batch/download?id=``: the batch's zip, chunk by chunk, never held
        whole in memory (to pipe it to object storage, say)::

            async with client.stream_batch(batch_id) as body:
                async for chunk in body:  # bytes
                    await sink.write(chunk)

        A bad ``batch_id`` raises here, before any request. The body is capped at
        :attr:`Limits.max_download_size <uprock_async.Limits>` decompressed bytes
        (:class:`~uprock_async.ResponseDecodeError` past it), and the key goes in
        the ``X-API-KEY`` header to the configured host only. Entering the block
        sends the request; an error answer (a batch not finished yet) raises there.

        A failed transfer is retried only until the first chunk has reached you;
        after that a broken connection raises
        :class:`~uprock_async.APIConnectionError` from ``async for``, so a stream
        that ends is complete. Leaving the block early closes the connection. The
        client's ``Timeout.total`` bounds the whole transfer, your time between
        chunks included.
        """
        batch_id = _validate.positive_id(batch_id, "batch_id")
        return self._api.open_stream(self._api.url(f"/batch/download?id={batch_id}"))
