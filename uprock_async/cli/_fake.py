"""``uprock-async fake-server``: both fake APIs on loopback, until Ctrl-C.

Every other command can then be tried without an account: the server prints
``export`` lines for the keys and base URLs on stdout, ready to paste into a
shell (or to ``eval`` from a file), and on stderr what it holds and commands
to try. Ctrl-C or SIGTERM stops it (exit status 0: that is how it ends).
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys

import anyio

from ._common import CliError, positive_int, run_async, say

__all__ = ["add_arguments", "run"]


def _port(text: str) -> int:
    """A TCP port, 0-65535 (0: any free one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--port``, ``--jobs``, ``--screenshots``, ``--ids-file`` and ``--seed``."""
    parser.add_argument(
        "--port", type=_port, default=0, metavar="N", help="port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--jobs", type=positive_int, default=100, help="completed jobs to hold (default 100)"
    )
    parser.add_argument(
        "--screenshots",
        type=positive_int,
        default=20,
        help="screenshots of the crawl it holds (default 20)",
    )
    parser.add_argument(
        "--ids-file",
        metavar="PATH",
        help="write the jobs' ids there, one per line (input for job-details and watch)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated data")


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 when stopped so, 2 when the port is taken."""
    try:
        return run_async(functools.partial(_serve, args), handle_sigterm=True)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM as Terminated: the way to stop it
        say("fake server stopped")
        return 0


def exports(uprock_url: str, screenshotcenter_url: str, key: str) -> list[str]:
    """The shell lines that point every command (and both clients) at the fake."""
    values = {
        "UPROCK_BASE_URL": uprock_url,
        "UPROCK_API_KEY": key,
        "SCREENSHOTCENTER_BASE_URL": screenshotcenter_url,
        "SCREENSHOTCENTER_API_KEY": key,
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


async def _serve(args: argparse.Namespace) -> int:
    """The body of :func:`run`, on the event loop."""
    from ..testing import FakeServer  # only this command and demo need the fake

    server = FakeServer(seed=args.seed, port=args.port, record=False)
    try:
        await server.start()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CliError(f"error: cannot listen on 127.0.0.1:{args.port}: {reason}", 2) from None
    try:
        ids = server.add_jobs(args.jobs)
        crawl_id = server.add_crawl(screenshots=args.screenshots)
        if args.ids_file:
            await anyio.Path(args.ids_file).write_text("".join(f"{job_id}\n" for job_id in ids))
        for line in exports(server.uprock_url, server.screenshotcenter_url, server.api_key):
            print(line)
        sys.stdout.flush()
        if args.ids_file:
            details = f"uprock-async job-details {shlex.quote(args.ids_file)}"
        else:
            details = f"printf '%s\\n' {ids[0]} {ids[-1]} | uprock-async job-details"
        say(f"fake Uprock and ScreenshotCenter APIs on http://127.0.0.1:{server.port}")
        say(f"holding {len(ids)} completed jobs and crawl {crawl_id}; paste the export lines")
        say(f"  then try: uprock-async job-detail {ids[0]}")
        say(f"            {details}")
        say(f"            uprock-async crawl-info {crawl_id}")
        say(f"            uprock-async save-crawl {crawl_id} shots/")
        say("Ctrl-C stops it")
        await anyio.sleep_forever()
    finally:
        await server.close()
    return 0  # pragma: no cover - sleep_forever ends only by cancellation
