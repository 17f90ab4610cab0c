"""`python -m runtime.bench alarm`: SOS and fall alarms from the edge to the duty officer's phone, under load."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import ray
import redis.asyncio as aioredis
import websockets
from websockets.asyncio.client import connect

from adapters import registry
from adapters.push.tokens import add_token
from adapters.redis_server import free_port
from adapters.rosters import OFFICERS
from core.events import Sample
from core.gazetteer import load_gazetteer
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from core.settings import Settings
from core.signing import device_key, sign
from runtime.platform import Platform
from sim.fleet import build_fleet, provision
from sim.load import LoadConfig


def _elders(n: int) -> list[DeviceProfile]:
    """Alarm-only wristbands (their own seq space), one per village in turn, each with a family contact."""
    villages = load_gazetteer().demo_villages(197)
    out = []
    for i in range(n):
        village, township, lat, lon = villages[i % len(villages)]
        out.append(
            DeviceProfile(
                device_id=f"wb-alarm-{i:03d}",
                kind="wristband",
                village=village,
                township=township,
                lat=lat,
                lon=lon,
                params={"family": f"family-{i:03d}"},
            )
        )
    return out


async def _run(platform: Platform, settings: Settings, seconds: float, events: int) -> dict[str, Any]:
    redis = aioredis.Redis.from_url(platform.redis_url)
    elders = _elders(events)
    await registry.register(redis, elders)
    villages = sorted({e.village for e in elders})
    officers = {v: f"officer-{i:03d}" for i, v in enumerate(villages)}
    await redis.hset(OFFICERS, mapping=officers)  # type: ignore[arg-type]
    tokens = {o: await add_token(redis, o) for o in officers.values()}
    await redis.aclose()
    ray.get(platform.ingest.refresh_registry.remote())
    push = settings.push
    received: dict[str, float] = {}  # ticket id -> receive time (ms)
    reconnects: list[str] = []

    async def phone(user: str, token: str) -> None:
        """A responder's phone: stays connected (reconnecting like the real page does) and acks each dispatch."""
        while True:
            try:
                async with connect(
                    f"ws://127.0.0.1:{push.port}/push", additional_headers={"Authorization": f"Bearer {token}"},
                    origin=f"http://127.0.0.1:{push.page_port}",  # type: ignore[arg-type]
                ) as ws:  # fmt: skip
                    async for raw in ws:
                        msg = json.loads(raw)
                        if msg.get("type") == "dispatch" and msg.get("role") == "responder":
                            received.setdefault(msg["ticket_id"], time.time() * 1000)
                            await ws.send(json.dumps({"type": "ack", "dispatch_id": msg["dispatch_id"]}))
            except (OSError, ConnectionError, websockets.exceptions.WebSocketException) as exc:
                reconnects.append(f"{user}: {exc}")
                await asyncio.sleep(0.5)

    phones = [asyncio.create_task(phone(u, t)) for u, t in tokens.items()]
    await asyncio.sleep(1.0)
    master = settings.device_master_key.get_secret_value().encode()
    rng = random.Random(11)
    sent: dict[str, int] = {}
    url = f"http://127.0.0.1:{settings.ingest.port}/v1/telemetry"
    async with aiohttp.ClientSession() as http:
        gap = seconds / max(events, 1)
        for e in elders:
            ts = int(time.time() * 1000)
            alarm = rng.choice(("sos", "fall"))
            body = msgspec.msgpack.encode([Sample(seq=1, ts=ts, v=WristbandReading(alarm=alarm, lat=e.lat, lon=e.lon))])
            headers = {"X-Device-Id": e.device_id, "X-Timestamp": str(ts), "Content-Type": "application/msgpack",
                       "X-Signature": sign(device_key(master, e.device_id), ts, body)}  # fmt: skip
            async with http.post(url, data=body, headers=headers) as resp:
                if resp.status == 200:
                    sent[e.device_id] = ts
            await asyncio.sleep(gap)
    deadline = time.monotonic() + 30
    while len(received) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    for t in phones:
        t.cancel()
    by_device = {tid.split(":")[1]: tid for tid in received}  # ticket id = rule:device:first_ts
    lat = sorted(received[by_device[d]] - ts for d, ts in sent.items() if d in by_device)
    q = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 1)) if lat else (lambda p: None)
    missing = sorted(set(sent) - set(by_device))
    if missing and os.environ.get("BENCH_DEBUG"):
        print("missing", missing[:10], file=sys.stderr)
        print(
            platform.query(
                "SELECT type, device_id FROM zq.device_events WHERE device_id IN ("
                + ",".join(f"'{m}'" for m in missing[:10])
                + ")"
            ),
            file=sys.stderr,
        )
        print(
            platform.query(
                "SELECT ticket_id, action, to_state FROM zq.ticket_events WHERE position(ticket_id, '"
                + missing[0]
                + "') > 0"
            ),
            file=sys.stderr,
        )
        print(ray.get(platform.desk.stats.remote()), reconnects[:5], file=sys.stderr)
    return {"events": len(sent), "delivered": len(lat), "p50_ms": q(0.5), "p99_ms": q(0.99),
            "lost": len(sent) - len(lat), "phone_reconnects": len(reconnects)}  # fmt: skip


def alarm(seconds: float, background_rate: float, events: int, wristbands: int, hives: int) -> dict[str, Any]:
    """Alarms end to end while background telemetry flows at `background_rate` msg/s."""
    var = Path(tempfile.mkdtemp(prefix="zq-bench-"))
    page = free_port()
    settings = Settings(
        var_dir=var, ingest={"port": free_port()}, watch={"port": free_port()}, serve={"enabled": False},
        push={"port": free_port(), "page_port": page, "allowed_origins": [f"http://127.0.0.1:{page}"]},
    )  # type: ignore[arg-type]  # fmt: skip
    platform = Platform(settings).start()
    sim = None
    try:
        fleet = build_fleet(wristbands, hives)

        async def _provision() -> None:
            client = aioredis.Redis.from_url(platform.redis_url)
            await provision(client, fleet)
            await client.aclose()

        asyncio.run(_provision())
        cfg = LoadConfig(
            ingest_url=f"http://127.0.0.1:{settings.ingest.port}", watch_port=settings.watch.port,
            wristbands=wristbands, hives=hives, rate=background_rate, seconds=seconds + 45,
            master_key=settings.device_master_key.get_secret_value(),
        )  # fmt: skip
        ray.get(platform.ingest.refresh_registry.remote())
        cmd = [sys.executable, "-m", "sim.load", "--config", msgspec.json.encode(cfg).decode()]
        sim = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        time.sleep(5)  # background load settles first
        result = asyncio.run(_run(platform, settings, seconds, events))
        result["background_msgs_per_s"] = background_rate
        return result
    finally:
        if sim and sim.poll() is None:
            sim.terminate()
            sim.wait(10)
        platform.stop()
