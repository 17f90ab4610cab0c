"""Camera simulator over real HTTP: listing, frame.jpg, MJPEG (aiohttp, PyAV, FrameSource), faults, provisioning."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import av
import numpy as np
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from PIL import Image

from actors.video_config import load_video_config
from actors.video_source import FrameSource
from adapters import registry
from core.gazetteer import load_gazetteer
from sim.camera import CameraServer, provision_cameras
from sim.scenario import Script, script, scripts

FPS = 8.0


@pytest.fixture(scope="module")
def pair() -> list[Script]:
    """Two short camera scripts."""
    return scripts(2, 120)


@pytest_asyncio.fixture
async def server(pair: list[Script]) -> AsyncIterator[CameraServer]:
    """A running camera server on a free port."""
    srv = CameraServer(pair, fps=FPS)
    await srv.start()
    yield srv
    await srv.stop()


def decode(data: bytes) -> np.ndarray:
    """RGB array of a JPEG; raises on a broken one."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return np.asarray(img.convert("RGB"))


async def parts(
    http: aiohttp.ClientSession, url: str, n: int, between: Callable[[int], None] | None = None
) -> list[bytes]:
    """The first n parts of an MJPEG stream; `between(i)` runs after part i arrived."""
    out = []
    async with http.get(url) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        reader = aiohttp.MultipartReader.from_response(resp)
        for i in range(n):
            part = await reader.next()
            assert isinstance(part, aiohttp.BodyPartReader)
            assert part.headers["Content-Type"] == "image/jpeg"
            data = await part.read()
            assert int(part.headers["Content-Length"]) == len(data)
            out.append(bytes(data))
            if between:
                between(i)
    return out


@pytest.mark.asyncio
async def test_lists_its_cameras(server: CameraServer) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{server.url}/cameras") as resp:
        body = await resp.json()
    assert [c["id"] for c in body["cameras"]] == ["cam-0001", "cam-0002"]
    assert body["cameras"][0]["mjpeg"] == "/cameras/cam-0001/mjpeg" and body["cameras"][0]["online"]


@pytest.mark.asyncio
async def test_frame_jpg_is_a_scene_picture_and_unknown_cameras_are_404(server: CameraServer) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{server.url}/cameras/cam-0002/frame.jpg") as resp:
            assert resp.status == 200 and resp.content_type == "image/jpeg"
            pic = decode(await resp.read())
        async with http.get(f"{server.url}/cameras/cam-9999/frame.jpg") as resp:
            assert resp.status == 404
    assert pic.shape == (360, 640, 3)
    assert pic[:40].mean(axis=(0, 1))[2] > pic[:40].mean(axis=(0, 1))[0]  # blue sky on top


@pytest.mark.asyncio
async def test_mjpeg_streams_valid_changing_jpegs_at_the_frame_rate(server: CameraServer) -> None:
    async with aiohttp.ClientSession() as http:
        got = await parts(http, server.mjpeg_url("cam-0001"), 4)
    pics = [decode(p) for p in got]
    assert all(p.shape == (360, 640, 3) for p in pics)
    assert all(a != b for a, b in itertools.pairwise(got))  # sensor noise at least: never a frozen picture


@pytest.mark.asyncio
async def test_pyav_reads_the_stream_as_mpjpeg(server: CameraServer) -> None:
    def read(n: int) -> list[tuple[int, ...]]:
        with av.open(server.mjpeg_url("cam-0002"), format="mpjpeg", timeout=10) as box:
            shapes = []
            for frame in box.decode(video=0):
                shapes.append(frame.to_ndarray(format="rgb24").shape)
                if len(shapes) == n:
                    return shapes
        return shapes

    assert await asyncio.to_thread(read, 3) == [(360, 640, 3)] * 3


@pytest.mark.asyncio
async def test_concurrent_clients_share_one_render_per_tick(server: CameraServer) -> None:
    feed = server.feeds["cam-0001"]
    before = feed.renders
    tick = server.tick_now() + 1000  # a tick nobody has asked for
    frames = await asyncio.gather(*(server.frame("cam-0001", tick) for _ in range(6)))
    assert len(set(frames)) == 1 and feed.renders == before + 1


@pytest.mark.asyncio
async def test_freeze_repeats_one_frame_until_thawed(server: CameraServer) -> None:
    async with aiohttp.ClientSession() as http:
        await parts(http, server.mjpeg_url("cam-0001"), 1)
        server.freeze("cam-0001")
        frozen = await parts(http, server.mjpeg_url("cam-0001"), 3)
        async with http.get(f"{server.url}/cameras/cam-0001/frame.jpg") as resp:
            single = await resp.read()
        server.freeze("cam-0001", on=False)
        thawed = await parts(http, server.mjpeg_url("cam-0001"), 3)
    assert len(set(frozen)) == 1 and single == frozen[0]
    assert len(set(thawed)) == 3


@pytest.mark.asyncio
async def test_offline_drops_streams_and_refuses_until_back(server: CameraServer) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, AssertionError)):
            await parts(
                http, server.mjpeg_url("cam-0002"), 50, lambda i: server.offline("cam-0002") if i == 1 else None
            )
        async with http.get(server.mjpeg_url("cam-0002")) as resp:
            assert resp.status == 503
        async with http.get(f"{server.url}/cameras/cam-0002/frame.jpg") as resp:
            assert resp.status == 503
        async with http.get(f"{server.url}/cameras/cam-0001/frame.jpg") as resp:
            assert resp.status == 200  # the other camera is unaffected
        server.offline("cam-0002", on=False)
        assert len(await parts(http, server.mjpeg_url("cam-0002"), 2)) == 2


@pytest.mark.asyncio
async def test_corrupt_next_breaks_exactly_one_part(server: CameraServer) -> None:
    async with aiohttp.ClientSession() as http:
        got = await parts(
            http, server.mjpeg_url("cam-0001"), 4, lambda i: server.corrupt_next("cam-0001") if i == 0 else None
        )
        async with http.get(f"{server.url}/cameras/cam-0001/frame.jpg") as resp:
            broken = await resp.read()
        async with http.get(f"{server.url}/cameras/cam-0001/frame.jpg") as resp:
            fine = await resp.read()
    decode(got[0])
    with pytest.raises(OSError):
        decode(got[1])
    assert all(decode(p).shape == (360, 640, 3) for p in got[2:])
    with pytest.raises(OSError):
        decode(broken)
    assert decode(fine).shape == (360, 640, 3)


@pytest.mark.asyncio
async def test_the_camera_frame_source_reads_it_and_sees_the_faults(server: CameraServer) -> None:
    src = FrameSource("cam-0001", server.mjpeg_url("cam-0001"), fps=FPS, backoff_s=(0.2, 0.5)).start()
    try:
        deadline = time.monotonic() + 20
        while src.latest() is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        latest = src.latest()
        assert latest is not None and latest[0].shape == (360, 640, 3)
        server.offline("cam-0001")
        while src.counts["drops"] < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        server.offline("cam-0001", on=False)
    finally:
        await asyncio.to_thread(src.stop)


def test_scene_time_runs_at_speed_and_loops(pair: list[Script]) -> None:
    srv = CameraServer(pair, fps=4, speed=10.0, loop=True)
    srv.start_wall = 1_000.0
    assert srv.scene_time(1_001_000) == pytest.approx(10.0)
    assert srv.tick_scene_time("cam-0001", 4) == pytest.approx(10.0)
    assert srv.tick_scene_time("cam-0001", 4 * 13) == pytest.approx(130.0 % 120)
    with pytest.raises(ValueError, match="unique"):
        CameraServer([pair[0], pair[0]])
    with pytest.raises(KeyError, match="cam-0404"):
        srv.freeze("cam-0404")


@pytest.mark.asyncio
async def test_provisioning_registers_valid_cameras_in_the_first_townships(redis_url: str) -> None:
    fleet = [script(i, 60) for i in range(3)]
    client = aioredis.Redis.from_url(redis_url)
    try:
        profiles = await provision_cameras(client, "http://10.0.0.5:8090/", fleet)
        stored = await registry.load_all(client)
    finally:
        await client.aclose()
    gaz = load_gazetteer()
    assert sorted(stored) == ["cam-0001", "cam-0002", "cam-0003"]
    for p in profiles:
        assert stored[p.device_id] == p and p.kind == "camera"
        assert p.township in ("立节镇", "峰迭镇") and gaz.contains(p.lat, p.lon)
        cfg = load_video_config(p)
        assert cfg.source == f"http://10.0.0.5:8090/cameras/{p.device_id}/mjpeg"
        assert len(cfg.zones) == 5 and cfg.lines
    assert profiles[0].village == gaz.villages_in("立节镇")[0].name


@pytest.mark.slow
def test_command_line_server_serves_and_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.camera", "--cameras", "1", "--port", "0", "--duration", "60", "--fps", "2"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().split(", ")[-1]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/cameras"), line

        async def fetch() -> bytes:
            async with (
                aiohttp.ClientSession() as http,
                http.get(url.replace("/cameras", "/cameras/cam-0001/frame.jpg")) as r,
            ):
                return await r.read()

        assert decode(asyncio.run(fetch())).shape == (360, 640, 3)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
