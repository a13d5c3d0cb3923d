"""ScreenshotCenter batches: a file of URLs in, a zip out, against FakeServer."""

from __future__ import annotations

import email.parser
import email.policy
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from uprock_async import NotFoundError, ScreenshotCenterClient, WaitTimeoutError
from uprock_async.testing import FakeServer

URLS = ["https://example.com/", "https://example.org/a?b=1"]


def form_parts(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """``{field name: (filename, content)}`` of a recorded multipart body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        name = part.get_param("name", header="content-disposition")
        parts[str(name)] = (part.get_filename(), payload)
    return parts


@pytest.mark.parametrize(
    "urls", [URLS, "\n".join(URLS) + "\n\n", ("\r\n".join(URLS)).encode(), tuple(URLS)]
)
async def test_create_batch_uploads_the_urls_as_a_file_plus_fields(
    server: FakeServer, sc: ScreenshotCenterClient, urls: Any
) -> None:
    batch = await sc.create_batch(urls, country="US", size="page", dark=True, delay=None)
    assert batch.status == "processing"
    assert batch.count == 2
    [sent] = [r for r in server.requests if r.path.endswith("/batch/create")]
    assert sent.method == "POST"
    parts = form_parts(sent.headers["Content-Type"], sent.body)
    assert parts == {
        "country": (None, b"us"),
        "size": (None, b"page"),
        "dark": (None, b"true"),
        "file": ("urls.txt", "\n".join(URLS).encode() + b"\n"),
    }


async def test_a_batch_finishes_and_downloads_as_a_zip(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    server.batch_completion_delay = 0.03
    batch = await sc.create_batch(URLS, country="fr")
    done = await sc.wait_for_batch(batch.id, poll_interval=0.01, timeout=5)
    assert done.is_finished
    assert done.processed == 2
    assert done.zip_url is not None
    assert done.zip_url.endswith(f"/batch/download?id={batch.id}")
    data = await sc.download_batch(batch.id)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.namelist() == ["urls.txt", "00001.png", "00002.png"]
        assert zf.read("urls.txt").decode().split() == URLS
    dest = tmp_path / "zips" / "batch.zip"
    assert await sc.download_batch(batch.id, dest=dest) == dest
    assert dest.read_bytes() == data  # the same batch zips to the same bytes
    assert [b.id for b in await sc.list_batches(limit=5)] == [batch.id]


@pytest.mark.parametrize(
    ("urls", "country", "match"),
    [
        ([], "us", "no URL"),
        ("", "us", "no URL"),
        (b"\n\n", "us", "no URL"),
        (["https://ok.example", "ftp://files.example"], "us", "http"),
        ("example.com", "us", "http"),
        (URLS, "usa", "two-letter"),
        (URLS, "u1", "two-letter"),
        (URLS, "", "two-letter"),
        (b"\xff\xfe", "us", "UTF-8"),
    ],
)
async def test_create_batch_refuses_bad_input_without_a_request(
    server: FakeServer, sc: ScreenshotCenterClient, urls: Any, country: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await sc.create_batch(urls, country=country)
    assert server.requests == []


async def test_create_batch_refuses_a_file_or_key_option(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    with pytest.raises(ValueError, match="file"):
        await sc.create_batch(URLS, country="us", file="x")
    with pytest.raises(ValueError, match="API key"):
        await sc.create_batch(URLS, country="us", key="x")
    with pytest.raises(TypeError, match="urls"):
        await sc.create_batch(42, country="us")
    assert server.requests == []


async def test_cancel_batch_stops_it_and_accepts_an_empty_answer(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.batch_completion_delay = 60
    batch = await sc.create_batch(URLS, country="us")
    await sc.cancel_batch(batch.id)  # the service answers data: null
    assert (await sc.batch_info(batch.id)).status == "cancelled"
    with pytest.raises(NotFoundError):
        await sc.cancel_batch(batch.id + 1000)


async def test_wait_for_batch_times_out_and_download_before_the_end_fails(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    server.batch_completion_delay = 60
    batch = await sc.create_batch(URLS, country="us")
    with pytest.raises(WaitTimeoutError) as caught:
        await sc.wait_for_batch(batch.id, poll_interval=0.01, timeout=0.05)
    assert caught.value.last_status == "processing"
    with pytest.raises(Exception, match="not finished"):
        await sc.download_batch(batch.id)
    for request in server.requests:
        assert "key" not in request.query
