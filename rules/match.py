"""Pure matching helpers: event field lookup, conditions and group keys."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from core.clock import local_hour
from core.events import DeviceEvent
from rules.schema import Condition, Rule

_MISSING = object()
_EVENT_FIELDS = frozenset(DeviceEvent.__struct_fields__)
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "in": lambda a, b: a in b, "not_in": lambda a, b: a not in b,
}  # fmt: skip


def field_value(event: DeviceEvent, path: str) -> Any:
    """Value of a field path on an event ('detail.a.b', 'village', 'local_hour'); a sentinel when absent."""
    if path == "local_hour":
        return local_hour(event.ts)
    head, _, rest = path.partition(".")
    if head == "detail":
        value: Any = event.detail
        for part in rest.split(".") if rest else []:
            if not isinstance(value, dict) or part not in value:
                return _MISSING
            value = value[part]
        return value
    if head in _EVENT_FIELDS and not rest:
        value = getattr(event, head)
        return _MISSING if value is None else value
    return _MISSING


def holds(cond: Condition, event: DeviceEvent) -> bool:
    """Whether one condition holds for an event; a missing field or incomparable values never match."""
    value = field_value(event, cond.field)
    if cond.op == "exists":
        return (value is not _MISSING) == cond.value
    if value is _MISSING:
        return False
    try:
        return bool(_CMP[cond.op](value, cond.value))
    except TypeError:
        return False


def conditions_hold(rule: Rule, event: DeviceEvent) -> bool:
    """Whether every `where` condition of the rule holds for the event."""
    return all(holds(c, event) for c in rule.when.where)


def group_key(rule: Rule, event: DeviceEvent) -> str:
    """The group an event falls into under a rule: device id, village, or village + scenario."""
    if rule.group_by == "device":
        return event.device_id
    place = event.village or event.device_id
    if rule.group_by == "village":
        return place
    scenario = event.detail.get("scenario") if isinstance(event.detail, dict) else None
    return f"{place}:{scenario or event.type}"
