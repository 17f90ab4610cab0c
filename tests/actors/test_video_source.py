"""FrameSource against a real MJPEG HTTP server (corrupt part, dropped connection) and video files written by PyAV."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import pytest_asyncio
from aiohttp import web

from actors.video_source import FrameSource, redact, source_kind


def picture(level: int) -> np.ndarray:
    """A 160x90 RGB frame whose red channel is `level` (so a test can tell frames apart)."""
    f = np.zeros((90, 160, 3), dtype=np.uint8)
    f[..., 0] = level
    f[..., 1] = 40
    return f


def jpeg(rgb: np.ndarray) -> bytes:
    """JPEG bytes of an RGB frame."""
    return bytes(cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1])


@dataclass
class Camera:
    """A fake IP camera's MJPEG endpoint: first connection sends a corrupt part then drops; later ones stream on."""

    url: str = ""
    connections: int = 0
    sent: list[int] = field(default_factory=list)


@pytest_asyncio.fixture
async def mjpeg_camera() -> AsyncIterator[Camera]:
    """A real aiohttp server streaming multipart/x-mixed-replace JPEG parts."""
    cam = Camera()

    async def stream(request: web.Request) -> web.StreamResponse:
        conn = cam.connections
        cam.connections += 1
        resp = web.StreamResponse(headers={"Content-Type": "multipart/x-mixed-replace; boundary=frame"})
        await resp.prepare(request)
        level = 60 if conn == 0 else 200  # pictures after the reconnect are brighter
        for i in range(10_000):
            body = jpeg(picture(level))
            if conn == 0 and i == 5:
                body = body[: len(body) // 3]  # a corrupt (truncated) JPEG part
            part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(body) + body + b"\r\n"
            await resp.write(part)
            cam.sent.append(conn)
            if conn == 0 and i == 12:
                assert request.transport is not None
                request.transport.close()  # the camera's link drops mid-stream
                return resp
            await asyncio.sleep(0.04)
        return resp

    app = web.Application()
    app.router.add_get("/video.mjpg", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    cam.url = f"http://127.0.0.1:{port}/video.mjpg"
    yield cam
    await runner.cleanup()


async def wait_for(cond: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll until cond() holds (fail after timeout_s)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_mjpeg_source_survives_a_corrupt_part_and_a_dropped_connection(mjpeg_camera: Camera) -> None:
    src = FrameSource("cam-mjpeg", mjpeg_camera.url, fps=5, backoff_s=(0.2, 1.0)).start()
    try:
        await wait_for(lambda: src.latest() is not None)
        first = src.latest()
        assert first is not None and first[0].shape == (90, 160, 3) and abs(int(first[0][..., 0].mean()) - 60) < 8
        await wait_for(lambda: mjpeg_camera.connections >= 2 and src.counts["connects"] >= 2)
        await wait_for(lambda: (f := src.latest()) is not None and f[0][..., 0].mean() > 180)
        later = src.latest()
        assert later is not None and later[1] > first[1]
        stats = src.stats()
        assert stats["drops"] >= 1 and stats["connected"]
        assert stats["corrupt"] + stats["skipped"] >= 1  # the corrupt part was rejected, or never decoded at 5 fps
        assert stats["frame_age_s"] is not None and stats["frame_age_s"] < 5
    finally:
        await asyncio.to_thread(src.stop)  # the server runs on this loop: do not block it while the thread ends
    assert not src._thread or not src._thread.is_alive()


@pytest.mark.asyncio
async def test_every_decoded_corrupt_part_is_skipped_not_kept(mjpeg_camera: Camera) -> None:
    # fps high enough that every part is decoded: the corrupt one must be counted, and no frame kept is garbage
    src = FrameSource("cam-mjpeg", mjpeg_camera.url, fps=100, backoff_s=(0.2, 1.0)).start()
    levels: list[float] = []
    try:
        deadline = time.monotonic() + 20
        while mjpeg_camera.connections < 2 and time.monotonic() < deadline:
            if (f := src.latest()) is not None:
                levels.append(float(f[0][..., 0].mean()))
            await asyncio.sleep(0.01)
        assert mjpeg_camera.connections >= 2
    finally:
        await asyncio.to_thread(src.stop)
    assert src.counts["corrupt"] == 1 and src.counts["drops"] == 1
    assert levels and all(abs(v - 60) < 8 or abs(v - 200) < 8 for v in levels)


@pytest.mark.asyncio
async def test_unreachable_source_never_raises_and_stops_promptly() -> None:
    src = FrameSource("cam-dead", "http://127.0.0.1:9/none.mjpg", fps=1, open_timeout_s=1, backoff_s=(0.1, 0.2)).start()
    await wait_for(lambda: src.counts["drops"] >= 2)
    assert src.latest() is None and src.stats()["error"]
    t = time.monotonic()
    src.stop()
    assert time.monotonic() - t < 5


def write_video(path: Path, frames: int, fps: int = 10) -> None:
    """An MPEG-4 file of `frames` pictures whose red level rises frame by frame."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(frames):
            img = np.zeros((96, 160, 3), dtype=np.uint8)
            img[...] = 20 + 10 * i
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@pytest.mark.asyncio
async def test_file_source_plays_in_real_time_and_loops(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    write_video(path, frames=10, fps=10)  # one second of video
    once = FrameSource("cam-file", str(path), fps=10).start()
    looped = FrameSource("cam-loop", f"file://{path}", fps=10, loop=True).start()
    try:
        await wait_for(lambda: once.ended, timeout_s=10)
        assert 3 <= once.counts["frames"] <= 10
        last = once.latest()
        assert last is not None and last[0][..., 0].mean() > 90  # it reached the end of the clip
        await wait_for(lambda: looped.counts["connects"] >= 3, timeout_s=10)  # played it through twice
        assert not looped.ended and looped.counts["frames"] > once.counts["frames"]
    finally:
        once.stop()
        looped.stop()


def test_source_kinds_and_redaction() -> None:
    assert source_kind("http://cam/video.mjpg") == "mjpeg" and source_kind("rtsp://cam/1") == "rtsp"
    assert source_kind("/data/clip.mp4") == "file" and source_kind("file:///data/clip.mp4") == "file"
    assert redact("rtsp://admin:secret@10.1.2.3:554/h264") == "rtsp://***@10.1.2.3:554/h264"
    assert "secret" not in redact("http://u:secret@cam/x")
