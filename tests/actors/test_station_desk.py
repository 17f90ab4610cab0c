"""The incident desk plays a rule's `voice` on the station whose event opened or updated the incident (real Redis)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from actors.incident_desk import IncidentDesk
from adapters.bus import EVENTS, INCIDENTS, SPEAKER
from adapters.speaker.requests import SpeakerRequest
from adapters.speaker.service import SpeakerService
from core.events import DeviceEvent, now_ms
from core.settings import BusSettings, Settings, SpeakerSettings
from sim.station import StationScript, StationServer, provision_stations

NOW = 1_790_000_000_000
SPEEDING_VOICE = "前方劝导站提示：您已超速，请减速慢行。"


def station_event(type_: str, track: int, ts: int = NOW, device: str = "st-0001", **detail: object) -> DeviceEvent:
    return DeviceEvent(event_id=f"{device}:{type_}:{ts}:{track}", type=type_, kind="station", device_id=device, ts=ts,
                       seq=1, village="城关村", detail={"track": track, "plate": "甘P·A1234", **detail})  # fmt: skip


async def requests(r: aioredis.Redis) -> list[SpeakerRequest]:
    return [msgspec.msgpack.decode(f[b"r"], type=SpeakerRequest) for _, f in await r.xrange(SPEAKER)]


async def send(r: aioredis.Redis, *events: DeviceEvent) -> None:
    for e in events:
        await r.xadd(EVENTS, {b"e": msgspec.msgpack.encode(e)})


@pytest.mark.asyncio
async def test_a_station_speeding_incident_plays_the_rule_voice_on_each_violation(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    first, second = station_event("speeding", 1, speed_kmh=61.0), station_event("speeding", 2, NOW + 20_000)
    await send(r, first, station_event("vehicle_pass", 1))
    await desk.round()
    await send(r, second)  # the next speeder folds into the same incident: warned all the same
    await desk.round()
    reqs = await requests(r)
    assert [q.key for q in reqs] == [first.event_id, second.event_id]
    assert {(q.device_id, q.text, q.reason, q.by) for q in reqs} == {
        ("st-0001", SPEEDING_VOICE, "station.speeding", "rule:station.speeding")
    }
    opened = {msgspec.msgpack.decode(f[b"t"])["ticket_id"] for _, f in await r.xrange(INCIDENTS)}
    assert len(opened) == 1  # one incident, two warnings
    await r.aclose()


@pytest.mark.asyncio
async def test_events_of_rules_without_voice_or_from_other_kinds_play_nothing(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    camera = DeviceEvent(event_id="cam-1:vehicle_violation:1", type="vehicle_violation", kind="camera",
                         device_id="cam-1", ts=NOW, detail={"violation": "wrong_way"})  # fmt: skip
    await send(r, camera, station_event("camera_offline", 0), station_event("vehicle_pass", 4))
    await desk.round()
    assert await requests(r) == [] and await r.xlen(INCIDENTS) > 0
    await r.aclose()


@pytest.mark.asyncio
async def test_a_restarted_desk_queues_each_warning_exactly_once(redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
    await desk.start()
    await send(r, station_event("wrong_way", 1))
    await desk.round()
    await send(r, station_event("carrying_passengers", 2))
    await desk.events.read(block_ms=0)  # crash after reading, before committing: the warning is not out yet
    assert len(await requests(r)) == 1
    restarted = IncidentDesk(r, Settings(), clock=lambda: NOW + 10)
    await restarted.start()
    await restarted.round()
    await restarted.round()
    reasons = [q.reason for q in await requests(r)]
    assert reasons == ["station.wrong_way", "station.carrying_passengers"]
    await r.aclose()


@pytest.mark.asyncio
async def test_from_station_event_to_the_loudspeaker(redis_url: str, var_dir: Path) -> None:
    r = aioredis.Redis.from_url(redis_url)
    sim = StationServer([StationScript("st-0001", 1)])
    await sim.start()
    service = SpeakerService(r, var_dir, SpeakerSettings(backoff_s=0.01), BusSettings(block_ms=10))
    try:
        await provision_stations(r, sim)
        await service.start()
        desk = IncidentDesk(r, Settings(), clock=lambda: NOW)
        await desk.start()
        event = station_event("speeding", 7, ts=now_ms(), speed_kmh=70.0)  # warnings about old events are not played
        await send(r, event)
        await desk.round()
        await service.round(block_ms=0)
        await service.drain()
        [clip] = sim.clips("st-0001")
        assert clip.key == event.event_id and clip.seconds > 1.0
    finally:
        await service.stop()
        await sim.stop()
        await r.aclose()
