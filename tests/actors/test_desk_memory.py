"""Closed tickets leave the desk: out of memory and the `tickets` hash after the grace period, not reloaded on a
restart, not ticked; their history stays on `incidents`; a later alarm of the same elder opens a new ticket."""

from __future__ import annotations

import msgspec
import pytest
import redis.asyncio as aioredis

from actors.incident_desk import TICKETS, IncidentDesk
from actors.ticket_routing import CLOSED
from adapters.bus import COMMANDS, EVENTS, INCIDENTS
from core.events import DeviceEvent
from core.incidents import TicketCommand, TicketEvent
from core.settings import BusSettings, Settings

NOW = 1_790_000_000_000
KEEP_S = 600


def sos(device: str, ts: int) -> DeviceEvent:
    return DeviceEvent(event_id=f"{device}:sos:{ts}", type="sos", kind="wristband", device_id=device, ts=ts,
                       seq=ts, village="杰迪村", lat=33.8, lon=104.25)  # fmt: skip


def close(tid: str, ts: int) -> dict[bytes, bytes]:
    cmd = TicketCommand(key=f"close:{tid}", ticket_id=tid, action="close", actor="op", ts=ts, note="已处理")
    return {b"c": msgspec.msgpack.encode(cmd)}


@pytest.mark.asyncio
async def test_a_closed_ticket_leaves_desk_and_hash_after_the_grace_period_and_is_not_reloaded(
    r: aioredis.Redis,
) -> None:
    clock = [NOW]
    settings = Settings(bus=BusSettings(closed_ticket_keep_s=KEEP_S))
    desk = IncidentDesk(r, settings, clock=lambda: clock[0])
    await desk.start()
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-1", NOW))})
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-2", NOW))})
    await desk.round()
    done, still = sorted(desk.tickets)
    await r.xadd(COMMANDS, close(done, NOW))
    clock[0] += 1_000
    await desk.round()
    assert desk.tickets[done].status == CLOSED  # within the grace period: still there, still answerable
    assert await r.hexists(TICKETS, done)

    clock[0] += KEEP_S * 1000 + 1_000
    await desk.round()
    assert set(desk.tickets) == {still}
    assert await r.hkeys(TICKETS) == [still.encode()]
    assert done in {msgspec.msgpack.decode(f[b"t"], type=TicketEvent).ticket_id for _, f in await r.xrange(INCIDENTS)}

    restarted = IncidentDesk(r, settings, clock=lambda: clock[0])
    await restarted.start()
    assert set(restarted.tickets) == {still}
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-1", clock[0]))})  # the same elder again
    await restarted.round()
    assert len(restarted.tickets) == 2 and done not in restarted.tickets  # a new ticket, not the closed one reopened


@pytest.mark.asyncio
async def test_a_restart_drops_tickets_that_closed_long_ago_from_the_hash(r: aioredis.Redis) -> None:
    clock = [NOW]
    old = IncidentDesk(r, Settings(bus=BusSettings(closed_ticket_keep_s=10**6)), clock=lambda: clock[0])
    await old.start()
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-1", NOW))})
    await old.round()
    [tid] = old.tickets
    await r.xadd(COMMANDS, close(tid, NOW))
    await old.round()  # closed, kept in the hash (as every ticket was before)
    clock[0] += 86_400_000
    desk = IncidentDesk(r, Settings(bus=BusSettings(closed_ticket_keep_s=KEEP_S)), clock=lambda: clock[0])
    await desk.start()
    assert desk.tickets == {}
    assert await r.hlen(TICKETS) == 0
