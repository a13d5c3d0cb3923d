"""UprockClient sessions and downloads against FakeServer: streaming, atomic files,
transparent decompression, and the API key never leaving trusted hosts."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from yarl import URL

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIConnectionError,
    APIStatusError,
    BadRequestError,
    Limits,
    NotFoundError,
    ResponseDecodeError,
    ScreenshotCenterClient,
    UprockClient,
)
from uprock_async.testing import FakeServer
from uprock_async.testing._uprock import download_content
from uprock_async.uprock import CrawlSession, Job, JobDetail


def _listing(folder: Path) -> list[str]:
    """The names in ``folder`` (a sync helper: blocking calls stay out of async tests)."""
    return sorted(p.name for p in folder.iterdir())


# -- sessions --------------------------------------------------------------------


async def test_create_session_returns_an_active_session(
    server: FakeServer, uprock: UprockClient
) -> None:
    session = await uprock.create_session(duration_seconds=120, placement={"country": "FR"})
    assert isinstance(session, CrawlSession)
    assert session.is_active
    assert session.placement == {"country": "FR"}
    assert session.created_at is not None
    assert session.expires_at is not None
    assert (session.expires_at - session.created_at).total_seconds() == pytest.approx(120)
    assert await uprock.get_session(session.id) == session


async def test_a_session_expires_after_its_duration(
    server: FakeServer, uprock: UprockClient
) -> None:
    session = await uprock.create_session(duration_seconds=1)
    server.session_deadlines[session.id] = 0.0  # as if the second had passed
    expired = await uprock.get_session(uuid.UUID(session.id))
    assert expired.status == "expired"
    assert not expired.is_active
    with pytest.raises(BadRequestError, match="expired"):
        await uprock.create_job("https://example.com/", session_id=session.id)


@pytest.mark.parametrize("duration", [0, 3601, -5, 1.5, True, "60"], ids=repr)
async def test_create_session_checks_the_duration_before_sending(
    server: FakeServer, uprock: UprockClient, duration: object
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await uprock.create_session(duration_seconds=duration)  # type: ignore[arg-type]
    assert server.requests == []


async def test_get_session_of_an_unknown_id_is_not_found(
    server: FakeServer, uprock: UprockClient
) -> None:
    with pytest.raises(NotFoundError, match="session does not exist"):
        await uprock.get_session(str(uuid.uuid4()))
    with pytest.raises(ValueError, match="session_id"):
        await uprock.get_session("a/b")
    assert len(server.requests) == 1


# -- download ---------------------------------------------------------------------------


async def test_download_by_job_id_returns_the_decompressed_bytes(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    content = await uprock.download(job_id)
    assert content == download_content(server, job_id)
    [request] = server.requests
    assert request.path == f"/crawl/v1/jobs/{job_id}/download"
    assert "gzip" in request.headers["Accept-Encoding"]  # so FakeServer sent it gzipped


async def test_download_accepts_a_detail_a_job_or_a_url(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    expected = download_content(server, job_id)
    detail = await uprock.job_detail(job_id)
    assert detail.download_url is not None
    assert await uprock.download(detail) == expected
    assert await uprock.download(detail.job) == expected
    assert await uprock.download(detail.download_url) == expected
    bare = JobDetail(job=Job(job_id=job_id, status="completed"))  # no download_url
    assert await uprock.download(bare) == expected


async def test_download_to_a_nested_dest_streams_into_place(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    seen: list[tuple[int, int | None]] = []
    dest = tmp_path / "a" / "b" / "page.html"
    written = await uprock.download(
        job_id, dest=str(dest), progress=lambda done, total: seen.append((done, total))
    )
    assert written == dest
    assert dest.read_bytes() == download_content(server, job_id)
    assert _listing(dest.parent) == ["page.html"]  # no .part left
    assert seen[-1][0] == dest.stat().st_size
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


async def test_a_truncated_download_leaves_no_file_behind(
    server: FakeServer, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/jobs/*/download", truncate=True, times=1)
    dest = tmp_path / "out" / "page.html"
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=0) as client:
        with pytest.raises(APIConnectionError, match="mid-body"):
            await client.download(job_id, dest=dest)
    assert not dest.exists()
    assert _listing(tmp_path) == []  # not even the "out" folder it made


async def test_a_truncated_download_is_retried_from_the_start(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/jobs/*/download", truncate=True, times=1)
    dest = await uprock.download(job_id, dest=tmp_path / "page.html")
    assert isinstance(dest, Path)
    assert dest.read_bytes() == download_content(server, job_id)
    assert _listing(tmp_path) == ["page.html"]


async def test_downloading_an_unfinished_job_raises_instead_of_saving_the_202(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    server.job_completion_delay = 60
    job = await uprock.create_job("https://example.com/")
    dest = tmp_path / "page.html"
    with pytest.raises(APIStatusError) as info:
        await uprock.download(job.job_id, dest=dest)
    assert info.value.status_code == 202
    assert "not ready" in info.value.message
    assert not dest.exists()
    assert _listing(tmp_path) == []
    downloads = [r for r in server.requests if r.path.endswith("/download")]
    assert len(downloads) == 1 + FAST_RETRY.max_retries  # "retry shortly" was honoured


async def test_create_wait_download_runs_end_to_end(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    server.job_completion_delay = 0.02
    job = await uprock.create_job("https://example.com/", placement={"country": "US"})
    detail = await uprock.wait_for_job(job.job_id, poll_interval=0.01)
    path = await uprock.download(detail, dest=tmp_path / "example.html")
    assert isinstance(path, Path)
    assert path.read_bytes() == download_content(server, job.job_id)


async def test_download_of_an_unknown_job_is_not_found_and_writes_nothing(
    uprock: UprockClient, tmp_path: Path
) -> None:
    dest = tmp_path / "x.bin"
    with pytest.raises(NotFoundError):
        await uprock.download(str(uuid.uuid4()), dest=dest)
    assert not dest.exists()


@pytest.mark.parametrize(
    ("job", "error"),
    [("../../etc/passwd", ValueError), ("ftp://example.com/x", ValueError), (42, TypeError)],
    ids=repr,
)
async def test_download_rejects_bad_targets_without_a_request(
    server: FakeServer, uprock: UprockClient, job: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await uprock.download(job)  # type: ignore[arg-type]
    assert server.requests == []


async def test_the_key_is_not_sent_to_a_foreign_download_host(
    server: FakeServer, uprock: UprockClient
) -> None:
    async with FakeServer(seed=1) as foreign:
        # A fault rule answers before the auth check, like a pre-signed storage URL.
        foreign.inject("/files/*", status=200, body=b"foreign bytes", times=None)
        detail = JobDetail(
            job=Job(job_id=str(uuid.uuid4()), status="completed"),
            download_url=f"{foreign.uprock_url}/files/result.bin",
        )
        assert await uprock.download(detail) == b"foreign bytes"
        [request] = foreign.requests
        assert "Authorization" not in request.headers
        assert server.api_key not in str(request.headers)


def test_only_the_base_origin_and_https_edge_hosts_are_trusted() -> None:
    client = UprockClient("k" * 20)
    trusted = client._transport.is_trusted
    assert trusted(URL("https://edge.uprock.com/crawl/v1/jobs/x/download"))
    assert trusted(URL("https://iad001.edge.uprock.com/crawl/v1/jobs/x/download"))
    assert not trusted(URL("http://iad001.edge.uprock.com/x"))  # never in clear text
    assert not trusted(URL("https://edge.uprock.com.evil.example/x"))
    assert not trusted(URL("https://notedge.uprock.com/x"))
    assert not trusted(URL("https://storage.example.com/x"))


# -- where a download may write, and how much ---------------------------------------------

MIB = 1024 * 1024
BOMB_SIZE = 8 * MIB  # what the gzip below inflates to
BOMB = gzip.compress(b"\0" * BOMB_SIZE, mtime=0)  # about 8 KiB on the wire
PLAIN = b"p" * (2 * MIB)


@pytest.fixture
async def files() -> AsyncIterator[FakeServer]:
    """A FakeServer that also serves ``/files/bomb`` (gzip) and ``/files/plain``."""

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(body=BOMB, headers={"Content-Encoding": "gzip"})

    async def plain(request: web.Request) -> web.Response:
        return web.Response(body=PLAIN)  # with a Content-Length, no encoding

    server = FakeServer(seed=31)
    server.app.router.add_get("/files/bomb", bomb)
    server.app.router.add_get("/files/plain", plain)
    async with server:
        yield server


def _capped(server: FakeServer, cap: int | None, **kw: object) -> UprockClient:
    return UprockClient(
        server.api_key,
        base_url=server.uprock_url,
        retry=FAST_RETRY,
        limits=Limits(max_download_size=cap),
        **kw,  # type: ignore[arg-type]
    )


async def test_a_gzip_bomb_stops_at_max_download_size_and_leaves_nothing(
    files: FakeServer, tmp_path: Path
) -> None:
    assert len(BOMB) < 100 * 1024
    dest = tmp_path / "a" / "b" / "bomb.bin"
    async with _capped(files, MIB) as client:
        with pytest.raises(ResponseDecodeError, match="max_download_size") as info:
            await client.download(f"{files.uprock_url}/files/bomb", dest=dest)
    assert info.value.status_code == 200
    assert _listing(tmp_path) == []  # no file, no .part, no "a/b"
    assert len(files.requests) == 1  # too big is an answer, not a glitch: no retry


async def test_a_declared_length_over_the_cap_is_refused_before_writing(
    files: FakeServer, tmp_path: Path
) -> None:
    async with _capped(files, MIB) as client:
        with pytest.raises(ResponseDecodeError, match=f"{len(PLAIN)} bytes"):
            await client.download(f"{files.uprock_url}/files/plain", dest=tmp_path / "x" / "p")
    assert _listing(tmp_path) == []


async def test_a_file_exactly_at_the_cap_is_written(files: FakeServer, tmp_path: Path) -> None:
    async with _capped(files, BOMB_SIZE) as client:
        path = await client.download(f"{files.uprock_url}/files/bomb", dest=tmp_path / "b")
    assert isinstance(path, Path)
    assert path.stat().st_size == BOMB_SIZE


async def test_without_a_cap_files_are_not_limited_by_max_body_size(
    files: FakeServer, tmp_path: Path
) -> None:
    # max_body_size is for answers held in memory; a file streams to disk.
    async with _capped(files, None, max_body_size=MIB) as client:
        path = await client.download(f"{files.uprock_url}/files/bomb", dest=tmp_path / "b")
        assert isinstance(path, Path)
        assert path.stat().st_size == BOMB_SIZE
        with pytest.raises(ResponseDecodeError, match="max_body_size"):
            await client.download(f"{files.uprock_url}/files/bomb")  # as bytes


async def test_bytes_are_not_limited_by_max_download_size(files: FakeServer) -> None:
    async with _capped(files, 1024) as client:
        assert await client.download(f"{files.uprock_url}/files/plain") == PLAIN


async def test_screenshot_artifacts_share_the_file_cap(server: FakeServer, tmp_path: Path) -> None:
    async with ScreenshotCenterClient(
        server.api_key,
        base_url=server.screenshotcenter_url,
        retry=FAST_RETRY,
        limits=Limits(max_download_size=server.artifact_size - 1),
    ) as sc:
        crawl = await sc.crawl_info(server.add_crawl(screenshots=1))
        shot_id = crawl.screenshots[0].id
        assert len(await sc.download_screenshot(shot_id)) == server.artifact_size
        with pytest.raises(ResponseDecodeError, match="max_download_size"):
            await sc.download_screenshot(shot_id, dest=tmp_path / "shots" / "1.png")
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("cap", [0, -1, True, 1.5, "10"], ids=repr)
def test_max_download_size_must_be_a_positive_int_or_none(cap: object) -> None:
    with pytest.raises(ValueError, match="max_download_size"):
        Limits(max_download_size=cap)  # type: ignore[arg-type]


async def test_a_directory_dest_is_refused_before_any_request(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    with pytest.raises(IsADirectoryError):
        await uprock.download(job_id, dest=tmp_path)
    assert server.requests == []
    assert _listing(tmp_path) == []


async def test_a_dest_below_a_file_is_refused_before_any_request(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        await uprock.download(job_id, dest=blocker / "a" / "page.html")
    assert server.requests == []
    assert _listing(tmp_path) == ["file"]


async def test_a_failed_download_removes_only_the_folders_it_made(
    server: FakeServer, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    (tmp_path / "a").mkdir()
    server.inject("/crawl/v1/jobs/*/download", truncate=True, times=None)
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=FAST_RETRY) as c:
        with pytest.raises(APIConnectionError):
            await c.download(job_id, dest=tmp_path / "a" / "b" / "c" / "page.html")
    assert _listing(tmp_path) == ["a"]  # it was there before
    assert _listing(tmp_path / "a") == []


async def test_an_error_answer_creates_no_folder(uprock: UprockClient, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        await uprock.download(str(uuid.uuid4()), dest=tmp_path / "x" / "y" / "page.html")
    assert _listing(tmp_path) == []


async def test_folders_shared_with_a_finished_download_are_kept(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    good, bad = server.add_jobs(2, headers=0, cookies=0)
    server.inject(f"/crawl/v1/jobs/{bad}/download", truncate=True, times=None)
    folder = tmp_path / "out" / "jobs"
    ok = await uprock.download(good, dest=folder / "good.html")
    with pytest.raises(APIConnectionError):
        await uprock.download(bad, dest=folder / "bad.html")
    assert ok == folder / "good.html"
    assert _listing(folder) == ["good.html"]
