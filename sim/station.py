"""Road advisory station simulator: one aiohttp server for many stations, each streaming its road as MJPEG with
scripted vehicle passes, and a loudspeaker endpoint that keeps the voice warnings it is sent.

    python -m sim.station --stations 4 --port 8095 [--redis redis://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis.asyncio as aioredis
from aiohttp import web

from actors.snapshots import encode_jpeg
from actors.video_config import load_video_config
from adapters import registry
from adapters.speaker.synth import wav_seconds
from core.gazetteer import load_gazetteer
from core.kinds import DeviceProfile
from core.vision import CAR, MOTORCYCLE
from sim.loop_thread import serve_until_signal
from sim.plate import random_plate
from sim.scene import Layout, layout, render
from sim.station_road import Heading, RoadCamera, VehiclePass

log = logging.getLogger(__name__)
BOUNDARY = "frame"
DIRECTIONS = ("上行", "下行")  # heading "up" (away from the camera) is the first
MAX_CLIP_BYTES = 10 * 1024 * 1024


@dataclass
class StationScript:
    """One simulated station: its road (layout seed), limit, one-way rule and scripted passes."""

    station_id: str
    seed: int
    passes: list[VehiclePass] = field(default_factory=list)
    limit_kmh: float = 40.0
    wrong_heading: Heading | None = None  # one-way road: this heading is wrong-way
    night: bool = False

    def __post_init__(self) -> None:
        self.layout: Layout = layout(self.seed, "road")
        self.camera = RoadCamera(self.layout)

    def things(self, t: float) -> list[Any]:
        """The renderer's things at scene time t."""
        return [th for p in self.passes if (th := self.camera.thing(p, t)) is not None]

    def config(self, base_url: str, fps: float) -> dict[str, Any]:
        """The station's VideoConfig params, calibrated to the rendered road (what provisioning registers)."""
        url = f"{base_url.rstrip('/')}/stations/{self.station_id}"
        forbidden = None if self.wrong_heading is None else DIRECTIONS[0 if self.wrong_heading == "up" else 1]
        station = {"limit_kmh": self.limit_kmh, "calibration": self.camera.calibration(),
                   "directions": list(DIRECTIONS), "forbidden_direction": forbidden}  # fmt: skip
        zone = {"name": "测速区", "purpose": "measure", "polygon": self.camera.measure_polygon()}
        return {"source": f"{url}/video.mjpg", "fps": fps, "model": "scene", "zones": [zone],
                "speaker_url": f"{url}/speaker", "station": station}  # fmt: skip


@dataclass
class Clip:
    """A voice warning the station's loudspeaker received."""

    at: float  # wall time, s
    data: bytes
    seconds: float
    key: str


@dataclass
class _Station:
    script: StationScript
    tick: int = -1
    jpeg: bytes = b""
    rendering: dict[int, asyncio.Future[bytes]] = field(default_factory=dict)
    clips: list[Clip] = field(default_factory=list)
    fail_posts: int = 0  # the next N speaker posts answer 503 (a flaky 4G link)
    offline: bool = False


def demo_passes(rng: random.Random, duration_s: float, per_min: float = 6.0) -> list[VehiclePass]:
    """Random traffic: mostly cars near the limit, some speeders and motorcycles / tricycles with riders."""
    passes, t = [], rng.uniform(0, 5)
    while t < duration_s:
        bike = rng.random() < 0.35
        speed = rng.choice((rng.uniform(20, 38), rng.uniform(20, 38), rng.uniform(48, 70)))
        passes.append(VehiclePass(
            plate=random_plate(rng), speed_kmh=round(speed, 1), heading=rng.choice(("up", "down")), start_s=round(t, 2),
            vehicle=MOTORCYCLE if bike else CAR, passengers=rng.choice((0, 0, 1, 2)) if bike else 0,
            variant=rng.randrange(96),
        ))  # fmt: skip
        t += rng.expovariate(per_min / 60)
    return passes


def scripts(n: int, duration_s: float = 600.0, seed: int = 0) -> list[StationScript]:
    """n demo stations with random traffic; every third road is one-way."""
    rng = random.Random(seed)
    one_way: list[Heading | None] = ["up" if i % 3 == 2 else None for i in range(n)]
    return [
        StationScript(f"st-{i + 1:04d}", seed * 1000 + i, demo_passes(rng, duration_s), wrong_heading=one_way[i])
        for i in range(n)
    ]


class StationServer:
    """Serves GET /stations, /stations/<id>/video.mjpg, /stations/<id>/frame.jpg and the loudspeaker
    (POST/GET /stations/<id>/speaker). Scene time is wall time since `start()` times `speed`; one render per tick."""

    def __init__(self, station_scripts: Sequence[StationScript], host: str = "127.0.0.1", port: int = 0,
                 fps: float = 8.0, speed: float = 1.0, quality: int = 85, render_threads: int = 2) -> None:  # fmt: skip
        ids = [s.station_id for s in station_scripts]
        if len(set(ids)) != len(ids) or fps <= 0 or speed <= 0:
            raise ValueError(f"station server needs unique ids, fps > 0 and speed > 0 (ids {ids}, fps {fps})")
        self.stations = {s.station_id: _Station(s) for s in station_scripts}
        self.host, self.port, self.fps, self.speed, self.quality = host, port, fps, speed, quality
        self.start_wall = 0.0
        self._pool = ThreadPoolExecutor(max_workers=render_threads, thread_name_prefix="station-render")
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen (port 0 picks a free one) and start the scene clock."""
        app = web.Application(client_max_size=MAX_CLIP_BYTES)
        app.router.add_get("/stations", self._list)
        app.router.add_get("/stations/{st}/video.mjpg", self._mjpeg)
        app.router.add_get("/stations/{st}/frame.jpg", self._frame_jpg)
        app.router.add_post("/stations/{st}/speaker", self._speaker_post)
        app.router.add_get("/stations/{st}/speaker", self._speaker_list)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = self._runner.addresses[0][1]
        self.start_wall = time.time()

    async def stop(self) -> None:
        """Close streams and the listener."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._pool.shutdown(wait=True, cancel_futures=True)

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8095."""
        return f"http://{self.host}:{self.port}"

    def config(self, station_id: str) -> dict[str, Any]:
        """The VideoConfig params of a station served here."""
        return self._get(station_id).script.config(self.url, self.fps)

    def clips(self, station_id: str) -> list[Clip]:
        """Voice warnings the station received, oldest first."""
        return list(self._get(station_id).clips)

    def fail_speaker(self, station_id: str, posts: int) -> None:
        """Make the station's next `posts` speaker deliveries fail with 503."""
        self._get(station_id).fail_posts = posts

    def set_offline(self, station_id: str, on: bool = True) -> None:
        """Drop the station's video (503 and closed streams) until switched back."""
        self._get(station_id).offline = on

    def scene_time(self) -> float:
        """Scene seconds since start."""
        return (time.time() - self.start_wall) * self.speed

    def _get(self, station_id: str) -> _Station:
        try:
            return self.stations[station_id]
        except KeyError:
            raise KeyError(f"no simulated station {station_id!r}") from None

    # --- frames ----------------------------------------------------------------------------

    def render_frame(self, station_id: str, t: float, noise_seed: int | None = None) -> np.ndarray:
        """RGB frame of a station at scene time t (for tests and benches)."""
        s = self._get(station_id).script
        frame, _ = render(s.layout, s.things(t), t, night=s.night, noise_seed=noise_seed)
        return frame

    def _render(self, st: _Station, tick: int) -> bytes:
        frame = self.render_frame(st.script.station_id, tick / self.fps, (st.script.seed * 7919 + tick) % 2**31)
        return encode_jpeg(frame, self.quality)

    async def frame(self, station_id: str, tick: int | None = None) -> bytes:
        """JPEG of a station at a tick (default now), rendered once per tick and shared by every client."""
        st = self._get(station_id)
        tick = int(self.scene_time() * self.fps) if tick is None else tick
        if st.tick == tick:
            return st.jpeg
        pending = st.rendering.get(tick)
        if pending is None:
            pending = asyncio.get_running_loop().run_in_executor(self._pool, self._render, st, tick)
            st.rendering[tick] = pending
        try:
            jpeg = await asyncio.shield(pending)
        finally:
            st.rendering.pop(tick, None)
        if tick > st.tick:
            st.tick, st.jpeg = tick, jpeg
        return jpeg

    # --- handlers ----------------------------------------------------------------------------

    def _lookup(self, request: web.Request, video: bool = True) -> _Station:
        st = self.stations.get(request.match_info["st"])
        if st is None:
            raise web.HTTPNotFound(text=json.dumps({"error": f"no station {request.match_info['st']!r}"}))
        if video and st.offline:
            raise web.HTTPServiceUnavailable(text=json.dumps({"error": "station video offline"}))
        return st

    async def _list(self, request: web.Request) -> web.Response:
        out = [{"id": sid, "mjpeg": f"/stations/{sid}/video.mjpg", "passes": len(st.script.passes),
                "clips": len(st.clips)} for sid, st in self.stations.items()]  # fmt: skip
        return web.json_response({"scene_time": round(self.scene_time(), 3), "stations": out})

    async def _frame_jpg(self, request: web.Request) -> web.Response:
        st = self._lookup(request)
        jpeg = await self.frame(st.script.station_id)
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _mjpeg(self, request: web.Request) -> web.StreamResponse:
        st = self._lookup(request)
        resp = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                                           "Cache-Control": "no-store", "Connection": "close"})  # fmt: skip
        await resp.prepare(request)
        tick = int(self.scene_time() * self.fps)
        try:
            while not st.offline and self._runner is not None:
                jpeg = await self.frame(st.script.station_id, tick)
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                await resp.write(head.encode() + jpeg + b"\r\n")
                tick = max(tick + 1, int(self.scene_time() * self.fps))  # a slow client skips ticks
                await asyncio.sleep(max(0.0, self.start_wall + tick / self.fps / self.speed - time.time()))
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        if request.transport is not None:
            request.transport.abort()
        return resp

    async def _speaker_post(self, request: web.Request) -> web.Response:
        st = self._lookup(request, video=False)
        sid = st.script.station_id
        if st.fail_posts > 0:
            st.fail_posts -= 1
            return web.json_response({"error": "speaker busy"}, status=503)
        if request.content_type not in ("audio/wav", "audio/x-wav", "audio/wave"):
            return web.json_response({"error": f"expected audio/wav, got {request.content_type}"}, status=415)
        data = await request.read()
        try:
            seconds = wav_seconds(data)
        except ValueError as exc:
            return web.json_response({"error": f"not a WAV clip: {exc}"}, status=400)
        st.clips.append(Clip(at=time.time(), data=data, seconds=seconds, key=request.headers.get("X-Request-Key", "")))
        log.info("station %s played %d bytes of speech", sid, len(data))
        return web.json_response({"ok": True, "bytes": len(data), "seconds": round(seconds, 2)})

    async def _speaker_list(self, request: web.Request) -> web.Response:
        st = self._lookup(request, video=False)
        clips = [{"at": round(c.at, 3), "bytes": len(c.data), "seconds": round(c.seconds, 2), "key": c.key}
                 for c in st.clips]  # fmt: skip
        return web.json_response({"station": st.script.station_id, "clips": clips})


async def provision_stations(redis: aioredis.Redis, server: StationServer) -> list[DeviceProfile]:
    """Register every served station (kind station) at a demo village; params are its VideoConfig."""
    places = load_gazetteer().demo_villages(len(server.stations))
    profiles = []
    for (sid, _st), (village, township, lat, lon) in zip(server.stations.items(), places, strict=False):
        profile = DeviceProfile(device_id=sid, kind="station", village=village, township=township, lat=lat, lon=lon,
                                params=server.config(sid))  # fmt: skip
        load_video_config(profile)  # a bad script fails here, naming the station
        profiles.append(profile)
    await registry.register(redis, profiles)
    return profiles


async def _serve(args: argparse.Namespace) -> None:
    server = StationServer(scripts(args.stations, args.duration, args.seed), args.host, args.port, args.fps)
    await server.start()
    banner = f"劝导站模拟器已启动: {len(server.stations)} 个, {server.url}/stations"
    await serve_until_signal(server, args.redis, lambda r: provision_stations(r, server), banner)


def main() -> None:
    """Run the station simulator until Ctrl-C."""
    ap = argparse.ArgumentParser(description="Simulated road advisory stations: MJPEG road views and loudspeakers.")
    ap.add_argument("--stations", type=int, default=4, help="number of stations")
    ap.add_argument("--port", type=int, default=8095, help="HTTP port")
    ap.add_argument("--host", default="127.0.0.1", help="listen address")
    ap.add_argument("--duration", type=float, default=600.0, help="scripted traffic length (scene s)")
    ap.add_argument("--seed", type=int, default=0, help="traffic seed")
    ap.add_argument("--fps", type=float, default=8.0, help="frames per second per stream")
    ap.add_argument("--redis", default="", help="Redis URL: also register the stations in the device registry")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
