"""``FakeServer.in_thread()`` across notebook-like cells, from other threads, on a taken
port, and in a plain script that forgets to close it (the ``with`` form and a
call from a thread whose loop runs are in ``test_fake_in_thread.py``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from typing import Any

import pytest

from uprock_async import sync
from uprock_async.testing import FakeServer, FakeServerThread

THREAD = "uprock-async-fake-server"


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == THREAD]


def test_start_and_close_keep_the_server_across_cells_and_close_is_idempotent() -> None:
    running = FakeServer.in_thread(seed=1)
    assert isinstance(running, FakeServerThread)
    assert not running.running
    server = running.start()  # one cell
    try:
        assert running.running
        assert repr(running) == f"<FakeServerThread {server.uprock_url}>"
        with pytest.raises(RuntimeError, match="already running"):
            running.start()
        [job_id] = server.add_jobs(1, headers=1, cookies=0)  # another cell
        with sync.UprockClient(server.api_key, base_url=server.uprock_url) as client:
            assert client.job_detail(job_id).job.job_id == job_id
    finally:
        running.close()  # the last cell
    running.close()
    assert not running.running
    assert _threads() == []


def test_its_data_methods_run_on_the_servers_own_loop() -> None:
    seen: list[str] = []
    with FakeServer.in_thread(seed=2) as server:

        def recording(method: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                seen.append(threading.current_thread().name)
                return method(*args, **kwargs)

            return run

        server.uprock.add_jobs = recording(server.uprock.add_jobs)  # type: ignore[method-assign]
        ids = server.add_jobs(2, headers=1, cookies=0)
        fault = server.inject("/crawl/v1/jobs/*/detail", status=503, times=1)
        with sync.UprockClient(server.api_key, base_url=server.uprock_url, retry=1) as client:
            details = client.job_details(ids)
    assert seen == [THREAD]  # never beside a request handler on the caller's thread
    assert [d.job.job_id for d in details] == ids
    assert fault.hits == 1


def test_a_taken_port_fails_to_start_and_leaves_no_thread_behind() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        running = FakeServer.in_thread(port=port)
        with pytest.raises(OSError, match=str(port)):
            running.start()
    assert not running.running
    assert _threads() == []


@pytest.mark.timeout(60)
def test_a_script_that_never_closes_it_still_exits() -> None:
    script = textwrap.dedent(
        """
        from uprock_async.sync import UprockClient
        from uprock_async.testing import FakeServer

        server = FakeServer.in_thread(seed=3).start()   # never closed
        [job_id] = server.add_jobs(1, headers=1, cookies=0)
        with UprockClient(server.api_key, base_url=server.uprock_url) as client:
            print(client.job_detail(job_id).job.status)
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "completed"
