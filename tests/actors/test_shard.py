"""Shard on a real Redis: apply a batch, commit rows + events + twins + ack together; dedup, restore, timers, dead."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from actors.beehive import BeehiveState
from actors.shard import GROUP, Shard, twin_key
from actors.wristband import WristbandState
from adapters import registry
from adapters.bus import DEAD, EVENTS, STORE, shard_of, tele_stream
from adapters.telemetry import EVENTS_TABLE, column_names
from core.events import EVENT_DECODER, DeviceEvent, Message
from core.kinds import DeviceProfile
from core.kinds.beehive import BeehiveReading
from core.kinds.wristband import WristbandReading
from core.settings import BusSettings, Settings

SETTINGS = Settings(
    shards={"wristband": 2, "beehive": 1}, bus=BusSettings(block_ms=10, claim_idle_ms=50, max_deliveries=3)
)
T0 = 1_790_000_000_000  # ms
HOME = (33.7868, 104.3712)


def ids_in_shard(shard: int, n: int) -> list[str]:
    found = [d for d in (f"wb-{i:05d}" for i in range(1000)) if shard_of(d, 2) == shard]
    return found[:n]


WB0 = ids_in_shard(0, 3)  # wristbands hosted by shard 0
WB1 = ids_in_shard(1, 1)  # ... and one by shard 1


class Clock:
    """A frozen clock the test moves by hand."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest_asyncio.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        await registry.register(
            client,
            [
                DeviceProfile(device_id=d, kind="wristband", village="城关镇", lat=HOME[0], lon=HOME[1])
                for d in WB0 + WB1
            ]
            + [DeviceProfile(device_id="hive-1", kind="beehive", village="狼岔坝村", lat=HOME[0], lon=HOME[1])],
        )
        yield client
    finally:
        await client.aclose()


def wb(device_id: str, seq: int, clock: Clock, **values: Any) -> Message[WristbandReading]:
    return Message(device_id=device_id, seq=seq, ts=clock.now - 500, rx=clock.now, v=WristbandReading(**values))


async def publish(r: aioredis.Redis, kind: str, msgs: list[Message[Any]]) -> bytes:
    """One entry as the ingest publisher writes it: a msgpack list of messages."""
    shards = SETTINGS.shard_count(kind)
    [shard] = {shard_of(m.device_id, shards) for m in msgs}
    return await r.xadd(tele_stream(kind, shard), {b"m": msgspec.msgpack.encode(msgs)})


async def started(r: aioredis.Redis, clock: Clock, kind: str = "wristband", shard: int = 0) -> Shard:
    s = Shard(r, SETTINGS, kind, shard, clock=clock)
    await s.start()
    return s


async def store_entries(r: aioredis.Redis, table: str) -> list[dict[bytes, bytes]]:
    return [f for _, f in await r.xrange(STORE) if f[b"t"] == table.encode()]


async def store_rows(r: aioredis.Redis, table: str) -> list[list[Any]]:
    out: list[list[Any]] = []
    for f in await store_entries(r, table):
        lines = f[b"r"].split(b"\n")
        assert int(f[b"n"]) == len(lines)
        out += [msgspec.json.decode(line) for line in lines]
    return out


async def device_events(r: aioredis.Redis) -> list[DeviceEvent]:
    return [EVENT_DECODER.decode(f[b"e"]) for _, f in await r.xrange(EVENTS)]


async def twin(r: aioredis.Redis, device_id: str, state: type[msgspec.Struct] = WristbandState) -> Any:
    kind = "wristband" if state is WristbandState else "beehive"
    blob = await r.hget(twin_key(kind), device_id)
    return None if blob is None else msgspec.msgpack.decode(blob, type=state)


async def pending(r: aioredis.Redis, kind: str = "wristband", shard: int = 0) -> int:
    return int((await r.xpending(tele_stream(kind, shard), GROUP))["pending"])


@pytest.mark.asyncio
async def test_batch_commits_rows_events_twins_and_ack(r: aioredis.Redis) -> None:
    clock = Clock()
    shard = await started(r, clock)
    assert set(shard.actors) == set(WB0)  # only this shard's devices
    assert shard.stats["restored"] == 0
    a, b = WB0[0], WB0[1]
    await publish(r, "wristband", [wb(a, 1, clock, hr=72, spo2=97), wb(b, 1, clock, hr=80, battery=90)])
    await publish(r, "wristband", [wb(a, 2, clock, alarm="sos", battery=55)])

    assert await shard.round() == 3
    assert shard.stats["applied"] == 3 and shard.stats["events"] == 1 and shard.stats["dead"] == 0

    rows = await store_rows(r, "tele_wristband")
    assert len(rows) == 3
    cols = column_names("tele_wristband")
    by_seq = {(row[0], row[1]): dict(zip(cols, row, strict=True)) for row in rows}
    assert by_seq[(a, 1)]["hr"] == 72 and by_seq[(a, 1)]["alarm"] is None
    assert by_seq[(a, 1)]["ts"] == (T0 - 500) / 1000 and by_seq[(a, 1)]["rx"] == T0 / 1000
    assert by_seq[(a, 2)]["alarm"] == "sos" and by_seq[(a, 2)]["battery"] == 55
    assert by_seq[(b, 1)]["battery"] == 90

    [sos] = await device_events(r)
    assert (sos.type, sos.device_id, sos.seq, sos.kind, sos.village) == ("sos", a, 2, "wristband", "城关镇")
    assert sos.event_id == f"{a}:sos:2" and sos.detail == {"hr": 72, "battery": 55}
    [ev_row] = await store_rows(r, EVENTS_TABLE)
    assert ev_row[0] == sos.event_id and ev_row[1] == "sos" and ev_row[3] == a
    assert ev_row[4] == sos.ts / 1000 and msgspec.json.decode(ev_row[9]) == {"hr": 72, "battery": 55}

    ta, tb = await twin(r, a), await twin(r, b)
    assert (ta.last_seq, ta.hr, ta.spo2, ta.battery, ta.applied, ta.last_seen) == (2, 72, 97, 55, 2, T0)
    assert (tb.last_seq, tb.hr, tb.battery) == (1, 80, 90)
    assert await twin(r, WB0[2]) is None  # untouched devices get no snapshot
    assert await pending(r) == 0  # both entries acked

    assert await shard.round() == 0  # nothing new: no new effects
    assert len(await r.xrange(STORE)) == 2


@pytest.mark.asyncio
async def test_duplicates_are_counted_and_add_no_row(r: aioredis.Redis) -> None:
    clock = Clock()
    shard = await started(r, clock)
    a = WB0[0]
    await publish(r, "wristband", [wb(a, 1, clock, hr=70), wb(a, 1, clock, hr=70)])  # resent in one upload
    assert await shard.round() == 1
    assert shard.stats["duplicates"] == 1
    await publish(r, "wristband", [wb(a, 1, clock, hr=70)])  # resent later
    assert await shard.round() == 0
    assert shard.stats["duplicates"] == 2
    assert len(await store_rows(r, "tele_wristband")) == 1
    assert await pending(r) == 0  # a batch of duplicates is still acked
    assert (await twin(r, a)).applied == 1


@pytest.mark.asyncio
async def test_restart_restores_from_snapshots(r: aioredis.Redis) -> None:
    clock = Clock()
    first = await started(r, clock)
    a, b = WB0[0], WB0[1]
    await publish(r, "wristband", [wb(a, 1, clock, hr=70), wb(a, 2, clock, hr=71), wb(b, 5, clock, hr=90)])
    assert await first.round() == 3

    restarted = await started(r, clock)  # a new process: same consumer name, state from Redis
    assert restarted.stats["restored"] == 2
    assert restarted.actors[a].state.last_seq == 2 and restarted.actors[a].state.hr == 71
    await publish(r, "wristband", [wb(a, 2, clock, hr=99), wb(a, 3, clock, hr=72), wb(b, 4, clock, hr=1)])
    assert await restarted.round() == 1
    assert restarted.stats["duplicates"] == 2
    ta, tb = await twin(r, a), await twin(r, b)
    assert (ta.last_seq, ta.hr, ta.applied) == (3, 72, 3)
    assert (tb.last_seq, tb.hr) == (5, 90)
    rows = await store_rows(r, "tele_wristband")
    assert sorted((row[0], row[1]) for row in rows) == sorted([(a, 1), (a, 2), (b, 5), (a, 3)])


@pytest.mark.asyncio
async def test_crash_before_commit_replays_the_pending_batch(r: aioredis.Redis) -> None:
    clock = Clock()
    crashed = await started(r, clock)
    a = WB0[0]
    await publish(r, "wristband", [wb(a, 1, clock, alarm="sos")])
    assert len(await crashed.consumer.read()) == 1  # read, then died before the MULTI
    assert await pending(r) == 1

    restarted = await started(r, clock)
    assert await restarted.round() == 1  # its own pending entry first
    assert len(await store_rows(r, "tele_wristband")) == 1
    assert [e.type for e in await device_events(r)] == ["sos"]
    assert await pending(r) == 0


@pytest.mark.asyncio
async def test_unregistered_device_is_hosted_with_a_default_profile(r: aioredis.Redis) -> None:
    clock = Clock()
    shard = await started(r, clock)
    stranger = next(d for d in (f"x-{i}" for i in range(100)) if shard_of(d, 2) == 0)
    await publish(r, "wristband", [wb(stranger, 1, clock, hr=60)])
    assert await shard.round() == 1
    assert shard.actors[stranger].profile == DeviceProfile(device_id=stranger, kind="wristband")
    assert (await twin(r, stranger)).hr == 60


@pytest.mark.asyncio
async def test_no_data_raised_by_tick_after_silence(r: aioredis.Redis) -> None:
    clock = Clock()
    shard = await started(r, clock)
    a = WB0[0]
    await publish(r, "wristband", [wb(a, 1, clock, hr=70)])
    assert await shard.round() == 1

    clock.now += 20 * 60_000 - 1
    assert await shard.round() == 0
    assert await device_events(r) == []  # not yet

    clock.now += 6_000  # past 20 minutes of silence, and past the 5 s tick interval
    assert await shard.round() == 0
    [ev] = await device_events(r)
    assert (ev.type, ev.device_id, ev.ts, ev.seq) == ("no_data", a, clock.now, 0)
    assert ev.detail == {"silent_s": (clock.now - T0) // 1000}
    assert [row[1] for row in await store_rows(r, EVENTS_TABLE)] == ["no_data"]
    assert (await twin(r, a)).offline is True
    assert shard.stats["events"] == 1

    clock.now += 60_000
    await shard.round()
    assert len(await device_events(r)) == 1  # once per silence

    await publish(r, "wristband", [wb(a, 2, clock, hr=71)])  # back online
    assert await shard.round() == 1
    assert (await twin(r, a)).offline is False


@pytest.mark.asyncio
async def test_undecodable_entries_go_to_dead_and_the_rest_is_processed(r: aioredis.Redis) -> None:
    clock = Clock()
    shard = await started(r, clock)
    stream = tele_stream("wristband", 0)
    garbage = await r.xadd(stream, {b"m": b"\xc1\xff not msgpack"})
    no_field = await r.xadd(stream, {b"x": b"1"})
    wrong_type = await r.xadd(stream, {b"m": msgspec.msgpack.encode([{"device_id": WB0[0], "seq": "one"}])})
    await publish(r, "wristband", [wb(WB0[1], 1, clock, hr=66)])

    assert await shard.round() == 1
    dead = await r.xrange(DEAD)
    assert [f[b"id"] for _, f in dead] == [garbage, no_field, wrong_type]
    assert all(f[b"stream"] == stream.encode() for _, f in dead)
    assert all(f[b"error"].startswith(b"undecodable entry") for _, f in dead)
    assert dead[0][1][b"m"] == b"\xc1\xff not msgpack"  # the original entry is kept
    assert shard.stats["dead"] == 3
    assert (await twin(r, WB0[1])).hr == 66
    assert len(await store_rows(r, "tele_wristband")) == 1
    assert await pending(r) == 0


@pytest.mark.asyncio
async def test_a_message_that_makes_the_actor_raise_goes_to_dead(r: aioredis.Redis) -> None:
    clock = Clock()
    bad = WB0[2]
    # a mistyped profile parameter: comparing the reading against it raises TypeError in the actor
    await registry.register(r, [DeviceProfile(device_id=bad, kind="wristband", params={"hr_max": "high"})])
    shard = await started(r, clock)
    await publish(r, "wristband", [wb(bad, 1, clock, hr=70), wb(WB0[0], 1, clock, hr=75), wb(bad, 2, clock, steps=5)])

    assert await shard.round() == 2  # the good device, and the bad one's message without a vital
    [(_, dead)] = await r.xrange(DEAD)
    assert dead[b"stream"] == tele_stream("wristband", 0).encode()
    assert dead[b"error"].startswith(b"TypeError")
    [failed] = msgspec.msgpack.decode(dead[b"m"], type=list[Message[WristbandReading]])
    assert (failed.device_id, failed.seq, failed.v.hr) == (bad, 1, 70)
    assert shard.stats["dead"] == 1
    written = sorted((row[0], row[1]) for row in await store_rows(r, "tele_wristband"))
    assert written == sorted([(WB0[0], 1), (bad, 2)])
    assert await pending(r) == 0


@pytest.mark.asyncio
async def test_beehive_shard(r: aioredis.Redis) -> None:
    clock = Clock()
    shard = await started(r, clock, "beehive", 0)
    assert set(shard.actors) == {"hive-1"}
    msg = Message(
        device_id="hive-1", seq=1, ts=T0, rx=T0, v=BeehiveReading(weight=40.0, sound=[1.0, 2.0, 3.0, 4.0], battery=9)
    )
    await publish(r, "beehive", [msg])
    assert await shard.round() == 1
    [row] = await store_rows(r, "tele_beehive")
    cols = dict(zip(column_names("tele_beehive"), row, strict=True))
    assert cols["sound"] == [1.0, 2.0, 3.0, 4.0] and cols["weight"] == 40.0 and cols["humidity"] is None
    assert [e.type for e in await device_events(r)] == ["low_battery"]
    st = await twin(r, "hive-1", BeehiveState)
    assert (st.weight, st.battery, st.latched) == (40.0, 9, ["low_battery"])
    assert await pending(r, "beehive", 0) == 0
