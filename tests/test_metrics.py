"""PrometheusCollector: the documented series, read from client.stats() at scrape time."""

from __future__ import annotations

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from uprock_async import NotFoundError, ScreenshotCenterClient, UprockClient
from uprock_async.metrics import PrometheusCollector
from uprock_async.testing import FakeServer


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_the_collector_reports_the_documented_names_and_values() -> None:
    async with FakeServer(seed=0) as server:
        ids = server.add_jobs(3)
        crawl_id = server.add_crawl(screenshots=2)
        async with (
            UprockClient(server.api_key, base_url=server.uprock_url, retry=0) as uprock,
            ScreenshotCenterClient(server.api_key, base_url=server.screenshotcenter_url) as sc,
        ):
            registry = CollectorRegistry()
            registry.register(PrometheusCollector(uprock, sc))
            before = _samples(registry)
            assert before[("uprock_async_requests_total", (("client", "uprock"),))] == 0

            await uprock.job_details(ids)
            with pytest.raises(NotFoundError):
                await uprock.job_detail("00000000-0000-0000-0000-000000000000")
            await sc.crawl_info(crawl_id)

            samples = _samples(registry)  # read at scrape time: no re-registration
            stats = uprock.stats()

    up = (("client", "uprock"),)
    assert samples[("uprock_async_requests_total", up)] == stats.requests == 4
    assert samples[("uprock_async_retries_total", up)] == 0
    assert samples[("uprock_async_responses_total", (("client", "uprock"), ("status", "200")))] == 3
    assert samples[("uprock_async_responses_total", (("client", "uprock"), ("status", "404")))] == 1
    assert (
        samples[("uprock_async_errors_total", (("client", "uprock"), ("type", "NotFoundError")))]
        == 1
    )
    assert samples[("uprock_async_received_bytes_total", up)] == stats.bytes_received > 0
    assert samples[("uprock_async_breaker_trips_total", up)] == 0
    for quantile in ("0.5", "0.9", "0.99"):
        value = samples[
            ("uprock_async_latency_seconds", (("client", "uprock"), ("quantile", quantile)))
        ]
        assert 0 < value < 10
    sc_label = (("client", "screenshotcenter"),)
    assert samples[("uprock_async_requests_total", sc_label)] == 1


def test_latency_is_absent_before_the_first_response() -> None:
    client = UprockClient("k" * 40, base_url="http://127.0.0.1:9")
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(client))
    names = {name for name, _ in _samples(registry)}
    assert "uprock_async_latency_seconds" not in names
    assert "uprock_async_requests_total" in names
    assert "k" * 40 not in generate_latest(registry).decode()


def test_bad_collector_arguments_raise_value_error() -> None:
    a = UprockClient("key-a", base_url="http://127.0.0.1:9")
    b = UprockClient("key-b", base_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="at least one"):
        PrometheusCollector()
    with pytest.raises(ValueError, match="names="):
        PrometheusCollector(a, b)
    with pytest.raises(ValueError, match="entries"):
        PrometheusCollector(a, b, names=("one",))
    registry = CollectorRegistry()
    registry.register(PrometheusCollector(a, b, names=("a", "b")))
    clients = {dict(labels)["client"] for _, labels in _samples(registry)}
    assert clients == {"a", "b"}
