"""``FakeServer.in_thread()``: a fake on its own thread serves blocking clients,
also from a thread whose own event loop is running (a notebook cell)."""

from __future__ import annotations

import asyncio
import threading

from uprock_async import sync
from uprock_async.testing import FakeServer


def test_a_blocking_client_talks_to_a_fake_on_its_own_thread() -> None:
    with FakeServer.in_thread(seed=5) as server:
        ids = server.add_jobs(3, headers=2, cookies=0)
        with sync.UprockClient(server.api_key, base_url=server.uprock_url) as client:
            details = client.job_details(ids)
        assert [d.job_id for d in details] == ids
        assert server.request_count == 3
    assert not any(t.name == "uprock-async-fake-server" for t in threading.enumerate())


async def test_it_answers_a_blocking_call_made_while_the_callers_loop_runs() -> None:
    # What a notebook cell does: the kernel's loop is running in this thread.
    asyncio.get_running_loop()
    with FakeServer.in_thread(seed=6) as server:
        ids = server.add_jobs(1, headers=1, cookies=0)
        with sync.UprockClient(server.api_key, base_url=server.uprock_url, timeout=5) as client:
            assert client.job_detail(ids[0]).job_id == ids[0]
