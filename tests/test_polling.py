"""The one polling loop behind every wait_for_* method."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import anyio
import pytest

from uprock_async import ScreenshotCenterClient, WaitTimeoutError
from uprock_async.concurrency._poll import poll_until_terminal
from uprock_async.testing import FakeServer


@dataclass
class _Item:
    status: str

    @property
    def is_terminal(self) -> bool:
        return self.status == "done"


async def test_waits_grow_one_and_a_half_fold_up_to_the_cap() -> None:
    seen: list[float] = []

    async def fetch() -> _Item:
        seen.append(anyio.current_time())
        return _Item("done" if len(seen) == 6 else "running")

    item = await poll_until_terminal(
        fetch, poll_interval=0.01, give_up_after=5.0, cap=0.03, what="job x"
    )
    assert item.status == "done"
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    # 0.01, 0.015, 0.0225, then capped at 0.03: sleeps never end early, so lower
    # bounds are exact; the ceiling only says the cap held (0.1075 s expected).
    assert gaps[0] >= 0.009
    assert gaps[1] >= 0.014
    assert gaps[2] >= 0.021
    assert gaps[3] >= 0.029
    assert sum(gaps) < 0.6


async def test_a_timeout_names_the_thing_and_its_last_status() -> None:
    async def fetch() -> _Item:
        return _Item("running")

    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        await poll_until_terminal(
            fetch, poll_interval=0.02, give_up_after=0.1, cap=1.0, what="crawl 7"
        )
    assert time.monotonic() - started < 0.5  # never sleeps past the deadline
    assert caught.value.last_status == "running"
    assert "crawl 7" in str(caught.value)
    assert "running" in str(caught.value)


async def test_a_fetch_in_flight_at_the_deadline_is_cancelled() -> None:
    async def slow() -> _Item:
        await anyio.sleep(10)
        return _Item("done")

    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        await poll_until_terminal(slow, poll_interval=0.01, give_up_after=0.05, cap=1.0, what="x")
    assert time.monotonic() - started < 1.0
    assert caught.value.last_status is None


async def test_a_screenshotcenter_wait_timeout_is_counted_in_stats(
    server: FakeServer, sc: ScreenshotCenterClient
) -> None:
    crawl_id = server.add_crawl(screenshots=2, status="processing")
    with pytest.raises(WaitTimeoutError):
        await sc.wait_for_crawl(crawl_id, poll_interval=0.01, timeout=0.05)
    assert sc.stats().errors.get("WaitTimeoutError") == 1
