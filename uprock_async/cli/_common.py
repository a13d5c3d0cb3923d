"""What every subcommand shares: options, keys from the environment, JSON output,
error lines, exit codes and the event loop with its signal handling.

Exit status of every command: 0 success, 1 some call failed, 2 usage error (bad
arguments, missing key or extra, input lines that are not job ids), 130 Ctrl-C,
143 SIGTERM (128 + the signal number, the shell's convention, so a supervisor
can tell which signal stopped the run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any, BinaryIO

import msgspec

from .. import _validate
from .._errors import UprockAsyncError
from ..concurrency import ProgressArg
from . import _progress

__all__ = [
    "PROG",
    "CliError",
    "Terminated",
    "add_concurrency",
    "add_metrics_port",
    "api_key",
    "base_url",
    "check_job_id",
    "common_options",
    "describe",
    "error_object",
    "interval",
    "per_second",
    "port",
    "positive_int",
    "print_json",
    "progress_for_stderr",
    "run_async",
    "say",
    "stopped_how",
    "timeout",
]

PROG = "uprock-async"

_encoder = msgspec.json.Encoder()


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class Terminated(KeyboardInterrupt):
    """SIGTERM stopped an async command. A :class:`KeyboardInterrupt`, so every
    ``except KeyboardInterrupt`` that handles Ctrl-C handles it the same way."""


def stopped_how(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the run, for the summary, and the exit status: 128 + the signal."""
    if isinstance(exc, Terminated):
        return "terminated by SIGTERM", 128 + signal.SIGTERM
    return "interrupted", 128 + signal.SIGINT


def say(message: str) -> None:
    """One line on stderr, prefixed with the program name (after ending a progress
    line still open, so the message has a line of its own)."""
    _progress.finish_all()
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


def api_key(variable: str) -> str:
    """The key in ``variable``; a missing key is a one-line usage error (exit 2)."""
    key = os.environ.get(variable, "").strip()
    if not key:
        raise CliError(f"error: no API key: set {variable} in the environment", code=2)
    return key


def base_url(args: argparse.Namespace) -> str | None:
    """``--base-url`` when given (the client falls back to its env variable, then the default)."""
    value: str | None = getattr(args, "base_url", None)
    return value


def check_job_id(text: str) -> str:
    """``text`` as a job id, or ``ValueError``: the one id check of the command line."""
    return _validate.job_id(text)


def progress_for_stderr(args: argparse.Namespace | None = None) -> ProgressArg:
    """Progress on stderr when stderr is a terminal (see :mod:`._progress`): a tqdm bar,
    or one line rewritten in place without tqdm; ``None`` otherwise.

    With ``args`` of a command reading ids from a regular file (``args.file``), the
    total is that file's id count, so the bar shows an ETA; not with ``--resume``,
    where the ids already done are never looked up.
    """
    if not sys.stderr.isatty():
        return None
    source = getattr(args, "file", None)
    total = None if getattr(args, "resume", False) else _progress.count_ids(source)
    return _progress.stderr_bar(total)


def error_object(exc: BaseException) -> dict[str, Any]:
    """``{"type", "status", "message"}`` for a JSON error line (never the key: our
    errors are built without it)."""
    status = getattr(exc, "status_code", None)
    message = exc.message if isinstance(exc, UprockAsyncError) else str(exc)
    return {
        "type": type(exc).__name__,
        "status": status if isinstance(status, int) and status else None,
        "message": message,
    }


def print_json(value: Any, stream: BinaryIO | None = None) -> None:
    """``value`` as JSON on stdout: indented for a terminal, one compact line otherwise."""
    out = stream if stream is not None else sys.stdout.buffer
    data = _encoder.encode(value)
    if out.isatty():
        data = msgspec.json.format(data, indent=2)
    out.write(data + b"\n")
    out.flush()


def describe(exc: BaseException) -> str:
    """A one-line description of an unexpected error."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"


# -- argument types (argparse turns their ArgumentTypeError into exit 2) ----------


def positive_int(text: str) -> int:
    """An int >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _concurrency(text: str) -> int | str:
    """A positive int, or ``auto`` (adaptive)."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'auto', got {text!r}"
        ) from None


def _above_zero(what: str) -> Callable[[str], float]:
    """An argument type for a finite number above 0, named ``what`` in its error."""

    def parse(text: str) -> float:
        value = _number(text)
        if not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"expected {what} above 0, got {text!r}")
        return value

    return parse


per_second = _above_zero("a rate")  # --per-second
interval = _above_zero("a number of seconds")  # --poll-interval


def timeout(text: str) -> float:
    """A number of seconds >= 0 (``inf`` allowed: no limit; NaN refused)."""
    value = _number(text)
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


# -- options shared by several commands --------------------------------------------


def common_options(suppress: bool, base_url: bool = True) -> argparse.ArgumentParser:
    """--base-url and --debug, accepted before or after the subcommand.

    The subcommands' copy uses SUPPRESS defaults so that leaving an option out
    after the subcommand does not erase the value given before it. A command
    that talks to no API of the user's (``base_url=False``: demo, fake-server)
    still parses ``--base-url``, to refuse it with a reason (its help says so).
    """
    parent = argparse.ArgumentParser(add_help=False)
    default: Any = argparse.SUPPRESS if suppress else None
    parent.add_argument(
        "--base-url",
        default=default,
        metavar="URL",
        help="API root to talk to (default: env UPROCK_BASE_URL / SCREENSHOTCENTER_BASE_URL, "
        "then the public service)"
        if base_url
        else "refused here: this command serves its own fake APIs",
    )
    parent.add_argument(
        "--debug",
        action="store_true",
        default=default if suppress else False,
        help="show tracebacks",
    )
    return parent


def add_concurrency(parser: argparse.ArgumentParser, default: int | str, what: str = "") -> None:
    """``--concurrency N|auto``: the one concurrency option of every command."""
    prefix = f"{what}: " if what else ""
    parser.add_argument(
        "--concurrency",
        type=_concurrency,
        default=default,
        help=f"{prefix}an int or 'auto' (default {default})",
    )


def add_metrics_port(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port N``: Prometheus metrics on 127.0.0.1 while the command runs."""
    parser.add_argument(
        "--metrics-port",
        type=port,
        default=None,
        metavar="N",
        help="serve Prometheus metrics on http://127.0.0.1:N/metrics while running "
        "(needs uprock-async[prometheus])",
    )


# -- running a command on an event loop ------------------------------------------------


def run_async(
    command: Callable[[], Coroutine[Any, Any, int]], *, handle_sigterm: bool = False
) -> int:
    """Run ``command()`` on a new event loop; its exit status.

    With ``handle_sigterm``, SIGTERM stops the run as Ctrl-C does: the command's
    task is cancelled (no new lookup starts, the command flushes whole lines),
    then :class:`Terminated` is raised here. The handler is removed on the first
    SIGTERM, so a second one kills at once if shutting down hangs.
    """
    terminated = False

    async def guarded() -> int:
        nonlocal terminated
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        previous = signal.getsignal(signal.SIGTERM)
        installed = False

        def on_sigterm() -> None:
            nonlocal terminated
            terminated = True
            loop.remove_signal_handler(signal.SIGTERM)
            if task is not None:
                task.cancel()

        if handle_sigterm:
            # Unsupported on Windows loops, and off the main thread: there the
            # default (the process ends) stays.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, on_sigterm)
                installed = True
        try:
            return await command()
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGTERM)
                # Put back what was there: main() may run inside a program
                # that has its own SIGTERM handler.
                signal.signal(signal.SIGTERM, previous)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        if terminated:
            raise Terminated from None
        raise
