"""The ``uprock-async`` command line (also ``python -m uprock_async``).

::

    uprock-async demo                          # offline: embedded FakeServer, no key
    uprock-async job-detail ID                 # JSON
    uprock-async job-details ids.txt > out.jsonl
    uprock-async job-details ids.txt -o out.jsonl --resume
    uprock-async watch ids.txt -o done.jsonl --timeout 3600 --metrics-port 9100
    uprock-async crawl-info ID
    uprock-async save-crawl CRAWL_ID DIR --kinds image,html
    uprock-async fake-server --port 8080       # both fake APIs; prints export lines

Keys come from ``UPROCK_API_KEY`` / ``SCREENSHOTCENTER_API_KEY``. Exit status:
0 success, 1 some call failed, 2 usage error (bad arguments, missing key,
input lines that are not job ids), 130 Ctrl-C, 143 SIGTERM. Errors are one
line on stderr; ``--debug`` shows the traceback.

Every command is one row of :data:`COMMANDS`: its name, its help, a function
that adds its arguments and a function that runs it. The rows' functions live
in one module per command group: :mod:`._demo`, :mod:`._fake` (fake-server),
:mod:`._jobs` (job-detail, job-details, watch) and :mod:`._screenshots`
(crawl-info, save-crawl); :mod:`._common` holds what they share and
:mod:`._progress` the progress bar on stderr. An error in a subcommand's
arguments prints that subcommand's usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .._version import __version__
from . import _demo, _fake, _jobs, _output, _progress, _screenshots
from ._common import (
    PROG,
    CliError,
    common_options,
    describe,
    say,
    stopped_how,
)

__all__ = ["COMMANDS", "Command", "build_parser", "main"]


@dataclass(frozen=True)
class Command:
    """One subcommand: what ``--help`` says, its arguments, and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit status
    description: str | None = None
    #: Whether it talks to a service ``--base-url`` could point elsewhere.
    takes_base_url: bool = True


COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "fan-out and decode benchmark against an embedded FakeServer (no key needed)",
        _demo.add_arguments,
        _demo.run,
        description="Start a FakeServer in this process, look up --jobs job details, decode "
        "a crawl of --screenshots screenshots and print throughput, retries and latency.",
        takes_base_url=False,
    ),
    Command(
        "fake-server",
        "both fake APIs on 127.0.0.1 until Ctrl-C, to try every command without an account",
        _fake.add_arguments,
        _fake.run,
        description="Serve the fake Uprock and ScreenshotCenter APIs on 127.0.0.1 (--port, "
        "default a free one) with --jobs completed jobs and a crawl, print export lines for "
        "UPROCK_BASE_URL, UPROCK_API_KEY, SCREENSHOTCENTER_BASE_URL and "
        "SCREENSHOTCENTER_API_KEY on stdout and commands to try on stderr, and run until "
        "Ctrl-C or SIGTERM (exit 0).",
        takes_base_url=False,
    ),
    Command(
        "job-detail",
        "one job's detail as JSON (UPROCK_API_KEY)",
        _jobs.add_job_detail_arguments,
        _jobs.run_job_detail,
    ),
    Command(
        "job-details",
        "many job details, ids one per line in, JSON lines out (UPROCK_API_KEY)",
        _jobs.add_job_details_arguments,
        _jobs.run_job_details,
        description="Read job ids one per line (blank lines skipped) and write one JSON line "
        'per id as it completes: {"id": ..., "detail": {...}} or {"id": ..., "error": '
        '{"type", "status", "message"}}. With --output FILE --resume, ids that already '
        "have a detail line in FILE are skipped and new lines are appended. Exit 0 when "
        "all succeeded, 1 when some lookups failed, 2 on usage errors or lines that are "
        "not job ids (refused before any request), 130 on Ctrl-C, 143 on SIGTERM (no new "
        "lookups start and the lines written stay whole).",
    ),
    Command(
        "watch",
        "follow jobs until they finish, one JSON line each as it does (UPROCK_API_KEY)",
        _jobs.add_watch_arguments,
        _jobs.run_watch,
        description="Read job ids one per line and poll their status in batches of 1,000 "
        "every --poll-interval seconds; write one JSON line per job as it reaches a "
        'terminal status: {"id": ..., "detail": {...}} or {"id": ..., "error": {...}} '
        "(an unknown id, a failed detail lookup, or a job still running after --timeout). "
        "Exit codes as job-details.",
    ),
    Command(
        "crawl-info",
        "one crawl as JSON (SCREENSHOTCENTER_API_KEY)",
        _screenshots.add_crawl_info_arguments,
        _screenshots.run_crawl_info,
    ),
    Command(
        "save-crawl",
        "save every finished screenshot of a crawl to DIR (SCREENSHOTCENTER_API_KEY)",
        _screenshots.add_save_crawl_arguments,
        _screenshots.run_save_crawl,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``uprock-async``: one subparser per row of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Async client for the Uprock Crawl API and the ScreenshotCenter API.",
        epilog="Keys come from UPROCK_API_KEY and SCREENSHOTCENTER_API_KEY. "
        "Start with: uprock-async demo (offline, no key needed).",
        parents=[common_options(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        common = [common_options(suppress=True, base_url=command.takes_base_url)]
        subparser = sub.add_parser(
            command.name, parents=common, help=command.help, description=command.description
        )
        command.add_arguments(subparser)
        # usage: where main() sends an error about this subcommand's arguments
        subparser.set_defaults(run=command.run, row=command, usage=subparser)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``argv`` parsed; an error about a subcommand's arguments exits 2 with that
    subcommand's usage (argparse alone would print the top-level one for an
    unknown option after the subcommand)."""
    args, extras = parser.parse_known_args(argv)
    usage: argparse.ArgumentParser = getattr(args, "usage", parser)
    if extras:
        usage.error(f"unrecognized arguments: {' '.join(extras)}")
    row: Command | None = getattr(args, "row", None)
    if row is not None and not row.takes_base_url and args.base_url is not None:
        usage.error(
            f"{row.name} talks only to its own embedded fake server: --base-url does not "
            "apply (run `uprock-async fake-server` to point other commands at a fake)"
        )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = _parse(parser, argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except KeyboardInterrupt as stop:  # job-details and watch print their own summary
        how, code = stopped_how(stop)
        say(how)
        return code
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly, with 141 (128 + SIGPIPE)
        # as a Unix tool ended by SIGPIPE does; stdout now points at devnull so the
        # interpreter's final flush does not complain either.
        return _output.pipe_closed()
    except CliError as exc:
        say(exc.message)
        return exc.code
    except Exception as exc:
        if args.debug:
            raise
        say(f"error: {describe(exc)}")
        return 1
    finally:
        _progress.finish_all()  # a bar still open ends its line
