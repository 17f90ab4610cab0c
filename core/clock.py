"""Local time of the county: Beijing time (UTC+8, no daylight saving), defined once for every layer."""

from __future__ import annotations

import datetime as dt

HOUR_MS = 3_600_000
LOCAL_OFFSET_MS = 8 * HOUR_MS  # Zhouqu keeps Beijing time
BEIJING = dt.timezone(dt.timedelta(milliseconds=LOCAL_OFFSET_MS), "CST")


def local_hour(ts_ms: int) -> int:
    """Local hour of day, 0-23, of a time in ms since the epoch."""
    return (ts_ms + LOCAL_OFFSET_MS) // HOUR_MS % 24


def local_time(ms: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Epoch ms as Beijing time in `fmt` ("" for 0: never happened)."""
    return dt.datetime.fromtimestamp(ms / 1000, tz=BEIJING).strftime(fmt) if ms else ""
