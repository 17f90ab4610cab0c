"""A simulated station end to end: MJPEG road -> video host -> real Serve scene detector and plate reader ->
station actor -> passes with plates and speeds, violations with snapshots, and the immediate voice warning."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from actors.video_host import VideoShard
from adapters.bus import EVENTS, SPEAKER
from adapters.speaker.requests import SpeakerRequest
from core.events import EVENT_DECODER, DeviceEvent
from core.settings import Settings
from serve.app import deploy, shutdown_serve
from serve.client import ServeModels
from sim.station import StationScript, StationServer, provision_stations
from sim.station_road import VehiclePass

REPO = Path(__file__).resolve().parents[2]
SCENE_MODEL = REPO / "serve" / "models" / "scene" / "model.onnx"
FPS = 6
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not SCENE_MODEL.is_file(), reason=f"scene model not built yet: {SCENE_MODEL}"),
]


@pytest.fixture(scope="module")
def served(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    settings = Settings(var_dir=tmp_path_factory.mktemp("var"), serve={  # type: ignore[arg-type]
        "detectors": {"scene": {"intra_op_threads": 1, "max_batch_size": 4, "max_ongoing_requests": 16}},
        "plate_reader": {"intra_op_threads": 1, "max_batch_size": 4, "max_ongoing_requests": 16},
    })  # fmt: skip
    deploy(settings)
    yield
    shutdown_serve()


async def events_of(r: aioredis.Redis) -> list[DeviceEvent]:
    return [EVENT_DECODER.decode(f[b"e"]) for _, f in await r.xrange(EVENTS)]


@pytest.mark.asyncio
async def test_a_station_measures_passes_reads_plates_and_warns(served: None, redis_url: str, var_dir: Path) -> None:
    passes = [
        VehiclePass("甘P·A3721", 30.0, "down", start_s=1.0, variant=0),  # compliant
        VehiclePass("甘P·K5508", 65.0, "down", start_s=9.0, variant=5),  # speeding
        VehiclePass("甘P·B9163", 25.0, "up", start_s=13.0, vehicle="motorcycle", variant=3),  # wrong way
        VehiclePass("甘P·C2046", 25.0, "down", start_s=19.0, vehicle="motorcycle", passengers=2, variant=4),  # 载人
    ]
    sim = StationServer([StationScript("st-0001", 3, passes, limit_kmh=40, wrong_heading="up")], fps=FPS)
    await sim.start()
    r = aioredis.Redis.from_url(redis_url)
    shard = VideoShard(r, Settings(var_dir=var_dir), "station", 0, ServeModels())
    try:
        await provision_stations(r, sim)
        await shard.refresh()
        assert list(shard.devices) == ["st-0001"], shard.rejected
        deadline = time.monotonic() + 90
        while sum(e.type == "vehicle_pass" for e in await events_of(r)) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
    finally:
        await shard.close()
        await sim.stop()
    events = await events_of(r)
    found = {e.detail["vehicle"] + ("↓" if e.detail["direction"] == "下行" else "↑"): e.detail
             for e in events if e.type == "vehicle_pass"}  # fmt: skip
    assert set(found) >= {"car↓", "motorcycle↑", "motorcycle↓"}, [e.detail for e in events]
    speeds = sorted(d["speed_kmh"] for k, d in found.items() if k == "car↓")
    by_plate = {e.detail["plate"]: e.detail for e in events if e.type == "vehicle_pass" and e.detail["plate"]}
    assert "甘P·A3721" in by_plate or "甘P·K5508" in by_plate  # a car's plate is read near the camera
    for plate, kmh in (("甘P·A3721", 30.0), ("甘P·K5508", 65.0)):
        if plate in by_plate:
            assert by_plate[plate]["speed_kmh"] == pytest.approx(kmh, rel=0.15)
    assert speeds and max(speeds) == pytest.approx(65.0, rel=0.15)
    [speeding] = [e for e in events if e.type == "speeding"]
    assert speeding.detail["speed_kmh"] > 44 and (var_dir / speeding.detail["snapshot"]).stat().st_size > 5000
    assert [e.detail["vehicle"] for e in events if e.type == "wrong_way"] == ["motorcycle"]
    [carrying] = [e for e in events if e.type == "carrying_passengers"]  # the scene model sees each rider
    assert carrying.detail["direction"] == "下行" and carrying.detail["passengers"] >= 1
    warnings = [msgspec.msgpack.decode(f[b"r"], type=SpeakerRequest) for _, f in await r.xrange(SPEAKER)]
    violations = ("speeding", "wrong_way", "carrying_passengers")
    assert {(w.reason, w.by) for w in warnings} == {(v, "station") for v in violations}
    assert {w.key for w in warnings} == {e.event_id for e in events if e.type in violations}
    await r.aclose()
