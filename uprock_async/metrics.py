"""Prometheus metrics for long-running workers (extra ``prometheus``).

::

    from prometheus_client import REGISTRY, start_http_server
    from uprock_async.metrics import PrometheusCollector

    REGISTRY.register(PrometheusCollector(client))          # or (uprock, screenshotcenter)
    start_http_server(9100, addr="127.0.0.1")

The collector holds no counters of its own: each scrape reads
:meth:`~uprock_async.UprockClient.stats` (a cheap snapshot), so a collector costs
nothing between scrapes. Every series has a ``client`` label, ``"uprock"`` or
``"screenshotcenter"``; pass ``name=`` to tell two clients of one kind apart.
Several clients go into one collector (a registry refuses two collectors that
report the same metric names).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
    from prometheus_client.registry import Collector
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "uprock_async.metrics needs prometheus_client: pip install 'uprock-async[prometheus]'"
    ) from exc

from ._stats import ClientStats

__all__ = ["PrometheusCollector"]

_QUANTILES = (("0.5", "latency_p50"), ("0.9", "latency_p90"), ("0.99", "latency_p99"))


class _HasStats(Protocol):
    def stats(self) -> ClientStats: ...


def _label(client: _HasStats) -> str:
    kind = type(client).__name__.lower()
    return "screenshotcenter" if "screenshotcenter" in kind else "uprock"


class PrometheusCollector(Collector):
    """A ``prometheus_client`` collector over one or more clients' :class:`ClientStats`.

    Series (all labelled ``client``): ``uprock_async_requests_total``,
    ``uprock_async_retries_total``, ``uprock_async_responses_total{status}``,
    ``uprock_async_errors_total{type}``, ``uprock_async_received_bytes_total``,
    ``uprock_async_breaker_trips_total`` and
    ``uprock_async_latency_seconds{quantile}`` (0.5, 0.9, 0.99; absent before the
    first response).
    """

    def __init__(self, *clients: _HasStats, names: tuple[str, ...] | None = None) -> None:
        if not clients:
            raise ValueError("PrometheusCollector needs at least one client")
        labels = names if names is not None else tuple(_label(c) for c in clients)
        if len(labels) != len(clients):
            raise ValueError(f"names= has {len(labels)} entries for {len(clients)} clients")
        if len(set(labels)) != len(labels):
            raise ValueError(
                f"two clients would share the label client={labels}: pass names= to tell them apart"
            )
        self._clients = tuple(zip(labels, clients, strict=True))

    def describe(self) -> Iterator[Metric]:
        """The metric families, without reading any client (for registry checks)."""
        return self._families(())

    def collect(self) -> Iterator[Metric]:
        """One snapshot per client, read now."""
        return self._families(tuple((label, c.stats()) for label, c in self._clients))

    @staticmethod
    def _families(snapshots: tuple[tuple[str, ClientStats], ...]) -> Iterator[Metric]:
        def counter(name: str, doc: str, extra: list[str] | None = None) -> CounterMetricFamily:
            return CounterMetricFamily(
                f"uprock_async_{name}", doc, labels=["client", *(extra or [])]
            )

        requests = counter("requests", "HTTP attempts sent (each retry counts).")
        retries = counter("retries", "Attempts that were retries.")
        responses = counter("responses", "Responses by HTTP status.", ["status"])
        errors = counter("errors", "Exceptions raised to callers, by class.", ["type"])
        received = counter("received_bytes", "Response body bytes received.")
        trips = counter("breaker_trips", "Times the circuit breaker opened.")
        latency = GaugeMetricFamily(
            "uprock_async_latency_seconds",
            "Attempt latency quantiles over the client's lifetime.",
            labels=["client", "quantile"],
        )
        for label, stats in snapshots:
            requests.add_metric([label], stats.requests)
            retries.add_metric([label], stats.retries)
            for status, count in sorted(stats.responses.items()):
                responses.add_metric([label, str(status)], count)
            for kind, count in sorted(stats.errors.items()):
                errors.add_metric([label, kind], count)
            received.add_metric([label], stats.bytes_received)
            trips.add_metric([label], stats.breaker_trips)
            for quantile, field in _QUANTILES:
                value = getattr(stats, field)
                if value is not None:
                    latency.add_metric([label, quantile], value)
        yield from (requests, retries, responses, errors, received, trips, latency)
