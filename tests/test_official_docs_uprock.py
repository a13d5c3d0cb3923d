"""The fake, the spec and the client follow the Uprock Crawl API's official pages
(uprock.ai/docs/api-reference: createSession, getBatchJobStatus, getJobStatus,
response-codes), and the download answers integrations handle besides them.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest

from tests.conftest import FAST_RETRY
from tests.spec_support import DOCUMENTS
from uprock_async import (
    APIStatusError,
    BadRequestError,
    NotFoundError,
    UprockClient,
)
from uprock_async.testing import FakeServer
from uprock_async.testing._uprock import download_content
from uprock_async.uprock import CrawlSession, Job

SESSION_NEW = "/crawl/v1/session/new"


async def raw(
    server: FakeServer, method: str, path: str, body: Any = None, *, key: str | None = None
) -> tuple[int, Any]:
    """One request to the fake as the service's own curl examples send it."""
    headers = {"Authorization": f"Bearer {key or server.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, server.uprock_url + path, json=body, headers=headers) as answer,
    ):
        return answer.status, msgspec.json.decode(await answer.read())


def listing(folder: Path) -> list[str]:
    """The names in ``folder`` (sync: blocking calls stay out of the async tests)."""
    return sorted(p.name for p in folder.iterdir())


def downloads(server: FakeServer) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/download"))


# -- sessions ------------------------------------------------------------------------


async def test_a_new_session_lasts_60_seconds_by_default(
    server: FakeServer, uprock: UprockClient
) -> None:
    session = await uprock.create_session()
    assert session.created_at is not None
    assert session.expires_at is not None
    assert (session.expires_at - session.created_at).total_seconds() == pytest.approx(60)
    assert msgspec.json.decode(server.requests[-1].body) == {}  # the service's default, not ours
    schema = DOCUMENTS["uprock"]["components"]["schemas"]["SessionRequest"]
    assert schema["properties"]["duration_seconds"]["default"] == 60


async def test_a_new_session_is_answered_as_the_create_session_page_shows(
    server: FakeServer, uprock: UprockClient
) -> None:
    status, body = await raw(server, "POST", SESSION_NEW, {"duration_seconds": 60})
    assert status in (200, 201)
    assert body["status"] == "active"
    assert (body["job_ids"], body["device_id"], body["placement"], body["closed_at"]) == (
        [],
        None,
        None,
        None,
    )
    session = await uprock.get_session(body["id"])
    assert isinstance(session, CrawlSession)
    assert (session.job_ids, session.device_id, session.placement) == ([], None, {})
    assert session.is_active


async def test_session_endpoints_answer_errors_as_objects(server: FakeServer) -> None:
    status, body = await raw(server, "POST", SESSION_NEW, {"duration_seconds": 0})
    assert status == 400
    assert isinstance(body, dict)
    assert body["error"].startswith("invalid request: ")
    status, body = await raw(server, "POST", SESSION_NEW, {}, key="wrong")
    assert (status, body) == (401, {"error": "unauthorized: invalid or missing API key"})
    status, body = await raw(server, "GET", f"/crawl/v1/session/{uuid.uuid4()}", key="wrong")
    assert status == 401
    assert isinstance(body, dict)
    status, body = await raw(server, "GET", f"/crawl/v1/session/{uuid.uuid4()}")
    assert status == 404
    assert body["error"].startswith("not found: ")
    # The job endpoints keep their bare strings.
    status, body = await raw(server, "POST", "/crawl/v1/new", {"method": "GET"})
    assert status == 400
    assert body == "invalid request: url is required"


@pytest.mark.parametrize(
    "body",
    [{"error": "invalid request: placement is not allowed"}, '"invalid request: nope"'],
    ids=["object", "bare string"],
)
async def test_the_client_reads_both_error_shapes_on_create_session(
    server: FakeServer, uprock: UprockClient, body: Any
) -> None:
    server.inject(SESSION_NEW, status=400, times=1, body=body)
    with pytest.raises(BadRequestError) as info:
        await uprock.create_session(duration_seconds=60)
    assert info.value.status_code == 400
    assert info.value.message.startswith("invalid request: ")


async def test_get_session_of_an_unknown_id_reads_the_object_404(
    uprock: UprockClient,
) -> None:
    with pytest.raises(NotFoundError, match="session does not exist") as info:
        await uprock.get_session(str(uuid.uuid4()))
    assert info.value.status_code == 404


# -- downloads not ready, or gone ------------------------------------------------------


async def test_a_409_not_yet_completed_is_retried_like_a_202_and_never_saved(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    server.uprock.not_ready_status = 409
    server.job_completion_delay = 60
    job = await uprock.create_job("https://example.com/")
    dest = tmp_path / "page.html"
    with pytest.raises(APIStatusError) as info:
        await uprock.download(job.job_id, dest=dest)
    assert info.value.status_code == 409
    assert "not ready" in info.value.message
    assert "wait_for_job" in info.value.message
    assert "conflict: job not yet completed" in info.value.message  # the service's words
    assert downloads(server) == 1 + FAST_RETRY.max_retries
    assert listing(tmp_path) == []
    assert uprock.stats().errors == {"APIStatusError": 1}


async def test_a_download_that_turns_ready_after_a_409_returns_the_content(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.inject("/crawl/v1/jobs/*/download", status=409, times=1, body='"conflict: not yet"')
    assert await uprock.download(job_id) == download_content(server, job_id)
    assert downloads(server) == 2
    assert uprock.stats().errors == {}


async def test_a_410_gone_is_not_retried_and_says_the_content_is_gone(
    server: FakeServer, uprock: UprockClient, tmp_path: Path
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.uprock.archived.add(job_id)
    for dest in (None, tmp_path / "page.html"):
        with pytest.raises(APIStatusError) as info:
            await uprock.download(job_id, dest=dest)
        assert isinstance(info.value, NotFoundError)
        assert info.value.status_code == 410
        assert "the content is gone" in str(info.value)
        assert "archived" in info.value.message
    assert downloads(server) == 2  # one each: never retried
    assert listing(tmp_path) == []


async def test_a_409_elsewhere_is_no_download_and_is_not_retried(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.inject("/crawl/v1/jobs/*/detail", status=409, times=1, body='"conflict: busy"')
    with pytest.raises(BadRequestError) as info:
        await uprock.job_detail(job_id)
    assert "not ready" not in info.value.message
    assert len([r for r in server.requests if r.path.endswith("/detail")]) == 1
    assert (await uprock.job_detail(job_id)).job_id == job_id  # nothing left behind


# -- statuses and batch status ---------------------------------------------------------


@pytest.mark.parametrize("status", ["completed", "failed", "timeout", "error", "COMPLETED"])
def test_the_statuses_integrations_stop_on_are_terminal(status: str) -> None:
    assert Job(job_id="j", status=status).is_terminal


@pytest.mark.parametrize("status", ["pending", "running", "queued", "", "something-new"])
def test_any_other_status_is_still_running(status: str) -> None:
    assert not Job(job_id="j", status=status).is_terminal  # an open set, never an error


def test_a_session_is_active_as_the_create_session_page_says() -> None:
    assert CrawlSession(id="s", status="active").is_active
    assert not CrawlSession(id="s", status="expired").is_active


@pytest.mark.parametrize("status", ["failed", "timeout", "error"])
async def test_watch_jobs_stops_on_each_terminal_status(
    server: FakeServer, uprock: UprockClient, status: str
) -> None:
    ids = server.add_jobs(2, headers=2, cookies=0, status=status)
    async with uprock.watch_jobs(ids, poll_interval=0.01, timeout=10, details=False) as outcomes:
        statuses = {o.item: o.unwrap().status async for o in outcomes}
    assert statuses == dict.fromkeys(ids, status)


async def test_batch_status_answers_the_documented_error_codes(
    server: FakeServer, uprock: UprockClient
) -> None:
    [known] = server.add_jobs(1, headers=2, cookies=0)
    missing = str(uuid.uuid4())
    status, body = await raw(
        server, "POST", "/crawl/v1/jobs/batch/status", {"job_ids": [known, missing, "x"]}
    )
    assert status == 200
    assert body["results"][missing] == {"error": "not_found"}
    assert body["results"]["x"] == {"error": "invalid_uuid"}
    assert (body["found_count"], body["requested_count"]) == (1, 3)
    found = await uprock.jobs_status([known, missing, "x"])
    assert isinstance(found[known], Job)
    assert isinstance(found[missing], NotFoundError)
    assert isinstance(found["x"], BadRequestError)


async def test_batch_status_jobs_come_with_and_without_placement_and_session(
    server: FakeServer, uprock: UprockClient
) -> None:
    ids = server.add_jobs(20, headers=2, cookies=0)
    _, body = await raw(server, "POST", "/crawl/v1/jobs/batch/status", {"job_ids": ids})
    jobs = [body["results"][i]["job"] for i in ids]
    bare = [job for job in jobs if "placement" not in job and "session_id" not in job]
    assert 0 < len(bare) < len(jobs)  # like the getBatchJobStatus example, and like the others
    found = await uprock.jobs_status(ids)
    for job in bare:
        decoded = found[job["job_id"]]
        assert isinstance(decoded, Job)
        assert (decoded.placement, decoded.session_id) == ({}, None)
