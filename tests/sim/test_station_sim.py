"""The station simulator: its calibration matches what it renders, and its video and loudspeaker endpoints work."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator

import aiohttp
import cv2
import numpy as np
import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from actors.station import StationActor
from adapters import registry
from core.events import DeviceEvent, Message
from core.kinds import DeviceProfile
from core.kinds.station import StationReading
from sim.scene import render
from sim.station import StationScript, StationServer, provision_stations
from sim.station_road import RoadCamera, VehiclePass

T0 = 1_790_000_000_000
FPS = 8


def wav(seconds: float = 0.2) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * int(16000 * seconds))
    return buf.getvalue()


def passes_seen_by_a_station(script: StationScript, seconds: float) -> list[DeviceEvent]:
    """Render the script, take each vehicle's ground-truth box as perception would (bottom centre), and let a
    station actor calibrated by the simulator's own config measure it."""
    cfg = script.config("http://127.0.0.1:1", FPS)
    actor = StationActor(DeviceProfile(device_id=script.station_id, kind="station", params=cfg))
    events: list[DeviceEvent] = []
    for tick in range(int(seconds * FPS)):
        t = tick / FPS
        things = script.things(t)
        _, boxes = render(script.layout, things, t, noise_seed=tick)
        r = StationReading()
        for label, x1, _y1, x2, y2 in boxes:
            # the vehicle's identity: its plate (one vehicle per pass in these scripts)
            thing = min(things, key=lambda th: abs(th.y - y2) + abs(th.x - (x1 + x2) / 2))
            r.track.append(1 + [p.plate for p in script.passes].index(str(thing.plate)))
            r.label.append(label)
            r.x.append((x1 + x2) / 2)
            r.y.append(y2)
            r.riders.append(0)
            r.plate.append(str(thing.plate))
            r.plate_score.append(0.95)
        ts = T0 + tick * 1000 // FPS
        events += actor.apply(Message(device_id=script.station_id, seq=tick + 1, ts=ts, rx=ts, v=r), ts) or []
    return events + actor.tick(T0 + int(seconds * 1000) + 10_000)


@pytest.mark.parametrize("seed", [0, 3])
def test_speed_measured_on_rendered_frames_matches_the_script(seed: int) -> None:
    script = StationScript("st-0001", seed, [
        VehiclePass("甘P·A1234", 30.0, "down", start_s=0.0),
        VehiclePass("甘P·B5678", 60.0, "up", start_s=0.5),
    ], limit_kmh=40, wrong_heading="down")  # fmt: skip
    events = passes_seen_by_a_station(script, 9.0)
    passes = {e.detail["plate"]: e.detail for e in events if e.type == "vehicle_pass"}
    assert passes["甘P·A1234"]["speed_kmh"] == pytest.approx(30.0, rel=0.05)
    assert passes["甘P·A1234"]["direction"] == "下行"
    assert passes["甘P·B5678"]["speed_kmh"] == pytest.approx(60.0, rel=0.05)
    assert passes["甘P·B5678"]["direction"] == "上行"
    assert {(e.type, e.detail["plate"]) for e in events if e.type != "vehicle_pass"} == {
        ("speeding", "甘P·B5678"), ("wrong_way", "甘P·A1234")
    }


def test_vehicles_drive_on_the_road_in_their_lane() -> None:
    script = StationScript("st-0001", 5, [VehiclePass("甘P·A1234", 40.0, "down")])
    cam = RoadCamera(script.layout)
    for v in (3.0, 10.0, 20.0):
        u_down, v_down = cam.to_road(*cam.image_point(cam.lane_u("down"), v))
        assert v_down == pytest.approx(v) and -cam.half_width_m < u_down < 0
    assert cam.lane_u("up") == -cam.lane_u("down") > 0


@pytest_asyncio.fixture
async def server() -> AsyncIterator[StationServer]:
    s = StationServer([StationScript("st-0001", 1, [VehiclePass("甘P·A1234", 30.0, "down")]),
                       StationScript("st-0002", 2)], fps=FPS)  # fmt: skip
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.mark.asyncio
async def test_frame_and_mjpeg_stream_serve_the_road(server: StationServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/stations/st-0001/frame.jpg") as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            img = cv2.imdecode(np.frombuffer(await resp.read(), np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (360, 640, 3)
        async with http.get(f"{server.url}/stations/st-0001/video.mjpg") as resp:
            assert resp.content_type == "multipart/x-mixed-replace"
            reader = aiohttp.MultipartReader.from_response(resp)
            parts = []
            while len(parts) < 3:
                part = await asyncio.wait_for(reader.next(), 10)
                assert part is not None
                parts.append(await part.read())  # type: ignore[union-attr]
            assert all(p[:2] == b"\xff\xd8" for p in parts)
        async with http.get(f"{server.url}/stations/st-9999/frame.jpg") as resp:
            assert resp.status == 404


@pytest.mark.asyncio
async def test_the_loudspeaker_keeps_wav_clips_and_refuses_other_bodies(server: StationServer) -> None:
    url = f"{server.url}/stations/st-0002/speaker"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=wav(), headers={"Content-Type": "audio/wav", "X-Request-Key": "k1"}) as resp:
            assert resp.status == 200 and (await resp.json())["bytes"] == len(wav())
        async with http.post(url, data=b"hello", headers={"Content-Type": "audio/wav"}) as resp:
            assert resp.status == 400
        async with http.post(url, data=wav(), headers={"Content-Type": "text/plain"}) as resp:
            assert resp.status == 415
        server.fail_speaker("st-0002", 1)
        async with http.post(url, data=wav(), headers={"Content-Type": "audio/wav"}) as resp:
            assert resp.status == 503
        async with http.get(url) as resp:
            listed = (await resp.json())["clips"]
    assert [c["key"] for c in listed] == ["k1"] and listed[0]["seconds"] == pytest.approx(0.2)
    assert [c.key for c in server.clips("st-0002")] == ["k1"] and server.clips("st-0001") == []


@pytest.mark.asyncio
async def test_provisioned_stations_build_station_actors(server: StationServer, redis_url: str) -> None:
    r = aioredis.Redis.from_url(redis_url)
    try:
        profiles = await provision_stations(r, server)
        stored = await registry.load_all(r)
    finally:
        await r.aclose()
    assert {p.device_id for p in profiles} == {"st-0001", "st-0002"} and set(stored) == {"st-0001", "st-0002"}
    actor = StationActor(stored["st-0001"])
    assert actor.config.speaker_url == f"{server.url}/stations/st-0001/speaker"
    assert actor.config.source.endswith("/stations/st-0001/video.mjpg") and stored["st-0001"].village
