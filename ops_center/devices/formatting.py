"""How device pages write things: Chinese names of event fields and values, short Beijing time, escaped HTML
tables and key/value pairs."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from actors.base import DeviceActor
from actors.kinds import device_kinds
from core.clock import local_time as _local_time

# event detail fields shown to people (others are internal)
DETAIL_ZH = {
    "hr": "心率", "spo2": "血氧%", "temp": "体温℃", "battery": "电量%", "limit": "阈值", "sustained_s": "持续(秒)",
    "distance_m": "离家(米)", "silent_s": "无数据(秒)", "weight": "重量kg", "drop_kg": "减重kg", "moved_m": "移动(米)",
    "temp_in": "巢温℃", "zone": "区域", "count": "数量", "seen_s": "持续(秒)", "vehicle": "车辆", "plate": "车牌",
    "direction": "方向", "speed_kmh": "车速km/h", "limit_kmh": "限速km/h", "over_pct": "超速%", "passengers": "载人",
    "allowed": "允许", "line": "线", "offline_s": "离线(秒)", "frozen_s": "冻结(秒)", "still_s": "冻结(秒)",
    "cause": "原因", "weight_kg": "重量kg", "prev_kg": "原重量kg", "from_kg": "由kg", "to_kg": "降至kg",
    "out_s": "异常持续(秒)", "side": "偏离",
}  # fmt: skip
VALUE_ZH: dict[Any, str] = {
    "car": "汽车", "motorcycle": "摩托车", "night": "夜间", "always": "全天", True: "是", False: "否",
    "weight": "重量骤降离秤", "moved": "箱体被移动", "gps": "定位偏离安放点", "cold": "偏低", "hot": "偏高",
}  # fmt: skip


def local_time(ms: float, fmt: str = "%m-%d %H:%M:%S") -> str:
    """Beijing time, short (month-day and time): what the device tables show."""
    return _local_time(ms, fmt)


def actor_of(kind: str) -> type[DeviceActor[Any]]:
    """The actor class of a kind (the base class for kinds no actor handles: generic labels only)."""
    return device_kinds().get(kind, DeviceActor)


def esc(value: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(value))


def table(head: Sequence[str], rows: Iterable[Sequence[Any]], raw: Sequence[int] = ()) -> str:
    """An HTML table; every cell escaped except the columns in `raw` (already-built links)."""
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{c if i in raw else esc(c)}</td>" for i, c in enumerate(r)) + "</tr>" for r in rows
    )
    return f'<table class="zq-t"><tr>{th}</tr>{body}</table>'


def pairs(rows: Iterable[tuple[str, Any]]) -> str:
    """A two-column key/value HTML table."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="zq-t">{body}</table>'


def detail_text(detail: dict[str, Any], fields: dict[str, str] = DETAIL_ZH) -> str:
    """The people-facing fields of an event's detail, e.g. 心率 130 · 阈值 120."""
    out = []
    for key, name in fields.items():
        value = detail.get(key)
        if value is None or value == "" or isinstance(value, dict | list):
            continue
        out.append(f"{name} {VALUE_ZH.get(value, value) if isinstance(value, str | bool) else value}")
    return " · ".join(out)
