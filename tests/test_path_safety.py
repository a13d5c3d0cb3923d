"""No id a caller passes can change the request's path or query.

Job and session ids are path segments: anything but letters, digits, ``-`` and
``_`` is refused with ``ValueError`` before a request is made. ScreenshotCenter
ids are positive ints (``bool`` refused; a string of ASCII digits is accepted
as documented by ``validate_id``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uprock_async import NotFoundError, ScreenshotCenterClient, UprockClient
from uprock_async.screenshotcenter._artifacts import inside, video_extension
from uprock_async.testing import FakeServer

HOSTILE_IDS = [
    "../../admin",
    "..",
    ".",
    "a/b",
    "/crawl/v1/jobs",
    "abc?parse_cookies=true",
    "abc#frag",
    "abc def",
    " abc",
    "abc\n",
    "abc\t",
    "abc\r\nX-Injected: 1",
    "%2F",
    "abc%2F..%2Fadmin",
    "abc%3Fx%3D1",
    "abc\\..\\admin",
    "jób",
    "١٢٣",  # Arabic-Indic digits: isdigit() but not ASCII
    "\uff21\uff22\uff23",  # full-width ABC
    "abc\x00",
    "",
    "a" * 129,
]

JOB_PATH_METHODS = {
    "job_detail": "/crawl/v1/jobs/{}/detail",
    "job_status": "/crawl/v1/status/{}",
    "get_session": "/crawl/v1/session/{}",
}


def _call(client: UprockClient, method: str, value: Any) -> Awaitable[Any]:
    fn: Callable[[Any], Awaitable[Any]] = getattr(client, method)
    return fn(value)


@pytest.mark.parametrize("method", list(JOB_PATH_METHODS))
@pytest.mark.parametrize("bad", HOSTILE_IDS)
async def test_a_hostile_id_is_refused_before_any_request(
    server: FakeServer, uprock: UprockClient, method: str, bad: str
) -> None:
    with pytest.raises(ValueError, match="invalid"):
        await _call(uprock, method, bad)
    assert server.requests == []


async def test_a_hostile_id_in_a_batch_fails_before_any_request(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(3, headers=1, cookies=0)

    async def stream(job_ids: list[str]) -> None:
        async with uprock.iter_job_details(job_ids) as outcomes:
            async for _ in outcomes:
                pass

    with pytest.raises(ValueError, match="invalid"):
        await uprock.job_details([*ids, "../secret"])
    with pytest.raises(ValueError, match="invalid"):
        await stream([*ids, "x?y=1"])
    assert server.requests == []


async def test_a_download_by_hostile_id_is_refused_before_any_request(
    server: FakeServer, uprock: UprockClient
) -> None:
    download = getattr(uprock, "download", None)
    if download is None:
        pytest.skip("UprockClient.download is not implemented yet")
    for bad in ("../x", "a?b", "a#b", "a b", "%2e%2e"):
        with pytest.raises(ValueError, match="invalid"):
            await download(bad)
    assert server.requests == []


async def test_uuid_objects_and_plain_tokens_map_to_exactly_their_path(
    server: FakeServer, uprock: UprockClient
) -> None:
    [known] = server.add_jobs(1, headers=1, cookies=0)
    detail = await uprock.job_detail(uuid.UUID(known))
    assert detail.job_id == known
    with pytest.raises(NotFoundError):
        await uprock.job_detail("abc_DEF-123")
    paths = [(r.path, r.query) for r in server.requests]
    assert paths == [
        (f"/crawl/v1/jobs/{known}/detail", {}),
        ("/crawl/v1/jobs/abc_DEF-123/detail", {}),
    ]


any_ids = (
    st.text(max_size=40)
    | st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)
    | st.builds(
        lambda head, mark, tail: head + mark + tail,
        st.from_regex(r"[A-Za-z0-9_-]{0,10}", fullmatch=True),
        st.sampled_from(["/", "..", "?", "#", "%2F", "%", " ", "\n", "&", "=", ";", "\\", "é"]),
        st.from_regex(r"[A-Za-z0-9_-]{0,10}", fullmatch=True),
    )
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(job_id=any_ids, method=st.sampled_from(list(JOB_PATH_METHODS)))
async def test_any_text_id_is_refused_or_becomes_exactly_one_path_segment(
    server: FakeServer, uprock: UprockClient, job_id: str, method: str
) -> None:
    before = len(server.requests)
    try:
        await _call(uprock, method, job_id)
    except ValueError:
        assert len(server.requests) == before  # refused: nothing was sent
        return
    except NotFoundError:
        pass  # a well-formed id the server does not know
    [request] = server.requests[before:]
    assert request.path == JOB_PATH_METHODS[method].format(job_id)
    assert request.query == {}


# -- ScreenshotCenter ids --------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (0, ValueError),
        (-1, ValueError),
        ("0", ValueError),
        ("-1", TypeError),
        ("1.5", TypeError),
        (" 42", TypeError),
        ("42\n", TypeError),
        ("4 2", TypeError),
        ("42&key=x", TypeError),
        ("\uff14\uff12", TypeError),  # full-width 42: digits, but not ASCII
        (True, TypeError),
        (1.0, TypeError),
        (None, TypeError),
        ("", TypeError),
    ],
)
async def test_crawl_ids_must_be_positive_ints(
    server: FakeServer, sc: ScreenshotCenterClient, bad: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await sc.crawl_info(bad)  # type: ignore[arg-type]
    assert server.requests == []


async def test_a_crawl_id_of_ascii_digits_is_accepted_as_its_int(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(2)
    crawl = await sc.crawl_info(str(crawl_id))  # type: ignore[arg-type]
    assert crawl.id == crawl_id
    [request] = server.requests
    assert request.path == "/api/v1/crawl/info"
    assert request.query == {"id": str(crawl_id)}


# -- names built from what the service sends ---------------------------------------

HOSTILE_VIDEO_FORMATS = [
    "x/../../../escaped",
    "../escaped",
    "/tmp/escaped",
    "..",
    ".",
    "mp4/",
    "mp4\\..\\escaped",
    "C:escaped",
    "mp4\x00.sh",
    "mp4\n",
    "m p4",
    "mp4.sh",
    "\uff4d\uff50\uff14",  # full-width "mp4": alphanumeric, but not ASCII
    "a" * 9,
    "a" * 10_000,
]


def _all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def _all_folders(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_dir())


def _video_crawl(server: FakeServer, video_format: str, screenshots: int = 1) -> int:
    """A crawl whose finished screenshots have a video of ``video_format``."""
    crawl_id = server.add_crawl(screenshots=screenshots)
    for shot in server.crawls[crawl_id]["screenshots"]:
        shot.update(video=True, has_video=True, video_format=video_format)
    server.invalidate(crawl_id)
    return crawl_id


@pytest.mark.parametrize("video_format", HOSTILE_VIDEO_FORMATS)
async def test_a_hostile_video_format_never_leaves_the_directory(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path, video_format: str
) -> None:
    crawl_id = _video_crawl(server, video_format)
    [shot_id] = [s["id"] for s in server.crawls[crawl_id]["screenshots"]]
    target = tmp_path / "a" / "b" / "c"
    saved = await sc.save_screenshot(shot_id, target, kinds=["video"])
    assert saved["video"] == target / f"{shot_id}.webm"
    crawl_saved = await sc.save_crawl(crawl_id, target / "crawl", kinds=["video", "image"])
    assert crawl_saved == {
        shot_id: {
            "image": target / "crawl" / f"{shot_id}.png",
            "html": None,
            "pdf": None,
            "video": target / "crawl" / f"{shot_id}.webm",
        }
    }
    assert _all_files(tmp_path) == sorted(
        [target / f"{shot_id}.webm", target / "crawl" / f"{shot_id}.png",
         target / "crawl" / f"{shot_id}.webm"]
    )  # fmt: skip
    assert _all_folders(tmp_path) == [
        tmp_path / "a",
        tmp_path / "a" / "b",
        target,
        target / "crawl",
    ]


@pytest.mark.parametrize("video_format", ["mp4", "webm", "MOV", "mkv", "3gp", "abcdefgh"])
async def test_a_plain_video_format_is_the_extension(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path, video_format: str
) -> None:
    crawl_id = _video_crawl(server, video_format)
    [shot_id] = [s["id"] for s in server.crawls[crawl_id]["screenshots"]]
    saved = await sc.save_screenshot(shot_id, tmp_path, kinds=["video"])
    assert saved["video"] == tmp_path / f"{shot_id}.{video_format}"
    assert _all_files(tmp_path) == [tmp_path / f"{shot_id}.{video_format}"]


@pytest.mark.parametrize("video_format", [*HOSTILE_VIDEO_FORMATS, "", None])
def test_video_extension_is_always_a_short_plain_extension(video_format: str | None) -> None:
    assert video_extension(video_format) == "webm"


@given(st.text(max_size=300))
def test_any_video_format_gives_a_file_name_directly_inside_the_folder(video_format: str) -> None:
    extension = video_extension(video_format)
    assert extension == video_format or extension == "webm"
    assert 1 <= len(extension) <= 8
    assert extension.isascii()
    assert extension.isalnum()
    folder = Path("/some/folder")
    path = inside(folder, f"123.{extension}")
    assert path.parent == folder
    assert os.path.normpath(path) == str(path)


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", "../x", "a/b", "/abs", "a\\b", "..\\x", "C:x", "c:", "a\x00b"],
)
def test_inside_refuses_anything_but_one_plain_name(name: str) -> None:
    with pytest.raises(ValueError, match="not a plain file name"):
        inside(Path("folder"), name)


@pytest.mark.parametrize(
    "basename",
    [
        "../escape",
        "..",
        ".",
        "",
        "a/b",
        "/etc/passwd",
        "a\\b",
        "..\\..\\x",
        "C:escape",
        "x\x00y",
        "a" * 201,
        "\u00e9" * 101,  # 202 bytes in UTF-8
    ],
)
async def test_a_bad_basename_is_refused_before_any_request(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path, basename: str
) -> None:
    with pytest.raises(ValueError, match="basename"):
        await sc.save_screenshot(1234, tmp_path, basename=basename)
    assert server.requests == []
    assert _all_files(tmp_path) == []


async def test_the_longest_basename_fits_with_every_extension(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl_id = _video_crawl(server, "abcdefgh")  # the longest extension allowed
    [shot_id] = [s["id"] for s in server.crawls[crawl_id]["screenshots"]]
    basename = "b" * 200
    saved = await sc.save_screenshot(shot_id, tmp_path, basename=basename)
    assert saved["video"] == tmp_path / f"{basename}.abcdefgh"
    assert saved["image"] == tmp_path / f"{basename}.png"
    assert len(_all_files(tmp_path)) == 3  # image, html, video


async def test_a_screenshot_listed_twice_in_a_crawl_is_saved_once(
    server: FakeServer, sc: ScreenshotCenterClient, tmp_path: Path
) -> None:
    crawl_id = server.add_crawl(screenshots=3)
    shots = server.crawls[crawl_id]["screenshots"]
    shots.append(dict(shots[0]))
    server.invalidate(crawl_id)
    saved = await sc.save_crawl(crawl_id, tmp_path)
    assert sorted(saved) == sorted(s["id"] for s in shots[:3])
    assert len(_all_files(tmp_path)) == 3
    thumbnails = [r for r in server.requests if r.path.endswith("/screenshot/thumbnail")]
    assert len(thumbnails) == 3
