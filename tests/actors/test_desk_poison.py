"""One bad entry costs the incident desk only itself: its batch-mates (SOS alarms, commands) are applied normally."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from test_incident_flow import _next, _phone, _token

from actors.incident_desk import IncidentDesk
from adapters.bus import COMMANDS, DEAD, DISPATCH, EVENTS, INCIDENTS, RESULTS
from adapters.reports import submit_report
from adapters.rosters import OFFICERS
from core.events import DeviceEvent
from core.incidents import Dispatch, TicketCommand, TicketEvent
from core.settings import Settings
from runtime.platform import Platform
from tests.runtime.platform_kit import count, wait

NOW = 1_790_000_000_000
POISON = b"\xc1 not a device event"  # 0xc1 is never valid msgpack


def sos(device: str, ts: int) -> DeviceEvent:
    return DeviceEvent(event_id=f"{device}:sos:{ts}", type="sos", kind="wristband", device_id=device, ts=ts,
                       seq=1, village="杰迪村", lat=33.8, lon=104.25)  # fmt: skip


async def add_all(r: aioredis.Redis, stream: str, entries: list[dict[bytes, bytes]]) -> list[bytes]:
    """Entries added in one MULTI, so the desk reads them as one batch."""
    async with r.pipeline(transaction=True) as pipe:
        for fields in entries:
            pipe.xadd(stream, fields)  # type: ignore[arg-type]
        return list(await pipe.execute())


async def dead_letters(r: aioredis.Redis) -> list[dict[bytes, bytes]]:
    return [f for _, f in await r.xrange(DEAD)]


async def history(r: aioredis.Redis) -> list[TicketEvent]:
    return [msgspec.msgpack.decode(f[b"t"], type=TicketEvent) for _, f in await r.xrange(INCIDENTS)]


def command(key: str, ticket_id: str, action: str, **extra: Any) -> dict[bytes, bytes]:
    cmd = TicketCommand(key=key, ticket_id=ticket_id, action=action, actor="op-1", ts=NOW, **extra)
    return {b"c": msgspec.msgpack.encode(cmd)}


@pytest.mark.asyncio
async def test_an_undecodable_event_between_two_sos_alarms_is_dead_lettered_alone(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    await r.hset(OFFICERS, "杰迪村", "officer-a")
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    _, bad, _ = await add_all(r, EVENTS, [
        {b"e": msgspec.msgpack.encode(sos("wb-1", NOW))}, {b"e": POISON},
        {b"e": msgspec.msgpack.encode(sos("wb-2", NOW))},
    ])  # fmt: skip
    await desk.round()
    pushes = [msgspec.msgpack.decode(f[b"d"], type=Dispatch) for _, f in await r.xrange(DISPATCH)]
    assert sorted((d.ticket_id.split(":")[1], d.recipient) for d in pushes) == [
        ("wb-1", "officer-a"), ("wb-2", "officer-a"),
    ]  # fmt: skip
    [dead] = await dead_letters(r)
    assert (dead[b"stream"], dead[b"id"], dead[b"e"]) == (EVENTS.encode(), bad, POISON)
    assert dead[b"error"].startswith(b"undecodable event")
    assert (await r.xpending(EVENTS, "rules"))["pending"] == 0
    await r.aclose()


@pytest.mark.asyncio
async def test_a_command_that_crashes_the_desk_is_dead_lettered_with_its_error_and_its_batch_mates_apply(
    redis_url: str,
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    a = await submit_report(r, text="村道塌方", village="杰迪村", category="基础设施", reporter="citizen-1")
    b = await submit_report(r, text="河堤渗水", village="杰迪村", category="基础设施", reporter="citizen-2")
    await desk.round()
    # "²" passes str.isdigit() but not int(): escalate raises ValueError inside the ticket (a real crash, not a refusal)
    ids = await add_all(r, COMMANDS, [
        command("k-a", a, "accept"), command("k-bad", a, "escalate", target="²"), command("k-b", b, "accept"),
    ])  # fmt: skip
    await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(sos("wb-3", NOW))})  # same round, applied after the crash
    await desk.round()
    results = {f[b"key"]: f[b"ok"] for _, f in await r.xrange(RESULTS)}
    assert results[b"k-a"] == results[b"k-b"] == b"1"
    assert b"k-bad" not in results
    [dead] = await dead_letters(r)
    assert (dead[b"stream"], dead[b"id"]) == (COMMANDS.encode(), ids[1])
    assert dead[b"error"].startswith(b"crashed the incident desk: ValueError")
    events = await history(r)
    assert [(e.ticket_id, e.action) for e in events if e.action == "accept"] == [(a, "accept"), (b, "accept")]
    assert len([e for e in events if e.action == "open" and ":wb-3:" in e.ticket_id]) == 1
    assert len({(e.ticket_id, e.seq) for e in events}) == len(events)  # nothing applied twice by the rebuilt pass
    assert (await r.xpending(COMMANDS, "tickets"))["pending"] == 0
    assert (await r.xpending(EVENTS, "rules"))["pending"] == 0
    await r.aclose()


@pytest.mark.slow
def test_a_poison_event_between_two_sos_alarms_lets_both_reach_the_officers_phone(platform: Platform) -> None:
    async def go() -> set[str]:
        ws = await _phone(platform, await _token(platform, "officer-jiedi"))
        r = aioredis.Redis.from_url(platform.redis_url)
        now = int(time.time() * 1000)
        await add_all(r, EVENTS, [
            {b"e": msgspec.msgpack.encode(sos("wb-p1", now))}, {b"e": POISON},
            {b"e": msgspec.msgpack.encode(sos("wb-p2", now))},
        ])  # fmt: skip
        got: set[str] = set()
        while len(got) < 2:
            msg = await _next(ws, "dispatch")
            got.add(msg["ticket_id"].split(":")[1])
            await ws.send(msgspec.json.encode({"type": "ack", "dispatch_id": msg["dispatch_id"]}).decode())
        await ws.close()
        assert await r.xlen(DEAD) == 1
        await r.aclose()
        return got

    assert asyncio.run(go()) == {"wb-p1", "wb-p2"}
    assert wait(lambda: count(platform, "ticket_events", "action = 'dispatch'") == 2, timeout=30)
