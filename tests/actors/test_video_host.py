"""Video hosting end to end: a looped clip through a real Serve detector to a fire event with its snapshot, and
a VideoHost Ray actor that reports a dead camera once, survives a restart from its twin, and rejects bad params."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import msgspec
import numpy as np
import pytest
import ray
import redis.asyncio as aioredis
from ray import serve
from ray.serve import Deployment

from actors.shard import twin_key
from actors.video_host import VideoHost, VideoShard
from adapters import registry
from adapters.bus import EVENTS, STORE
from core.events import EVENT_DECODER, DeviceEvent
from core.kinds import DeviceProfile
from core.settings import Settings
from serve.client import ServeModels, detector_app_name
from serve.detector import Detector

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_testkit import yolo_onnx  # the serve tests' generated-model kit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_detector(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Detector deployment (app detector-tiny) on a generated model: a bright frame shows one 'fire'."""
    model = yolo_onnx(
        tmp_path_factory.mktemp("tiny") / "fire.onnx", [(32.0, 40.0, 16.0, 20.0)], [[0.9], [0.0]],
        names="{0: 'fire', 1: 'person'}",
    )  # fmt: skip
    serve.start(proxy_location="Disabled")
    deployment = cast(Deployment, Detector).options(
        name="Detector-tiny", user_config={"conf": 0.3}, max_ongoing_requests=16
    )
    app = deployment.bind(str(model), 1, False)
    serve.run(app, name=detector_app_name("tiny"), route_prefix=None)
    yield "tiny"
    serve.delete(detector_app_name("tiny"))


def write_clip(path: Path, level: int, frames: int = 10, fps: int = 10) -> np.ndarray:
    """A one-second grey clip at `level`; returns its picture."""
    img = np.full((180, 320, 3), level, dtype=np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return img


async def entries(r: aioredis.Redis, stream: str) -> list[dict[bytes, bytes]]:
    """Fields of every entry of a stream."""
    return [f for _, f in cast(list[tuple[bytes, dict[bytes, bytes]]], await r.xrange(stream))]


async def events_of(r: aioredis.Redis) -> list[DeviceEvent]:
    """Every event on the events stream."""
    return [EVENT_DECODER.decode(f[b"e"]) for f in await entries(r, EVENTS)]


async def until(cond: Callable[[], object], timeout_s: float = 60.0) -> None:
    """Await a coroutine-returning predicate until it is truthy."""
    deadline = time.monotonic() + timeout_s
    while not await cond():  # type: ignore[misc]
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


@pytest.mark.asyncio
async def test_fire_in_the_picture_becomes_an_event_with_an_annotated_snapshot(
    tiny_detector: str, redis_url: str, var_dir: Path, tmp_path: Path
) -> None:
    clip = write_clip(tmp_path / "fire.mp4", level=250)
    params = {"source": str(tmp_path / "fire.mp4"), "loop": True, "fps": 4, "model": tiny_detector,
              "classes": {"fire": "fire"}, "fire_frames": 3}  # fmt: skip
    r = aioredis.Redis.from_url(redis_url)
    await registry.register(r, [
        DeviceProfile(device_id="cam-fire", kind="camera", village="狼岔坝村", params=params),
        DeviceProfile(device_id="cam-nomodel", kind="camera", params={**params, "model": "not-deployed"}),
    ])  # fmt: skip
    shard = VideoShard(r, Settings(var_dir=var_dir), "camera", 0, ServeModels())
    try:
        await shard.refresh()
        assert sorted(shard.devices) == ["cam-fire", "cam-nomodel"]

        async def fired() -> bool:
            return any(e.type == "fire" for e in await events_of(r))

        await until(fired)
        blind = shard.device("cam-nomodel")
        assert blind is not None and blind["host"]["model_errors"] >= 1 and blind["last_frame"] > 0
        assert not blind["offline"] and blind["counts"] == {}  # pictures arrive; the model being down is not
    finally:
        await shard.close()
    fire = next(e for e in await events_of(r) if e.type == "fire")
    assert fire.device_id == "cam-fire" and fire.village == "狼岔坝村" and fire.detail["frames"] == 3
    snap = var_dir / fire.detail["snapshot"]
    assert fire.detail["snapshot"].startswith("snapshots/cam-fire/") and snap.stat().st_size > 1000
    picture = cv2.cvtColor(cast(np.ndarray, cv2.imread(str(snap))), cv2.COLOR_BGR2RGB)
    assert picture.shape == clip.shape
    assert np.abs(picture.astype(int) - clip.astype(int)).max() > 100  # boxes and title drawn on it
    tables = [f[b"t"] for f in await entries(r, STORE)]
    assert b"tele_camera" in tables and b"device_events" in tables
    rows = [msgspec.json.decode(f[b"r"]) for f in await entries(r, STORE) if f[b"t"] == b"tele_camera"]
    seen = [row for row in rows if row[4]]  # device_id, seq, ts, rx, ok, analysed, motion, labels, ...
    assert seen and all(row[7] == ["fire"] for row in seen if row[0] == "cam-fire")
    assert all(row[5] is False and row[7] == [] for row in seen if row[0] == "cam-nomodel")  # not analysed
    for cam in ("cam-fire", "cam-nomodel"):
        seqs = [row[1] for row in rows if row[0] == cam]
        assert seqs == sorted(set(seqs))  # seq strictly increasing per camera
    assert await r.hexists(twin_key("camera"), "cam-fire")
    stats = shard.snapshot_stats()
    assert stats["frames"] >= 3 and stats["errors"] == 0 and stats["model_errors"] >= 1 and stats["snapshots"] >= 1
    assert [e.type for e in await events_of(r)].count("fire") == 1
    await r.aclose()


@pytest.mark.asyncio
async def test_video_host_reports_a_dead_camera_once_across_a_restart(
    ray_session: None, redis_url: str, var_dir: Path
) -> None:
    r = aioredis.Redis.from_url(redis_url)
    dead = {"source": "http://127.0.0.1:9/video.mjpg", "offline_s": 2}
    bad = {"source": "a.mp4", "zones": [{"name": "z", "purpose": "crowd", "polygon": [[0, 0], [1, 1]]}]}
    await registry.register(r, [
        DeviceProfile(device_id="cam-dead", kind="camera", params=dead),
        DeviceProfile(device_id="cam-bad", kind="camera", params=bad),
    ])  # fmt: skip
    host = VideoHost.remote("camera", 0, Settings(var_dir=var_dir), redis_url)  # type: ignore[attr-defined]
    try:
        stats = await host.stats.remote()
        assert stats["devices"] == 1 and stats["alive"] and "device cam-bad" in stats["rejected"]["cam-bad"]

        async def offline() -> bool:
            return [e.type for e in await events_of(r)] == ["camera_offline"]

        await until(offline, 30)
        pid = stats["pid"]
        ray.kill(host, no_restart=False)

        async def restarted() -> bool:
            try:
                s = await host.stats.remote()
            except ray.exceptions.RayActorError:
                return False
            return bool(s["pid"] != pid and s["restored"] == 1)

        await until(restarted, 60)
        await asyncio.sleep(3.5)  # longer than offline_s: a fresh actor would report the camera again
        assert [e.type for e in await events_of(r)] == ["camera_offline"]
        live = await host.device.remote("cam-dead")
        assert live["offline"] is True and live["source"]["drops"] >= 1
    finally:
        await host.stop.remote()
        ray.kill(host, no_restart=True)
        await r.aclose()


SCENE_MODEL = Path(__file__).resolve().parents[2] / "serve" / "models" / "scene" / "model.onnx"


def write_scene_clip(path: Path, seconds: int = 4, fps: int = 5) -> None:
    """A rendered village scene (sim.scene) with a fire on the square, as an MJPEG .avi."""
    from sim.scene import Thing, layout, render, scale_at

    lay = layout(11)
    sx = [p[0] for p in lay.square]
    sy = [p[1] for p in lay.square]
    fx, fy = (min(sx) + max(sx)) / 2, max(sy) - 4
    things = [Thing("fire", fx, fy, scale=scale_at(lay, fy))]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = lay.width, lay.height, "yuvj420p"
        stream.time_base = Fraction(1, fps)
        for i in range(seconds * fps):
            frame, _ = render(lay, things, t=i / fps)
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.mark.asyncio
async def test_the_scene_model_sees_a_rendered_fire(
    tiny_detector: str, redis_url: str, var_dir: Path, tmp_path: Path
) -> None:
    if not SCENE_MODEL.is_file():
        pytest.skip("scene model not placed (serve/models/scene/model.onnx)")
    deployment = cast(Deployment, Detector).options(
        name="Detector-scene", user_config={"conf": 0.25}, max_ongoing_requests=16
    )
    serve.run(deployment.bind(str(SCENE_MODEL), 1, False), name=detector_app_name("scene"), route_prefix=None)
    write_scene_clip(tmp_path / "scene.avi")
    params = {"source": str(tmp_path / "scene.avi"), "loop": True, "fps": 2, "fire_frames": 3}
    r = aioredis.Redis.from_url(redis_url)
    await registry.register(r, [DeviceProfile(device_id="cam-scene", kind="camera", params=params)])
    shard = VideoShard(r, Settings(var_dir=var_dir), "camera", 0, ServeModels())
    try:
        await shard.refresh()

        async def fired() -> bool:
            return any(e.type == "fire" for e in await events_of(r))

        await until(fired, 60)
    finally:
        await shard.close()
        serve.delete(detector_app_name("scene"))
        await r.aclose()
