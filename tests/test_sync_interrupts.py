"""The blocking clients when something unusual happens on or around their loop thread:
a ``KeyboardInterrupt``/``SystemExit`` raised in a ``progress=`` callback, a ``close()``
from a thread that got the dead loop thread's id, and a call made from a thread whose
own event loop serves the server it waits for (a notebook cell), which must never
hang silently."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from anyio.from_thread import start_blocking_portal

from tests.test_sync import Live, loop_threads
from uprock_async import APITimeoutError
from uprock_async.sync import UprockClient
from uprock_async.testing import FakeServer


@pytest.fixture
def live() -> Iterator[Live]:
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(FakeServer(seed=0)) as server,
    ):
        yield Live(server, portal)


def _raising(kind: type[BaseException]) -> Callable[[int, int | None], None]:
    def progress(done: int, total: int | None) -> None:
        raise kind

    return progress


# -- KeyboardInterrupt and SystemExit in a callback ---------------------------------------


@pytest.mark.parametrize("kind", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_in_a_progress_callback_reaches_the_caller_and_ends_the_client(
    live: Live, kind: type[BaseException]
) -> None:
    ids = live.run(lambda: live.server.add_jobs(5))
    before = loop_threads()
    client = live.uprock()
    with pytest.raises(kind):
        client.job_details(ids, progress=_raising(kind))
    assert client.closed
    with pytest.raises(RuntimeError, match=f"closed when a {kind.__name__} was raised"):
        client.job_detail(ids[0])
    client.close()  # ends quietly: the exception has already reached its caller
    client.close()
    assert loop_threads() == before  # the loop thread ended, the pool was closed
    assert client.stats().requests >= 1  # the final numbers stay readable


def test_an_interrupt_in_a_streams_progress_callback_ends_the_client_too(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(5))
    client = live.uprock()
    stream = client.iter_job_details(ids, progress=_raising(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        list(stream)
    assert client.closed
    with pytest.raises(RuntimeError, match="closed when a KeyboardInterrupt was raised"):
        client.job_detail(ids[0])
    client.close()


def test_other_threads_calls_end_with_a_clear_error_when_an_interrupt_ends_the_client(
    live: Live,
) -> None:
    ids = live.run(lambda: live.server.add_jobs(2))
    live.server.latency = 2.0
    client = live.uprock(timeout=30.0)
    caught: list[BaseException] = []

    def slow_call() -> None:
        try:
            client.job_detail(ids[0])
        except BaseException as exc:
            caught.append(exc)

    waiter = threading.Thread(target=slow_call)
    waiter.start()
    time.sleep(0.2)
    live.server.latency = 0.0
    with pytest.raises(SystemExit):
        client.job_details(ids[1:], progress=_raising(SystemExit))
    waiter.join(10)
    assert len(caught) == 1
    assert isinstance(caught[0], RuntimeError)
    assert "closed while this call was running" in str(caught[0])
    client.close()


# -- close() from a thread with a reused id ---------------------------------------------------


def test_a_second_close_from_a_thread_that_got_the_dead_loop_threads_id_is_a_no_op(
    live: Live,
) -> None:
    client = live.uprock()
    [loop_thread] = loop_threads()
    dead = loop_thread.ident
    client.close()
    outcome: list[object] = []

    def close_again() -> None:
        if threading.get_ident() != dead:
            return
        try:
            client.close()
            outcome.append("closed")
        except BaseException as exc:
            outcome.append(exc)

    for _ in range(50):  # Linux hands a new thread the id of one that has ended
        thread = threading.Thread(target=close_again)
        thread.start()
        thread.join()
        if outcome:
            break
    if not outcome:
        pytest.skip("no new thread got the dead loop thread's id on this platform")
    assert outcome == ["closed"]


# -- a notebook cell that blocks its own server ----------------------------------------------


def test_a_call_blocking_the_loop_its_server_runs_on_says_why_and_how_to_fix_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="uprock_async")

    async def cell() -> APITimeoutError:
        # A Jupyter cell: the kernel's loop runs here and serves the awaited FakeServer.
        async with FakeServer(seed=0) as server:
            [job] = server.add_jobs(1)
            with UprockClient(
                server.api_key,
                base_url=server.uprock_url,
                timeout=0.5,
                retry=0,
                circuit_breaker=None,
            ) as client:
                with pytest.raises(APITimeoutError) as info:
                    client.job_detail(job)
                return info.value

    started = time.monotonic()
    error = asyncio.run(cell())
    assert time.monotonic() - started < 10  # no hang: one timeout, and a clear error
    message = str(error)
    assert "timed out" in message  # what the transport said stays first
    assert "whose own event loop is running" in message
    assert "FakeServer.in_thread()" in message
    assert "use the async client with await" in message
    assert isinstance(error.__cause__, APITimeoutError)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "has had no answer for 0.5 s" in warnings[0].getMessage()


def test_a_long_call_from_a_loop_thread_that_gets_answers_is_not_warned_about(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="uprock_async")
    ids = live.run(lambda: live.server.add_jobs(6))
    live.server.latency = 0.15
    with live.uprock(timeout=0.5) as client:

        async def cell() -> int:
            # 6 lookups one at a time: ~0.9 s, longer than the timeout, answered all along
            return len(client.job_details(ids, concurrency=1))

        assert asyncio.run(cell()) == 6
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_timeout_outside_a_running_loop_keeps_its_plain_message(live: Live) -> None:
    ids = live.run(lambda: live.server.add_jobs(1))
    live.server.latency = 2.0
    with live.uprock(timeout=0.3, retry=0) as client, pytest.raises(APITimeoutError) as info:
        client.job_detail(ids[0])
    assert "event loop" not in str(info.value)
