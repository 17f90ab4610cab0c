"""The audit trail: every login and action (who, what, when, from where) to Redis `audit` and ClickHouse `audit_log`."""

from __future__ import annotations

import logging
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from adapters.bus import STORE
from adapters.telemetry import AUDIT_TABLE
from core.events import now_ms
from core.text import printable

log = logging.getLogger(__name__)
AUDIT = "audit"  # stream of audit records, newest last (ClickHouse keeps them for good)
_JSON = msgspec.json.Encoder()


async def record(
    redis: aioredis.Redis, user: str, action: str, target: str = "", *, ok: bool = True, ip: str = "",
    detail: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Append one audit record to the stream and the ClickHouse store queue, atomically (control characters escaped)."""
    user, target = printable(user), printable(target)  # names typed by anyone: one line each, here and in the log
    ts = now_ms()
    body = _JSON.encode(detail or {}).decode()
    row = _JSON.encode([ts / 1000, user, action, target, ok, ip, body])
    async with redis.pipeline(transaction=True) as pipe:
        # no length cap here: the desk trims `audit` by bus.retention
        pipe.xadd(AUDIT, {b"ts": ts, b"user": user, b"action": action, b"target": target, b"ok": int(ok),
                          b"ip": ip, b"detail": body})  # fmt: skip
        pipe.xadd(STORE, {b"t": AUDIT_TABLE, b"r": row, b"n": 1})
        await pipe.execute()
    log.info("audit user=%s action=%s target=%s ok=%s", user, action, target, ok)


async def record_many(redis: aioredis.Redis, records: list[tuple[str, str, str, bool, dict[str, Any]]]) -> None:
    """Append many (user, action, target, ok, detail) records in one MULTI: a host's round of audits at once."""
    if not records:
        return
    ts = now_ms()
    async with redis.pipeline(transaction=True) as pipe:
        for user, action, target, ok, detail in records:
            user, target = printable(user), printable(target)
            body = _JSON.encode(detail or {}).decode()
            pipe.xadd(AUDIT, {b"ts": ts, b"user": user, b"action": action, b"target": target, b"ok": int(ok),
                              b"ip": "", b"detail": body})  # fmt: skip
            pipe.xadd(STORE, {b"t": AUDIT_TABLE, b"r": _JSON.encode([ts / 1000, user, action, target, ok, "", body]),
                              b"n": 1})  # fmt: skip
            log.info("audit user=%s action=%s target=%s ok=%s", user, action, target, ok)
        await pipe.execute()


async def recent(redis: aioredis.Redis, count: int = 200) -> list[dict[str, Any]]:
    """The newest audit records, newest first."""
    rows = cast(list[tuple[bytes, dict[bytes, bytes]]], await redis.xrevrange(AUDIT, count=count))
    out = []
    for _, f in rows:
        rec: dict[str, Any] = {k.decode(): v.decode() for k, v in f.items()}
        rec["ts"], rec["ok"] = int(rec["ts"]), rec["ok"] == "1"
        out.append(rec)
    return out
