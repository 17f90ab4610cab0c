"""Time limits on the Chinese calendar: working days skip weekends and holidays and count adjusted weekend workdays."""

from __future__ import annotations

import datetime as dt
from functools import cache

import holidays

from core.clock import BEIJING

DAY_MS = 86_400_000


@cache
def _china(year: int) -> holidays.HolidayBase:
    return holidays.China(years=year)


def is_working_day(day: dt.date) -> bool:
    """Whether a day is a working day in China (an adjusted weekend workday is one, a holiday is not)."""
    return bool(_china(day.year).is_working_day(day))


def _day_end_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), BEIJING).timestamp() * 1000)


def working_days_due(start_ms: int, days: int) -> int:
    """End (Beijing midnight) of the `days`-th working day after the day of `start_ms`: the SLA deadline."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, BEIJING).date()
    left = days
    while left:
        day += dt.timedelta(days=1)
        left -= is_working_day(day)
    return _day_end_ms(day)


def posting_ends(start_ms: int, days: int) -> int:
    """End of a 公示 of `days` calendar days that starts at `start_ms` (the end of its last day, Beijing time)."""
    day = dt.datetime.fromtimestamp(start_ms / 1000, BEIJING).date()
    return _day_end_ms(day + dt.timedelta(days=days - 1))
