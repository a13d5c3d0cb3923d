"""Batches: a file of URLs in, a zip of screenshots out (``batch/*``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, overload

import msgspec

from .._base import query
from .._codec import encode
from ._core import (
    _ack_decoder,
    _Base,
    check_options,
    check_wait,
    page_params,
    validate_id,
    validate_url,
)
from .models import Batch, Envelope

__all__: list[str] = []

_batch_decoder = msgspec.json.Decoder(Envelope[Batch])
_batches_decoder = msgspec.json.Decoder(Envelope[list[Batch]])

StrPath = str | os.PathLike[str]


def batch_file(urls: object) -> bytes:
    """The ``urls.txt`` contents: one checked http(s) URL a line.

    ``urls`` is a list (or any iterable) of URLs, a newline-separated ``str``, or
    ``bytes`` (a file's contents, UTF-8). Blank lines are dropped; no URL at all,
    or any URL that is not absolute http(s), is a ``ValueError``.
    """
    if isinstance(urls, (bytes, bytearray, memoryview)):
        try:
            lines: Iterable[object] = bytes(urls).decode("utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ValueError(f"urls bytes are not UTF-8 text: {exc}") from None
    elif isinstance(urls, str):
        lines = urls.splitlines()
    elif isinstance(urls, Iterable):
        lines = list(urls)
    else:
        raise TypeError(f"urls must be a list of URLs, a str or bytes, got {type(urls).__name__}")
    checked = []
    for number, line in enumerate(lines, 1):
        if isinstance(line, str) and not line.strip():
            continue
        checked.append(validate_url(line, f"URL #{number}"))
    if not checked:
        raise ValueError("urls holds no URL: a batch needs at least one http(s) URL")
    return ("\n".join(checked) + "\n").encode()


def _field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as in query strings
    return str(value)


class _Batches(_Base):
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
        batch = await self._send(
            "POST",
            "/batch/create",
            _batch_decoder,
            "created batch",
            multipart=fields,
            idempotent=False,
        )
        assert batch is not None
        return batch

    async def batch_info(self, batch_id: int) -> Batch:
        """``GET /batch/info?id=``: the batch's progress, and ``zip_url`` once finished."""
        return await self._batch_info(validate_id(batch_id, "batch_id"))

    async def _batch_info(self, batch_id: int) -> Batch:
        return await self._get(f"/batch/info?id={batch_id}", _batch_decoder, "batch info")

    async def list_batches(
        self, *, limit: int | None = None, offset: int | None = None
    ) -> list[Batch]:
        """``GET /batch/list``: one page of your batches."""
        path = "/batch/list" + query(page_params(limit, offset))
        return await self._get(path, _batches_decoder, "batch list")

    async def cancel_batch(self, batch_id: int) -> None:
        """``POST /batch/cancel`` ``{"id"}``: stop a running batch."""
        batch_id = validate_id(batch_id, "batch_id")
        # Cancelling twice is harmless, so a lost answer may be retried.
        await self._send(
            "POST",
            "/batch/cancel",
            _ack_decoder,
            "batch cancel",
            json=encode({"id": batch_id}),
            allow_empty=True,
        )

    async def wait_for_batch(
        self, batch_id: int, *, poll_interval: float = 2.0, timeout: float = 600.0
    ) -> Batch:
        """Poll ``batch_info`` until the batch is finished, failed or cancelled.

        After ``timeout`` seconds raises :class:`~uprock_async.WaitTimeoutError`
        with ``last_status``.
        """
        batch_id = validate_id(batch_id, "batch_id")
        check_wait(poll_interval, timeout)
        return await self._poll(
            lambda: self._batch_info(batch_id),
            poll_interval=poll_interval,
            give_up_after=timeout,
            what=f"batch {batch_id}",
        )

    @overload
    async def download_batch(self, batch_id: int, *, dest: None = None) -> bytes: ...

    @overload
    async def download_batch(self, batch_id: int, *, dest: StrPath) -> Path: ...

    async def download_batch(self, batch_id: int, *, dest: StrPath | None = None) -> bytes | Path:
        """``GET /batch/download?id=``: the batch's zip, as bytes or streamed to ``dest``
        (atomically: a failed transfer leaves nothing at ``dest``)."""
        batch_id = validate_id(batch_id, "batch_id")
        url = self._transport.url(f"/batch/download?id={batch_id}")
        return await self._transport.download(url, dest=None if dest is None else Path(dest))
