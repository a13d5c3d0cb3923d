"""``job-detail``, ``crawl-info`` and ``save-crawl``: one call each, JSON or a summary out."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._errors import UprockAsyncError
from ..screenshotcenter import ScreenshotCenterClient
from ..uprock import UprockClient
from ..uprock._client import validate_job_id
from ._common import CliError, api_key, base_url, print_json, progress_for_stderr, say

__all__ = ["run_crawl_info", "run_job_detail", "run_save_crawl"]

_MAX_LISTED_FAILURES = 20


async def run_job_detail(args: argparse.Namespace) -> int:
    """Print one job's detail as JSON."""
    try:
        job_id = validate_job_id(args.id)
    except ValueError as exc:
        raise CliError(f"error: {exc}", code=2) from None
    key = api_key("UPROCK_API_KEY")
    async with UprockClient(key, base_url=base_url(args)) as client:
        detail = await client.job_detail(job_id, parse_cookies=args.parse_cookies)
    print_json(detail)
    return 0


def _sc_client(args: argparse.Namespace) -> ScreenshotCenterClient:
    return ScreenshotCenterClient(api_key("SCREENSHOTCENTER_API_KEY"), base_url=base_url(args))


async def run_crawl_info(args: argparse.Namespace) -> int:
    """Print one crawl, with all its screenshots, as JSON."""
    async with _sc_client(args) as client:
        crawl = await client.crawl_info(args.id)
    print_json(crawl)
    return 0


async def run_save_crawl(args: argparse.Namespace) -> int:
    """Save every finished screenshot's artifacts of a crawl; 1 if any failed."""
    if not hasattr(ScreenshotCenterClient, "save_crawl"):
        raise CliError("error: this version has no ScreenshotCenterClient.save_crawl", code=2)
    directory = Path(args.directory)
    async with _sc_client(args) as client:
        results = await client.save_crawl(
            args.crawl_id,
            directory,
            kinds=args.kinds,
            concurrency=args.concurrency,
            progress=progress_for_stderr(),
        )
    failed: list[tuple[int, UprockAsyncError]] = []
    files = 0
    for screenshot_id, result in sorted(results.items()):
        if isinstance(result, BaseException):
            failed.append((screenshot_id, result))
        else:
            files += sum(1 for path in result.values() if path is not None)
    for screenshot_id, error in failed[:_MAX_LISTED_FAILURES]:
        say(f"screenshot {screenshot_id}: {type(error).__name__}: {error}")
    if len(failed) > _MAX_LISTED_FAILURES:
        say(f"... and {len(failed) - _MAX_LISTED_FAILURES} more failed screenshots")
    saved = len(results) - len(failed)
    print(f"saved {files} files of {saved} screenshots to {directory}; {len(failed)} failed")
    return 1 if failed else 0
