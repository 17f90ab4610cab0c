"""民宿预约's own rules: a booking needs a free room on each of its nights; the booking figures of a village."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from ledgers.startup import SYSTEM
from ledgers.store import NotFound

if TYPE_CHECKING:
    from workflows.store import WorkflowStore

ITEM, HOMESTAYS = "homestay_booking", "homestay"
HOLDING = ("requested", "confirmed")  # states that hold a room


def _nights(check_in: dt.date, check_out: dt.date) -> list[dt.date]:
    return [check_in + dt.timedelta(days=i) for i in range((check_out - check_in).days)]


def _holding(store: WorkflowStore, village: str) -> list[dict[str, Any]]:
    """The forms of the village's bookings that hold a room."""
    found = store.find(SYSTEM, item=ITEM, village=village, open_only=True, limit=5000)
    return [inst.form for _, inst in found if inst.state in HOLDING]


def free_rooms(
    store: WorkflowStore, village: str, homestay: str, rooms: int, nights: list[dt.date]
) -> dict[dt.date, int]:
    """Rooms still free on each night: the ledger's room count less the bookings that hold one that night."""
    taken = dict.fromkeys(nights, 0)
    for form in _holding(store, village):
        if form.get("homestay") != homestay:
            continue
        for night in _nights(form["check_in"], form["check_out"]):
            if night in taken:
                taken[night] += 1
    return {night: rooms - used for night, used in taken.items()}


def check(store: WorkflowStore, township: str, village: str, form: dict[str, Any]) -> dict[str, str]:
    """The homestay must be of this village and have a free room on every night asked for."""
    try:
        record = store.ledgers.get(SYSTEM, HOMESTAYS, str(form["homestay"]))
    except NotFound:
        return {"homestay": "没有这家民宿"}
    if record.village != village or record.township != township:
        return {"homestay": f"该民宿不在{village}"}
    rooms = int(record.values.get("rooms") or 0)
    free = free_rooms(store, village, record.id, rooms, _nights(form["check_in"], form["check_out"]))
    full = [night for night, n in free.items() if n <= 0]
    return {"check_in": f"{full[0].isoformat()} 已订满,请选择其他日期"} if full else {}


def figures(store: WorkflowStore, village: str, today: dt.date) -> dict[str, int]:
    """The village's bookings: rooms held tonight, bookings awaiting the host, confirmed arrivals to come."""
    forms = [(i.form, i.state) for _, i in store.find(SYSTEM, item=ITEM, village=village, open_only=True, limit=5000)]
    tonight = sum(1 for f, s in forms if s in HOLDING and f["check_in"] <= today < f["check_out"])
    return {"tonight": tonight, "pending": sum(1 for _, s in forms if s == "requested"),
            "upcoming": sum(1 for f, s in forms if s == "confirmed" and f["check_in"] > today)}  # fmt: skip
