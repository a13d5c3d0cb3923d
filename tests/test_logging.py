"""What the ``uprock_async`` logger says above DEBUG, and ``UPROCK_ASYNC_LOG``."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import anyio
import pytest

from uprock_async import CircuitBreaker, RetryPolicy, UprockClient
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

DETAIL = "/crawl/v1/jobs/*/detail"


def records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "uprock_async" and r.levelno == level]


def assert_no_key(server: FakeServer, found: list[logging.LogRecord]) -> None:
    for record in found:
        assert server.api_key not in record.getMessage()
        assert all(server.api_key not in str(arg) for arg in (record.args or ()))


async def test_a_retry_is_logged_at_info_without_the_key(
    server: FakeServer, uprock: UprockClient, caplog: pytest.LogCaptureFixture
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    echo = {"error": f"upstream said: key {server.api_key} is busy"}  # a server echoing the key
    server.inject(DETAIL, status=503, times=1, body=echo)
    with caplog.at_level(logging.INFO, logger="uprock_async"):
        await uprock.job_detail(job_id)
    [info] = records(caplog, logging.INFO)
    message = info.getMessage()
    assert "ServerError" in message
    assert "503" in message
    assert "retry 1 of 2" in message
    assert f"/crawl/v1/jobs/{job_id}/detail" in message
    assert_no_key(server, [info])
    assert records(caplog, logging.WARNING) == []


async def test_breaker_trips_and_closes_are_warnings_without_the_key(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    ids = server.add_jobs(4, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=None, body={"error": f"down ({server.api_key})"})
    breaker = CircuitBreaker(threshold=3, cooldown=0.05, max_wait=10.0)

    async def recover() -> None:
        await anyio.sleep(0.4)
        server.clear_faults()

    with caplog.at_level(logging.INFO, logger="uprock_async"):
        async with (
            UprockClient(
                server.api_key,
                base_url=server.uprock_url,
                retry=FAST_RETRY,
                circuit_breaker=breaker,
            ) as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(recover)
            await client.job_details(ids, concurrency=2)
    warnings = records(caplog, logging.WARNING)
    messages = [w.getMessage() for w in warnings]
    assert sum("circuit breaker open" in m for m in messages) == 1
    assert sum("circuit breaker closed" in m for m in messages) == 1
    assert_no_key(server, warnings)
    assert_no_key(server, records(caplog, logging.INFO))


async def test_a_client_wide_pause_is_a_warning(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    server.inject(DETAIL, status=429, retry_after=0.2, times=1)
    retry = RetryPolicy(backoff_initial=0.001, max_retry_after=1.0)
    with caplog.at_level(logging.INFO, logger="uprock_async"):
        async with UprockClient(server.api_key, base_url=server.uprock_url, retry=retry) as client:
            await client.job_detail(job_id)
    [warning] = records(caplog, logging.WARNING)
    assert "Retry-After" in warning.getMessage()
    assert "pausing" in warning.getMessage()
    assert_no_key(server, [warning])


SCRIPT = """
import logging, uprock_async, importlib
log = logging.getLogger("uprock_async")
importlib.reload(uprock_async._http._events)  # importing again attaches nothing more
log.debug("debug line")
log.info("info line")
print(logging.getLevelName(log.getEffectiveLevel()), len(log.handlers))
"""


@pytest.mark.parametrize(
    ("value", "level", "handlers", "shown"),
    [
        ("debug", "DEBUG", 1, ["debug line", "info line"]),
        ("INFO", "INFO", 1, ["info line"]),
        ("", "WARNING", 0, []),
        ("chatty", "WARNING", 0, []),
    ],
)
def test_uprock_async_log_attaches_one_stderr_handler_at_import(
    value: str, level: str, handlers: int, shown: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "UPROCK_ASYNC_LOG"}
    env["UPROCK_ASYNC_LOG"] = value
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own script
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=50
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [level, str(handlers)]
    for line in ("debug line", "info line"):
        assert (line in done.stderr) == (line in shown)
