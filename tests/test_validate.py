"""The one set of argument rules (``uprock_async._validate``), with no server."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from uprock_async import ScreenshotCenterClient, UprockClient, _validate
from uprock_async.concurrency import resolve_concurrency

ID = str(uuid.UUID(int=1))


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0, -1.0])
def test_a_wait_takes_only_finite_positive_seconds(value: float) -> None:
    with pytest.raises(ValueError, match="poll_interval"):
        _validate.wait_args(value, 10)
    with pytest.raises(ValueError, match="timeout"):
        _validate.wait_args(1, value)


@pytest.mark.parametrize("value", [None, "1", True])
def test_a_wait_takes_numbers_of_seconds(value: object) -> None:
    with pytest.raises(TypeError, match="number of seconds"):
        _validate.wait_args(value, 10)
    assert _validate.wait_args(1, 2.5) == (1.0, 2.5)


async def test_both_clients_refuse_an_infinite_wait_before_any_request() -> None:
    # Uprock used to refuse it and ScreenshotCenter to accept it: one rule now.
    async with UprockClient("k", base_url="http://127.0.0.1:9") as uprock:
        with pytest.raises(ValueError, match="timeout"):
            await uprock.wait_for_job(ID, timeout=math.inf)
    async with ScreenshotCenterClient("k", base_url="http://127.0.0.1:9/api/v1") as sc:
        for wait in (sc.wait_for_crawl, sc.wait_for_screenshot, sc.wait_for_batch):
            with pytest.raises(ValueError, match="timeout"):
                await wait(1, timeout=math.inf)
            with pytest.raises(ValueError, match="poll_interval"):
                await wait(1, poll_interval=math.nan)
    assert uprock.stats().requests == sc.stats().requests == 0


def test_watch_accepts_no_timeout_and_zero_but_not_nan() -> None:
    assert _validate.watch_args(1, None) == math.inf
    assert _validate.watch_args(1, 0) == 0.0
    with pytest.raises(ValueError, match="timeout"):
        _validate.watch_args(1, math.nan)
    with pytest.raises(ValueError, match="poll_interval"):
        _validate.watch_args(math.inf, None)
    with pytest.raises(ValueError, match="concurrency"):  # the one concurrency check
        resolve_concurrency(0)


@pytest.mark.parametrize("value", [math.inf, math.nan, 0, -5])
def test_a_rate_is_finite_and_positive(value: float) -> None:
    with pytest.raises(ValueError, match="per_second"):
        _validate.per_second(value)
    assert _validate.per_second(None) is None
    assert _validate.per_second(10) == 10.0


def test_distributed_refuses_an_infinite_rate_up_front() -> None:
    pytest.importorskip("distributed")
    from uprock_async.distributed import job_details_on_cluster

    with pytest.raises(ValueError, match="per_second"):
        job_details_on_cluster([ID], per_second=math.inf)


@pytest.mark.parametrize(
    "url",
    [
        " https://example.com/",
        "https://example.com/\n",
        "https://exa\tmple.com/",
        "javascript:alert(1)",
        "https:///path",
        "example.com",
    ],
)
def test_a_url_is_refused_not_repaired(url: str) -> None:
    with pytest.raises(ValueError, match="url"):
        _validate.http_url(url)


def test_a_space_inside_a_url_is_for_the_service_not_for_us() -> None:
    url = "https://example.com/a b"
    assert _validate.http_url(url) == url  # sent quoted, as a value
    with pytest.raises(ValueError, match="white space"):
        _validate.http_url(url, fetched=True)  # it would be our request line
    with pytest.raises(TypeError, match="url"):
        _validate.http_url(b"https://example.com/")


async def test_both_clients_refuse_white_space_around_a_url() -> None:
    padded = " https://example.com/ "
    async with UprockClient("k", base_url="http://127.0.0.1:9") as uprock:
        with pytest.raises(ValueError, match="white space"):
            await uprock.create_job(padded)
    async with ScreenshotCenterClient("k", base_url="http://127.0.0.1:9/api/v1") as sc:
        with pytest.raises(ValueError, match="white space"):
            await sc.create_crawl(padded)
        with pytest.raises(ValueError, match="white space"):
            await sc.create_screenshot(padded)
        with pytest.raises(ValueError, match="white space"):
            await sc.create_batch([padded], country="us")
    assert uprock.stats().requests == sc.stats().requests == 0


def test_ids_of_each_service() -> None:
    assert _validate.job_id(uuid.UUID(int=1)) == ID
    with pytest.raises(ValueError, match="job_id"):
        _validate.job_id("../etc/passwd")
    with pytest.raises(TypeError, match="job_id"):
        _validate.job_id(5)
    assert _validate.positive_id("12") == 12
    with pytest.raises(ValueError, match="batch_id"):
        _validate.positive_id(0, "batch_id")
    with pytest.raises(TypeError, match="crawl_id"):
        _validate.positive_id(True)


def test_one_iterable_rule_for_every_list_of_ids() -> None:
    for single in ("abc", b"abc", uuid.UUID(int=1)):
        with pytest.raises(TypeError, match="ids must be an iterable of ids, not a single"):
            _validate.each(single, _validate.job_id, "ids")  # type: ignore[arg-type]
    # A collection is checked at once, before any request.
    with pytest.raises(ValueError, match="job_id"):
        _validate.each([ID, "a/b"], _validate.job_id, "ids")


def test_a_generator_is_checked_lazily_and_closed_with_its_wrapper() -> None:
    closed = []

    def ids() -> Iterator[str]:
        try:
            yield ID
            yield "a/b"
        finally:
            closed.append(True)

    checked = iter(_validate.each(ids(), _validate.job_id, "ids"))
    assert next(checked) == ID
    close = getattr(checked, "close", None)
    assert close is not None
    close()
    assert closed == [True]


async def test_an_async_iterable_is_collected_and_checked() -> None:
    async def ids() -> AsyncIterator[Any]:
        yield uuid.UUID(int=1)
        yield ID

    assert await _validate.collect(ids(), _validate.job_id, "ids") == [ID, ID]
    assert await _validate.collect([ID], _validate.job_id, "ids") == [ID]


def test_numbers_kinds_and_pages() -> None:
    assert _validate.int_in(5, "n", 1, 10) == 5
    with pytest.raises(ValueError, match="between 1 and 10"):
        _validate.int_in(11, "n", 1, 10)
    with pytest.raises(TypeError, match="n must be an int"):
        _validate.int_in(True, "n", 1, 10)
    assert _validate.page(None, 0) == {"limit": None, "offset": 0}
    with pytest.raises(ValueError, match="limit"):
        _validate.page(0, None)
    assert _validate.kinds(None) == _validate.KINDS
    assert _validate.kinds("pdf, image,pdf") == ("pdf", "image")
    with pytest.raises(ValueError, match="kind must be one of"):
        _validate.kinds(["gif"])
    with pytest.raises(ValueError, match="at least one"):
        _validate.kinds(" , ")
