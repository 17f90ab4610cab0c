"""Beijing time (UTC+8) is defined once, in core.clock, and every layer reads local hours and times from it."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from core.clock import BEIJING, local_hour, local_time

ROOT = Path(__file__).resolve().parents[2]
CODE = ("core", "adapters", "rules", "actors", "serve", "ops_center", "sim", "runtime")
# ways the offset was spelt before it had one home
OFFSET = re.compile(r"timedelta\(hours=8\)|8 \* 3_600_000|\+ 8 \* 3600|TZ_HOURS|UTC_OFFSET")


def test_local_hour_and_time_are_beijing_time() -> None:
    ms = int(datetime(2025, 6, 1, 23, 30, tzinfo=BEIJING).timestamp() * 1000)
    assert local_hour(ms) == 23
    assert local_hour(ms + 3_600_000) == 0
    assert local_time(ms) == "2025-06-01 23:30:00"
    assert local_time(ms, "%m-%d") == "06-01"
    assert local_time(0) == ""


def test_the_offset_is_written_only_in_core_clock() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in CODE
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "core" / "clock.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OFFSET.search(line)
    ]
    assert found == []
