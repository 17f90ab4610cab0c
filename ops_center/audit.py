"""The audit trail: every login and action (who, what, when, from where) to Redis `audit` and ClickHouse `audit_log`."""

from __future__ import annotations

from typing import Any, cast

import redis.asyncio as aioredis

from adapters.audit import AUDIT, record

__all__ = ["AUDIT", "recent", "record"]


async def recent(redis: aioredis.Redis, count: int = 200) -> list[dict[str, Any]]:
    """The newest audit records, newest first."""
    rows = cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrevrange(AUDIT, count=count))
    out = []
    for _, f in rows:
        rec: dict[str, Any] = {k.decode(): v.decode() for k, v in f.items()}
        rec["ts"], rec["ok"] = int(rec["ts"]), rec["ok"] == "1"
        out.append(rec)
    return out
