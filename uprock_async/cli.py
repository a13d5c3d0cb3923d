"""The ``uprock-async`` command line (also ``python -m uprock_async``).

::

    uprock-async demo                          # offline: embedded FakeServer, no key
    uprock-async job-detail ID                 # JSON
    uprock-async job-details ids.txt > out.jsonl
    uprock-async crawl-info ID
    uprock-async save-crawl CRAWL_ID DIR --kinds image,html

Keys come from ``UPROCK_API_KEY`` / ``SCREENSHOTCENTER_API_KEY``. Exit status:
0 success, 1 some call failed, 2 usage error (bad arguments, missing key,
input lines that are not job ids), 130 interrupted. Errors are one line on stderr; ``--debug``
shows the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ._cli._common import PROG, CliError, describe, say
from ._version import __version__

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


# -- argument types -----------------------------------------------------------


def _concurrency(text: str) -> int | str:
    """``--concurrency`` of every command: a positive int, or ``auto`` (adaptive)."""
    if text == "auto":
        return text
    try:
        return _positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'auto', got {text!r}"
        ) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _per_second(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a rate above 0, got {text!r}")
    return value


_KINDS = ("image", "html", "pdf", "video")


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [kind for kind in kinds if kind not in _KINDS]
    if not kinds or unknown:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {', '.join(_KINDS)}, got {text!r}"
        )
    return kinds


# -- the parser ----------------------------------------------------------------


def _common(suppress: bool) -> argparse.ArgumentParser:
    """--base-url and --debug, accepted before or after the subcommand.

    The subcommands' copy uses SUPPRESS defaults so that leaving an option out
    after the subcommand does not erase the value given before it.
    """
    parent = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if suppress else None
    parent.add_argument(
        "--base-url",
        default=default,
        metavar="URL",
        help="API root to talk to (default: env UPROCK_BASE_URL / SCREENSHOTCENTER_BASE_URL, "
        "then the public service)",
    )
    parent.add_argument(
        "--debug",
        action="store_true",
        default=default if suppress else False,
        help="show tracebacks",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``uprock-async``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Async client for the Uprock Crawl API and the ScreenshotCenter API.",
        epilog="Keys come from UPROCK_API_KEY and SCREENSHOTCENTER_API_KEY. "
        "Start with: uprock-async demo (offline, no key needed).",
        parents=[_common(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_common(suppress=True)]

    demo = sub.add_parser(
        "demo",
        parents=common,
        help="fan-out and decode benchmark against an embedded FakeServer (no key needed)",
        description="Start a FakeServer in this process, look up --jobs job details, decode "
        "a crawl of --screenshots screenshots and print throughput, retries and latency.",
    )
    demo.add_argument("--jobs", type=_positive_int, default=5000, help="lookups (default 5000)")
    demo.add_argument(
        "--concurrency", type=_concurrency, default=64, help="an int or 'auto' (default 64)"
    )
    demo.add_argument(
        "--screenshots",
        type=_positive_int,
        default=1000,
        help="screenshots in the crawl to decode (default 1000)",
    )
    demo.add_argument(
        "--faults",
        action="store_true",
        help="inject 503s with Retry-After and dropped connections; retries absorb them",
    )
    demo.set_defaults(run=_demo)

    detail = sub.add_parser(
        "job-detail", parents=common, help="one job's detail as JSON (UPROCK_API_KEY)"
    )
    detail.add_argument("id", help="the job id (a UUID)")
    detail.add_argument("--parse-cookies", action="store_true", help="ask for parsed cookies")
    detail.set_defaults(run=_job_detail)

    details = sub.add_parser(
        "job-details",
        parents=common,
        help="many job details, ids one per line in, JSON lines out (UPROCK_API_KEY)",
        description="Read job ids one per line (blank lines skipped) and write one JSON line "
        'per id as it completes: {"id": ..., "detail": {...}} or {"id": ..., "error": '
        '{"type", "status", "message"}}. Exit 0 when all succeeded, 1 when some lookups '
        "failed, 2 on usage errors or lines that are not job ids (refused before any "
        "request), 130 on Ctrl-C.",
    )
    details.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="ids file, or - for stdin (default)"
    )
    details.add_argument(
        "--concurrency", type=_concurrency, default=64, help="an int or 'auto' (default 64)"
    )
    details.add_argument(
        "--per-second", type=_per_second, default=None, metavar="R", help="start at most R a second"
    )
    details.add_argument("--output", "-o", metavar="PATH", help="write here instead of stdout")
    details.add_argument("--parse-cookies", action="store_true", help="ask for parsed cookies")
    details.add_argument(
        "--stats", action="store_true", help="print the client's stats to stderr at the end"
    )
    details.add_argument(
        "--processes",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run on a local Dask cluster of N processes (needs uprock-async[dask])",
    )
    details.set_defaults(run=_job_details)

    crawl = sub.add_parser(
        "crawl-info", parents=common, help="one crawl as JSON (SCREENSHOTCENTER_API_KEY)"
    )
    crawl.add_argument("id", type=_positive_int, help="the crawl id")
    crawl.set_defaults(run=_crawl_info)

    save = sub.add_parser(
        "save-crawl",
        parents=common,
        help="save every finished screenshot of a crawl to DIR (SCREENSHOTCENTER_API_KEY)",
    )
    save.add_argument("crawl_id", type=_positive_int, metavar="CRAWL_ID")
    save.add_argument("directory", metavar="DIR")
    save.add_argument(
        "--kinds",
        type=_kinds,
        default=("image",),
        help="comma-separated artifacts: image,html,pdf,video (default image)",
    )
    save.add_argument(
        "--concurrency",
        type=_concurrency,
        default=16,
        help="screenshots at once: an int or 'auto' (default 16)",
    )
    save.set_defaults(run=_save_crawl)
    return parser


# -- commands (imported lazily: --help stays fast) ------------------------------


async def _demo(args: argparse.Namespace) -> int:
    from ._cli._demo import run_demo

    return await run_demo(args)


async def _job_detail(args: argparse.Namespace) -> int:
    from ._cli._commands import run_job_detail

    return await run_job_detail(args)


async def _crawl_info(args: argparse.Namespace) -> int:
    from ._cli._commands import run_crawl_info

    return await run_crawl_info(args)


async def _save_crawl(args: argparse.Namespace) -> int:
    from ._cli._commands import run_save_crawl

    return await run_save_crawl(args)


async def _job_details(args: argparse.Namespace) -> int:
    from ._cli._jobs import run_job_details

    return await run_job_details(args, args.tally)


# -- main ----------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    tally = None
    if args.command == "job-details":
        from ._cli._jobs import Tally

        tally = args.tally = Tally()
    try:
        if tally is not None and args.processes > 1:
            from ._cli._jobs import run_on_cluster

            return run_on_cluster(args, tally)
        run: Command = args.run
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        if tally is not None:
            say(tally.summary(interrupted=True))
        else:
            say("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly. Point stdout at devnull
        # so the interpreter's final flush does not complain either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except CliError as exc:
        say(exc.message)
        return exc.code
    except Exception as exc:
        if args.debug:
            raise
        say(f"error: {describe(exc)}")
        return 1
