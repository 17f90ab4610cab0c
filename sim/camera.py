"""Camera simulator: an aiohttp server streaming scripted village scenes as MJPEG for many cameras, with faults."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import redis.asyncio as aioredis
from aiohttp import web

from actors.snapshots import encode_jpeg
from actors.video_config import load_video_config
from adapters import registry
from core.gazetteer import load_gazetteer
from core.geo import offset
from core.kinds import DeviceProfile
from sim.loop_thread import serve_until_signal
from sim.scenario import Script, scripts, things_at
from sim.scene import render

log = logging.getLogger(__name__)
BOUNDARY = "frame"
FIRST_TOWNSHIPS = ("立节镇", "峰迭镇")  # the first townships to get village cameras
JPEG_QUALITY = 80  # what the simulated cameras compress their frames with


def script_frame(script: Script, tick: int, t: float) -> np.ndarray:
    """The picture a scripted camera takes for frame `tick`, showing scene time t (sensor noise differs per tick)."""
    noise = (script.seed * 7919 + script.index * 104_729 + tick) % (2**31)
    return render(script.layout, things_at(script, t), t, night=script.night, noise_seed=noise)[0]


@dataclass
class _Feed:
    """One camera's serving state: the frame of the current tick (shared by all clients) and injected faults."""

    script: Script
    tick: int = -1
    jpeg: bytes = b""
    rendering: dict[int, asyncio.Future[bytes]] = field(default_factory=dict)
    frozen: bool = False  # while set, every part repeats `still`
    still: bytes | None = None  # the frame a frozen camera repeats (the first rendered after freezing, if none yet)
    offline: bool = False
    corrupt_gen: int = 0  # bumped by corrupt_next(); each stream sends one corrupt part per bump
    corrupt_single: bool = False  # the next frame.jpg answer is corrupt
    streams: int = 0  # open MJPEG clients
    renders: int = 0  # frames rendered (one per tick with clients, however many clients)


class CameraServer:
    """Serves GET /cameras, /cameras/<id>/mjpeg and /cameras/<id>/frame.jpg for every script's camera.

    Scene time runs at `speed` x wall time from `start()`; frames are rendered lazily, once per camera and tick
    (1/fps s), and shared among that camera's clients. With `loop`, scene time wraps at each script's duration.
    Camera actors time their dwell thresholds by wall clock, so scored runs use speed 1 (faster is for demos).
    """

    def __init__(
        self,
        camera_scripts: Sequence[Script],
        host: str = "127.0.0.1",
        port: int = 0,
        fps: float = 4.0,
        speed: float = 1.0,
        quality: int = JPEG_QUALITY,
        loop: bool = False,
        render_threads: int = 2,
    ) -> None:
        if fps <= 0 or speed <= 0:
            raise ValueError(f"camera server needs fps > 0 and speed > 0, got fps={fps}, speed={speed}")
        ids = [s.camera_id for s in camera_scripts]
        if len(set(ids)) != len(ids):
            raise ValueError(f"camera ids must be unique; repeated: {sorted({i for i in ids if ids.count(i) > 1})}")
        self.feeds = {s.camera_id: _Feed(s) for s in camera_scripts}
        self.host, self.port, self.fps, self.speed, self.quality, self.loop = host, port, fps, speed, quality, loop
        self.start_wall = 0.0
        self.render_threads = render_threads
        self._pool: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one) and start the scene clock."""
        app = web.Application()
        app.router.add_get("/cameras", self._list)
        app.router.add_get("/cameras/{cam}/mjpeg", self._mjpeg)
        app.router.add_get("/cameras/{cam}/frame.jpg", self._frame_jpg)
        self._pool = ThreadPoolExecutor(max_workers=self.render_threads, thread_name_prefix="camera-render")
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.start_wall = time.time()
        self._stopping = False

    async def stop(self) -> None:
        """Close every stream and the listener; the render threads finish their current frame."""
        self._stopping = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8090."""
        return f"http://{self.host}:{self.port}"

    def mjpeg_url(self, camera_id: str) -> str:
        """The camera's MJPEG stream URL (a camera's VideoConfig source)."""
        return f"{self.url}/cameras/{camera_id}/mjpeg"

    # --- the clock ------------------------------------------------------------------------

    def scene_time(self, wall_ms: int | None = None) -> float:
        """Scene time (s) at a wall time in ms (default now), before any looping."""
        wall = time.time() if wall_ms is None else wall_ms / 1000
        return (wall - self.start_wall) * self.speed

    def tick_now(self) -> int:
        """Index of the current frame tick."""
        return math.floor((time.time() - self.start_wall) * self.fps)

    def tick_scene_time(self, feed_id: str, tick: int) -> float:
        """Scene time shown by a camera's frame of that tick."""
        t = tick / self.fps * self.speed
        duration = self.feeds[feed_id].script.duration_s
        return t % duration if self.loop and duration > 0 else t

    # --- faults ---------------------------------------------------------------------------

    def _feed(self, camera_id: str) -> _Feed:
        try:
            return self.feeds[camera_id]
        except KeyError:
            raise KeyError(f"no camera {camera_id!r} on this server") from None

    def freeze(self, camera_id: str, on: bool = True) -> None:
        """Freeze (repeat the current frame) or unfreeze a camera."""
        feed = self._feed(camera_id)
        feed.frozen, feed.still = on, (feed.jpeg or None) if on else None

    def offline(self, camera_id: str, on: bool = True) -> None:
        """Take a camera offline (drop its streams, answer 503) or bring it back."""
        self._feed(camera_id).offline = on

    def corrupt_next(self, camera_id: str) -> None:
        """Send one corrupt JPEG part on each open stream, and answer the next frame.jpg with a corrupt JPEG."""
        feed = self._feed(camera_id)
        feed.corrupt_gen += 1
        feed.corrupt_single = True

    # --- frames ---------------------------------------------------------------------------

    def _render(self, feed: _Feed, tick: int) -> bytes:
        t = self.tick_scene_time(feed.script.camera_id, tick)
        return encode_jpeg(script_frame(feed.script, tick, t), self.quality)

    async def frame(self, camera_id: str, tick: int | None = None) -> bytes:
        """JPEG of the camera at a tick (default now): rendered once per tick, shared by concurrent callers."""
        feed = self._feed(camera_id)
        tick = self.tick_now() if tick is None else tick
        if feed.frozen and feed.still:
            return feed.still
        if feed.tick != tick:
            pending = feed.rendering.get(tick)
            if pending is None:
                if self._pool is None:
                    raise RuntimeError("camera server is not started")
                pending = asyncio.get_running_loop().run_in_executor(self._pool, self._render, feed, tick)
                feed.renders += 1
                feed.rendering[tick] = pending
            try:
                jpeg = await asyncio.shield(pending)
            finally:
                feed.rendering.pop(tick, None)
            if tick > feed.tick:
                feed.tick, feed.jpeg = tick, jpeg
            if feed.frozen and not feed.still:
                feed.still = jpeg
            return jpeg
        return feed.jpeg

    @staticmethod
    def corrupt(jpeg: bytes) -> bytes:
        """A broken JPEG as long as the real one: the start-of-image marker, then noise and no end marker."""
        return b"\xff\xd8" + os.urandom(max(64, len(jpeg) - 2)).replace(b"\xff\xd9", b"\x00\x00")

    # --- handlers -------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.Response:
        cams = [
            {
                "id": cid,
                "mjpeg": f"/cameras/{cid}/mjpeg",
                "frame": f"/cameras/{cid}/frame.jpg",
                "fps": self.fps,
                "night": feed.script.night,
                "online": not feed.offline,
                "frozen": feed.frozen,
                "streams": feed.streams,
                "renders": feed.renders,
            }
            for cid, feed in self.feeds.items()
        ]
        return web.json_response({"scene_time": round(self.scene_time(), 3), "speed": self.speed, "cameras": cams})

    def _lookup(self, request: web.Request) -> _Feed:
        feed = self.feeds.get(request.match_info["cam"])
        if feed is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no camera {request.match_info['cam']!r}"}))
        if feed.offline or self._stopping:
            raise web.HTTPServiceUnavailable(text=json.dumps({"error": "camera offline"}))
        return feed

    async def _frame_jpg(self, request: web.Request) -> web.Response:
        feed = self._lookup(request)
        jpeg = await self.frame(feed.script.camera_id)
        if feed.corrupt_single:
            feed.corrupt_single = False
            jpeg = self.corrupt(jpeg)
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        feed = self._lookup(request)
        cid = feed.script.camera_id
        resp = web.StreamResponse(
            headers={
                "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                "Cache-Control": "no-store",
                "Connection": "close",
            }
        )
        await resp.prepare(request)
        seen_corrupt = feed.corrupt_gen
        tick = self.tick_now()
        feed.streams += 1
        try:
            while not (feed.offline or self._stopping):
                try:
                    jpeg = await self.frame(cid, tick)
                except Exception as exc:  # a rendering bug ends this stream, never the server
                    log.warning("camera %s: rendering a frame failed (tick %d): %s", cid, tick, exc)
                    break
                if feed.corrupt_gen != seen_corrupt:
                    seen_corrupt = feed.corrupt_gen
                    jpeg = self.corrupt(jpeg)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                await resp.write(head.encode() + jpeg + b"\r\n")
                tick = max(tick + 1, self.tick_now())  # a slow client skips ticks rather than falling behind
                await asyncio.sleep(max(0.0, self.start_wall + tick / self.fps - time.time()))
        except ConnectionResetError:  # the client went away
            return resp
        finally:
            feed.streams -= 1
        if request.transport is not None:  # offline or stopping: drop the connection like a dead camera
            request.transport.abort()
        return resp


async def provision_cameras(
    redis: aioredis.Redis, server_url: str, camera_scripts: Sequence[Script]
) -> list[DeviceProfile]:
    """Register one camera per script (kind camera) in 立节镇 and 峰迭镇 villages first; params are its VideoConfig."""
    gaz = load_gazetteer()
    first = [v for t in FIRST_TOWNSHIPS for v in gaz.villages_in(t)]
    places = [(v.name, v.township, v.lat, v.lon) for v in first]
    places += [p for p in gaz.demo_villages(len(gaz.villages)) if p[:2] not in {(v.name, v.township) for v in first}]
    profiles = []
    for script in camera_scripts:
        village, township, vlat, vlon = places[script.index % len(places)]
        rng = random.Random(f"camera-place:{script.camera_id}")
        lat, lon = offset(vlat, vlon, rng.uniform(0, 360), rng.uniform(30.0, 300.0))
        profile = DeviceProfile(
            device_id=script.camera_id,
            kind="camera",
            village=village,
            township=township,
            lat=round(lat, 6),
            lon=round(lon, 6),
            params={**script.config, "source": f"{server_url.rstrip('/')}/cameras/{script.camera_id}/mjpeg"},
        )
        load_video_config(profile)  # raises VideoConfigError naming the camera if a script wrote bad params
        profiles.append(profile)
    await registry.register(redis, profiles)
    return profiles


async def _serve(args: argparse.Namespace) -> None:
    server = CameraServer(
        scripts(args.cameras, args.duration, seed=args.seed),
        host=args.host,
        port=args.port,
        fps=args.fps,
        speed=args.speed,
        loop=True,
    )
    await server.start()
    fleet = [feed.script for feed in server.feeds.values()]
    banner = f"摄像头模拟器已启动: {len(server.feeds)} 路, {server.url}/cameras"
    await serve_until_signal(server, args.redis, lambda r: provision_cameras(r, server.url, fleet), banner)


def main() -> None:
    """Run the camera simulator until Ctrl-C."""
    parser = argparse.ArgumentParser(description="Simulated village cameras serving scripted scenes as MJPEG.")
    parser.add_argument("--cameras", type=int, default=4, help="number of cameras")
    parser.add_argument("--port", type=int, default=8090, help="HTTP port")
    parser.add_argument("--host", default="127.0.0.1", help="listen address")
    parser.add_argument("--duration", type=float, default=900.0, help="script length (scene s); scenes loop")
    parser.add_argument("--seed", type=int, default=0, help="script seed")
    parser.add_argument("--fps", type=float, default=4.0, help="frames per second per stream")
    parser.add_argument("--speed", type=float, default=1.0, help="scene seconds per wall second")
    parser.add_argument("--redis", default="", help="Redis URL: also register the cameras in the device registry")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
