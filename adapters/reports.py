"""Citizen reports (民事直说) and officers' entries: they open tickets on the same path as rule incidents."""

from __future__ import annotations

import uuid

import msgspec
import redis.asyncio as aioredis

from core.events import now_ms
from core.incidents import Incident

REPORTS = "reports"


async def submit_report(
    redis: aioredis.Redis,
    *,
    text: str,
    village: str,
    category: str,
    reporter: str,
    source: str = "citizen",
    severity: int = 3,
    lat: float | None = None,
    lon: float | None = None,
) -> str:
    """Queue a report for the incident desk; returns the ticket id it will open. The text is kept verbatim."""
    if source not in ("citizen", "officer"):
        raise ValueError("source must be 'citizen' or 'officer'")
    if not text.strip():
        raise ValueError("a report needs text")
    now = now_ms()
    incident = Incident(
        incident_id=f"report:{uuid.uuid4().hex[:12]}", rule="manual", title=text.strip()[:60], severity=severity,
        category=category, department="", group_key=reporter, village=village, lat=lat, lon=lon, first_ts=now,
        last_ts=now, source=source, detail={"text": text, "reporter": reporter},
    )  # fmt: skip
    await redis.xadd(REPORTS, {b"i": msgspec.msgpack.encode(incident)})
    return incident.incident_id
