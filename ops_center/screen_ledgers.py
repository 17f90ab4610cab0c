"""The big screen's ledger panels: the village's households (户情) and homestays (民宿), read from the ledger store."""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass
from typing import Any

from core.access import User
from ledgers.query import village_positions, village_summary
from ledgers.store import LedgerStore

log = logging.getLogger(__name__)
HOUSEHOLDS, HOUSE_FIELD, HOMESTAYS = "household", "house_location", "homestay"


@dataclass(frozen=True)
class LedgerFigures:
    """What the ledgers say of one village: household measures, house points, homestay measures and points."""

    houses: dict[str, Any]
    house_points: list[tuple[float, float, str]]
    homestays: dict[str, Any]
    homestay_points: list[tuple[float, float, str]]


def _read(store: LedgerStore, user: User, township: str, village: str) -> LedgerFigures:
    ledgers = store.ledgers
    houses = village_summary(store, user, HOUSEHOLDS, township, village) if HOUSEHOLDS in ledgers else {}
    points = (village_positions(store, user, HOUSEHOLDS, HOUSE_FIELD, township, village)
              if HOUSEHOLDS in ledgers else [])  # fmt: skip
    stays = village_summary(store, user, HOMESTAYS, township, village) if HOMESTAYS in ledgers else {}
    layer = ledgers[HOMESTAYS].map if HOMESTAYS in ledgers else None
    stay_points = village_positions(store, user, HOMESTAYS, layer.field, township, village) if layer else []
    return LedgerFigures(houses, points, stays, stay_points)


async def ledger_figures(store: LedgerStore | None, user: User, township: str, village: str) -> LedgerFigures | None:
    """The village's ledger figures (None when the platform runs without a ledger store or it cannot answer)."""
    if store is None:
        return None
    try:
        return await asyncio.to_thread(_read, store, user, township, village)
    except Exception as exc:  # the screen shows the rest and says this part is unavailable
        log.warning("screen ledgers of %s/%s unavailable: %s: %s", township, village, type(exc).__name__, exc)
        return None


def _cell(key: str, value: Any, unit: str = "") -> str:
    shown = "—" if value is None else f"{int(value):,}" if isinstance(value, int | float) else html.escape(str(value))
    return f'<td class="mid">{shown}<span class="dim"> {unit}</span></td>' if unit else f'<td class="mid">{shown}</td>'


def houses_html(f: LedgerFigures | None, card: Any) -> str:
    """房屋信息: households, people, 脱贫户, 监测户 and migrant workers of the village (the 户情 ledger)."""
    if f is None:
        return card("房屋信息 · 户情", '<div class="dim">户情台账暂不可用</div>')
    h = f.houses
    if not h.get("households"):
        return card("房屋信息 · 户情", '<div class="dim">本村尚未录入户情档案</div>')
    head = "".join(f"<th>{t}</th>" for t in ("户数", "人口", "脱贫户", "监测户", "外出务工"))
    measures = (("households", "户"), ("persons", "人"), ("lifted", "户"), ("monitored", "户"), ("migrants", "人"))
    row = "".join(_cell(k, h.get(k), u) for k, u in measures)
    where = f"已标注房屋位置 {len(f.house_points)} 处(地图灰色方块)"
    body = f'<table class="grid"><tr>{head}</tr><tr>{row}</tr></table><div class="dim">{where}</div>'
    return card("房屋信息 · 户情", body)


def homestays_html(f: LedgerFigures | None, card: Any) -> str:
    """民宿(农家乐)分布: homestays, rooms and beds of the village (the 民宿 ledger), their names."""
    if f is None:
        return card("民宿(农家乐)分布", '<div class="dim">民宿台账暂不可用</div>')
    s = f.homestays
    if not s.get("homestays"):
        return card("民宿(农家乐)分布", '<div class="dim">本村尚未登记民宿(农家乐)</div>')
    head = "".join(f"<th>{t}</th>" for t in ("民宿", "客房", "床位"))
    row = "".join(_cell(k, s.get(k), u) for k, u in (("homestays", "家"), ("rooms", "间"), ("beds", "张")))
    names = "、".join(html.escape(n) for _, _, n in f.homestay_points[:8] if n)
    more = f"等{len(f.homestay_points)}家" if len(f.homestay_points) > 8 else ""
    return card("民宿(农家乐)分布", f'<table class="grid"><tr>{head}</tr><tr>{row}</tr></table>'
                f'<div class="dim">{names}{more}(地图橙色菱形)</div>')  # fmt: skip
