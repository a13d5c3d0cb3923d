"""``job-detail``, ``job-details`` and ``watch``: Uprock jobs in, JSON (lines) out.

``job-details`` and ``watch`` read ids lazily (see :mod:`._ids`) and write each
result as one whole line the moment it completes (see :mod:`._output`, which
also locks an ``--output`` file against a second run). Ctrl-C and SIGTERM
cancel what is in flight; what was written stays valid JSON lines, and a
summary goes to stderr. A closed stdout (``| head -1``) ends the run quietly
(exit status 141), a failed write with a message (exit status 74).

Only a line our own check refuses before any request counts as an invalid id
(exit status 2); every error of a lookup — the service's answer for that id, a
connection, a malformed redirect, a body that does not decode, a watch that
timed out — is a failure of that id (exit status 1).
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, BinaryIO, TypeAlias

import anyio

from ..concurrency import Outcome
from ..uprock import UprockClient
from ._common import (
    CliError,
    add_concurrency,
    add_metrics_port,
    api_key,
    base_url,
    check_job_id,
    interval,
    per_second,
    positive_int,
    print_json,
    progress_for_stderr,
    run_async,
    say,
    stopped_how,
    timeout,
)
from ._ids import file_ids, open_input, read_lines
from ._metrics import serve_metrics
from ._output import (
    JsonLines,
    Output,
    PipeClosed,
    Tally,
    WriteFailed,
    open_output,
    pipe_closed,
)

__all__ = [
    "add_job_detail_arguments",
    "add_job_details_arguments",
    "add_watch_arguments",
    "run_job_detail",
    "run_job_details",
    "run_watch",
]


def _add_input_output(parser: argparse.ArgumentParser) -> None:
    """``FILE`` (default stdin) and ``--output``: the same for job-details and watch."""
    parser.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="ids file, or - for stdin (default)"
    )
    parser.add_argument(
        "--output",
        "-o",
        metavar="PATH",
        help="write here instead of stdout (locked: a second run on it is refused)",
    )


# -- job-detail ------------------------------------------------------------------------


def add_job_detail_arguments(parser: argparse.ArgumentParser) -> None:
    """``ID`` and ``--parse-cookies``."""
    parser.add_argument("id", help="the job id (a UUID)")
    parser.add_argument("--parse-cookies", action="store_true", help="ask for parsed cookies")


def run_job_detail(args: argparse.Namespace) -> int:
    """Print one job's detail as JSON."""
    return run_async(functools.partial(_job_detail, args))


async def _job_detail(args: argparse.Namespace) -> int:
    """The body of :func:`run_job_detail`, on the event loop."""
    try:
        job_id = check_job_id(args.id)
    except ValueError as exc:
        raise CliError(f"error: {exc}", code=2) from None
    key = api_key("UPROCK_API_KEY")
    async with UprockClient(key, base_url=base_url(args)) as client:
        detail = await client.job_detail(job_id, parse_cookies=args.parse_cookies)
    print_json(detail)
    return 0


# -- job-details -----------------------------------------------------------------------


def add_job_details_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, output, ``--resume``, limits, ``--processes`` and ``--metrics-port``."""
    _add_input_output(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="skip ids that already have a detail line in --output, and append to it "
        "(a second run on the same file is refused while this one holds it)",
    )
    add_concurrency(parser, default=64)
    parser.add_argument(
        "--per-second", type=per_second, default=None, metavar="R", help="start at most R a second"
    )
    parser.add_argument("--parse-cookies", action="store_true", help="ask for parsed cookies")
    parser.add_argument(
        "--stats", action="store_true", help="print the client's stats to stderr at the end"
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        metavar="N",
        help="run on a local Dask cluster of N processes (needs uprock-async[dask])",
    )
    add_metrics_port(parser)


def run_job_details(args: argparse.Namespace) -> int:
    """Stream the details of every id of the input as JSON lines; the exit status."""
    if args.resume and args.output in (None, "-"):
        raise CliError("error: --resume needs --output FILE: the file of the run to continue", 2)
    if args.processes > 1 and args.metrics_port is not None:
        raise CliError("error: --metrics-port works only in one process (no --processes)", 2)
    if args.processes > 1:
        tally = Tally()
        return _written(functools.partial(_on_cluster, args, tally), tally)

    def lookups(client: UprockClient, ids: AsyncIterator[str]) -> Lookups:
        return client.iter_job_details(
            ids,
            parse_cookies=args.parse_cookies,
            concurrency=args.concurrency,
            per_second=args.per_second,
            progress=progress_for_stderr(args),  # the file's id count: an ETA
        )

    return _run_streaming(args, lookups)


def _on_cluster(args: argparse.Namespace, tally: Tally) -> int:
    """``--processes N``: the same lookups on a local Dask cluster of N worker processes.

    Synchronous (the cluster runs its own event loops); the ids are read up front
    and the lines come out in input order once the cluster is done.
    """
    try:
        from ..distributed import job_details_on_cluster
    except ImportError as exc:
        raise CliError(f"error: --processes needs uprock-async[dask] ({exc})", code=2) from None
    key = api_key("UPROCK_API_KEY")
    source, output = _open(args)
    lines = JsonLines(output.stream, tally, output.name)
    try:
        with source:
            ids = list(file_ids(source))
        valid = [job_id for job_id in _skip_done(ids, output, tally) if _check(job_id, lines)]
        options: dict[str, Any] = {"api_key": key}
        if base_url(args):
            options["base_url"] = base_url(args)
        results = job_details_on_cluster(
            valid,
            n_workers=args.processes,
            concurrency_per_worker=args.concurrency,
            per_second=args.per_second,
            parse_cookies=args.parse_cookies,
            **options,
        )
        for job_id, result in zip(valid, results, strict=True):
            if isinstance(result, BaseException):
                lines.error(job_id, result)
            else:
                lines.detail(job_id, result)
        lines.flush()
    finally:
        output.close()
    say(tally.summary())
    return tally.exit_code


# -- watch -----------------------------------------------------------------------------


def add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    """Input, output, ``--poll-interval``, ``--timeout``, ``--details``,
    ``--concurrency`` (detail fetches; ``auto`` by default), ``--stats`` and
    ``--metrics-port``."""
    _add_input_output(parser)
    parser.add_argument(
        "--poll-interval",
        type=interval,
        default=2.0,
        metavar="S",
        help="seconds from one batch status round to the next (default 2)",
    )
    parser.add_argument(
        "--timeout",
        type=timeout,
        default=None,
        metavar="S",
        help="give up on jobs still running after S seconds: an error line each "
        "(default: wait forever)",
    )
    parser.add_argument(
        "--details",
        action=argparse.BooleanOptionalAction,
        default=True,
        help='write each finished job\'s detail ({"id", "detail"}; the default) or only '
        'its status ({"id", "job"}, no detail request)',
    )
    add_concurrency(parser, default="auto", what="detail fetches at once")
    parser.add_argument(
        "--stats", action="store_true", help="print the client's stats to stderr at the end"
    )
    add_metrics_port(parser)


def run_watch(args: argparse.Namespace) -> int:
    """Follow every id of the input to a terminal status; one JSON line each."""

    def lookups(client: UprockClient, ids: AsyncIterator[str]) -> Lookups:
        # The watch reads every id on entry (it polls them all each round), so
        # the invalid lines are written before any request.
        return client.watch_jobs(
            ids,
            poll_interval=args.poll_interval,
            timeout=args.timeout,
            details=args.details,
            concurrency=args.concurrency,
            progress=progress_for_stderr(),
        )

    return _run_streaming(args, lookups, "detail" if args.details else "job")


# -- shared by job-details and watch ---------------------------------------------------


# What job-details and watch run over the ids: an async context manager of outcomes.
Lookups: TypeAlias = AbstractAsyncContextManager[AsyncIterator[Outcome[str, Any]]]


def _run_streaming(
    args: argparse.Namespace,
    lookups: Callable[[UprockClient, AsyncIterator[str]], Lookups],
    value_key: str = "detail",
) -> int:
    """Ids in, one JSON line per outcome out; Ctrl-C and SIGTERM end with a summary."""
    tally = Tally()
    command = functools.partial(_stream, args, tally, lookups, value_key)
    return _written(functools.partial(run_async, command, handle_sigterm=True), tally)


def _written(run: Callable[[], int], tally: Tally) -> int:
    """``run()``'s exit status; how it stopped when stopped early: Ctrl-C or SIGTERM
    (a summary), a closed stdout (quietly), a line it could not write (saying so)."""
    try:
        return run()
    except KeyboardInterrupt as stop:  # Ctrl-C, or SIGTERM as Terminated
        return _stopped(stop, tally)
    except PipeClosed:  # the reader went away (`| head -1`): what Unix tools do
        return pipe_closed()
    except WriteFailed as exc:
        say(exc.message)
        say(tally.summary("stopped: the output could not be written"))
        return exc.code


async def _stream(
    args: argparse.Namespace,
    tally: Tally,
    lookups: Callable[[UprockClient, AsyncIterator[str]], Lookups],
    value_key: str,
) -> int:
    """The body of :func:`_run_streaming`, on the event loop."""
    key = api_key("UPROCK_API_KEY")
    async with (
        UprockClient(key, base_url=base_url(args)) as client,
        serve_metrics(args.metrics_port, client),  # bound before any request
    ):
        source, output = _open(args)
        lines = JsonLines(output.stream, tally, output.name)
        try:
            async with lookups(client, _wanted(read_lines(source), output, lines, tally)) as outs:
                async for outcome in outs:
                    if outcome.error is None:
                        lines.detail(outcome.item, outcome.value, value_key)
                    else:
                        lines.error(outcome.item, outcome.error)
            lines.flush()
            if getattr(args, "stats", False):
                print(client.stats(), file=sys.stderr)
        except anyio.get_cancelled_exc_class():
            # Ctrl-C or SIGTERM: push out the whole lines written so far, then stop.
            lines.flush_quietly()
            raise
        finally:
            _close(source, output)
    say(tally.summary())
    return tally.exit_code


def _stopped(stop: KeyboardInterrupt, tally: Tally) -> int:
    """The summary of a run cut short by Ctrl-C or SIGTERM; the exit status to use."""
    how, code = stopped_how(stop)
    say(tally.summary(how))
    return code


def _open(args: argparse.Namespace) -> tuple[BinaryIO, Output]:
    """The input and the output; the input is closed again if the output fails."""
    source = open_input(args.file)
    try:
        output = open_output(args.output, resume=getattr(args, "resume", False), source=source)
    except BaseException:
        if source is not sys.stdin.buffer:
            source.close()
        raise
    return source, output


def _close(source: BinaryIO, output: Output) -> None:
    """Close what :func:`_open` opened (never stdin or stdout)."""
    if source is not sys.stdin.buffer:
        source.close()
    output.close()


async def _wanted(
    lines_in: AsyncIterator[str], output: Output, lines: JsonLines, tally: Tally
) -> AsyncIterator[str]:
    """The ids to look up: not done by a resumed run, and well formed (an invalid
    line becomes its own error line; the rest go on)."""
    done = output.done
    async for job_id in lines_in:
        if job_id in done:
            tally.skipped += 1
        elif _check(job_id, lines):
            yield job_id


def _skip_done(ids: list[str], output: Output, tally: Tally) -> list[str]:
    """``ids`` without those a resumed run already has, counted as skipped."""
    todo = [job_id for job_id in ids if job_id not in output.done]
    tally.skipped += len(ids) - len(todo)
    return todo


def _check(job_id: str, lines: JsonLines) -> bool:
    """Whether ``job_id`` is well formed; if not, its error line is written."""
    try:
        check_job_id(job_id)
    except ValueError as exc:
        lines.invalid(job_id, exc)
        return False
    return True
