"""Shard job-detail lookups across processes and machines with Dask.

One Python process tops out around ten thousand lookups a second: the event
loop and JSON decoding are CPU-bound. :func:`job_details_on_cluster` splits the
ids into partitions and runs each on a Dask worker, where one
:class:`~uprock_async.UprockClient` per worker process (created once, reused by
every partition, closed when the worker shuts down) fetches them::

    from uprock_async.distributed import job_details_on_cluster

    details = job_details_on_cluster(ids)                  # a LocalCluster, one worker per core
    details = job_details_on_cluster(ids, client=dask_client, per_second=5000)

Needs the ``dask`` extra: ``pip install 'uprock-async[dask]'``.

How it runs: a :class:`distributed.WorkerPlugin` owns, on each worker, a
background thread with its own asyncio event loop and the worker's
``UprockClient``. A partition task (run in the worker's thread pool) hands its
coroutine to that loop and waits for the list. Keeping the client off the
worker's own event loop means decoding never starves Dask's heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pickle
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal, overload

import msgspec

try:
    import distributed
    from distributed import WorkerPlugin
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "uprock_async.distributed needs Dask's distributed scheduler: "
        "pip install 'uprock-async[dask]'"
    ) from exc

from . import _validate
from ._client_base import ClientOptions
from ._compat import Unpack
from ._errors import UprockAsyncError
from .uprock._client import UprockClient
from .uprock._details import DetailsOptions
from .uprock.models import JobDetail

__all__ = [
    "ClusterOptions",
    "PartitionError",
    "WorkerClientOptions",
    "job_details_on_cluster",
]

Result = JobDetail | UprockAsyncError
#: ``concurrency_per_worker``: an int or ``"auto"`` (each worker then adapts on its
#: own). Not an AdaptiveConcurrency instance: it would be pickled into every task
#: as a separate copy, so it could bound nothing together.
WorkerConcurrency = int | Literal["auto"]
#: What the completed-partitions iterator yields: (partition index, offset of its
#: first id in the input, its results in order).
Completed = tuple[int, int, list[Result]]
#: What a partition task sends back: its details as msgpack (``None`` where an id
#: failed) and the failed ids' errors by position. Pickling a JobDetail costs
#: several times what fetching and decoding it did; msgpack costs a fraction.
Packed = tuple[bytes, dict[int, Exception]]

_unpack = msgspec.msgpack.Decoder(list[JobDetail | None]).decode


class WorkerClientOptions(ClientOptions, total=False):
    """The options for each worker's ``UprockClient`` (its constructor's, but ``session``)."""

    api_key: str | None


class ClusterOptions(WorkerClientOptions, total=False):
    """Every keyword option of :func:`job_details_on_cluster` besides ``as_completed``."""

    client: distributed.Client | None
    n_workers: int | None
    partition_size: int
    concurrency_per_worker: WorkerConcurrency
    per_second: float | None
    parse_cookies: bool


class PartitionError(UprockAsyncError):
    """A whole partition failed on the cluster (its worker died, its task raised).

    Every id of that partition gets one of these in its place, so no id is ever
    silently lost; ``partition`` is the partition's index. The cause is named in
    the message (it stays in the coordinating process as ``__cause__``).
    """

    partition: int

    def __init__(self, message: str, *, partition: int) -> None:
        super().__init__(message)
        self.partition = partition


# -- the worker side -------------------------------------------------------------


class _ClientPlugin(WorkerPlugin):
    """One ``UprockClient`` per worker process, on a private event-loop thread.

    Registered under a name derived from the client options, with
    ``idempotent=True``: a second call with the same options reuses the clients
    already running; different options get their own plugin.
    """

    idempotent = True

    def __init__(self, name: str, options: WorkerClientOptions) -> None:
        self.name = name
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: UprockClient | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Only the recipe travels; the loop, thread and client are per process.
        return {"name": self.name, "_options": self._options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.name = state["name"]
        self._options = state["_options"]
        self._loop = self._thread = self._client = None

    async def setup(self, worker: distributed.Worker) -> None:
        """Start the loop thread and open the client inside that loop."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=f"{self.name}-loop", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._client = await asyncio.wrap_future(
                asyncio.run_coroutine_threadsafe(self._open(), loop)
            )
        except BaseException:
            await self._stop_loop()
            raise

    async def _open(self) -> UprockClient:
        # Created inside the loop that will use it: aiohttp binds a session to it.
        client = UprockClient(**self._options)
        return await client.__aenter__()

    async def teardown(self, worker: distributed.Worker) -> None:
        """Close the client (its connection pool) and stop the loop thread."""
        client, loop = self._client, self._loop
        self._client = None
        if client is not None and loop is not None:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(client.aclose(), loop))
        await self._stop_loop()

    async def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        loop.close()

    def fetch(self, ids: list[str], options: DetailsOptions) -> Packed:
        """Run one partition on this worker's client; blocks the calling task thread."""
        client, loop = self._client, self._loop
        if client is None or loop is None:
            raise RuntimeError(f"the uprock_async client of plugin {self.name} is not running")
        coroutine = client.job_details(ids, return_exceptions=True, **options)
        results = asyncio.run_coroutine_threadsafe(coroutine, loop).result()
        details = [r if isinstance(r, JobDetail) else None for r in results]
        errors: dict[int, Exception] = {
            i: r for i, r in enumerate(results) if not isinstance(r, JobDetail)
        }
        return msgspec.msgpack.encode(details), errors


def _run_partition(plugin_name: str, ids: list[str], options: DetailsOptions) -> Packed:
    """The Dask task: one partition on the current worker's client."""
    plugin = distributed.get_worker().plugins.get(plugin_name)
    if not isinstance(plugin, _ClientPlugin):
        raise RuntimeError(f"worker has no uprock_async plugin {plugin_name!r}")
    return plugin.fetch(ids, options)


def _worker_client_info(plugin_name: str, dask_worker: distributed.Worker) -> tuple[int, int]:
    """``(id of this worker's UprockClient, requests it sent)``, for tests and debugging:
    ``dask_client.run(_worker_client_info, name)`` (``run`` passes ``dask_worker``)."""
    plugin = dask_worker.plugins.get(plugin_name)
    client = plugin._client if isinstance(plugin, _ClientPlugin) else None
    if client is None:
        return (0, 0)
    return (id(client), client.stats().requests)


# -- the coordinating side -------------------------------------------------------


def _plugin_name(options: WorkerClientOptions) -> str:
    # A digest, never the options themselves: they may hold the API key.
    digest = hashlib.sha256(pickle.dumps(sorted(options.items()))).hexdigest()[:16]
    return f"uprock-async-{digest}"


def _partition_errors(
    part: Sequence[str], index: int, offset: int, exc: BaseException
) -> list[Result]:
    """One :class:`PartitionError` per id of a partition whose task failed."""
    message = (
        f"partition {index} (ids {offset}..{offset + len(part) - 1}) failed on the "
        f"cluster: {type(exc).__name__}: {exc}"
    )
    errors: list[Result] = []
    for _ in part:
        error = PartitionError(message, partition=index)
        error.__cause__ = exc
        errors.append(error)
    return errors


def _unpacked(packed: Packed) -> list[Result]:
    blob, errors = packed
    results: list[Result] = []
    for index, detail in enumerate(_unpack(blob)):
        if detail is not None:
            results.append(detail)
            continue
        error = errors[index]
        if not isinstance(error, UprockAsyncError):  # a bug, not an API answer: say so
            error = UprockAsyncError(f"job detail failed: {type(error).__name__}: {error}")
        results.append(error)
    return results


@contextlib.contextmanager
def _dask_client(
    client: distributed.Client | None, n_workers: int | None
) -> Iterator[distributed.Client]:
    if client is not None:
        yield client
        return
    # Each worker is its own process with one thread: the client's event loop is
    # the unit of parallelism, threads would only contend for the GIL.
    with (
        distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n_workers or os.cpu_count() or 1,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # no fixed port to collide on
            scheduler_kwargs={"dashboard": False},
        ) as cluster,
        distributed.Client(cluster) as own,  # type: ignore[no-untyped-call]
    ):
        yield own


def _completed(
    parts: list[list[str]],
    partition_size: int,
    client: distributed.Client | None,
    n_workers: int | None,
    details: DetailsOptions,
    options: WorkerClientOptions,
) -> Iterator[Completed]:
    with _dask_client(client, n_workers) as dask:
        name = _plugin_name(options)
        try:
            dask.register_plugin(_ClientPlugin(name, options), name=name)
        except Exception:
            # A worker could not make its client (no key in its environment, say):
            # forget the plugin, or every worker joining later would fail again.
            with contextlib.suppress(Exception):
                dask.unregister_worker_plugin(name)  # type: ignore[no-untyped-call]
            raise
        # At most one partition runs per worker thread, so dividing the global
        # rate by the thread count keeps the sum of all partitions under it.
        threads = max(1, sum(dask.nthreads().values()))  # type: ignore[no-untyped-call]
        per_second = details.get("per_second")
        if per_second is not None:
            details = {**details, "per_second": per_second / threads}
        futures = {
            dask.submit(_run_partition, name, part, details, pure=False): index
            for index, part in enumerate(parts)
        }
        for future in distributed.as_completed(futures):  # type: ignore[no-untyped-call]
            index = futures.pop(future)
            offset = index * partition_size
            try:
                packed: Packed = future.result()
                results = _unpacked(packed)
            except Exception as exc:  # the task itself failed: worker died, plugin missing…
                results = _partition_errors(parts[index], index, offset, exc)
            yield index, offset, results


@overload
def job_details_on_cluster(
    ids: Iterable[str | uuid.UUID],
    *,
    as_completed: Literal[False] = ...,
    **options: Unpack[ClusterOptions],
) -> list[Result]: ...


@overload
def job_details_on_cluster(
    ids: Iterable[str | uuid.UUID],
    *,
    as_completed: Literal[True],
    **options: Unpack[ClusterOptions],
) -> Iterator[Completed]: ...


def job_details_on_cluster(
    ids: Iterable[str | uuid.UUID],
    *,
    client: distributed.Client | None = None,
    n_workers: int | None = None,
    partition_size: int = 1000,
    concurrency_per_worker: WorkerConcurrency = 64,
    per_second: float | None = None,
    parse_cookies: bool = False,
    as_completed: bool = False,
    **client_options: Unpack[WorkerClientOptions],
) -> list[Result] | Iterator[Completed]:
    """Fetch many job details on a Dask cluster.

    Blocking: from async code run it in a thread
    (``await anyio.to_thread.run_sync(partial(job_details_on_cluster, ids))``).

    ``ids`` (any iterable of ``str``/``UUID``) are all validated first, so a bad
    id raises ``ValueError`` before any work starts, then cut into partitions of
    ``partition_size``. Each partition runs on a worker as
    ``client.job_details(part, concurrency=concurrency_per_worker,
    return_exceptions=True)`` with that worker's single ``UprockClient``.

    Returns a list in input order, one :class:`~uprock_async.uprock.models.JobDetail`
    or :class:`~uprock_async.UprockAsyncError` per id (a failed id is its
    error). With ``as_completed=True``, an iterator of ``(partition_index,
    offset, results)`` in completion order instead: memory then holds one
    partition's results at a time; close it (or exhaust it) to release the
    cluster. If a whole partition fails (its worker died more often than Dask
    retries, say), each of its ids becomes a :class:`PartitionError`.

    ``client``: a ``distributed.Client`` to use (left open). Without one a
    ``LocalCluster`` is started with ``n_workers`` worker processes (default one
    per core, one thread each) and closed at the end. ``per_second`` is a
    global cap on request starts, divided evenly across the workers' threads.

    ``client_options`` go to each worker's ``UprockClient`` (``timeout``,
    ``retry``, ``limits``, ``base_url``, ``api_key``…). By default the workers
    read ``UPROCK_API_KEY`` and ``UPROCK_BASE_URL`` from their own environment
    (a ``LocalCluster``'s workers inherit this process's), and the key never
    enters the task graph. If you pass ``api_key=``, it travels once to each
    worker as part of the worker plugin's pickled state (not with every task);
    on a shared cluster prefer the environment. A worker that cannot make its
    client (no key, say) makes this raise that error before any id is sent.
    """
    _validate.at_least(partition_size, "partition_size", 1)
    if isinstance(concurrency_per_worker, int):
        _validate.at_least(concurrency_per_worker, "concurrency_per_worker", 1)
    per_second = _validate.per_second(per_second)
    if client is not None and n_workers is not None:
        raise ValueError("n_workers sizes the LocalCluster started without client=; not both")
    job_ids = list(_validate.each(ids, _validate.job_id, "ids"))
    parts = [job_ids[i : i + partition_size] for i in range(0, len(job_ids), partition_size)]
    if not parts:  # nothing to do: no cluster to start
        return iter(()) if as_completed else []
    runs = _completed(
        parts,
        partition_size,
        client,
        n_workers,
        {
            "concurrency": concurrency_per_worker,
            "per_second": per_second,
            "parse_cookies": parse_cookies,
        },
        client_options,
    )
    if as_completed:
        return runs
    slots: list[Result | None] = [None] * len(job_ids)
    for _index, offset, part_results in runs:
        slots[offset : offset + len(part_results)] = part_results
    results = [slot for slot in slots if slot is not None]
    if len(results) != len(job_ids):  # pragma: no cover - would be a bug above
        raise RuntimeError("a partition's results went missing")
    return results
