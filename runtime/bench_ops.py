"""`python -m runtime.bench ops`: the operations center at county scale, measured in headless Chromium.

The fleet (5,000 wristbands, 500 hives, 400 cameras, 50 stations) is registered and its twins are rewritten at
1 Hz by a writer process that HSETs `twin:<kind>` directly ("twin_writer": "direct"): it stands in for the device
hosts at full fleet rate, which two cores cannot also carry beside a browser. SOS alarms take the real path:
signed POST to the ingest gateway -> wristband host -> rules -> desk -> `incidents` -> the ops live state -> the
operator's browser, where the marker's arrival is timed in the page on the same machine clock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import psutil
import ray
import redis.asyncio as aioredis

from actors.beehive import BeehiveState
from actors.camera import CameraState
from actors.shard import twin_key
from actors.station import StationState
from actors.wristband import WristbandState
from adapters import registry
from adapters.accounts import Accounts
from adapters.accounts_cli import create_demo_accounts
from adapters.redis_server import free_port
from core.events import Sample, now_ms
from core.gazetteer import load_gazetteer
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from core.settings import Settings
from core.signing import device_key, sign
from runtime.platform import Platform
from sim.fleet import build_fleet, provision

TICKS = "bench:twin_ticks"  # the writer counts its rounds here
FLIP_SHARE = 0.005  # devices whose status changes each second (ok -> warn -> offline -> ok)
NO_SOURCE = "http://127.0.0.1:9"  # cameras and stations are registered, not video-hosted (serve is off)

# Installed in the map page: records every animation frame's interval and when each ticket id first shows up in
# the incidents source (the marker's data, checked on the frame that draws it), on the machine's wall clock.
WATCH_JS = """() => {
  const get = (d, k) => (d instanceof Map ? d.get(k) : d[k]);
  const W = (window.__zqBench = {frames: [], seen: {}, recording: false, last: 0, ids: null});
  const source = () => {
    for (const doc of window.Bokeh.documents)
      for (const m of doc.all_models)
        if (m.type === "GlyphRenderer" && m.name === "incidents") return m.data_source;
    return null;
  };
  const tick = (t) => {
    if (W.recording && W.last) W.frames.push(t - W.last);
    W.last = t;
    const src = W.src || (W.src = source());
    const ids = src ? get(src.data, "ticket_id") : null;
    if (ids && (ids !== W.ids || ids.length !== W.n)) {
      W.ids = ids; W.n = ids.length;
      const now = performance.timeOrigin + performance.now();
      for (const id of ids) if (!(id in W.seen)) W.seen[id] = now;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
DEVICE_COUNT_JS = """() => {
  const get = (d, k) => (d instanceof Map ? d.get(k) : d[k]);
  for (const doc of (window.Bokeh && window.Bokeh.documents) || [])
    for (const m of doc.all_models)
      if (m.type === "GlyphRenderer" && m.name === "devices") return get(m.data_source.data, "device_id").length;
  return -1;
}"""
WEBGL_JS = "() => !!document.createElement('canvas').getContext('webgl2')"
BACKEND_JS = """() => {
  const v = window.Bokeh.index.query_one((v) => v.model && v.model.type === "Figure");
  return v ? v.model.output_backend : null;
}"""


def county_fleet(wristbands: int, hives: int, cameras: int, stations: int) -> list[DeviceProfile]:
    """The benchmark fleet, the same in every process: wristbands and hives of sim.fleet, cameras and stations."""
    from sim.station import scripts as station_scripts

    fleet = build_fleet(wristbands, hives, watch_share=0.0)
    places = load_gazetteer().demo_villages(197)
    rng = random.Random("bench-ops-fleet")
    out = list(fleet.all)
    for i in range(cameras):
        village, township, lat, lon = places[i % len(places)]
        cid = f"cam-{i + 1:04d}"
        out.append(DeviceProfile(device_id=cid, kind="camera", village=village, township=township,
                                 lat=round(lat + rng.uniform(-0.004, 0.004), 6),
                                 lon=round(lon + rng.uniform(-0.004, 0.004), 6),
                                 params={"source": f"{NO_SOURCE}/cameras/{cid}/mjpeg"}))  # fmt: skip
    template = station_scripts(1, 600.0)[0].config(NO_SOURCE, 1.0) if stations else {}
    for i in range(stations):
        village, township, lat, lon = places[(i * 3) % len(places)]
        sid = f"st-{i + 1:04d}"
        params = {**template, "source": f"{NO_SOURCE}/stations/{sid}/video.mjpg",
                  "speaker_url": f"{NO_SOURCE}/stations/{sid}/speaker"}  # fmt: skip
        out.append(DeviceProfile(device_id=sid, kind="station", village=village, township=township,
                                 lat=round(lat + 0.002, 6), lon=round(lon - 0.002, 6), params=params))  # fmt: skip
    return out


def sos_bands(profiles: list[DeviceProfile], n: int) -> list[DeviceProfile]:
    """The wristbands that send the SOS alarms (their twins come from the real host, not the writer)."""
    return [p for p in profiles if p.kind == "wristband"][-n:] if n else []


# --- the twin writer (its own process) ---------------------------------------------------------------------------


def _state(p: DeviceProfile, tick: int, now: int, flag: int, rng: random.Random) -> msgspec.Struct:
    """One device's twin this second: moving wristbands, drifting readings; flag 1 = needs attention, 2 = offline."""
    offline = flag == 2
    if p.kind == "wristband":
        angle = rng.uniform(0, 2 * math.pi)
        return WristbandState(last_seq=tick, last_seen=now, applied=tick, ts=now, hr=rng.randint(58, 92), spo2=97,
                              temp=36.5, battery=80, worn=True, lat=p.lat + 0.0004 * math.cos(angle),
                              lon=p.lon + 0.0004 * math.sin(angle), offline=offline,
                              raised=["hr_out_of_range"] if flag == 1 else [])  # fmt: skip
    if p.kind == "beehive":
        return BeehiveState(last_seq=tick, last_seen=now, applied=tick, last_ts=now, weight=30 + rng.random(),
                            temp_in=34.5, humidity=60.0, battery=90, lat=p.lat, lon=p.lon, offline=offline,
                            latched=["brood_temp"] if flag == 1 else [])  # fmt: skip
    if p.kind == "camera":
        return CameraState(last_seq=tick, last_seen=now, applied=tick, last_frame=now, watching_since=1,
                           motion=rng.random() / 10, frozen=flag == 1, cam_offline=offline)  # fmt: skip
    return StationState(last_seq=tick, last_seen=now, applied=tick, passes=tick // 7,
                        health={0: "ok", 1: "frozen", 2: "offline"}[flag])  # fmt: skip


async def write_twins(redis_url: str, profiles: list[DeviceProfile]) -> None:
    """Rewrite every device's twin once a second, until killed."""
    redis = aioredis.Redis.from_url(redis_url)
    rng = random.Random(5)
    flags: dict[str, int] = {}
    tick, start = 0, time.monotonic()
    while True:
        tick += 1
        for p in rng.sample(profiles, max(1, int(len(profiles) * FLIP_SHARE))):
            flags[p.device_id] = (flags.get(p.device_id, 0) + 1) % 3
        now = now_ms()
        by_kind: dict[str, dict[str, bytes]] = {}
        for p in profiles:
            blob = msgspec.msgpack.encode(_state(p, tick, now, flags.get(p.device_id, 0), rng))
            by_kind.setdefault(p.kind, {})[p.device_id] = blob
        async with redis.pipeline(transaction=False) as pipe:
            for kind, mapping in by_kind.items():
                pipe.hset(twin_key(kind), mapping=mapping)  # type: ignore[arg-type]
            pipe.incr(TICKS)
            await pipe.execute()
        await asyncio.sleep(max(0.0, start + tick - time.monotonic()))


# --- the measurement ---------------------------------------------------------------------------------------------


def _cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _browser_procs() -> list[psutil.Process]:
    """Chromium processes started under this one (through Playwright's driver)."""
    return [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name().lower()]


async def _cpu_pct(procs: list[psutil.Process], seconds: float) -> float:
    """CPU the processes used over the next `seconds`, % of one core."""

    def total() -> float:
        out = 0.0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                out += _cpu_s(p)
        return out

    before, t0 = total(), time.monotonic()
    await asyncio.sleep(seconds)
    return round(100 * (total() - before) / (time.monotonic() - t0), 2)


def _q(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p * len(s)))], 1)


async def _send_sos(http: aiohttp.ClientSession, settings: Settings, band: DeviceProfile) -> int:
    """Post one signed SOS from a wristband to the ingest gateway; returns the send time (ms)."""
    ts = now_ms()
    body = msgspec.msgpack.encode([Sample(seq=1, ts=ts, v=WristbandReading(alarm="sos", lat=band.lat, lon=band.lon))])
    key = device_key(settings.device_master_key.get_secret_value().encode(), band.device_id)
    headers = {"X-Device-Id": band.device_id, "X-Timestamp": str(ts), "X-Signature": sign(key, ts, body),
               "Content-Type": "application/msgpack"}  # fmt: skip
    async with http.post(f"http://127.0.0.1:{settings.ingest.port}/v1/telemetry", data=body, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"ingest refused the SOS of {band.device_id}: HTTP {r.status}")
    return ts


async def _provision(platform: Platform, profiles: list[DeviceProfile], redis: aioredis.Redis) -> str:
    """Register the fleet (wearers and adopters too) and the demo accounts; returns county_op's password."""
    kinds = [p.kind for p in profiles]
    await provision(redis, build_fleet(kinds.count("wristband"), kinds.count("beehive"), watch_share=0.0))
    await registry.register(redis, [p for p in profiles if p.kind in ("camera", "station")])
    made = await create_demo_accounts(Accounts(redis, platform.settings.ops))
    ray.get(platform.ingest.refresh_registry.remote())
    return {u.username: pw for u, pw in made}["county_op"]


async def _open_map(page: Any, base: str, password: str, devices: int) -> dict[str, Any]:
    """Sign in as the county operator, wait until every device is on the map, then start watching frames."""
    await page.goto(f"{base}/map")
    await page.fill("#username", "county_op")
    await page.fill("#password", password)
    await page.click("#login")
    await page.wait_for_selector("#logout", state="attached", timeout=60_000)
    loaded = time.monotonic() + 60
    while await page.evaluate(DEVICE_COUNT_JS) < devices and time.monotonic() < loaded:
        await asyncio.sleep(0.5)
    info = {"map_devices": await page.evaluate(DEVICE_COUNT_JS), "map_backend": await page.evaluate(BACKEND_JS),
            "webgl_available": await page.evaluate(WEBGL_JS)}  # fmt: skip
    await page.evaluate(WATCH_JS)
    return info


async def _sos_to_marker(page: Any, settings: Settings, bands: list[DeviceProfile]) -> tuple[int, list[float]]:
    """Send one SOS a second and time each from its send to its ticket in the page's incidents source (ms)."""
    sent: dict[str, int] = {}
    async with aiohttp.ClientSession() as http:
        for band in bands:
            sent[band.device_id] = await _send_sos(http, settings, band)
            await asyncio.sleep(1.0)
    by_device: dict[str, float] = {}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not set(sent) <= set(by_device):
        seen = await page.evaluate("() => window.__zqBench.seen")
        by_device = {tid.split(":")[1]: ms for tid, ms in seen.items() if tid.count(":") >= 2}  # rule:device:ts
        await asyncio.sleep(0.5)
    return len(sent), [by_device[d] - ts for d, ts in sent.items() if d in by_device]


async def _measure(platform: Platform, profiles: list[DeviceProfile], seconds: float, sos: int) -> dict[str, Any]:
    """The four CPU windows (no session / one session, live / idle), frame times and SOS-to-marker latency."""
    from playwright.async_api import async_playwright

    redis = aioredis.Redis.from_url(platform.redis_url)
    password = await _provision(platform, profiles, redis)
    bands = sos_bands(profiles, sos)
    counts = ",".join(str(sum(p.kind == k for p in profiles)) for k in ("wristband", "beehive", "camera", "station"))
    env = {**os.environ, "REDIS_URL": platform.redis_url}  # not on the command line: it carries the password
    writer = subprocess.Popen([sys.executable, "-m", "runtime.bench_ops", counts, str(sos)], env=env)
    ops = ray.get(platform.ops.stats.remote())
    proc, base = psutil.Process(ops["pid"]), f"http://127.0.0.1:{ops['port']}"
    out: dict[str, Any] = {"devices": len(profiles), "twin_writer": "direct", "seconds": seconds}
    cpu: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 120
        while ray.get(platform.ops.stats.remote())["devices"] < len(profiles) or int(await redis.get(TICKS) or 0) < 3:
            if time.monotonic() > deadline or writer.poll() is not None:
                raise RuntimeError("the ops center did not load the fleet (or the twin writer died)")
            await asyncio.sleep(0.5)
        ticks0, t0 = int(await redis.get(TICKS) or 0), time.monotonic()
        cpu["no_session_live"] = await _cpu_pct([proc], seconds)
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = await (await browser.new_context(viewport={"width": 1600, "height": 1000})).new_page()
            received = [0]
            page.on("websocket", lambda ws: ws.on("framereceived", lambda data: received.__setitem__(
                0, received[0] + len(data))))  # fmt: skip
            out.update(await _open_map(page, base, password, len(profiles)))
            await asyncio.sleep(3)  # settle: the first live patches after the initial draw
            await page.evaluate("() => { window.__zqBench.recording = true; }")
            bytes0, live = received[0], asyncio.create_task(_cpu_pct([proc], seconds))
            out["browser_cpu_pct_live"] = await _cpu_pct(_browser_procs(), seconds)
            cpu["one_session_live"] = await live
            out["ws_kb_per_s"] = round((received[0] - bytes0) / seconds / 1024, 1)
            frames = await page.evaluate("() => { const W = window.__zqBench; W.recording = false; return W.frames; }")
            sent, lat = await _sos_to_marker(page, platform.settings, bands)
            twin_rate = (int(await redis.get(TICKS) or 0) - ticks0) / (time.monotonic() - t0)
            writer.terminate()
            writer.wait(10)
            await asyncio.sleep(3)  # nothing changes from here on
            cpu["one_session_idle"] = await _cpu_pct([proc], seconds)
            await browser.close()
        closed = time.monotonic() + 60
        while ray.get(platform.ops.stats.remote())["sessions"] and time.monotonic() < closed:
            await asyncio.sleep(1.0)
        await asyncio.sleep(10)  # the discarded session's clean-up stays out of the window
        cpu["no_session_idle"] = await _cpu_pct([proc], seconds)
    finally:
        if writer.poll() is None:
            writer.terminate()
            writer.wait(10)
        await redis.aclose()
    out.update({
        "median_frame_ms": round(statistics.median(frames), 1) if frames else None,
        "frame_p95_ms": _q(frames, 0.95), "frame_max_ms": _q(frames, 1.0), "frames": len(frames),
        "frames_over_50ms": sum(f > 50 for f in frames),
        "sos_to_marker_p95_ms": _q(lat, 0.95), "sos_to_marker_p50_ms": _q(lat, 0.5), "sos_to_marker_max_ms": _q(lat, 1),
        "sos_sent": sent, "sos_seen": len(lat),
        "idle_cpu_pct": round(cpu["one_session_idle"] - cpu["no_session_idle"], 2),
        "live_cpu_pct": round(cpu["one_session_live"] - cpu["no_session_live"], 2),
        "ops_process_cpu_pct": cpu, "twin_rate_hz": round(twin_rate, 2),
        "twin_updates_per_s": round(twin_rate * (len(profiles) - len(bands))),
    })  # fmt: skip
    return out


def ops(seconds: float, sos: int, wristbands: int, hives: int, cameras: int, stations: int) -> dict[str, Any]:
    """Start the platform with the ops center, load the county fleet and measure one operator's browser session."""
    var = Path(tempfile.mkdtemp(prefix="zq-bench-"))
    page = free_port()
    settings = Settings(
        var_dir=var, ingest={"port": free_port()}, watch={"port": free_port()}, serve={"enabled": False},
        ops={"enabled": True, "port": free_port()},
        push={"port": free_port(), "page_port": page, "allowed_origins": [f"http://127.0.0.1:{page}"]},
    )  # type: ignore[arg-type]  # fmt: skip
    profiles = county_fleet(wristbands, hives, cameras, stations)
    platform = Platform(settings).start()
    try:
        return asyncio.run(_measure(platform, profiles, seconds, sos))
    finally:
        platform.stop()


def main() -> None:
    """The twin writer's entry point: `REDIS_URL=... python -m runtime.bench_ops W,H,C,S SOS`."""
    parser = argparse.ArgumentParser(description="Twin writer of the ops benchmark (started by runtime.bench ops).")
    parser.add_argument("counts", help="wristbands,hives,cameras,stations")
    parser.add_argument("sos", type=int, help="last wristbands left to the real host (they send the SOS alarms)")
    args = parser.parse_args()
    w, h, c, s = (int(x) for x in args.counts.split(","))
    profiles = county_fleet(w, h, c, s)
    skip = {p.device_id for p in sos_bands(profiles, args.sos)}
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(write_twins(os.environ["REDIS_URL"], [p for p in profiles if p.device_id not in skip]))


if __name__ == "__main__":
    main()
