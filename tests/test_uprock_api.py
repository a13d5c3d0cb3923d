"""UprockClient's job lifecycle against FakeServer: create, status, batch status, wait."""

from __future__ import annotations

import base64
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import msgspec
import pytest

from tests.conftest import FAST_RETRY
from uprock_async import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    UprockClient,
)
from uprock_async.testing import FakeServer
from uprock_async.uprock import Cookie, Job


def _posts(server: FakeServer, path: str) -> list[Any]:
    return [r for r in server.requests if r.method == "POST" and r.path == path]


# -- create_job ----------------------------------------------------------------


async def test_create_job_sends_every_option_in_the_documented_shape(
    server: FakeServer, uprock: UprockClient
) -> None:
    session = await uprock.create_session(duration_seconds=60)
    job = await uprock.create_job(
        "https://example.com/api",
        method="post",
        timeout_sec=45,
        headers={"Accept": "text/html", "X-Many": ["a", "b"]},
        body="héllo",
        cookies=[Cookie(name="sid", value="1", secure=True), {"name": "theme", "value": "dark"}],
        session_id=session.id,
        placement={"country": "DE"},
        storage_type="S3",
    )
    assert isinstance(job, Job)
    assert job.status == "pending"
    assert (job.url, job.method, job.timeout_sec) == ("https://example.com/api", "POST", 45)
    assert job.placement == {"country": "DE"}
    sent = msgspec.json.decode(_posts(server, "/crawl/v1/new")[0].body)
    assert sent["headers"] == {"Accept": ["text/html"], "X-Many": ["a", "b"]}
    assert base64.b64decode(sent["body"]).decode() == "héllo"
    assert sent["cookies"] == [
        {"name": "sid", "value": "1", "secure": True},
        {"name": "theme", "value": "dark"},
    ]
    assert (sent["method"], sent["storage_type"], sent["session_id"]) == ("POST", "s3", session.id)
    assert job.job_id in (await uprock.get_session(session.id)).job_ids


async def test_create_job_omits_the_options_not_given(
    server: FakeServer, uprock: UprockClient
) -> None:
    await uprock.create_job("http://example.com/")
    sent = msgspec.json.decode(_posts(server, "/crawl/v1/new")[0].body)
    assert sent == {"url": "http://example.com/", "method": "GET"}


async def test_create_job_accepts_a_job_wrapped_in_an_object(
    server: FakeServer, uprock: UprockClient
) -> None:
    job_id = str(uuid.uuid4())
    server.inject(
        "/crawl/v1/new", status=201, body={"job": {"job_id": job_id, "status": "pending"}}
    )
    job = await uprock.create_job("https://example.com/")
    assert (job.job_id, job.status) == (job_id, "pending")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"url": "example.com/no-scheme"}, ValueError),
        ({"url": "ftp://example.com/file"}, ValueError),
        ({"url": ""}, ValueError),
        ({"url": 42}, TypeError),
        ({"method": "PATCH"}, ValueError),
        ({"method": 1}, TypeError),
        ({"timeout_sec": 0}, ValueError),
        ({"timeout_sec": 301}, ValueError),
        ({"timeout_sec": "30"}, TypeError),
        ({"timeout_sec": 30.0}, TypeError),
        ({"timeout_sec": True}, TypeError),
        ({"headers": {"Bad Name": "x"}}, ValueError),
        ({"headers": {"X-Smuggle": "a\r\nB: c"}}, ValueError),
        ({"headers": {"X-Number": 1}}, TypeError),
        ({"headers": ["Accept"]}, TypeError),
        ({"body": 123}, TypeError),
        ({"cookies": [{"value": "no name"}]}, ValueError),
        ({"cookies": "a=b"}, TypeError),
        ({"cookies": [1]}, TypeError),
        ({"session_id": "../../admin"}, ValueError),
        ({"placement": "US"}, TypeError),
        ({"storage_type": "gcs"}, ValueError),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else v.__name__,
)
async def test_bad_create_job_arguments_raise_before_any_request(
    server: FakeServer, uprock: UprockClient, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    args = {"url": "https://example.com/", **kwargs}
    with pytest.raises(error):
        await uprock.create_job(**args)
    assert server.requests == []


async def test_an_unsupported_method_is_named_in_the_error(uprock: UprockClient) -> None:
    with pytest.raises(ValueError, match=r"CRAWL_FULL_PAGE.*'PATCH'"):
        await uprock.create_job("https://example.com/", method="PATCH")


async def test_create_job_is_retried_when_the_connection_failed_before_sending() -> None:
    # Nothing listens on the port yet, so the first attempt is refused before a byte
    # of the request is sent; the server starts while the client backs off.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = anyio.Event()

    async def on_exception(*_: object) -> None:
        refused.set()

    trace = aiohttp.TraceConfig()
    trace.on_request_exception.append(on_exception)
    retry = RetryPolicy(max_retries=20, backoff_initial=0.05, backoff_max=0.05, jitter=False)
    server = FakeServer(port=port)
    try:
        async with UprockClient(
            server.api_key,
            base_url=f"http://127.0.0.1:{port}",
            retry=retry,
            trace_configs=[trace],
        ) as client:
            created: list[Job] = []

            async def create() -> None:
                created.append(await client.create_job("https://example.com/"))

            async with anyio.create_task_group() as tg:
                tg.start_soon(create)
                await refused.wait()
                await server.start()
        assert created[0].status == "pending"
        assert len(_posts(server, "/crawl/v1/new")) == 1
        assert client.stats().retries >= 1
    finally:
        await server.close()


async def test_create_job_errors_map_to_their_classes(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.inject("/crawl/v1/new", status=400, times=1)
    with pytest.raises(BadRequestError, match="invalid request"):
        await uprock.create_job("https://example.com/")
    server.inject("/crawl/v1/new", status=500, times=1, body={"error": "internal server error: x"})
    with pytest.raises(ServerError) as info:
        await uprock.create_job("https://example.com/")
    assert info.value.status_code == 500
    with pytest.raises(NotFoundError, match="session does not exist"):
        await uprock.create_job("https://example.com/", session_id=str(uuid.uuid4()))


async def test_a_wrong_key_is_an_authentication_error(server: FakeServer) -> None:
    async with UprockClient("wrong-key", base_url=server.uprock_url, retry=FAST_RETRY) as client:
        with pytest.raises(AuthenticationError, match="unauthorized"):
            await client.create_job("https://example.com/")
        with pytest.raises(AuthenticationError):
            await client.jobs_status([str(uuid.uuid4())])


# -- job_status --------------------------------------------------------------------


async def test_job_status_follows_a_job_from_pending_to_completed(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.job_completion_delay = 0.2
    job = await uprock.create_job("https://example.com/")
    assert (await uprock.job_status(job.job_id)).status == "pending"
    await anyio.sleep(0.1)
    assert (await uprock.job_status(uuid.UUID(job.job_id))).status == "running"
    await anyio.sleep(0.1)
    finished = await uprock.job_status(job.job_id)
    assert finished.is_terminal
    assert finished.is_completed


async def test_job_status_of_an_unknown_job_is_not_found(uprock: UprockClient) -> None:
    with pytest.raises(NotFoundError, match="job does not exist") as info:
        await uprock.job_status(str(uuid.uuid4()))
    assert info.value.status_code == 404


async def test_job_status_retries_a_500_because_it_only_reads(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/status/*", status=500, times=1)
    assert (await uprock.job_status(job_id)).status == "completed"
    assert len([r for r in server.requests if r.path.startswith("/crawl/v1/status/")]) == 2


async def test_job_status_reports_a_bodyless_202_as_pending(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.inject("/crawl/v1/status/*", status=202, times=1, body="processing incomplete")
    job_id = str(uuid.uuid4())
    assert await uprock.job_status(job_id) == Job(job_id=job_id, status="pending")


async def test_job_status_rejects_a_path_changing_id_without_a_request(
    server: FakeServer, uprock: UprockClient
) -> None:
    with pytest.raises(ValueError, match="job_id"):
        await uprock.job_status("../../admin")
    assert server.requests == []


# -- jobs_status -------------------------------------------------------------------------


async def test_jobs_status_chunks_2500_ids_into_three_requests(
    server: FakeServer, uprock: UprockClient
) -> None:
    known = server.add_jobs(10, headers=0, cookies=0)
    unknown = [str(uuid.UUID(int=i, version=4)) for i in range(2490)]
    ids = known + unknown
    statuses = await uprock.jobs_status(ids)
    batches = _posts(server, "/crawl/v1/jobs/batch/status")
    sizes = sorted(len(msgspec.json.decode(r.body)["job_ids"]) for r in batches)
    assert sizes == [500, 1000, 1000]
    assert list(statuses) == ids
    assert all(isinstance(statuses[i], Job) for i in known)
    assert all(isinstance(statuses[i], NotFoundError) for i in unknown)


async def test_jobs_status_returns_per_id_errors_instead_of_raising(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    missing = str(uuid.uuid4())
    statuses = await uprock.jobs_status([job_id, missing, "not-a-uuid"])
    found = statuses[job_id]
    assert isinstance(found, Job)
    assert found.is_completed
    not_found, invalid = statuses[missing], statuses["not-a-uuid"]
    assert isinstance(not_found, NotFoundError)
    assert not_found.status_code == 404
    assert isinstance(invalid, BadRequestError)
    assert invalid.status_code == 400
    assert "not-a-uuid" in invalid.message
    assert invalid.code == "invalid_uuid"


async def test_jobs_status_asks_once_per_distinct_id(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)

    async def ids() -> AsyncIterator[str | uuid.UUID]:
        yield job_id
        yield uuid.UUID(job_id)
        yield job_id

    statuses = await uprock.jobs_status(ids())
    assert list(statuses) == [job_id]
    [request] = _posts(server, "/crawl/v1/jobs/batch/status")
    assert msgspec.json.decode(request.body) == {"job_ids": [job_id]}


async def test_jobs_status_of_no_ids_sends_nothing(
    server: FakeServer, uprock: UprockClient
) -> None:
    assert await uprock.jobs_status([]) == {}
    assert server.requests == []


async def test_jobs_status_checks_every_id_before_any_request(
    server: FakeServer, uprock: UprockClient
) -> None:
    with pytest.raises(ValueError, match="job_id"):
        await uprock.jobs_status([str(uuid.uuid4())] * 1500 + ["bad id"])
    with pytest.raises(TypeError):
        await uprock.jobs_status("0f8fad5b-d9cb-469f-a165-70867728950e")
    assert server.requests == []


async def test_jobs_status_retries_a_503_because_it_only_reads(
    server: FakeServer, uprock: UprockClient
) -> None:
    [job_id] = server.add_jobs(1, headers=0, cookies=0)
    server.inject("/crawl/v1/jobs/batch/status", status=503, times=1)
    statuses = await uprock.jobs_status([job_id])
    assert isinstance(statuses[job_id], Job)
    assert len(_posts(server, "/crawl/v1/jobs/batch/status")) == 2


async def test_jobs_status_refuses_an_answer_whose_found_count_contradicts_it(
    server: FakeServer, uprock: UprockClient
) -> None:
    job_id = str(uuid.uuid4())
    body = {"found_count": 1, "requested_count": 1, "results": {job_id: {"error": "not_found"}}}
    server.inject("/crawl/v1/jobs/batch/status", status=200, times=1, body=body)
    with pytest.raises(ResponseDecodeError, match="found_count=1"):
        await uprock.jobs_status([job_id])


async def test_jobs_status_marks_an_id_left_out_of_the_answer_as_not_found(
    server: FakeServer, uprock: UprockClient
) -> None:
    body = {"found_count": 0, "requested_count": 1, "results": {}}
    server.inject("/crawl/v1/jobs/batch/status", status=200, times=1, body=body)
    job_id = str(uuid.uuid4())
    assert isinstance((await uprock.jobs_status([job_id]))[job_id], NotFoundError)


async def test_a_decode_error_never_quotes_the_api_key(
    server: FakeServer, uprock: UprockClient
) -> None:
    server.inject("/crawl/v1/new", status=201, times=1, body={"echo": server.api_key})
    with pytest.raises(ResponseDecodeError) as info:
        await uprock.create_job("https://example.com/")
    assert server.api_key not in str(info.value)
    assert "[redacted]" in str(info.value)
