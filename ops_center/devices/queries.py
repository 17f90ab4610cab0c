"""What device pages read: recent events, event counts and reading history from ClickHouse, the live twin from
Redis, and personal values as the user may see them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import msgspec

from actors.kinds import device_kinds
from actors.shard import twin_key
from adapters.telemetry import DB, EVENTS_TABLE, table_of
from core.access import personal
from core.kinds import DeviceProfile
from ops_center.context import OpsContext, sql_str
from ops_center.session import OpsSession

HOURS = 24  # history window of the charts


def _decoded(detail: Any) -> dict[str, Any]:
    try:
        out = msgspec.json.decode(detail) if isinstance(detail, str | bytes) else detail
    except msgspec.DecodeError:
        return {}
    return out if isinstance(out, dict) else {}


async def recent_events(
    ctx: OpsContext, device_id: str, types: Sequence[str] = (), limit: int = 30, hours: int | None = None
) -> list[dict[str, Any]]:
    """The device's newest events (optionally of some types, within some hours): event_id, type, ms, detail."""
    where = [f"device_id = {sql_str(device_id)}"]
    if types:
        where.append(f"type IN ({', '.join(sql_str(t) for t in types)})")
    if hours:
        where.append(f"ts >= now64(3) - INTERVAL {int(hours)} HOUR")
    rows = await ctx.query(
        f"SELECT event_id, type, toUnixTimestamp64Milli(ts) AS ms, detail FROM {DB}.{EVENTS_TABLE} "
        f"WHERE {' AND '.join(where)} ORDER BY ts DESC, event_id LIMIT {int(limit)}"
    )
    return [{**r, "ms": int(r["ms"]), "detail": _decoded(r.get("detail"))} for r in rows]


async def event_counts(ctx: OpsContext, device_id: str, hours: int = HOURS) -> dict[str, int]:
    """How many events of each type the device raised in the last hours."""
    rows = await ctx.query(
        f"SELECT type, count() AS n FROM {DB}.{EVENTS_TABLE} WHERE device_id = {sql_str(device_id)} "
        f"AND ts >= now64(3) - INTERVAL {int(hours)} HOUR GROUP BY type"
    )
    return {str(r["type"]): int(r["n"]) for r in rows}


async def history(
    ctx: OpsContext, kind: str, device_id: str, columns: dict[str, str], hours: int = HOURS, bucket_s: int = 60
) -> dict[str, list[Any]]:
    """Per-bucket values (SQL aggregate expressions by name) of a device's readings over the last hours; "ms" holds
    each bucket's start. Buckets without a value hold NaN."""
    bucket = int(bucket_s) * 1000
    cols = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    rows = await ctx.query(
        f"SELECT intDiv(toUnixTimestamp64Milli(ts), {bucket}) * {bucket} AS ms, {cols} FROM {DB}.{table_of(kind)} "
        f"WHERE device_id = {sql_str(device_id)} AND ts >= now64(3) - INTERVAL {int(hours)} HOUR "
        "GROUP BY ms ORDER BY ms"
    )
    out: dict[str, list[Any]] = {"ms": [int(r["ms"]) for r in rows]}
    for name in columns:
        out[name] = [float("nan") if r[name] is None else r[name] for r in rows]
    return out


async def twin_state(ctx: OpsContext, profile: DeviceProfile) -> dict[str, Any] | None:
    """The device's digital twin as its actor reports it live (None when it never reported)."""
    cls = device_kinds().get(profile.kind)
    if cls is None:
        return None
    blob = cast(bytes | None, await ctx.redis.hget(twin_key(profile.kind), profile.device_id))
    return cls.restore(profile, blob).live() if blob else None


async def personal_values(
    session: OpsSession, profile: DeviceProfile, fields: Sequence[tuple[str, str, bool]]
) -> list[str]:  # fmt: skip
    """Personal values (label, value, is an ID number) as the user may see them, masked unless allowed; showing
    any of them whole is audited (personal_view: the device and which fields)."""
    user, township, village = session.user, profile.township, profile.village
    shown = [personal(user, value, township, village, id_number=is_id) for _, value, is_id in fields]
    whole = [label for (label, value, _), seen in zip(fields, shown, strict=True) if value and seen == value]
    if whole:
        await session.audit("personal_view", profile.device_id, fields=whole)
    return shown
