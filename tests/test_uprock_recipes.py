"""The README's Uprock recipes, run as written against FakeServer (keep them in sync)."""

from __future__ import annotations

from pathlib import Path

from uprock_async import NotFoundError, UprockClient
from uprock_async.testing import FakeServer
from uprock_async.uprock import Job


async def create_wait_download(client: UprockClient, dest: Path) -> Path | None:
    # --- README recipe: create -> wait -> download ---
    job = await client.create_job("https://example.com/", placement={"country": "US"})
    detail = await client.wait_for_job(job.job_id, poll_interval=0.5, timeout=120)
    if not detail.job.is_completed:  # failed / timeout: the detail says why
        print(detail.status, detail.result and detail.result.error_message)
        return None
    path = await client.download(detail, dest=dest)  # streamed, atomic
    assert isinstance(path, Path)
    return path


async def batch_status(client: UprockClient, ids: list[str]) -> tuple[int, int, int]:
    # --- README recipe: batch status of 10,000 ids ---
    statuses = await client.jobs_status(ids)  # 10 requests of 1000 ids, 4 at a time
    done = [i for i, s in statuses.items() if isinstance(s, Job) and s.is_completed]
    pending = [i for i, s in statuses.items() if isinstance(s, Job) and not s.is_terminal]
    unknown = [i for i, s in statuses.items() if isinstance(s, NotFoundError)]
    return len(done), len(pending), len(unknown)


async def test_the_create_wait_download_recipe_runs(tmp_path: Path) -> None:
    async with (
        FakeServer() as server,
        UprockClient(server.api_key, base_url=server.uprock_url) as client,
    ):
        path = await create_wait_download(client, tmp_path / "out" / "example.html")
    assert path is not None
    assert path.read_bytes().startswith(b"<!doctype html>")


async def test_the_batch_status_recipe_handles_10000_ids() -> None:
    async with (
        FakeServer() as server,
        UprockClient(server.api_key, base_url=server.uprock_url) as client,
    ):
        server.job_completion_delay = 60  # keep the new job pending during the test
        ids = server.add_jobs(9_990, headers=0, cookies=0)
        ids += [str(j.job_id) for j in [await client.create_job("https://example.com/")]]
        ids += [f"00000000-0000-4000-8000-{n:012d}" for n in range(9)]
        done, pending, unknown = await batch_status(client, ids)
        batches = [r for r in server.requests if r.path.endswith("/batch/status")]
    assert (done, pending, unknown) == (9_990, 1, 9)
    assert len(batches) == 10
