"""Nothing reachable from an exception we raise holds the key.

Error trackers (Sentry and the like) record the whole exception: its causes and
contexts, args, notes and attributes, and the reprs of what those hold. So the
walk here follows all of them, recursively, for every error path a hostile or
broken server can cause.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from uprock_async import (
    APIConnectionError,
    APIStatusError,
    ResponseDecodeError,
    UprockAsyncError,
    UprockClient,
    WaitTimeoutError,
)
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

KEY = "sk-live-reach-0123456789abcdef0123456789"
DETAIL = "/crawl/v1/jobs/*/detail"
STATUS = "/crawl/v1/status/*"


def reachable(root: object) -> list[str]:
    """Every text a recorder could read from ``root``: str/repr of each exception
    in the chain and of every value its args, notes and attributes hold (bytes too)."""
    texts: list[str] = []
    seen: set[int] = set()
    stack: list[object] = [root]
    while stack:
        value = stack.pop()
        if id(value) in seen or value is None:
            continue
        seen.add(id(value))
        if isinstance(value, (bytes, bytearray)):
            texts.append(bytes(value).decode("utf-8", "replace"))
            continue
        if isinstance(value, (str, int, float, bool)):
            texts.append(str(value))
            continue
        texts.append(repr(value))
        if isinstance(value, BaseException):
            texts.append(str(value))
            stack += [value.__cause__, value.__context__, *value.args]
            stack += list(getattr(value, "__notes__", ()))
        if isinstance(value, dict):
            stack += [*value.keys(), *value.values()]
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack += list(value)
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict):
            stack += list(attributes.values())
        for slot in getattr(type(value), "__slots__", ()):
            stack.append(getattr(value, slot, None))
    return texts


def assert_unreachable(error: BaseException) -> None:
    for text in reachable(error):
        assert KEY not in text, text[:300]


@pytest.fixture
async def malformed() -> AsyncIterator[str]:
    """A loopback server whose answer is not HTTP (aiohttp raises ClientResponseError,
    whose request_info holds our Authorization header)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        writer.write(b"HTTP/1.1 2OO NOT-A-STATUS\r\nContent-Length: x\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_a_malformed_http_answer_leaves_the_key_unreachable(malformed: str) -> None:
    async with UprockClient(KEY, base_url=malformed, retry=FAST_RETRY) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
    assert caught.value.__cause__ is not None  # what happened is still told, as text
    assert "aiohttp" in str(caught.value.__cause__)
    assert caught.value.__context__ is None
    assert_unreachable(caught.value)


async def test_a_refused_connection_leaves_the_key_unreachable() -> None:
    async with UprockClient(KEY, base_url="http://127.0.0.1:9", retry=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.job_detail("1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e5a")
    assert_unreachable(caught.value)


ECHO = f"your key {KEY} was refused; Authorization: Bearer {KEY}"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"error": ECHO, "code": KEY}),
        (500, ECHO),  # raw text
        (429, {"error": ECHO, "code": "RATE_LIMIT_EXCEEDED", "retry_after": 0}),
        (200, f'{{"job_id": "{KEY}", "result": '),  # truncated JSON in a 2xx
        (200, {"job_id": 5, "echo": ECHO}),  # a 2xx of the wrong shape
    ],
    ids=["401 json", "500 text", "429", "truncated 2xx", "wrong shape 2xx"],
)
async def test_an_error_answer_echoing_the_key_leaves_it_unreachable(
    status: int, body: object
) -> None:
    async with FakeServer(seed=21, api_key=KEY) as server:
        ids = server.add_jobs(1, headers=1, cookies=0)
        server.inject(DETAIL, status=status, body=body, times=None)  # type: ignore[arg-type]
        async with UprockClient(KEY, base_url=server.uprock_url, retry=FAST_RETRY) as client:
            with pytest.raises(UprockAsyncError) as caught:
                await client.job_detail(ids[0])
    assert isinstance(caught.value, (APIStatusError, ResponseDecodeError))
    assert caught.value.body  # the raw body is kept, with the key taken out
    assert_unreachable(caught.value)


async def test_a_wait_timeout_leaves_an_echoed_key_unreachable() -> None:
    async with FakeServer(seed=22, api_key=KEY) as server:
        ids = server.add_jobs(1, headers=1, cookies=0)
        body = {"job_id": ids[0], "status": f"pending for {KEY}"}
        server.inject(STATUS, status=200, body=body, times=None)
        async with UprockClient(KEY, base_url=server.uprock_url, retry=FAST_RETRY) as client:
            with pytest.raises(WaitTimeoutError) as caught:
                await client.wait_for_job(ids[0], poll_interval=0.05, timeout=0.2)
    assert_unreachable(caught.value)


async def test_errors_in_a_fan_out_leave_the_key_unreachable(malformed: str) -> None:
    ids = [f"1f0e7c52-8f3a-4c1e-9f7b-2f9b1c0d4e{n:02d}" for n in range(8)]
    async with UprockClient(
        KEY, base_url=malformed, retry=FAST_RETRY, circuit_breaker=None
    ) as client:
        results = await client.job_details(ids, return_exceptions=True)
    assert all(isinstance(r, APIConnectionError) for r in results)
    for error in results:
        assert isinstance(error, BaseException)
        assert_unreachable(error)
