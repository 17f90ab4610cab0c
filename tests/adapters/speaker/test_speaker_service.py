"""The speaker service end to end on a real Redis and a running station simulator: synthesis, delivery, retries,
dead letters, idempotency, and the delivery log in ClickHouse (chDB)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from adapters import registry
from adapters.bus import DEAD, SPEAKER, STORE
from adapters.sink import TelemetrySink
from adapters.speaker.actor import SpeakerActor
from adapters.speaker.requests import SpeakerRequest, request_broadcast, request_fields
from adapters.speaker.service import DONE, SpeakerService
from adapters.speaker.synth import standard_warnings, wav_seconds
from adapters.telemetry import DB, SPEAKER_LOG_TABLE, ChdbBackend
from core.events import now_ms
from core.kinds import DeviceProfile
from core.settings import BusSettings, Settings, SinkSettings, SpeakerSettings
from sim.station import StationScript, StationServer, provision_stations

BUS = BusSettings(block_ms=10, claim_idle_ms=50, max_deliveries=3)
REPO = Path(__file__).resolve().parents[3]


@pytest_asyncio.fixture
async def sim(r: aioredis.Redis) -> AsyncIterator[StationServer]:
    server = StationServer([StationScript("st-0001", 1), StationScript("st-0002", 2)])
    await server.start()
    await provision_stations(r, server)
    await registry.register(r, [DeviceProfile(device_id="cam-0001", kind="camera")])
    try:
        yield server
    finally:
        await server.stop()


@pytest_asyncio.fixture
async def service(r: aioredis.Redis, var_dir: Path) -> AsyncIterator[SpeakerService]:
    svc = SpeakerService(r, var_dir, SpeakerSettings(backoff_s=0.01, attempts=3, post_timeout_s=3), BUS)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


async def settle(svc: SpeakerService) -> None:
    """Hand everything waiting to the workers and wait until it is delivered or given up."""
    while await svc.round(block_ms=0):
        await svc.drain()
    await svc.drain()


async def log_rows(r: aioredis.Redis) -> list[list[object]]:
    rows = [f for _, f in await r.xrange(STORE) if f[b"t"] == SPEAKER_LOG_TABLE.encode()]
    return [msgspec.json.decode(f[b"r"]) for f in rows]


@pytest.mark.asyncio
async def test_an_operator_broadcast_is_spoken_on_the_station(
    r: aioredis.Redis, sim: StationServer, service: SpeakerService, var_dir: Path
) -> None:
    assert len(list((var_dir / "speaker" / "clips").glob("*.wav"))) == len(standard_warnings())  # pre-recorded
    key = await request_broadcast(r, "st-0001", "村民请注意：今晚有大风，请关好门窗。", by="op-7")
    await settle(service)
    [clip] = sim.clips("st-0001")
    assert clip.key == key and wav_seconds(clip.data) > 1.0 and sim.clips("st-0002") == []
    [row] = await log_rows(r)
    assert row[:2] == [key, "st-0001"] and row[3:10] == ["村民请注意：今晚有大风，请关好门窗。", "op-7", "operator",
                                                         True, len(clip.data), row[8], 1]  # fmt: skip
    assert await r.xlen(SPEAKER) == 1 and (await r.xpending(SPEAKER, "speakers"))["pending"] == 0
    assert await r.get(DONE + key) == b"1"


@pytest.mark.asyncio
async def test_the_same_key_twice_plays_once(r: aioredis.Redis, sim: StationServer, service: SpeakerService) -> None:
    text = standard_warnings()["speeding"]
    for by in ("station", "rule:station.speeding"):  # the immediate warning and the rule's, for one event
        req = SpeakerRequest(device_id="st-0002", text=text, reason="speeding", key="st-0002:speeding:5:1", by=by)
        await r.xadd(SPEAKER, request_fields(req))  # type: ignore[arg-type]
    await settle(service)
    assert len(sim.clips("st-0002")) == 1 and service.stats["duplicates"] == 1 and len(await log_rows(r)) == 1


@pytest.mark.asyncio
async def test_a_warning_about_an_event_long_gone_is_logged_not_played(
    r: aioredis.Redis, sim: StationServer, service: SpeakerService
) -> None:
    old = SpeakerRequest(device_id="st-0001", text="请减速", reason="speeding", key="k-old", by="station",
                         ts=now_ms() - 10 * 60_000)  # fmt: skip
    await r.xadd(SPEAKER, request_fields(old))  # type: ignore[arg-type]
    await settle(service)
    [row] = await log_rows(r)
    assert sim.clips("st-0001") == [] and row[6] is False and "过期" in str(row[10])
    assert await r.xlen(DEAD) == 0 and service.stats["stale"] == 1


@pytest.mark.asyncio
async def test_a_flaky_speaker_is_retried_and_a_dead_one_is_dead_lettered_naming_the_station(
    r: aioredis.Redis, sim: StationServer, service: SpeakerService
) -> None:
    sim.fail_speaker("st-0001", 2)
    await request_broadcast(r, "st-0001", "请减速慢行", by="op-1")
    await settle(service)
    assert len(sim.clips("st-0001")) == 1 and (await log_rows(r))[-1][9] == 3  # third attempt got through
    sim.fail_speaker("st-0002", 100)
    await request_broadcast(r, "st-0002", "请减速慢行", by="op-1")
    await settle(service)
    [(_, dead)] = await r.xrange(DEAD)
    assert b"st-0002" in dead[b"error"] and b"503" in dead[b"error"] and dead[b"stream"] == SPEAKER.encode()
    row = (await log_rows(r))[-1]
    assert row[1] == "st-0002" and row[6] is False and "st-0002" in str(row[10])
    sim.fail_speaker("st-0002", 0)
    await request_broadcast(r, "st-0002", "请靠右行驶", by="op-1")  # the service carries on
    await settle(service)
    assert len(sim.clips("st-0002")) == 1 and (await r.xpending(SPEAKER, "speakers"))["pending"] == 0


@pytest.mark.asyncio
async def test_bad_entries_go_to_dead_letters_and_never_stop_the_service(
    r: aioredis.Redis, sim: StationServer, service: SpeakerService
) -> None:
    await r.xadd(SPEAKER, {b"r": b"\xc1 not msgpack"})
    for device in ("st-gone", "cam-0001"):  # queued behind request_broadcast's back
        req = SpeakerRequest(device_id=device, text="请减速", reason="operator", key=f"k-{device}", by="op-1")
        await r.xadd(SPEAKER, request_fields(req))  # type: ignore[arg-type]
    await settle(service)
    errors = [f[b"error"].decode() for _, f in await r.xrange(DEAD)]
    assert any("malformed speaker request" in e for e in errors)
    assert any("st-gone" in e and "未登记" in e for e in errors) and any("cam-0001" in e for e in errors)
    await request_broadcast(r, "st-0001", "请减速", by="op-1")
    await settle(service)
    assert len(sim.clips("st-0001")) == 1


@pytest.mark.asyncio
async def test_deliveries_land_in_clickhouse(
    r: aioredis.Redis, sim: StationServer, service: SpeakerService, var_dir: Path
) -> None:
    key = await request_broadcast(r, "st-0001", "请减速慢行", by="op-9")
    await settle(service)
    backend = ChdbBackend(var_dir / "chdb")
    try:
        settings = Settings(bus=BUS, sink=SinkSettings(flush_ms=10, ttl_days=3650))
        sink = TelemetrySink(r, backend, settings)
        await sink.setup()
        assert await sink.round() >= 1
        rows = backend.query(f"SELECT key, device_id, by, ok, bytes, attempts FROM {DB}.{SPEAKER_LOG_TABLE}")
    finally:
        backend.close()
    assert rows == [{"key": key, "device_id": "st-0001", "by": "op-9", "ok": True,
                     "bytes": len(sim.clips("st-0001")[0].data), "attempts": 1}]  # fmt: skip


@pytest.mark.asyncio
async def test_the_operator_cli_queues_or_explains_why_not(
    r: aioredis.Redis, sim: StationServer, redis_url: str
) -> None:
    async def say(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.speaker.say", *args, "--redis-url", redis_url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=str(REPO),
        )  # fmt: skip
        out, _ = await proc.communicate()
        return int(proc.returncode or 0), out.decode()

    code, out = await say("st-0001", "请注意道路施工，减速慢行", "--by", "op-3")
    assert code == 0 and "已排队" in out and "st-0001" in out
    code, out = await say("cam-0001", "请减速", "--by", "op-3")
    assert code == 2 and "不是劝导站" in out
    [(_, fields)] = await r.xrange(SPEAKER)
    assert msgspec.msgpack.decode(fields[b"r"], type=SpeakerRequest).by == "op-3"


@pytest.mark.slow
@pytest.mark.asyncio
async def test_the_speaker_ray_actor_plays_a_broadcast(
    ray_session: None, r: aioredis.Redis, sim: StationServer, redis_url: str, var_dir: Path
) -> None:
    import ray

    actor = SpeakerActor.remote(Settings(var_dir=var_dir, bus=BUS), redis_url)  # type: ignore[attr-defined]
    try:
        key = await request_broadcast(r, "st-0002", "夜间行车请开灯", by="op-5")
        deadline = time.monotonic() + 60
        while not sim.clips("st-0002") and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert [c.key for c in sim.clips("st-0002")] == [key]
        stats = await actor.stats.remote()
        assert stats["delivered"] == 1 and stats["running"]
    finally:
        ray.kill(actor)
