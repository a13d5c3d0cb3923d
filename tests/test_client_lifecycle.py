"""A client dropped without aclose(), and with_options() copies that share one pool."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from uprock_async import AdaptiveConcurrency, RetryPolicy, Timeout, UprockClient
from uprock_async.testing import FakeServer


async def test_a_dropped_client_releases_its_connections_with_one_short_warning() -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        async with FakeServer(seed=0) as server:
            ids = server.add_jobs(5)
            client = UprockClient(server.api_key, base_url=server.uprock_url)
            await client.job_details(ids)
            # `del` drops the last reference, so CPython finalizes the client right
            # there: it must happen inside the block that catches the warning.
            with pytest.warns(ResourceWarning) as caught:  # noqa: PT031
                del client
                gc.collect()
            await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(previous)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "aclose" in message
    assert len(message) < 200
    assert server.api_key not in message
    assert reported == []  # no "Unclosed client session / Unclosed connector" wall


async def test_a_closed_client_is_dropped_silently() -> None:
    async with FakeServer(seed=1) as server:
        (job_id,) = server.add_jobs(1)
        client = UprockClient(server.api_key, base_url=server.uprock_url)
        await client.job_detail(job_id)
        await client.aclose()
        del client
        gc.collect()  # filterwarnings=error: any warning fails the test


async def test_with_options_shares_the_pool_and_changes_only_what_it_names() -> None:
    async with FakeServer(seed=2) as server:
        ids = server.add_jobs(20)
        async with UprockClient(server.api_key, base_url=server.uprock_url) as client:
            quick = client.with_options(timeout=5, retry=0)
            assert quick.timeout == Timeout.coerce(5)
            assert quick.retry == RetryPolicy(max_retries=0)
            assert client.timeout == Timeout()  # the original is untouched
            assert client.retry == RetryPolicy()
            assert quick.base_url == client.base_url

            await quick.job_details(ids)
            await client.job_details(ids)
            # one pool: both copies count into the same stats, opened one session
            assert client.stats().requests == quick.stats().requests == 40
            assert quick._transport.session() is client._transport.session()

            server.inject("/crawl/v1/jobs/*/detail", status=503, times=1)
            with pytest.raises(Exception, match="503"):
                await quick.job_detail(ids[0])  # retry=0: no second attempt
            await client.job_detail(ids[0])  # the original still retries

            # closing a copy leaves the shared pool to its owner
            await quick.aclose()
            assert not client.closed
            await client.job_detail(ids[1])
        assert quick.closed


async def test_with_options_concurrency_is_the_copys_default_for_fan_outs() -> None:
    async with FakeServer(seed=3, latency=0.01) as server:
        ids = server.add_jobs(40)
        async with UprockClient(server.api_key, base_url=server.uprock_url) as client:
            narrow = client.with_options(concurrency=2)
            server.max_in_flight = 0
            await narrow.job_details(ids)
            assert server.max_in_flight <= 2
            server.max_in_flight = 0
            await narrow.job_details(ids, concurrency=8)  # an explicit value still wins
            assert server.max_in_flight > 2
            limiter = AdaptiveConcurrency(initial=4, maximum=4)
            auto = client.with_options(concurrency=limiter)
            server.max_in_flight = 0
            await auto.job_details(ids)
            assert server.max_in_flight <= 4


def test_with_options_rejects_bad_values_up_front() -> None:
    client = UprockClient("k" * 20, base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="concurrency"):
        client.with_options(concurrency=0)
    with pytest.raises(TypeError):
        client.with_options(retry="three")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.with_options(timeout="soon")  # type: ignore[arg-type]
    assert "k" * 20 not in repr(client.with_options(timeout=1))


def test_a_blocking_with_options_copy_shares_the_loop_and_leaves_it_to_the_original() -> None:
    from uprock_async.sync import UprockClient as BlockingUprockClient

    client = BlockingUprockClient("k" * 20, base_url="http://127.0.0.1:9", retry=3)
    try:
        copy = client.with_options(retry=0, timeout=2)
        assert copy.retry == RetryPolicy(max_retries=0)
        assert client.retry == RetryPolicy(max_retries=3)
        with copy:
            pass  # leaving the copy's block closes nothing
        assert not client.closed
        assert not copy.closed
        assert client.stats() == copy.stats()
    finally:
        client.close()
    assert copy.closed
