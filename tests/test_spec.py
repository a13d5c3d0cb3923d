"""The OpenAPI files in ``uprock_async/spec`` are the contract, checked three ways.

1. They are valid OpenAPI 3.1, and their examples (among them the seeds' reference
   payloads, kept in ``tests/fixtures``) validate against their schemas.
2. FakeServer answers as they say: the real clients and raw requests drive every
   endpoint, success and error answers alike, and every exchange the server saw
   must be described (path, method, query, body) and answered as described
   (status, media type, JSON schema). An endpoint the clients call that has no
   entry fails here, and so does a fake that drifts.
3. Every body the schemas allow, nulls and ``""`` timestamps included, decodes
   into the models with the clients' own decoders: ``test_spec_decode.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from tests.conftest import FAST_RETRY
from tests.spec_support import DOCUMENTS, FORMATS, Exchange, check, find, operations, problems
from uprock_async import ScreenshotCenterClient, UprockClient, spec
from uprock_async.testing import FakeServer
from uprock_async.testing._screenshotcenter import SC_PREFIX

FIXTURES = Path(__file__).parent / "fixtures"


# -- 1. the files --------------------------------------------------------------


def test_the_date_time_format_is_really_checked() -> None:
    # jsonschema skips formats whose checker package is missing, silently.
    assert not FORMATS.conforms("2026-02-17T11:38:58", "date-time")
    assert FORMATS.conforms("2026-02-17T11:38:58.467667051Z", "date-time")


@pytest.mark.parametrize("name", spec.NAMES)
def test_spec_is_valid_openapi_3_1(name: str) -> None:
    document = DOCUMENTS[name]
    assert document["openapi"].startswith("3.1.")
    validate_openapi(document)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_spec_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown spec"):
        spec.read_text("uprock.openapi.yaml")


def examples(name: str) -> list[tuple[str, dict[str, Any], Any]]:
    """Every ``(where, schema, value)`` of the media-type examples in a spec, each
    once (a shared response's examples appear under many operations)."""
    found: dict[str, tuple[str, dict[str, Any], Any]] = {}
    for (method, template), operation in operations(name).items():
        for status, response in operation["responses"].items():
            for media, content in response.get("content", {}).items():
                for key, example in content.get("examples", {}).items():
                    where = f"{name} {method} {template} {status} {media} {key}"
                    same = json.dumps([content["schema"], example["value"]], sort_keys=True)
                    found.setdefault(same, (where, content["schema"], example["value"]))
    return list(found.values())


ALL_EXAMPLES = [example for name in spec.NAMES for example in examples(name)]


@pytest.mark.parametrize(
    ("where", "schema", "value"), ALL_EXAMPLES, ids=[e[0] for e in ALL_EXAMPLES]
)
def test_every_example_validates_against_its_schema(
    where: str, schema: dict[str, Any], value: Any
) -> None:
    assert problems(schema, value) == [], where


def example(name: str, method: str, template: str, status: str, key: str) -> Any:
    responses = operations(name)[(method, template)]["responses"]
    response = responses.get(status) or responses[f"{status[0]}XX"]
    return response["content"]["application/json"]["examples"][key]["value"]


def test_the_seeds_reference_payloads_are_the_specs_examples() -> None:
    # Compared with the seeds' copies, so a YAML coercion (a bare timestamp turned
    # into a datetime, "no" into False) cannot slip into an example.
    uprock = json.loads((FIXTURES / "uprock_seed.json").read_text())
    detail = "/crawl/v1/jobs/{job_id}/detail"
    assert example("uprock", "GET", detail, "200", "reference") == uprock["job_detail"]["200"]
    for status, body in uprock["errors"].items():
        assert example("uprock", "GET", detail, status, "reference") == body
    seed = json.loads((FIXTURES / "screenshotcenter_seed.json").read_text())["crawl_info"]
    for status, body in seed.items():
        assert example("screenshotcenter", "GET", "/crawl/info", status, "reference") == body
    assert len(seed["200"]["data"]["screenshots"][0]) == 67  # the seed's ~70 fields, all kept


# -- 2. FakeServer answers as described ----------------------------------------------


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[FakeServer, list[Exchange]]]:
    """A FakeServer that also keeps every exchange, its own error answers included."""
    exchanges: list[Exchange] = []

    @web.middleware
    async def keep(
        request: web.Request, handler: Callable[..., Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        response = await handler(request)
        answer = response.body if isinstance(response, web.Response) else None
        exchanges.append(
            Exchange(
                request.method,
                request.path,
                list(request.query.items()),
                request.headers.get("Content-Type", ""),
                body,
                response.status,
                response.content_type,
                answer if isinstance(answer, bytes) else None,
            )
        )
        return response

    server = FakeServer(seed=3)
    server.app.middlewares.insert(0, keep)  # outermost: sees the fake's own 401s too
    async with server:
        yield server, exchanges


JOB = "https://example.com/page"
UNKNOWN_JOB = "0d4c1f0e-5a3b-4c2d-8e7f-6a5b4c3d2e1f"


class Tracked:
    """A client whose public attributes used are noted in ``used``."""

    def __init__(self, client: object, used: set[str]) -> None:
        self._client, self._used = client, used

    def __getattr__(self, name: str) -> Any:
        self._used.add(name)
        return getattr(self._client, name)


# Public client attributes that send no request.
NO_REQUEST = frozenset(
    {"aclose", "base_url", "closed", "retry", "stats", "timeout", "with_options"}
)


async def drive_uprock(
    server: FakeServer, raw: aiohttp.ClientSession, tmp_path: Path, used: set[str]
) -> None:
    """Every UprockClient method once, then the error answers the client never provokes."""
    async with UprockClient(server.api_key, base_url=server.uprock_url, retry=FAST_RETRY) as real:
        client: Any = Tracked(real, used)
        ids = server.add_jobs(2)
        await client.job_detail(ids[0])
        await client.job_details(ids, parse_cookies=True)
        async with client.iter_job_details(ids) as outcomes:
            assert len([o.unwrap() async for o in outcomes]) == 2
        async with client.watch_jobs(ids, poll_interval=0.01, timeout=10) as outcomes:
            assert len([o.unwrap() async for o in outcomes]) == 2
        session = await client.create_session(duration_seconds=60, placement={"country": "DE"})
        await client.get_session(session.id)
        job = await client.create_job(
            JOB,
            method="post",
            timeout_sec=10,
            headers={"Accept": "text/html", "X-Many": ["a", "b"]},
            body="payload",
            cookies=[{"name": "sid", "value": "1", "secure": True}],
            session_id=session.id,
            placement={"country": "US"},
            storage_type="s3",
        )
        await client.job_status(job.job_id)
        await client.jobs_status([ids[0], job.job_id, UNKNOWN_JOB])
        detail = await client.wait_for_job(job.job_id, poll_interval=0.01, timeout=10)
        await client.download(detail)
        await client.download(ids[1], dest=tmp_path / "job.html")
        async with client.stream_download(ids[1]) as body:
            assert [chunk async for chunk in body]

    url, key = server.uprock_url, {"Authorization": f"Bearer {server.api_key}"}
    server.job_completion_delay = 30.0  # so the next job is still running when downloaded
    async with raw.post(f"{url}/crawl/v1/new", json={"url": JOB}, headers=key) as created:
        pending = (await created.json())["job_id"]
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/crawl/v1/jobs/{pending}/download", None),  # 202
        ("GET", f"/crawl/v1/jobs/{pending}/detail", None),  # result still null
        ("GET", f"/crawl/v1/jobs/{UNKNOWN_JOB}/detail", None),
        ("GET", f"/crawl/v1/status/{UNKNOWN_JOB}", None),
        ("GET", f"/crawl/v1/jobs/{UNKNOWN_JOB}/download", None),
        ("GET", f"/crawl/v1/session/{UNKNOWN_JOB}", None),
        ("POST", "/crawl/v1/new", {"method": "GET"}),
        ("POST", "/crawl/v1/new", {"url": JOB, "session_id": UNKNOWN_JOB}),
        ("POST", "/crawl/v1/jobs/batch/status", {"job_ids": []}),
        ("POST", "/crawl/v1/session/new", {"duration_seconds": 0}),
    ]
    for method, path, body in requests:
        async with raw.request(method, url + path, json=body, headers=key) as answer:
            await answer.read()
    # The download answers integrations see besides the documented 202.
    server.uprock.not_ready_status = 409
    server.uprock.archived.add(ids[0])
    for job_id in (pending, ids[0]):  # 409, 410
        async with raw.get(f"{url}/crawl/v1/jobs/{job_id}/download", headers=key) as answer:
            await answer.read()


async def drive_screenshotcenter(
    server: FakeServer, raw: aiohttp.ClientSession, tmp_path: Path, used: set[str]
) -> None:
    """Every ScreenshotCenterClient method once, then the error answers it never provokes."""
    async with ScreenshotCenterClient(
        server.api_key, base_url=server.screenshotcenter_url, retry=FAST_RETRY
    ) as real:
        client: Any = Tracked(real, used)
        crawl_id = server.add_crawl(screenshots=3)
        crawl = await client.crawl_info(crawl_id)
        await client.crawl_infos([crawl_id])
        await client.save_crawl(crawl_id, tmp_path / "crawl")
        started = await client.create_crawl("https://example.com/", max_urls=2)
        await client.cancel_crawl(started.id)
        started = await client.create_crawl(
            "https://example.org/", max_urls=2, domain="example.org"
        )
        await client.wait_for_crawl(started.id, poll_interval=0.01, timeout=10)
        await client.list_crawls(limit=10, offset=0)
        assert len([crawl async for crawl in client.iter_crawls(page_size=2)]) == 3
        shot = await client.create_screenshot(
            "https://example.com/",
            country="fr",
            html=True,
            pdf=True,
            video=True,
            delay=1,
            tag=["a", "b"],
            steps=[{"command": "click", "selector": "#go"}],
        )
        await client.wait_for_screenshot(shot.id, poll_interval=0.01, timeout=10)
        await client.screenshot_info(shot.id)
        await client.list_screenshots(limit=5, offset=1)
        await client.search_screenshots("example.com", limit=5)
        assert [shot async for shot in client.iter_screenshots(page_size=2)]
        await client.download_screenshot(shot.id, format="png", width=320, height=200, shot=1)
        async with client.stream_screenshot(shot.id, kind="video") as body:
            assert [chunk async for chunk in body]
        await client.save_screenshot(shot.id, tmp_path / "shot")  # image, html, pdf, video
        await client.delete_screenshot(crawl.screenshots[0].id, data="image")
        await client.account_info()
        batch = await client.create_batch(
            ["https://a.example/", "https://b.example/"], country="us", size="page"
        )
        await client.wait_for_batch(batch.id, poll_interval=0.01, timeout=10)
        await client.batch_info(batch.id)
        await client.list_batches(limit=10)
        await client.download_batch(batch.id)
        async with client.stream_batch(batch.id) as body:
            assert [chunk async for chunk in body]
        server.batch_completion_delay = 30.0  # still running when cancelled
        running = await client.create_batch("https://c.example/\n", country="de")
        await client.cancel_batch(running.id)

    url, key = server.screenshotcenter_url, {"X-API-KEY": server.api_key}
    server.screenshot_completion_delay = 30.0  # so its thumbnail is not ready yet
    async with raw.get(f"{url}/screenshot/create", params={"url": JOB}, headers=key) as made:
        unfinished = (await made.json())["data"]["id"]
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/screenshot/thumbnail?id={unfinished}", None),  # 404, not ready
        ("GET", f"/batch/download?id={running.id}", None),  # not finished yet
        ("GET", "/crawl/info?id=x", None),
        ("GET", "/crawl/info?id=99999999", None),
        ("POST", "/crawl/create", {"max_urls": 3}),
        ("POST", "/crawl/cancel", {"id": 99999999}),
        ("POST", "/crawl/cancel", {"id": "x"}),
        ("GET", "/screenshot/create?country=us", None),
        ("GET", "/screenshot/info?id=99999999", None),
        ("GET", "/screenshot/search", None),
        ("GET", "/screenshot/delete?id=1&data=everything", None),
        ("GET", "/screenshot/delete?id=99999999", None),
        ("GET", f"/screenshot/thumbnail?id={crawl.screenshots[0].id}", None),  # image deleted
        ("GET", "/screenshot/html?id=99999999", None),
        ("GET", "/screenshot/pdf?id=x", None),
        ("GET", f"/screenshot/video?id={crawl.screenshots[1].id}", None),  # none recorded
        ("POST", "/batch/cancel", {"id": 99999999}),
        ("GET", "/batch/info?id=99999999", None),
        ("GET", "/account/info", None),  # 429, as injected below
    ]
    server.inject(f"{SC_PREFIX}/account/info", status=429, times=1, retry_after=7)
    for method, path, body in requests:
        async with raw.request(method, url + path, json=body, headers=key) as answer:
            await answer.read()
    form = aiohttp.FormData({"country": "usa"})
    form.add_field("file", b"not a url\n", filename="urls.txt", content_type="text/plain")
    async with raw.post(f"{url}/batch/create", data=form, headers=key) as answer:
        await answer.read()


async def drive_wrong_key(server: FakeServer, raw: aiohttp.ClientSession) -> None:
    """Every endpoint of both specs once with a wrong key: each answers 401."""
    bases = {"uprock": server.uprock_url, "screenshotcenter": server.screenshotcenter_url}
    for name in spec.NAMES:
        for method, template in operations(name):
            path = re.sub(r"\{[^}]+\}", UNKNOWN_JOB, template)
            headers = {"Authorization": "Bearer wrong", "X-API-KEY": "wrong"}
            async with raw.request(method, bases[name] + path + "?id=1", headers=headers) as answer:
                assert answer.status == 401, (method, path)


async def test_fake_server_answers_every_endpoint_as_the_specs_say(
    recorded: tuple[FakeServer, list[Exchange]], tmp_path: Path
) -> None:
    server, exchanges = recorded
    used: dict[type, set[str]] = {UprockClient: set(), ScreenshotCenterClient: set()}
    async with aiohttp.ClientSession() as raw:
        await drive_uprock(server, raw, tmp_path, used[UprockClient])
        await drive_screenshotcenter(server, raw, tmp_path, used[ScreenshotCenterClient])
        await drive_wrong_key(server, raw)
    # A new client method must be driven here, or its endpoint goes unchecked.
    for cls, names in used.items():
        public = {name for name in dir(cls) if not name.startswith("_")}
        assert public - NO_REQUEST - names == set(), cls.__name__

    wrong = {str(e): faults for e in exchanges if (faults := check(e))}
    assert wrong == {}, "\n".join(f"{k}: {v}" for k, v in wrong.items())

    # Every operation of both specs got a success answer (and a 401 from
    # drive_wrong_key), so none of the fake's answers goes unchecked.
    seen: dict[tuple[str, str, str], set[int]] = {}
    for exchange in exchanges:
        found = find(exchange)
        assert found is not None
        name, (method, template), _operation = found
        seen.setdefault((name, method, template), set()).add(exchange.status // 100)
    described = {(name, *key) for name in spec.NAMES for key in operations(name)}
    assert set(seen) == described
    assert {key for key, kinds in seen.items() if 2 not in kinds} == set()
    assert {202, 400, 401, 404, 409, 410, 429} <= {e.status for e in exchanges}
