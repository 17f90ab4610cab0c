"""Facts an item's rules may name, drawn from the applicant's 户情 records: household type, work, destination."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

# fact -> field type, for typing the expressions on load
FACTS: dict[str, str] = {
    "poverty_status": "enum",
    "monitoring_type": "enum",
    "dibao": "bool",
    "household_size": "integer",
    "relation": "enum",
    "age": "integer",
    "work_status": "enum",
    "work_place": "text",
    "work_months": "integer",
    "destination": "enum",
    "in_household_ledger": "bool",
}
# work destinations of the labour subsidy (甘人社通〔2024〕155号): Zhouqu lies in 甘南藏族自治州
DESTINATIONS = ("陕西宁夏", "其他省份", "省内州外", "州内县外", "县内")
_GANNAN = ("甘南", "合作", "临潭", "卓尼", "迭部", "玛曲", "碌曲", "夏河")
_GANSU = (
    "甘肃",
    "兰州",
    "天水",
    "陇南",
    "定西",
    "武威",
    "张掖",
    "酒泉",
    "嘉峪关",
    "金昌",
    "白银",
    "平凉",
    "庆阳",
    "临夏",
)


def destination(work_place: str) -> str:
    """Which subsidy band a place of work falls in, from its text (江苏省苏州市 -> 其他省份)."""
    place = work_place.strip()
    if "舟曲" in place:
        return "县内"
    if any(n in place for n in ("陕西", "宁夏", "西安", "银川")):
        return "陕西宁夏"
    if any(n in place for n in _GANNAN):
        return "州内县外"
    if any(n in place for n in _GANSU):
        return "省内州外"
    return "其他省份" if place else ""


def _age(birth: Any, today: dt.date) -> int | None:
    if not isinstance(birth, dt.date):
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def facts_of(household: Mapping[str, Any] | None, member: Mapping[str, Any] | None, today: dt.date) -> dict[str, Any]:
    """The facts of an applicant: their household's type and size, their own relation, age and work."""
    h, m = household or {}, member or {}
    place = str(m.get("work_place") or "")
    return {
        "poverty_status": h.get("poverty_status"),
        "monitoring_type": h.get("monitoring_type"),
        "dibao": h.get("dibao"),
        "household_size": h.get("size"),
        "relation": m.get("relation"),
        "age": _age(m.get("birth_date"), today),
        "work_status": m.get("work_status"),
        "work_place": place or None,
        "work_months": m.get("work_months"),
        "destination": destination(place) or None,
        "in_household_ledger": bool(h),
    }
