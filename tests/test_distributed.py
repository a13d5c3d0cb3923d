"""uprock_async.distributed: job details sharded over a Dask LocalCluster of processes.

The FakeServer runs in this process, on the test's event loop, and the blocking
``job_details_on_cluster`` runs in a worker thread (``anyio.to_thread``): the
loop keeps serving the Dask worker processes while the thread waits, and the
test can still inject faults into the server and read what it recorded. One
two-worker cluster is shared by the module, because starting one costs seconds.
"""

from __future__ import annotations

import importlib
import pickle
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio
import msgspec
import pytest

import uprock_async
from uprock_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    UprockAsyncError,
    WaitTimeoutError,
)
from uprock_async.testing import FakeServer
from uprock_async.uprock.models import JobDetail

from .conftest import FAST_RETRY

distributed = pytest.importorskip("distributed")

from uprock_async.distributed import (  # noqa: E402  (after the importorskip)
    PartitionError,
    WorkerClientOptions,
    _plugin_name,
    _worker_client_info,
    job_details_on_cluster,
)

DETAIL_PATH = "/crawl/v1/jobs/{}/detail"

pytestmark = [
    pytest.mark.slow,
    # Closing a LocalCluster can leave a worker's comm half-closed while the
    # scheduler still writes to it; distributed reports that as a warning we
    # cannot act on (it is about Dask's own sockets, not ours).
]


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # no fixed port to collide on
            scheduler_kwargs={"dashboard": False},
            env={"UPROCK_API_KEY": ""},  # whatever this machine has: tests pass keys explicitly
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _options(server: FakeServer) -> WorkerClientOptions:
    return {
        "api_key": server.api_key,
        "base_url": server.uprock_url,
        "retry": FAST_RETRY,
        "timeout": 10.0,
    }


def _registered_plugins(dask_client: Any) -> list[str]:
    names: list[str] = dask_client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.worker_plugins)
    )
    return names


def _detail_requests(server: FakeServer) -> Counter[str]:
    return Counter(r.path for r in server.requests if r.path.endswith("/detail"))


async def test_every_id_arrives_once_in_input_order_on_two_worker_processes(
    server: FakeServer, dask_client: Any
) -> None:
    ids = server.add_jobs(40, headers=3, cookies=2)
    run = partial(
        job_details_on_cluster,
        ids,
        client=dask_client,
        partition_size=6,
        concurrency_per_worker=4,
        **_options(server),
    )
    results = await anyio.to_thread.run_sync(run)

    assert [r.job.job_id for r in results if isinstance(r, JobDetail)] == ids
    assert _detail_requests(server) == Counter(DETAIL_PATH.format(i) for i in ids)

    # One UprockClient per worker process, made once and reused by the next call.
    name = _plugin_name(_options(server))
    assert name in _registered_plugins(dask_client)
    before = dask_client.run(_worker_client_info, name)
    assert len(before) == 2
    assert all(client_id for client_id, _ in before.values())
    assert sum(requests for _, requests in before.values()) == len(ids)
    again = await anyio.to_thread.run_sync(run)
    assert again == results
    after = dask_client.run(_worker_client_info, name)
    assert {w: c for w, (c, _) in after.items()} == {w: c for w, (c, _) in before.items()}
    assert sum(requests for _, requests in after.values()) == 2 * len(ids)


async def test_a_failing_id_is_that_ids_error_and_its_partition_still_arrives(
    server: FakeServer, dask_client: Any
) -> None:
    ids = server.add_jobs(12, headers=3, cookies=2)
    unknown = str(uuid.UUID(int=7))
    ids.insert(4, unknown)
    server.inject(DETAIL_PATH.format(ids[9]), status=500, times=None)
    results = await anyio.to_thread.run_sync(
        partial(
            job_details_on_cluster,
            ids,
            client=dask_client,
            partition_size=5,
            **_options(server),
        )
    )

    assert len(results) == len(ids)
    assert isinstance(results[4], NotFoundError)
    assert isinstance(results[9], ServerError)
    assert results[9].status_code == 500
    for index, result in enumerate(results):
        if index not in (4, 9):
            assert isinstance(result, JobDetail)
            assert result.job.job_id == ids[index]


async def test_as_completed_yields_each_partition_once_with_its_offset(
    server: FakeServer, dask_client: Any
) -> None:
    ids = server.add_jobs(11, headers=3, cookies=2)

    def collect() -> list[tuple[int, int, list[Any]]]:
        return list(
            job_details_on_cluster(
                ids, client=dask_client, partition_size=4, as_completed=True, **_options(server)
            )
        )

    completed = await anyio.to_thread.run_sync(collect)

    assert sorted((index, offset, len(part)) for index, offset, part in completed) == [
        (0, 0, 4),
        (1, 4, 4),
        (2, 8, 3),
    ]
    for _index, offset, part in completed:
        assert [d.job.job_id for d in part] == ids[offset : offset + len(part)]


async def test_a_partition_whose_task_fails_becomes_partition_errors_for_its_ids(
    server: FakeServer, dask_client: Any
) -> None:
    # A concurrency the worker rejects makes every partition's task raise there,
    # after the ids left this process: the ids must come back as errors, not vanish.
    ids = server.add_jobs(5, headers=3, cookies=2)
    results = await anyio.to_thread.run_sync(
        partial(
            job_details_on_cluster,
            ids,
            client=dask_client,
            partition_size=3,
            concurrency_per_worker="bogus",
            **_options(server),
        )
    )

    assert len(results) == 5
    assert all(isinstance(r, PartitionError) for r in results)
    errors = [r for r in results if isinstance(r, PartitionError)]
    assert [e.partition for e in errors] == [0, 0, 0, 1, 1]
    assert "partition 1 (ids 3..4)" in str(errors[3])
    assert "ValueError" in str(errors[3])
    assert server.api_key not in str(errors[0])


async def test_without_a_client_a_local_cluster_reads_the_key_from_the_environment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Worker processes inherit this environment, so the key never enters the graph.
    monkeypatch.setenv("UPROCK_API_KEY", server.api_key)
    monkeypatch.setenv("UPROCK_BASE_URL", server.uprock_url)
    ids = server.add_jobs(6, headers=3, cookies=2)
    results = await anyio.to_thread.run_sync(
        partial(job_details_on_cluster, ids, n_workers=1, partition_size=4, retry=FAST_RETRY)
    )

    assert [r.job.job_id for r in results if isinstance(r, JobDetail)] == ids


async def test_a_worker_without_a_key_fails_the_call_with_a_clear_message(
    server: FakeServer, dask_client: Any
) -> None:
    ids = server.add_jobs(2, headers=3, cookies=2)
    run = partial(job_details_on_cluster, ids, client=dask_client, base_url=server.uprock_url)
    with pytest.raises(ValueError, match="set UPROCK_API_KEY or pass api_key="):
        await anyio.to_thread.run_sync(run)
    assert not _detail_requests(server)
    # The failed plugin is forgotten, so workers joining later do not fail on it too.
    name = _plugin_name({"base_url": server.uprock_url})
    assert name not in _registered_plugins(dask_client)


def test_bad_ids_fail_before_any_work_starts() -> None:
    with pytest.raises(ValueError, match="job_id"):
        job_details_on_cluster([str(uuid.UUID(int=1)), "../etc/passwd"])
    with pytest.raises(TypeError, match="single string"):
        job_details_on_cluster(str(uuid.UUID(int=1)))
    with pytest.raises(ValueError, match="partition_size"):
        job_details_on_cluster([], partition_size=0)
    assert job_details_on_cluster([]) == []
    assert list(job_details_on_cluster([], as_completed=True)) == []


def _roundtrip(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value))  # noqa: S301  (our own bytes, just made)


def test_job_details_and_every_error_survive_pickling() -> None:
    server = FakeServer(seed=1)  # never started: only its payload generator is used
    detail_bytes = server.job_detail_bytes(server.add_jobs(1)[0], True)
    assert detail_bytes is not None
    detail = msgspec.json.decode(detail_bytes, type=JobDetail)
    assert _roundtrip(detail) == detail

    status_kw: dict[str, Any] = {
        "status_code": 418,
        "code": "TEAPOT",
        "request_id": "req_1",
        "body": b'{"error": "no"}',
        "fields": {"url": "bad"},
    }
    errors: list[UprockAsyncError] = [
        UprockAsyncError("base"),
        APIConnectionError("reset"),
        APITimeoutError("slow"),
        APIStatusError("teapot", **status_kw),
        BadRequestError("bad", **status_kw),
        AuthenticationError("who", **status_kw),
        PermissionDeniedError("no", **status_kw),
        NotFoundError("gone", **status_kw),
        RateLimitError("slow down", retry_after=1.5, **status_kw),
        ServerError("boom", **status_kw),
        ResponseDecodeError("not json", body=b"<html>", status_code=200),
        WaitTimeoutError("still running", last_status="running"),
        PartitionError("worker died", partition=3),
        ConfigurationError("no key: set UPROCK_API_KEY"),
    ]
    public = {
        cls
        for cls in vars(uprock_async).values()
        if isinstance(cls, type) and issubclass(cls, UprockAsyncError)
    }
    assert public <= {type(e) for e in errors}
    for error in errors:
        copy = _roundtrip(error)
        assert type(copy) is type(error)
        assert str(copy) == str(error)
        assert copy.message == error.message
        assert vars(copy) == vars(error)
    rate_limited = _roundtrip(errors[8])
    assert rate_limited.retry_after == 1.5
    assert rate_limited.body == b'{"error": "no"}'


def test_importing_without_dask_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.delitem(sys.modules, "uprock_async.distributed")
    with pytest.raises(ImportError, match=r"pip install 'uprock-async\[dask\]'"):
        importlib.import_module("uprock_async.distributed")
