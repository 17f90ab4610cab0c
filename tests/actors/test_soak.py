"""Thirty simulated days of ticket traffic through the real desk and live state on a real Redis: memory stays flat.

Object counts (tickets in the desk, the engine and the live state; Redis keys, hash and stream lengths) are the
behaviour checked, not RSS or time.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from actors.incident_desk import ENGINE_KEY, TICKETS, IncidentDesk
from adapters.bus import COMMANDS, DEAD, EVENTS, INCIDENTS, LOST, RESULTS
from core.events import DeviceEvent
from core.incidents import TicketCommand
from core.settings import BusSettings, Settings, StreamRetention
from ops_center.live import LiveState

START = 1_790_000_000_000
HOUR = 3_600_000
DAYS = 30
PER_HOUR = 8  # ~200 tickets a simulated day
GROUPED = ("tele", "store", "events", "commands", "reports", "dispatch", "speaker")


def settings() -> Settings:
    """Every stream declared; consumed entries go at once, the group-less ones are capped by length."""
    table = {name: StreamRetention(max_age_s=0) for name in GROUPED}
    table |= {name: StreamRetention(max_age_s=86_400, max_len=500) for name in ("incidents", "command_results",
                                                                                 "audit", "dead")}  # fmt: skip
    return Settings(bus=BusSettings(retention=table, closed_ticket_keep_s=3_600))


def sos(n: int, ts: int) -> DeviceEvent:
    return DeviceEvent(event_id=f"wb-{n}:sos:{ts}", type="sos", kind="wristband", device_id=f"wb-{n}", ts=ts, seq=ts,
                       village="杰迪村", lat=33.8, lon=104.25)  # fmt: skip


async def counts(r: aioredis.Redis, desk: IncidentDesk, live: LiveState) -> dict[str, int]:
    engine = await r.get(ENGINE_KEY)
    return {
        "desk_tickets": len(desk.tickets), "engine_incidents": len(desk.engine.open_incidents()),
        "engine_bytes": len(engine or b""), "live_tickets": len(live.tickets), "hash": await r.hlen(TICKETS),
        "keys": await r.dbsize(), "events": await r.xlen(EVENTS), "commands": await r.xlen(COMMANDS),
        "incidents": await r.xlen(INCIDENTS), "results": await r.xlen(RESULTS),
    }  # fmt: skip


@pytest.mark.asyncio
async def test_thirty_days_of_tickets_keep_desk_redis_and_live_state_flat(
    r: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("actors.incident_desk.TRIM_EVERY_S", 0.0)  # apply retention on every tick
    clock = [START]
    s = settings()
    desk = IncidentDesk(r, s, clock=lambda: clock[0])
    await desk.start()
    live = LiveState(SimpleNamespace(redis=r, settings=s))
    await live.refresh()
    opened: list[str] = []
    daily: list[dict[str, int]] = []
    n = 0
    for hour in range(DAYS * 24):
        async with r.pipeline(transaction=False) as pipe:
            for _ in range(PER_HOUR):
                n += 1
                pipe.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos(n % 500, clock[0] + n % 1000))})
            for tid in opened:  # last hour's tickets are closed by an operator
                cmd = TicketCommand(key=f"close:{tid}", ticket_id=tid, action="close", actor="op", ts=clock[0],
                                    note="已处理")  # fmt: skip
                pipe.xadd(COMMANDS, {b"c": msgspec.msgpack.encode(cmd)})
            await pipe.execute()
        before = set(desk.tickets)
        await desk.round()  # this hour's alarms and last hour's closes
        opened = sorted(set(desk.tickets) - before)
        assert len(opened) == PER_HOUR
        while await live_read(live):
            pass
        live.forget_closed(clock[0])
        if hour % 24 == 23:
            daily.append(await counts(r, desk, live))
        clock[0] += HOUR

    assert desk.stats["incidents"] == DAYS * 24 * PER_HOUR
    first = {k: max(d[k] for d in daily[:3]) for k in daily[0]}
    for day, found in enumerate(daily[3:], start=4):
        grown = {k: v for k, v in found.items() if v > first[k] * 1.2 + 10}
        assert not grown, f"day {day}: grew past the first days' {first}: {grown}"
    assert daily[-1]["desk_tickets"] <= 3 * PER_HOUR  # open, plus closed within the grace hour
    assert await r.xlen(DEAD) == 0
    assert not await r.exists(LOST)  # no pending entry was ever trimmed


async def live_read(live: LiveState) -> bool:
    """One non-blocking read of the incidents stream into the live state; True when something came."""
    got: Any = await live.redis.xread({INCIDENTS: live.stream_id}, count=1, block=None)
    if not got or not got[0][1]:
        return False
    await live.read_incidents()
    return True
