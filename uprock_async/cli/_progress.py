"""Progress on stderr for the commands that run many calls: a tqdm bar when tqdm is
installed, else one line rewritten in place (``1234/5000 24% 410/s ETA 0:09``).

The total is known for a regular input file: its non-blank lines are counted
before the run (:func:`count_ids`, under 0.1 s for a million ids), so both
forms show an ETA; for a pipe the total stays open and the line shows the count
and the rate. A bar still open when the command says something on stderr (a
summary, an error) is finished first (:func:`finish_all`), so the message
starts on a line of its own and the last count stays visible above it.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from typing import Any, TextIO

__all__ = ["LineBar", "TqdmBar", "count_ids", "finish_all", "stderr_bar"]

_CHUNK = 1 << 20
_REDRAW_EVERY = 0.1  # seconds between two drawings of the line

#: Bars drawn and not finished yet (one per run; a list so tests may run several).
_open: list[LineBar | TqdmBar] = []


def count_ids(path: str | None) -> int | None:
    """The non-blank lines of ``path`` when it is a regular file (what the commands
    read as ids), else ``None``: stdin, a pipe, a file that cannot be read."""
    if path is None or path == "-":
        return None
    try:
        with open(path, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                return None
            count = 0
            pending = False  # the line not ended yet has something besides whitespace
            for chunk in iter(lambda: source.read(_CHUNK), b""):
                # \r\n, \n and a lone \r all end a line, as the commands read them.
                lines = chunk.replace(b"\r", b"\n").split(b"\n")
                if len(lines) == 1:
                    pending = pending or bool(lines[0].strip())
                    continue
                count += pending or bool(lines[0].strip())
                count += sum(1 for line in lines[1:-1] if line.strip())
                pending = bool(lines[-1].strip())
            return count + pending
    except OSError:
        return None


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class LineBar:
    """``(done, total)`` as one line on ``stream``, redrawn at most every 0.1 s."""

    def __init__(self, total: int | None = None, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._started = time.monotonic()
        self._drawn = 0.0
        self._ended = False

    def __call__(self, done: int, total: int | None) -> None:
        if self._ended:
            return
        self.done = done
        if self.total is None:
            self.total = total
        if done == self.total:
            self.finish()  # all done: end the line now, before anything is printed
            return
        now = time.monotonic()
        if now - self._drawn >= _REDRAW_EVERY:
            self._draw(now)

    def text(self, now: float | None = None) -> str:
        """What the line says now."""
        elapsed = max((time.monotonic() if now is None else now) - self._started, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"]
        if self.total:
            parts.append(f"{100 * self.done // self.total}%")
        parts.append(f"{rate:.0f}/s")
        if self.total is not None and rate > 0 and self.done < self.total:
            parts.append(f"ETA {_clock((self.total - self.done) / rate)}")
        else:
            parts.append(f"in {_clock(elapsed)}")
        return " ".join(parts)

    def _draw(self, now: float) -> None:
        self._drawn = now
        width = shutil.get_terminal_size((80, 24)).columns - 1
        line = self.text(now)[:width]
        # \r back to the start, the text, then erase what a longer line left.
        self._stream.write(f"\r{line}\x1b[K")
        self._stream.flush()

    def finish(self) -> None:
        """Draw the last state and end the line, once (nothing if nothing was done)."""
        if self._ended or not self.done:
            return
        self._ended = True
        self._draw(time.monotonic())
        self._stream.write("\n")
        self._stream.flush()


class TqdmBar:
    """``(done, total)`` driving a tqdm bar on stderr, with the counted total if any."""

    def __init__(self, total: int | None = None) -> None:
        self.total = total
        self._bar: Any = None
        self._ended = False

    def __call__(self, done: int, total: int | None) -> None:
        if self._ended:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total if self.total is not None else total,
                unit="id",
                dynamic_ncols=True,
                file=sys.stderr,
            )
        self._bar.update(done - self._bar.n)
        if done == self._bar.total:
            self.finish()  # all done: end the line now, before anything is printed

    def finish(self) -> None:
        """Close the bar (it stays on screen, its line ended)."""
        self._ended = True
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def stderr_bar(total: int | None) -> LineBar | TqdmBar:
    """A new bar, registered to be finished by :func:`finish_all`: tqdm's when
    installed, else the one-line form."""
    try:
        import tqdm  # noqa: F401 - only checking it can be imported
    except ImportError:
        bar: LineBar | TqdmBar = LineBar(total)
    else:
        bar = TqdmBar(total)
    _open.append(bar)
    return bar


def finish_all() -> None:
    """End every bar still open (before a message on stderr, and at the end of a run)."""
    while _open:
        _open.pop().finish()
