"""Notebook views (``_repr_html_``): tables and inline SVG, everything escaped."""

from __future__ import annotations

from uprock_async import ClientStats, UprockClient
from uprock_async.testing import FakeServer


async def test_client_stats_render_a_table_and_a_latency_histogram() -> None:
    async with FakeServer(seed=0) as server:
        ids = server.add_jobs(20)
        async with UprockClient(server.api_key, base_url=server.uprock_url) as client:
            await client.job_details(ids)
            stats = client.stats()
    html = stats._repr_html_()
    assert html.startswith("<table")
    assert ">20</td>" in html  # 20 requests
    assert "<svg" in html
    assert html.count("<rect") >= 1
    assert "<script" not in html
    assert sum(count for _, count in stats.latency_histogram) == 20
    uppers = [upper for upper, _ in stats.latency_histogram]
    assert uppers == sorted(uppers)
    assert "breaker trips   0" in str(stats)


def test_client_stats_html_escapes_every_value() -> None:
    stats = ClientStats(errors={"<script>alert(1)</script>": 1}, requests=1)
    html = stats._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<svg" not in html  # no latency yet, no histogram
