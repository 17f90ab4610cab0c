"""The big screen's ledger panels: the village's households (户情) and homestays (民宿), read from the ledger store."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
from dataclasses import dataclass
from typing import Any

from core.access import User
from ledgers.query import village_positions, village_summary
from ledgers.store import LedgerStore
from workflows.extra import homestay_booking
from workflows.store import WorkflowStore

log = logging.getLogger(__name__)
HOUSEHOLDS, HOUSE_FIELD, HOMESTAYS = "household", "house_location", "homestay"


@dataclass(frozen=True)
class LedgerFigures:
    """What the ledgers say of one village: household measures, house points, homestay measures and points."""

    houses: dict[str, Any]
    house_points: list[tuple[float, float, str]]
    homestays: dict[str, Any]
    homestay_points: list[tuple[float, float, str]]
    bookings: dict[str, int] | None = None  # the 民宿预约 figures, when the workflow store runs the item


def _bookings(workflows: WorkflowStore | None, village: str, today: dt.date) -> dict[str, int] | None:
    if (
        workflows is None
        or homestay_booking.ITEM not in workflows.items
        or not workflows.enabled(homestay_booking.ITEM, village)
    ):
        return None
    return homestay_booking.figures(workflows, village, today)


def _read(store: LedgerStore, user: User, township: str, village: str, workflows: WorkflowStore | None
          ) -> LedgerFigures:  # fmt: skip
    ledgers = store.ledgers
    houses = village_summary(store, user, HOUSEHOLDS, township, village) if HOUSEHOLDS in ledgers else {}
    points = (village_positions(store, user, HOUSEHOLDS, HOUSE_FIELD, township, village)
              if HOUSEHOLDS in ledgers else [])  # fmt: skip
    stays = village_summary(store, user, HOMESTAYS, township, village) if HOMESTAYS in ledgers else {}
    layer = ledgers[HOMESTAYS].map if HOMESTAYS in ledgers else None
    stay_points = village_positions(store, user, HOMESTAYS, layer.field, township, village) if layer else []
    return LedgerFigures(houses, points, stays, stay_points, _bookings(workflows, village, store.today()))


async def ledger_figures(store: LedgerStore | None, user: User, township: str, village: str,
                         workflows: WorkflowStore | None = None) -> LedgerFigures | None:  # fmt: skip
    """The village's ledger (and booking) figures (None when there is no ledger store or it cannot answer)."""
    if store is None:
        return None
    try:
        return await asyncio.to_thread(_read, store, user, township, village, workflows)
    except Exception as exc:  # the screen shows the rest and says this part is unavailable
        log.warning("screen ledgers of %s/%s unavailable: %s: %s", township, village, type(exc).__name__, exc)
        return None


def _cell(value: Any, unit: str = "") -> str:
    shown = "—" if value is None else f"{int(value):,}" if isinstance(value, int | float) else html.escape(str(value))
    return f'<td class="mid">{shown}<span class="dim"> {unit}</span></td>' if unit else f'<td class="mid">{shown}</td>'


def _panel(
    card: Any,
    title: str,
    figures: dict[str, Any] | None,
    columns: tuple[tuple[str, str, str], ...],
    unavailable: str,
    empty: str,
    footer: str,
) -> str:
    """A card of one row of measures (key, header, unit), or why there is none."""
    if figures is None:
        return card(title, f'<div class="dim">{unavailable}</div>')
    if not figures.get(columns[0][0]):
        return card(title, f'<div class="dim">{empty}</div>')
    head = "".join(f"<th>{h}</th>" for _, h, _ in columns)
    row = "".join(_cell(figures.get(k), u) for k, _, u in columns)
    return card(title, f'<table class="grid"><tr>{head}</tr><tr>{row}</tr></table><div class="dim">{footer}</div>')


def houses_html(f: LedgerFigures | None, card: Any) -> str:
    """房屋信息: households, people, 脱贫户, 监测户 and migrant workers of the village (the 户情 ledger)."""
    columns = (("households", "户数", "户"), ("persons", "人口", "人"), ("lifted", "脱贫户", "户"),
               ("monitored", "监测户", "户"), ("migrants", "外出务工", "人"))  # fmt: skip
    footer = f"已标注房屋位置 {len(f.house_points)} 处(地图灰色方块)" if f else ""
    return _panel(card, "房屋信息 · 户情", f.houses if f else None, columns, "户情台账暂不可用", "本村尚未录入户情档案",
                  footer)  # fmt: skip


def homestays_html(f: LedgerFigures | None, card: Any) -> str:
    """民宿(农家乐)分布: homestays, rooms and beds of the village (the 民宿 ledger), their names."""
    columns = (("homestays", "民宿", "家"), ("rooms", "客房", "间"), ("beds", "床位", "张"))
    points = f.homestay_points if f else []
    names = "、".join(html.escape(n) for _, _, n in points[:8] if n)
    more = f"等{len(points)}家" if len(points) > 8 else ""
    b = f.bookings if f else None
    booked = (f"<br>民宿预约:今晚已订 {b['tonight']} 间 · 待确认 {b['pending']} 单 · 待入住 {b['upcoming']} 单"
              if b is not None else "")  # fmt: skip
    return _panel(card, "民宿(农家乐)分布", f.homestays if f else None, columns, "民宿台账暂不可用",
                  "本村尚未登记民宿(农家乐)", f"{names}{more}(地图橙色菱形){booked}")  # fmt: skip
