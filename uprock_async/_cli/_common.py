"""What every subcommand shares: keys from the environment, JSON output, error lines."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, BinaryIO

import msgspec

from .._errors import UprockAsyncError
from .._fanout import ProgressArg

__all__ = [
    "PROG",
    "CliError",
    "api_key",
    "base_url",
    "describe",
    "error_object",
    "print_json",
    "progress_for_stderr",
    "say",
]

PROG = "uprock-async"


_encoder = msgspec.json.Encoder()


class CliError(Exception):
    """A failure the user can act on: printed as one line, exit with ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def say(message: str) -> None:
    """One line on stderr, prefixed with the program name."""
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


def progress_for_stderr() -> ProgressArg:
    """A tqdm bar (tqdm writes to stderr) when stderr is a terminal and tqdm is installed."""
    if not sys.stderr.isatty():
        return None
    try:
        import tqdm  # noqa: F401 - only checking it can be imported
    except ImportError:
        return None
    return True


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
