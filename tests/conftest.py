"""Shared fixtures: a FakeServer on loopback and clients pointed at it.

Every coroutine test runs (anyio_mode = "auto") on the asyncio backend
(aiohttp is asyncio-only);
pytest-timeout bounds every test, and warnings are errors (pyproject.toml).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from uprock_async import RetryPolicy, ScreenshotCenterClient, UprockClient
from uprock_async.testing import FakeServer

# Retries in tests wait milliseconds, not seconds.
FAST_RETRY = RetryPolicy(
    max_retries=2, backoff_initial=0.001, backoff_max=0.01, jitter=False, max_retry_after=0.05
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer(seed=0) as fake:
        yield fake


@pytest.fixture
async def uprock(server: FakeServer) -> AsyncIterator[UprockClient]:
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, timeout=5.0
    ) as client:
        yield client


@pytest.fixture
async def sc(server: FakeServer) -> AsyncIterator[ScreenshotCenterClient]:
    async with ScreenshotCenterClient(
        server.api_key, base_url=server.screenshotcenter_url, retry=FAST_RETRY, timeout=5.0
    ) as client:
        yield client
