"""Every create costs money: none is resent once it may have reached the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from uprock_async import APIConnectionError, ScreenshotCenterClient, ServerError, UprockClient
from uprock_async.testing import FakeServer

Create = Callable[[Any], Awaitable[object]]

# (the client fixture, the create call, the path it posts to, where the server stores it)
CREATES: dict[str, tuple[str, Create, str, str | None]] = {
    "create_job": (
        "uprock",
        lambda c: c.create_job("https://example.com/"),
        "/crawl/v1/new",
        "jobs",
    ),
    "create_session": ("uprock", lambda c: c.create_session(), "/crawl/v1/session/new", "sessions"),
    "create_crawl": (
        "sc",
        lambda c: c.create_crawl("https://example.com"),
        "/crawl/create",
        "crawls",
    ),
    "create_screenshot": (
        "sc",
        lambda c: c.create_screenshot("https://example.com"),
        "/screenshot/create",
        None,
    ),
    "create_batch": (
        "sc",
        lambda c: c.create_batch(["https://example.com/"], country="us"),
        "/batch/create",
        None,
    ),
}


@pytest.mark.parametrize(
    ("fault", "error"),
    [({"status": 503}, ServerError), ({"disconnect": True}, APIConnectionError)],
    ids=["503", "disconnect"],
)
@pytest.mark.parametrize("name", list(CREATES))
async def test_a_create_is_not_retried_once_sent(
    server: FakeServer,
    uprock: UprockClient,
    sc: ScreenshotCenterClient,
    name: str,
    fault: dict[str, Any],
    error: type[Exception],
) -> None:
    fixture, create, path, store = CREATES[name]
    client = uprock if fixture == "uprock" else sc
    server.inject(f"*{path}", times=1, **fault)
    with pytest.raises(error):
        await create(client)
    assert [r.path for r in server.requests if r.path.endswith(path)] == [
        r.path for r in server.requests
    ]
    assert len(server.requests) == 1
    if store is not None:
        assert getattr(server, store) == {}
