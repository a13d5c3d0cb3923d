"""``crawl-info`` and ``save-crawl``: ScreenshotCenter crawls, JSON or a summary out."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from .. import _validate
from .._errors import UprockAsyncError
from ..screenshotcenter import ScreenshotCenterClient
from ._common import (
    CliError,
    add_concurrency,
    api_key,
    base_url,
    positive_int,
    print_json,
    progress_for_stderr,
    run_async,
    say,
)

__all__ = [
    "add_crawl_info_arguments",
    "add_save_crawl_arguments",
    "run_crawl_info",
    "run_save_crawl",
]

_MAX_LISTED_FAILURES = 20


def _kinds(text: str) -> tuple[str, ...]:
    """``--kinds``: a comma-separated, non-empty list of artifact kinds."""
    try:
        return _validate.kinds(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(_validate.KINDS)}, got {text!r}"
        ) from None


def _client(args: argparse.Namespace) -> ScreenshotCenterClient:
    """A client with the key from the environment and ``--base-url``."""
    return ScreenshotCenterClient(api_key("SCREENSHOTCENTER_API_KEY"), base_url=base_url(args))


# -- crawl-info ------------------------------------------------------------------------


def add_crawl_info_arguments(parser: argparse.ArgumentParser) -> None:
    """``ID``: the crawl."""
    parser.add_argument("id", type=positive_int, help="the crawl id")


def run_crawl_info(args: argparse.Namespace) -> int:
    """Print one crawl, with all its screenshots, as JSON."""
    return run_async(functools.partial(_crawl_info, args))


async def _crawl_info(args: argparse.Namespace) -> int:
    """The body of :func:`run_crawl_info`, on the event loop."""
    async with _client(args) as client:
        crawl = await client.crawl_info(args.id)
    print_json(crawl)
    return 0


# -- save-crawl ------------------------------------------------------------------------


def add_save_crawl_arguments(parser: argparse.ArgumentParser) -> None:
    """``CRAWL_ID DIR``, ``--kinds`` and ``--concurrency``."""
    parser.add_argument("crawl_id", type=positive_int, metavar="CRAWL_ID")
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument(
        "--kinds",
        type=_kinds,
        default=("image",),
        help="comma-separated artifacts: image,html,pdf,video (default image)",
    )
    add_concurrency(parser, default=16, what="screenshots at once")


def run_save_crawl(args: argparse.Namespace) -> int:
    """Save every finished screenshot's artifacts of a crawl; 1 if any failed."""
    return run_async(functools.partial(_save_crawl, args))


async def _save_crawl(args: argparse.Namespace) -> int:
    """The body of :func:`run_save_crawl`, on the event loop."""
    if not hasattr(ScreenshotCenterClient, "save_crawl"):
        raise CliError("error: this version has no ScreenshotCenterClient.save_crawl", code=2)
    directory = Path(args.directory)
    async with _client(args) as client:
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
