"""``Retry-After`` read as seconds: the one parser the error map and the retry loop share."""

from __future__ import annotations

import email.utils
import math
import time

__all__ = ["parse_retry_after"]


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date), else ``None``:
    never an exception, never NaN or inf (``soon``, a date in year 10**20: ``None``)."""
    if not value or not isinstance(value, str):
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            # A date's year is unbounded: past 9999 datetime raises ValueError, past
            # a C long OverflowError.
            when = email.utils.parsedate_to_datetime(value)
            seconds = when.timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None  # not NaN, not inf
