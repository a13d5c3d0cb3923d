"""Screenshot artifacts: downloads, save_screenshot and save_crawl, against FakeServer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import FAST_RETRY
from uprock_async import (
    APIConnectionError,
    NotFoundError,
    ScreenshotCenterClient,
    ServerError,
    UprockAsyncError,
)
from uprock_async.testing import FakeServer


def count_files(folder: Path) -> int:
    return sum(1 for _ in folder.iterdir())


async def first_finished(server: FakeServer, sc: ScreenshotCenterClient) -> int:
    crawl = await sc.crawl_info(server.add_crawl(screenshots=1))
    return crawl.screenshots[0].id


async def test_download_screenshot_returns_the_image_bytes_with_its_options(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    shot_id = await first_finished(server, sc)
    plain = await sc.download_screenshot(shot_id)
    assert plain.startswith(b"\x89PNG")
    assert len(plain) == server.artifact_size
    assert await sc.download_screenshot(shot_id) == plain  # deterministic
    small = await sc.download_screenshot(shot_id, width=200, format="png", shot=1)
    assert small != plain
    [*_, sent] = [r for r in server.requests if r.path.endswith("/screenshot/thumbnail")]
    assert sent.query == {"id": str(shot_id), "width": "200", "format": "png", "shot": "1"}


@pytest.mark.parametrize(("kind", "magic"), [("html", b"<!doctype"), ("image", b"\x89PNG")])
async def test_download_screenshot_streams_to_dest_creating_folders(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path, kind: str, magic: bytes
) -> None:
    shot_id = await first_finished(server, sc)
    dest = tmp_path / "deep" / "er" / f"shot.{kind}"
    written = await sc.download_screenshot(shot_id, kind=kind, dest=str(dest))
    assert written == dest
    assert dest.read_bytes().startswith(magic)
    assert sorted(p.name for p in dest.parent.iterdir()) == [dest.name]


async def test_an_artifact_the_screenshot_lacks_is_not_found(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    shot_id = await first_finished(server, sc)  # has_pdf is False
    with pytest.raises(NotFoundError):
        await sc.download_screenshot(shot_id, kind="pdf")


@pytest.mark.parametrize(
    ("kind", "options", "match"),
    [
        ("thumbnail", {}, "kind must be one of"),
        ("png", {}, "kind must be one of"),
        ("image", {"quality": 3}, "unknown option"),
        ("html", {"width": 3}, "unknown option"),
        ("image", {"key": "x"}, "API key"),
    ],
)
async def test_download_screenshot_refuses_bad_kinds_and_options_without_a_request(
    server: FakeServer, sc: ScreenshotCenterClient, kind: str, options: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await sc.download_screenshot(7, kind=kind, **options)
    assert server.requests == []


async def test_a_truncated_download_leaves_no_file_and_no_part_file(
    server: FakeServer, tmp_path: Path
) -> None:
    server.artifact_size = 200_000
    async with ScreenshotCenterClient(
        server.api_key, base_url=server.screenshotcenter_url, retry=0
    ) as client:
        shot_id = await first_finished(server, client)
        server.inject("*/screenshot/thumbnail", truncate=True, times=1)
        dest = tmp_path / "out" / "shot.png"
        with pytest.raises(APIConnectionError):
            await client.download_screenshot(shot_id, dest=dest)
    assert not dest.exists()
    assert all_paths(tmp_path) == []  # nor the folder the download would have made


async def test_save_screenshot_saves_every_artifact_it_has(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    server.screenshot_completion_delay = 0.0
    shot = await sc.create_screenshot("https://example.com", html=True, pdf=True, video=True)
    await sc.wait_for_screenshot(shot.id, poll_interval=0.01)
    saved = await sc.save_screenshot(shot.id, tmp_path / "new", basename="home")
    assert saved == {
        "image": tmp_path / "new" / "home.png",
        "html": tmp_path / "new" / "home.html",
        "pdf": tmp_path / "new" / "home.pdf",
        "video": tmp_path / "new" / "home.mp4",  # the screenshot's video_format
    }
    assert all(path is not None and path.stat().st_size > 0 for path in saved.values())


async def test_save_screenshot_skips_what_is_missing_or_not_asked_for(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    shot_id = await first_finished(server, sc)  # image and html only
    saved = await sc.save_screenshot(shot_id, tmp_path, kinds=["html", "pdf"])
    assert saved == {
        "image": None,
        "html": tmp_path / f"{shot_id}.html",
        "pdf": None,
        "video": None,
    }
    server.screenshot_completion_delay = 60
    pending = await sc.create_screenshot("https://example.com")
    nothing = await sc.save_screenshot(pending.id, tmp_path)
    assert set(nothing.values()) == {None}
    with pytest.raises(ValueError, match="basename"):
        await sc.save_screenshot(shot_id, tmp_path, basename="../escape")
    with pytest.raises(ValueError, match="kind must be one of"):
        await sc.save_screenshot(shot_id, tmp_path, kinds=["gif"])


async def test_save_crawl_saves_every_finished_screenshot(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl_id = server.add_crawl(screenshots=60)  # every 50th is an error
    progress: list[tuple[int, int | None]] = []
    saved = await sc.save_crawl(
        crawl_id,
        tmp_path,
        kinds=("image", "html"),
        progress=lambda done, total: progress.append((done, total)),
    )
    assert len(saved) == 59
    for shot_id, result in saved.items():
        assert not isinstance(result, UprockAsyncError)
        assert result["image"] == tmp_path / f"{shot_id}.png"
        assert result["html"] == tmp_path / f"{shot_id}.html"
        assert result["pdf"] is None
    assert count_files(tmp_path) == 118
    assert progress[-1] == (59, 59)
    assert len([r for r in server.requests if r.path.endswith("/crawl/info")]) == 1


async def test_a_failed_screenshot_inside_save_crawl_is_that_ids_error(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl = await sc.crawl_info(server.add_crawl(screenshots=10))
    victim = crawl.screenshots[3].id
    server.inject("*/screenshot/thumbnail", status=500, times=None, query={"id": str(victim)})
    saved = await sc.save_crawl(crawl.id, tmp_path, concurrency=4)
    assert len(saved) == 10
    error = saved[victim]
    assert isinstance(error, ServerError)
    assert error.status_code == 500
    others = [r for i, r in saved.items() if i != victim]
    assert all(isinstance(r, dict) and r["image"] is not None for r in others)
    assert not (tmp_path / f"{victim}.png").exists()
    assert count_files(tmp_path) == 9


async def test_save_crawl_keeps_within_its_concurrency(server: FakeServer, tmp_path: Path) -> None:
    server.artifact_latency = 0.01
    async with ScreenshotCenterClient(
        server.api_key, base_url=server.screenshotcenter_url, retry=FAST_RETRY
    ) as client:
        crawl_id = server.add_crawl(screenshots=40)
        saved = await client.save_crawl(crawl_id, tmp_path, kinds=["image", "html"], concurrency=5)
    assert len(saved) == 40
    assert 2 <= server.max_in_flight <= 5


async def test_save_crawl_checks_its_arguments_before_any_request(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        await sc.save_crawl(1, tmp_path, kinds=("image", "gif"))
    with pytest.raises(ValueError, match="kinds must name"):
        await sc.save_crawl(1, tmp_path, kinds=())
    with pytest.raises(ValueError, match="positive"):
        await sc.save_crawl(0, tmp_path)
    assert server.requests == []


async def test_artifact_downloads_never_put_the_key_in_the_query(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl_id = server.add_crawl(screenshots=3)
    await sc.save_crawl(crawl_id, tmp_path, kinds=("image", "html"))
    shot_id = next(iter(await sc.save_crawl(crawl_id, tmp_path)))
    await sc.save_screenshot(shot_id, tmp_path / "one")
    await sc.download_screenshot(shot_id, width=10)
    assert len(server.requests) > 5
    for request in server.requests:
        assert "key" not in request.query
        assert request.headers["X-API-KEY"] == server.api_key


# -- one kind fails: our error, all or nothing ------------------------------------------


def all_files(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden temporary names included), relative."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def all_paths(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, relative."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


async def with_every_kind(server: FakeServer, sc: ScreenshotCenterClient) -> int:
    """A finished screenshot that has an image, HTML, a PDF and a video."""
    server.screenshot_completion_delay = 0.0
    shot = await sc.create_screenshot("https://example.com", html=True, pdf=True, video=True)
    await sc.wait_for_screenshot(shot.id, poll_interval=0.01)
    return shot.id


async def test_a_failing_kind_raises_our_error_and_cancels_the_others(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    shot_id = await with_every_kind(server, sc)
    # The other kinds take 3 s each (kept short: the server finishes its handlers
    # before the fixture can stop it); the 404 must cancel them, not wait for them.
    server.artifact_latency = 3
    server.inject("*/screenshot/pdf", status=404, times=None)
    with anyio.fail_after(2), pytest.raises(NotFoundError) as caught:
        await sc.save_screenshot(shot_id, tmp_path / "out")
    assert type(caught.value) is NotFoundError  # the error itself, no ExceptionGroup
    assert caught.value.status_code == 404
    assert all_paths(tmp_path) == []


async def test_kinds_already_downloaded_are_not_kept_when_another_fails(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    shot_id = await with_every_kind(server, sc)
    # The video fails only after the image, HTML and PDF have arrived.
    server.inject("*/screenshot/video", status=404, times=None, delay=0.3)
    (tmp_path / "home.png").write_bytes(b"the caller's own file")
    with pytest.raises(NotFoundError):
        await sc.save_screenshot(shot_id, tmp_path, basename="home")
    done = [r.path for r in server.requests if r.path.rsplit("/", 1)[-1] in ("thumbnail", "html")]
    assert len(done) == 2  # they were downloaded, then discarded
    assert all_paths(tmp_path) == ["home.png"]
    assert (tmp_path / "home.png").read_bytes() == b"the caller's own file"
    saved = await sc.save_screenshot(shot_id, tmp_path, basename="home", kinds=["image"])
    assert saved["image"] == tmp_path / "home.png"
    assert (tmp_path / "home.png").read_bytes().startswith(b"\x89PNG")  # replaced on success


async def test_the_first_failure_wins_when_several_kinds_fail(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    shot_id = await with_every_kind(server, sc)
    server.inject("*/screenshot/html", status=404, times=None)
    server.inject("*/screenshot/video", status=403, times=None, delay=0.2)
    with pytest.raises(NotFoundError):
        await sc.save_screenshot(shot_id, tmp_path / "a" / "b")
    assert all_paths(tmp_path) == []


async def test_cancelling_save_screenshot_leaves_no_file(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    shot_id = await with_every_kind(server, sc)
    server.inject("*/screenshot/video", status=200, times=None, delay=2)  # slow, then fine
    with anyio.move_on_after(0.5) as scope:
        await sc.save_screenshot(shot_id, tmp_path / "new")
    assert scope.cancelled_caught
    assert all_paths(tmp_path) == []


async def test_a_folder_in_the_way_is_refused_before_any_download(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    shot_id = await first_finished(server, sc)
    (tmp_path / f"{shot_id}.html").mkdir()
    before = len(server.requests)
    with pytest.raises(IsADirectoryError):
        await sc.save_screenshot(shot_id, tmp_path)
    assert [r.path for r in server.requests[before:]] == ["/api/v1/screenshot/info"]
    assert all_files(tmp_path) == []


async def test_a_screenshot_failing_inside_save_crawl_leaves_none_of_its_files(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl = await sc.crawl_info(server.add_crawl(screenshots=6))
    victim = crawl.screenshots[2].id
    # The image arrives, then the HTML fails: the victim's PNG must not stay.
    server.inject("*/screenshot/html", status=404, times=None, query={"id": str(victim)})
    saved = await sc.save_crawl(crawl.id, tmp_path, kinds=("image", "html"), concurrency=3)
    assert type(saved[victim]) is NotFoundError
    victims = [r.path for r in server.requests if r.query.get("id") == str(victim)]
    assert victims[0].endswith("/thumbnail")  # its image was downloaded first
    expected = sorted(
        f"{shot.id}.{ext}"
        for shot in crawl.screenshots
        if shot.id != victim
        for ext in ("html", "png")
    )
    assert all_files(tmp_path) == expected


async def test_an_error_that_is_not_the_services_stops_save_crawl_as_itself(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl = await sc.crawl_info(server.add_crawl(screenshots=5))
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the folder should be")
    with pytest.raises(OSError) as caught:  # noqa: PT011 - any OSError is the disk's answer
        await sc.save_crawl(crawl.id, blocked / "inner", concurrency=2)
    assert type(caught.value) in (FileExistsError, NotADirectoryError)
