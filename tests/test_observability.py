"""Tracing (aiohttp TraceConfig, OpenTelemetry) and DEBUG logs: one per attempt, no key."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from uprock_async import NotFoundError, ScreenshotCenterClient, UprockClient
from uprock_async.testing import FakeServer

from .conftest import FAST_RETRY

DETAIL = "/crawl/v1/jobs/*/detail"
MISSING = "00000000-0000-0000-0000-00000000beef"


def counting_trace_config() -> tuple[aiohttp.TraceConfig, list[str]]:
    seen: list[str] = []
    config = aiohttp.TraceConfig()

    async def on_start(
        session: aiohttp.ClientSession,
        ctx: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        seen.append(params.url.path)

    config.on_request_start.append(on_start)
    return config, seen


async def test_a_trace_config_sees_every_attempt_retries_included(server: FakeServer) -> None:
    ids = server.add_jobs(4, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=2)
    config, seen = counting_trace_config()
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, trace_configs=[config]
    ) as client:
        await client.job_details(ids, concurrency=2)
        assert len(seen) == client.stats().requests == 6
    assert sorted(set(seen)) == sorted(f"/crawl/v1/jobs/{i}/detail" for i in ids)


def otel_tracing() -> tuple[aiohttp.TraceConfig, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return create_trace_config(tracer_provider=provider), exporter


def assert_no_key_in_spans(exporter: InMemorySpanExporter, key: str) -> None:
    for span in exporter.get_finished_spans():
        assert key not in span.name
        for name, value in (span.attributes or {}).items():
            assert key not in name
            assert key not in str(value)
        for event in span.events:
            assert key not in str(event.attributes)


async def test_opentelemetry_gets_one_span_per_attempt_without_the_key(
    server: FakeServer,
) -> None:
    ids = server.add_jobs(3, headers=2, cookies=0)
    server.inject(DETAIL, status=429, times=1, retry_after=0)
    config, exporter = otel_tracing()
    async with UprockClient(
        server.api_key, base_url=server.uprock_url, retry=FAST_RETRY, trace_configs=[config]
    ) as client:
        await client.job_details(ids)
        with pytest.raises(NotFoundError):
            await client.job_detail(MISSING)
        attempts = client.stats().requests
    spans = exporter.get_finished_spans()
    assert attempts == 5
    assert len(spans) == attempts
    statuses = sorted(
        int(s.attributes.get("http.response.status_code") or s.attributes["http.status_code"])  # type: ignore[arg-type,index,union-attr]
        for s in spans
    )
    assert statuses == [200, 200, 200, 404, 429]
    assert_no_key_in_spans(exporter, server.api_key)


async def test_opentelemetry_spans_of_the_screenshotcenter_client_hold_no_key(
    server: FakeServer,
) -> None:
    crawl = server.add_crawl(screenshots=2)
    config, exporter = otel_tracing()
    async with ScreenshotCenterClient(
        server.api_key,
        base_url=server.screenshotcenter_url,
        retry=FAST_RETRY,
        trace_configs=[config],
    ) as client:
        await client.crawl_infos([crawl, crawl])
    assert len(exporter.get_finished_spans()) == 2
    assert_no_key_in_spans(exporter, server.api_key)


async def test_a_caller_owned_session_keeps_its_own_trace_configs(server: FakeServer) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    own, own_seen = counting_trace_config()
    ignored, ignored_seen = counting_trace_config()
    async with aiohttp.ClientSession(trace_configs=[own]) as session:
        async with UprockClient(
            server.api_key, base_url=server.uprock_url, session=session, trace_configs=[ignored]
        ) as client:
            await client.job_detail(job_id)
        assert not session.closed  # the caller's session is left open
    assert len(own_seen) == 1
    assert ignored_seen == []


# -- logging ---------------------------------------------------------------------


async def test_the_debug_log_has_one_record_per_attempt_without_the_key(
    server: FakeServer, uprock: UprockClient, caplog: pytest.LogCaptureFixture
) -> None:
    ids = server.add_jobs(3, headers=2, cookies=0)
    server.inject(DETAIL, status=503, times=2)
    server.inject(f"/crawl/v1/jobs/{ids[2]}/detail", disconnect=True, times=1)
    with caplog.at_level(logging.DEBUG, logger="uprock_async"):
        await uprock.job_details(ids, concurrency=1)
        with pytest.raises(NotFoundError):
            await uprock.job_detail(MISSING)
    records = [r for r in caplog.records if r.name == "uprock_async" and r.levelno == logging.DEBUG]
    attempts = uprock.stats().requests
    assert attempts == 7
    assert len(records) == attempts
    retries = [r for r in caplog.records if r.name == "uprock_async" and r.levelno == logging.INFO]
    assert len(retries) == uprock.stats().retries == 3  # each retry also says so at INFO
    messages = [r.getMessage() for r in records]
    for record, message in zip(records, messages, strict=True):
        assert record.levelno == logging.DEBUG
        assert message.startswith("GET /crawl/v1/jobs/")
        assert " ms " in message
        assert "attempt " in message
        assert "request_id=" in message
        assert server.api_key not in message
        assert all(server.api_key not in str(arg) for arg in (record.args or ()))
    assert sum("-> 503" in m for m in messages) == 2
    assert sum("-> 200" in m for m in messages) == 3
    assert sum("APIConnectionError" in m for m in messages) == 1
    assert sum("404 NotFoundError" in m for m in messages) == 1
    assert any("(attempt 3," in m for m in messages)  # the second retry of one id


async def test_the_screenshotcenter_log_carries_the_request_id_of_an_error(
    server: FakeServer, sc: ScreenshotCenterClient, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.DEBUG, logger="uprock_async"),
        pytest.raises(NotFoundError) as info,
    ):
        await sc.crawl_info(31337)
    [record] = [r for r in caplog.records if r.name == "uprock_async"]
    assert info.value.request_id
    assert info.value.request_id in record.getMessage()
    assert server.api_key not in record.getMessage()


async def test_nothing_is_logged_above_debug_for_a_normal_call(
    server: FakeServer, uprock: UprockClient, caplog: pytest.LogCaptureFixture
) -> None:
    [job_id] = server.add_jobs(1, headers=2, cookies=0)
    with caplog.at_level(logging.INFO, logger="uprock_async"):
        await uprock.job_detail(job_id)
    assert [r for r in caplog.records if r.name == "uprock_async"] == []
