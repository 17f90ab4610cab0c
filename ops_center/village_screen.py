"""The figures of a village's big screen (数字大屏): which village, device and incident counts, the hive business.

Everything comes from data the platform has: the live state (devices, tickets, twins), ClickHouse (hive weight
history, ticket history) and the adoption records in Redis. What the plan wants on the screen but nothing feeds yet
(the homestays' business) is listed in NOT_CONNECTED with the module that will feed it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from actors.ticket_routing import CLOSED, RESOLVED
from adapters.adoption import ADOPTERS
from core.access import User, in_scope
from core.clock import LOCAL_OFFSET_MS, local_time
from core.gazetteer import Gazetteer, Village
from ops_center.context import Query, sql_str, valid_id
from ops_center.live import Device

log = logging.getLogger(__name__)

SCREEN_VILLAGE = ("大川镇", "狼岔坝村")  # (township, village) of the plan's 数字大屏; the default for county accounts
DAY_MS = 86_400_000
HONEY_DAYS = 7  # days of the honey-flow trend, today included
# What the plan puts on the screen but no module feeds yet: key -> (panel title, the module that will feed it)
NOT_CONNECTED = {
    "homestay_business": ("民宿经营流水", "民宿(农家乐)流水系统"),
}


class ScreenError(ValueError):
    """A village the screen cannot show (unknown, ambiguous or outside the account's area); message in Chinese."""


def _arg(args: dict[str, list[bytes]], name: str) -> str:
    values = args.get(name) or []
    return values[0].decode("utf-8", "replace").strip() if values else ""


def pick_village(user: User, gazetteer: Gazetteer, args: dict[str, list[bytes]]) -> Village:
    """The village to show: a village account's own; else `?village=` (and `?township=`) within the account's area.

    County accounts default to 狼岔坝村, township accounts to their township's first village.
    """
    if user.level == "village":
        return _lookup(gazetteer, user.village, user.township)
    name, township = _arg(args, "village"), _arg(args, "township")
    for value in (name, township):
        if value and not valid_id("place", value):
            raise ScreenError(f"村名或乡镇名格式不正确:{value[:80]}")
    if user.level == "township":
        township = township or user.township
    if not name:
        if user.level == "county":
            return _lookup(gazetteer, SCREEN_VILLAGE[1], SCREEN_VILLAGE[0])
        villages = [v for v in gazetteer.villages if v.township == user.township]
        if not villages:
            raise ScreenError(f"{user.township} 在地名库中没有村")
        return villages[0]
    village = _lookup(gazetteer, name, township or None)
    if not in_scope(user, village.township, village.name):
        raise ScreenError(f"{village.township}{village.name} 不在您的管辖范围内")
    return village


def _lookup(gazetteer: Gazetteer, name: str, township: str | None) -> Village:
    try:
        return gazetteer.village(name, township)
    except KeyError:
        found = [v.township for v in gazetteer.villages if v.name == name]
        if len(found) > 1 and not township:
            raise ScreenError(f"有多个“{name}”({'、'.join(found)}),请用 ?township= 指明乡镇") from None
        raise ScreenError(f"地名库中没有“{(township or '') + name}”") from None


# --- live counts ---------------------------------------------------------------------------------------------------


def _here(township: str, village: str, rec_township: str, rec_village: str) -> bool:
    return rec_village == village and rec_township in ("", township)


def village_devices(live: Any, township: str, village: str) -> list[Device]:
    """Devices registered to the village, by id."""
    found = [d for d in live.devices.values() if _here(township, village, d.township, d.village)]
    return sorted(found, key=lambda d: d.device_id)


def village_tickets(live: Any, township: str, village: str) -> list[dict[str, Any]]:
    """Tickets (open and done) of the village, by id."""
    found = [t for t in live.tickets.values() if _here(township, village, t["township"], t["village"])]
    return sorted(found, key=lambda t: t["ticket_id"])


@dataclass(frozen=True)
class VillageCounts:
    """Devices by kind and status, and open incidents by severity, as of the live state."""

    by_kind: dict[str, dict[str, int]]  # kind -> status -> devices
    by_status: dict[str, int]
    total: int
    open_by_severity: dict[int, int]  # 1 特急 .. 4 提示
    open_total: int
    overdue: int  # open tickets whose current SLA deadline has passed


def village_counts(live: Any, township: str, village: str) -> VillageCounts:
    """Count the village's devices and open tickets."""
    devs = village_devices(live, township, village)
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_status: dict[str, int] = defaultdict(int)
    for d in devs:
        by_kind[d.kind][d.status] += 1
        by_status[d.status] += 1
    open_ = [t for t in village_tickets(live, township, village) if t["open"]]
    sev: dict[int, int] = defaultdict(int)
    for t in open_:
        sev[int(t["severity"])] += 1
    return VillageCounts(
        by_kind={k: dict(v) for k, v in by_kind.items()}, by_status=dict(by_status), total=len(devs),
        open_by_severity=dict(sev), open_total=len(open_), overdue=sum(bool(t.get("breached")) for t in open_),
    )  # fmt: skip


# --- ClickHouse and Redis figures ----------------------------------------------------------------------------------


def local_day(ms: int) -> int:
    """Local (UTC+8) day number of a time in ms since the epoch."""
    return (ms + LOCAL_OFFSET_MS) // DAY_MS


def day_start_ms(day: int) -> int:
    """The first ms of a local day number."""
    return day * DAY_MS - LOCAL_OFFSET_MS


def _sql_name(name: str) -> str:
    if not valid_id("place", name):
        raise ValueError(f"not a place name: {name[:40]!r}")
    return f"'{name}'"


async def handled_today(query: Query, township: str, village: str, now_ms: int) -> int | None:
    """Tickets of the village that reached 办结 or 关闭 since local midnight (ClickHouse ticket history)."""
    since = day_start_ms(local_day(now_ms))
    sql = (
        "SELECT uniqExact(ticket_id) AS n FROM zq.ticket_events "
        f"WHERE to_state IN ('{RESOLVED}', '{CLOSED}') AND ts >= fromUnixTimestamp64Milli(toInt64({since})) "
        "AND ticket_id IN (SELECT ticket_id FROM zq.ticket_events WHERE action = 'open' "
        f"AND JSONExtractString(detail, 'village') = {_sql_name(village)} "
        f"AND JSONExtractString(detail, 'township') IN ({_sql_name(township)}, ''))"
    )
    try:
        rows = await query(sql)
    except Exception as exc:  # the store is down or busy: the figure shows as unknown, the screen stays up
        log.warning("handled-today query failed: %s", str(exc)[:200])
        return None
    return int(rows[0]["n"]) if rows else 0


@dataclass(frozen=True)
class HiveFigures:
    """The village's hives: how many, weight now, honey flow over HONEY_DAYS, adoptions (None: not connected)."""

    hives: int
    weighed: int  # hives whose twin has a weight
    total_kg: float | None
    change_kg: float | None  # weight change over the trend days (None: no history in ClickHouse)
    trend: list[tuple[str, float]]  # (MM-DD, cumulative weight change kg since the first day) per local day
    adopted: int | None  # hives with an adopter; None when no adoption records exist


def hive_weights(live: Any, hive_ids: list[str]) -> dict[str, float]:
    """Current weight of each hive from its twin snapshot (hives that never reported a weight are left out)."""
    cls = live.kinds.get("beehive")
    out: dict[str, float] = {}
    for did in hive_ids:
        blob, profile = live.blobs.get(did), live.profiles.get(did)
        if cls is None or blob is None or profile is None:
            continue
        weight = getattr(cls.restore(profile, blob).state, "weight", None)
        if weight is not None:
            out[did] = float(weight)
    return out


async def honey_flow(query: Query, hive_ids: list[str], now_ms: int) -> tuple[float | None, list[tuple[str, float]]]:
    """Summed weight change of the hives per local day over HONEY_DAYS, from `zq.tele_beehive`."""
    if not hive_ids:
        return None, []
    today = local_day(now_ms)
    first = today - HONEY_DAYS + 1
    ids = ", ".join(sql_str(h) for h in hive_ids)
    sql = (
        f"SELECT intDiv(toUnixTimestamp64Milli(ts) + {LOCAL_OFFSET_MS}, {DAY_MS}) AS day, device_id, "
        "argMin(weight, ts) AS first_kg, argMax(weight, ts) AS last_kg FROM zq.tele_beehive "
        f"WHERE device_id IN ({ids}) AND weight IS NOT NULL "
        f"AND ts >= fromUnixTimestamp64Milli(toInt64({day_start_ms(first)})) GROUP BY day, device_id"
    )
    try:
        rows = await query(sql)
    except Exception as exc:
        log.warning("honey-flow query failed: %s", str(exc)[:200])
        return None, []
    if not rows:
        return None, []
    per_hive: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)
    for r in rows:
        per_hive[str(r["device_id"])][int(r["day"])] = (float(r["first_kg"]), float(r["last_kg"]))
    totals = [0.0] * HONEY_DAYS
    for days in per_hive.values():
        base = days[min(days)][0]
        change = 0.0
        for i in range(HONEY_DAYS):
            if first + i in days:
                change = days[first + i][1] - base
            totals[i] += change
    labels = [_mmdd(day_start_ms(first + i)) for i in range(HONEY_DAYS)]
    trend = [(label, round(v, 1)) for label, v in zip(labels, totals, strict=True)]
    return trend[-1][1], trend


def _mmdd(ms: int) -> str:
    return local_time(ms, "%m-%d")


async def adopted_count(redis: aioredis.Redis, hive_ids: list[str]) -> int | None:
    """Hives of the list that have an adopter (云上认养); None when there are no adoption records at all."""
    if not await redis.exists(ADOPTERS):
        return None
    if not hive_ids:
        return 0
    found = await redis.hmget(ADOPTERS, hive_ids)  # type: ignore[misc]
    return sum(v is not None for v in found)


async def hive_figures(ctx: Any, township: str, village: str, now_ms: int) -> HiveFigures:
    """Every hive figure of the village: live twins, ClickHouse history and adoption records."""
    hives = [d.device_id for d in village_devices(ctx.live, township, village) if d.kind == "beehive"]
    weights = hive_weights(ctx.live, hives)
    change, trend = await honey_flow(ctx.query, hives, now_ms)
    try:
        adopted = await adopted_count(ctx.redis, hives)
    except Exception as exc:
        log.warning("adoption records unreadable: %s", str(exc)[:200])
        adopted = None
    total = round(sum(weights.values()), 1) if weights else None
    return HiveFigures(len(hives), len(weights), total, change, trend, adopted)
