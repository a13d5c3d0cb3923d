"""The blocking clients of ``uprock_async.sync``.

The FakeServer runs on its own event loop in a background thread (a blocking
portal), so these tests are plain functions: the code under test must work
where no loop runs (a script), where one already runs (a notebook cell) and
from several threads at once.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import subprocess
import sys
import threading
import time
import typing
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal

import uprock_async
from tests.conftest import FAST_RETRY
from uprock_async import (
    AuthenticationError,
    NotFoundError,
    Outcome,
    UprockAsyncError,
)
from uprock_async.screenshotcenter.models import Crawl, Screenshot
from uprock_async.sync import BlockingIterator, ScreenshotCenterClient, UprockClient
from uprock_async.testing import FakeServer
from uprock_async.uprock.models import JobDetail

T = TypeVar("T")

PAIRS = [
    (uprock_async.UprockClient, UprockClient),
    (uprock_async.ScreenshotCenterClient, ScreenshotCenterClient),
]


@dataclass
class Live:
    """A FakeServer serving from its own loop thread, and a way to touch it there."""

    server: FakeServer
    portal: BlockingPortal

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the server's loop (its state is not thread-safe)."""
        return self.portal.call(fn)

    def uprock(self, **kwargs: Any) -> UprockClient:
        return UprockClient(**self._options(self.server.uprock_url, kwargs))

    def sc(self, **kwargs: Any) -> ScreenshotCenterClient:
        return ScreenshotCenterClient(**self._options(self.server.screenshotcenter_url, kwargs))

    def _options(self, url: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        defaults = {"api_key": self.server.api_key, "base_url": url, "timeout": 5.0}
        return {**defaults, "retry": FAST_RETRY, **kwargs}


@pytest.fixture
def live() -> Iterator[Live]:
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(FakeServer(seed=0)) as server,
    ):
        yield Live(server, portal)


def loop_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("uprock-async-")}


# -- the twins cannot drift ---------------------------------------------------


def _public(cls: type) -> dict[str, Any]:
    return {name: value for name, value in inspect.getmembers(cls) if not name.startswith("_")}


def _returns_self(annotation: object) -> bool:
    return isinstance(annotation, TypeVar) and annotation.__name__ == "Self"


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    return typing.get_type_hints(fn)


def _params(fn: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    hints = _hints(fn)
    return [
        (p.name, p.kind, p.default, hints.get(p.name))
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self"
    ]


def _overloads(fn: Callable[..., Any]) -> list[tuple[Any, Any]]:
    # typing records overloads from Python 3.11 on; on 3.10 this part is skipped.
    get_overloads: Callable[[Any], Any] = getattr(typing, "get_overloads", lambda _fn: [])
    return [(_params(o), _hints(o).get("return")) for o in get_overloads(fn)]


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
def test_every_async_method_has_a_blocking_twin_with_the_same_signature(
    async_cls: type, sync_cls: type
) -> None:
    async_members = _public(async_cls)
    sync_members = _public(sync_cls)
    renamed = {"aclose": "close"}
    expected = {renamed.get(name, name) for name in async_members}
    assert not expected - set(sync_members), "no blocking twin"
    assert not set(sync_members) - expected, "a blocking method without an async one"
    assert _params(_init(sync_cls)) == _params(_init(async_cls))
    for name, member in async_members.items():
        twin = sync_members[renamed.get(name, name)]
        if isinstance(member, property):
            assert isinstance(twin, property), name
            continue
        assert _params(twin) == _params(member), name
        assert twin.__doc__, name
        returned = _hints(twin)["return"]
        stream = name.startswith(("iter_", "stream_")) or name == "watch_jobs"
        if stream:  # an async iterator (or a context manager of one) becomes a plain one
            assert BlockingIterator in {typing.get_origin(returned), *_union_origins(returned)}
        elif _returns_self(returned) and _returns_self(_hints(member)["return"]):
            pass  # with_options: each returns a copy of its own kind of client
        elif not _overloads(twin):
            assert returned == _hints(member)["return"], name
        sync_overloads = _overloads(twin)
        if _overloads(member) and not sync_overloads:
            # Made by blocking()/streaming() from the async method itself: type checkers
            # carry its overloads over (pinned in tests/typing/check_sync_types.py).
            assert inspect.unwrap(twin) is member, name
            continue
        # Overloads written out (where a ParamSpec does not carry them): one per async one.
        for params, result in _overloads(member):
            if stream:
                assert params in [p for p, _ in sync_overloads], name
            else:
                assert (params, result) in sync_overloads, name


def _init(cls: Any) -> Callable[..., Any]:
    init: Callable[..., Any] = cls.__init__
    return init


def _union_origins(hint: Any) -> set[Any]:
    return {typing.get_origin(arg) for arg in typing.get_args(hint)}


def test_the_overloads_give_precise_types(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(2))
    crawl_id = live.run(lambda: live.server.add_crawl(screenshots=3))
    with live.uprock() as client, live.sc() as sc:
        # Checked by mypy --strict on this file: no isinstance needed.
        details: list[JobDetail] = client.job_details(ids)
        assert details[0].job.job_id == ids[0]
        crawls: list[Crawl] = sc.crawl_infos([crawl_id])
        assert crawls[0].id == crawl_id
        shot = next(s for s in crawls[0].screenshots if s.is_finished)
        data: bytes = sc.download_screenshot(shot.id)
        assert len(data) == live.server.artifact_size


# -- from plain code, a running loop, and several threads ---------------------


def test_blocking_calls_return_what_the_async_client_returns(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(30))
    seen: list[tuple[int, int | None]] = []
    with live.uprock() as client:
        detail = client.job_detail(ids[0], parse_cookies=True)
        assert isinstance(detail, JobDetail)
        assert detail.job.job_id == ids[0]
        details = client.job_details(
            ids, concurrency="auto", progress=lambda done, total: seen.append((done, total))
        )
        assert [d.job.job_id for d in details] == ids
        assert seen[-1] == (30, 30)
        statuses = client.jobs_status(ids[:3])
        assert set(statuses) == set(ids[:3])
        job = client.create_job("https://example.com/")
        finished = client.wait_for_job(job.job_id, poll_interval=0.01, timeout=10)
        assert finished.job.is_completed
        assert isinstance(client.download(finished), bytes)
        session = client.create_session(duration_seconds=60)
        assert client.get_session(session.id).id == session.id
        assert client.stats().requests > 0


def test_errors_are_the_async_clients_classes(live: Live) -> None:
    missing = str(uuid.uuid4())
    with live.uprock() as client:
        with pytest.raises(NotFoundError):
            client.job_detail(missing)
        with pytest.raises(ValueError, match="job"):
            client.job_detail("not a job id")
        results = client.job_details([missing], return_exceptions=True)
        assert isinstance(results[0], NotFoundError)
        with pytest.raises(ValueError, match="concurrency"):
            client.iter_job_details([missing], concurrency=0)  # checked when called
    with live.uprock(api_key="wrong-key") as client, pytest.raises(AuthenticationError):
        client.job_detail(missing)
    with pytest.raises(ValueError, match="session"):
        UprockClient("key", session=object())  # type: ignore[arg-type]


def test_works_inside_a_running_event_loop_like_a_notebook_cell(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(5))
    with live.uprock() as client:

        async def cell() -> list[str]:
            # A notebook cell: a loop runs in this thread, and the code is synchronous.
            detail = client.job_detail(ids[0])
            outcomes = list(client.iter_job_details(ids))
            return [detail.job.job_id, *sorted(str(o.item) for o in outcomes)]

        assert asyncio.run(cell()) == [ids[0], *sorted(ids)]


def test_four_threads_share_one_client(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(40))
    with live.uprock() as client:

        def work(start: int) -> list[str]:
            chunk = ids[start : start + 10]
            one = [client.job_detail(job_id).job.job_id for job_id in chunk[:5]]
            many = [d.job.job_id for d in client.job_details(chunk, concurrency=4)]
            return one + many

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(work, range(0, 40, 10)))
    for start, result in zip(range(0, 40, 10), results, strict=True):
        assert result == ids[start : start + 5] + ids[start : start + 10]


# -- lifetime ------------------------------------------------------------------


def test_close_ends_the_loop_thread(live: Live) -> None:
    before = set(threading.enumerate())
    with live.uprock() as client:
        assert len(set(threading.enumerate()) - before) == 1  # its loop thread
        assert not client.closed
    assert client.closed
    assert set(threading.enumerate()) == before
    other = live.sc()
    other.account_info()
    other.close()
    other.close()  # idempotent
    assert set(threading.enumerate()) == before


def test_use_after_close_raises_runtime_error(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(1))
    client = live.uprock()
    client.job_detail(ids[0])
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.job_detail(ids[0])
    with pytest.raises(RuntimeError, match="closed"):
        client.iter_job_details(ids)
    with pytest.raises(RuntimeError, match="closed"), client:
        pass
    assert client.stats().requests == 1  # still readable afterwards


def test_a_call_from_the_clients_own_thread_raises_instead_of_deadlocking(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(3))
    errors: list[BaseException] = []
    with live.uprock() as client:

        def progress(done: int, total: int | None) -> None:
            try:
                client.job_detail(ids[0])  # runs on the client's loop thread
            except RuntimeError as exc:
                errors.append(exc)
            try:
                client.close()
            except RuntimeError as exc:
                errors.append(exc)

        details = client.job_details(ids, progress=progress)
        assert len(details) == 3
        assert client.job_detail(ids[0]).job.job_id == ids[0]  # still usable
    assert len(errors) == 6
    assert all("own event loop thread" in str(e) for e in errors)


def test_closing_from_another_thread_ends_a_waiting_call(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(1))
    live.server.latency = 1.5
    client = live.uprock(timeout=30.0)
    caught: list[BaseException] = []

    def call() -> None:
        try:
            client.job_detail(ids[0])
        except BaseException as exc:
            caught.append(exc)

    waiter = threading.Thread(target=call)
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    client.close()
    waiter.join(10)
    assert time.monotonic() - started < 1.0  # the call was cancelled, not awaited
    assert len(caught) == 1
    assert isinstance(caught[0], RuntimeError)
    assert "closed while this call was running" in str(caught[0])


def test_the_repr_never_shows_the_key(live: Live) -> None:
    client = live.uprock()
    assert live.server.api_key not in repr(client)
    assert "open" in repr(client)
    client.close()
    assert live.server.api_key not in repr(client)
    assert "closed" in repr(client)


def test_bad_arguments_fail_before_a_thread_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPROCK_API_KEY", raising=False)
    before = set(threading.enumerate())
    with pytest.raises(ValueError, match="UPROCK_API_KEY"):
        UprockClient()
    with pytest.raises(ValueError, match="base_url"):
        UprockClient("key", base_url="ftp://nowhere")
    assert set(threading.enumerate()) == before


def test_a_dropped_client_ends_its_thread_once_collected(live: Live) -> None:
    before = loop_threads()
    client = live.uprock()
    client.job_details(live.run(lambda: live.server.add_jobs(2)))
    (thread,) = loop_threads() - before
    del client
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


def test_a_dropped_client_does_not_hang_interpreter_exit() -> None:
    # Never closed, with its pool opened by a (failed) request: the process must
    # still exit at once, quietly.
    script = (
        "from uprock_async.sync import UprockClient\n"
        "from uprock_async import APIConnectionError\n"
        "client = UprockClient('key', base_url='http://127.0.0.1:9', retry=0)\n"
        "try:\n"
        "    client.job_status('00000000-0000-4000-8000-000000000000')\n"
        "except APIConnectionError:\n"
        "    print('refused')\n"
    )
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "refused\n"
    assert done.stderr == ""
    assert time.monotonic() - started < 20


# -- streaming -----------------------------------------------------------------


def test_iter_job_details_streams_with_bounded_memory(live: Live) -> None:
    total = 3000
    pulled = 0

    def ids() -> Iterator[str]:
        nonlocal pulled
        for _ in range(total):
            pulled += 1
            yield str(uuid.uuid4())  # unknown to the server: a quick 404 each

    with live.uprock() as client:
        outcomes = client.iter_job_details(ids(), concurrency=8)
        assert pulled == 0  # nothing starts before the first next()
        first = next(outcomes)
        time.sleep(0.3)  # let the loop run ahead as far as it may
        # The fan-out's queue (256), the stream's buffer (128), one batch (128)
        # and the calls in flight: far less than everything.
        assert pulled < 1000
        rest = list(outcomes)
    assert pulled == total
    everything = [first, *rest]
    assert len(everything) == total
    assert all(isinstance(o, Outcome) and isinstance(o.error, NotFoundError) for o in everything)
    assert sorted(o.index for o in everything) == list(range(total))


def _tasks(client: UprockClient) -> int:
    return client._loop.call_sync(lambda: len(asyncio.all_tasks()))


@pytest.mark.parametrize("how", ["break", "close", "with", "collected on the loop"])
def test_leaving_a_stream_early_cancels_the_work_in_flight(live: Live, how: str) -> None:
    ids = live.run(lambda: live.server.add_jobs(50))
    live.server.latency = 0.2
    with live.uprock() as client:
        idle = _tasks(client)
        if how == "break":
            for _ in client.iter_job_details(ids, concurrency=4):
                break
        elif how == "close":
            outcomes = client.iter_job_details(ids, concurrency=4)
            next(outcomes)
            outcomes.close()
            assert list(outcomes) == []
        elif how == "with":
            with client.iter_job_details(ids, concurrency=4) as outcomes:
                next(outcomes)
        else:
            # The last reference goes away on the loop thread itself (a garbage
            # collection there): it cannot wait, so it cancels without waiting.
            held = [client.iter_job_details(ids, concurrency=4)]
            next(held[0])
            client._loop.call_sync(held.clear)
        # aiohttp may need a loop turn or two to retire a cancelled request's
        # connection on a busy machine; our own tasks must all be gone by then.
        deadline = time.monotonic() + 5
        while _tasks(client) != idle and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _tasks(client) == idle  # no worker task left behind
        sent = live.server.request_count
        time.sleep(0.5)
        assert live.server.request_count == sent  # and no new request started


def test_a_stream_raises_what_the_async_stream_raises(live: Live) -> None:
    def ids() -> Iterator[str]:
        yield str(uuid.uuid4())
        yield "not a job id"  # checked lazily, as the generator is consumed

    with live.uprock() as client:
        with pytest.raises(ValueError, match="job"):
            list(client.iter_job_details(ids()))
        assert client.job_details([], concurrency=1) == []  # the client carries on
    with live.sc(api_key="wrong-key") as sc, pytest.raises(AuthenticationError):
        next(sc.iter_crawls())


def test_closing_the_client_ends_an_open_stream(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(20))
    live.server.latency = 0.2
    client = live.uprock()
    outcomes = client.iter_job_details(ids, concurrency=2)
    next(outcomes)
    before = set(threading.enumerate())
    client.close()
    assert len(before - set(threading.enumerate())) == 1
    with pytest.raises(RuntimeError, match="closed"):
        list(outcomes)
    outcomes.close()


def test_watch_jobs_is_a_plain_iterator(live: Live) -> None:
    with live.uprock() as client:
        jobs = [client.create_job(f"https://example.com/{n}") for n in range(3)]
        ids = [job.job_id for job in jobs]
        with client.watch_jobs(ids, poll_interval=0.05, timeout=20) as outcomes:
            details = [outcome.unwrap() for outcome in outcomes]
        assert sorted(d.job.job_id for d in details) == sorted(ids)
        assert all(d.job.is_completed for d in details)
        bare = list(client.watch_jobs(ids[:1], poll_interval=0.05, details=False))
        assert bare[0].unwrap().job_id == ids[0]
        with pytest.raises(ValueError, match="poll_interval"):
            client.watch_jobs(ids, poll_interval=0)


# -- ScreenshotCenter ------------------------------------------------------------


def test_screenshotcenter_blocking_client(live: Live, tmp_path: Path) -> None:
    crawl_id = live.run(lambda: live.server.add_crawl(screenshots=6))
    with live.sc() as sc:
        crawl = sc.crawl_info(crawl_id)
        assert len(crawl.screenshots) == 6
        assert [c.id for c in sc.crawl_infos([crawl_id, crawl_id])] == [crawl_id, crawl_id]
        results = sc.crawl_infos([crawl_id, 999_999_999], return_exceptions=True)
        assert isinstance(results[1], UprockAsyncError)
        crawls = list(sc.iter_crawls(page_size=1))
        assert crawl_id in {c.id for c in crawls}
        assert [c.id for c in crawls] == [c.id for c in sc.list_crawls(limit=100)]

        shot = sc.create_screenshot("https://example.com/", html=True)
        shot = sc.wait_for_screenshot(shot.id, poll_interval=0.01, timeout=10)
        assert isinstance(shot, Screenshot)
        assert shot.is_finished
        assert shot.id in {s.id for s in sc.iter_screenshots(page_size=2)}
        assert sc.screenshot_info(shot.id).id == shot.id
        written = sc.download_screenshot(shot.id, kind="html", dest=tmp_path / "a.html")
        assert written == tmp_path / "a.html"
        assert written.stat().st_size == live.server.artifact_size
        saved = sc.save_screenshot(shot.id, tmp_path / "one")
        assert saved["image"] is not None
        assert saved["image"].exists()

        finished = [s.id for s in crawl.screenshots if s.is_finished]
        done: list[int] = []
        all_saved = sc.save_crawl(
            crawl_id, tmp_path / "crawl", progress=lambda n, _total: done.append(n)
        )
        assert sorted(all_saved) == sorted(finished)
        assert done[-1] == len(finished)

        batch = sc.create_batch(["https://example.com/a", "https://example.com/b"], country="us")
        batch = sc.wait_for_batch(batch.id, poll_interval=0.01, timeout=10)
        assert sc.batch_info(batch.id).id == batch.id
        assert len(sc.download_batch(batch.id)) > 0
        assert batch.id in {b.id for b in sc.list_batches()}
        sc.delete_screenshot(shot.id)
        assert sc.account_info() is not None


def test_client_options_name_every_keyword_of_the_async_constructor() -> None:
    # The blocking constructors and distributed's workers take ``**ClientOptions``:
    # an option added to the async constructor must be added there too.
    from uprock_async._client_base import ClientBase, ClientOptions

    params = inspect.signature(ClientBase.__init__).parameters.values()
    keywords = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(ClientOptions.__annotations__) == keywords - {"session"}
    hints = typing.get_type_hints(ClientBase.__init__)
    option_hints = typing.get_type_hints(ClientOptions)
    assert all(option_hints[name] == hints[name] for name in option_hints)
