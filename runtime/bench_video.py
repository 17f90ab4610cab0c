"""`python -m runtime.bench video`: held-out scenario scripts through cameras -> Serve -> rules, scored per scenario."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from adapters.bus import INCIDENTS, Entry
from adapters.redis_server import free_port
from core.incidents import TicketEvent
from core.settings import Settings
from runtime.platform import Platform
from sim.camera import CameraServer, provision_cameras
from sim.loop_thread import LoopThread
from sim.scenario import episodes_of, scripts
from sim.video_score import Observed, false_alarm_rows, missed_rows, score

_TICKET_EVENT = msgspec.msgpack.Decoder(TicketEvent)
TRAILER_S = 30.0  # keep collecting this long after the scripts end (dwell timers, the last events in flight)


async def _incident_events(redis: aioredis.Redis, since: str) -> tuple[list[tuple[int, TicketEvent]], str]:
    """Ticket events on the `incidents` stream after `since`, with the ms they were published."""
    out: list[tuple[int, TicketEvent]] = []
    while True:
        got = cast(list[tuple[bytes, list[Entry]]] | None, await redis.xread({INCIDENTS: since}, count=1000))
        if not got:
            return out, since
        for entry_id, fields in got[0][1]:
            since = entry_id.decode()
            out.append((int(since.split("-")[0]), _TICKET_EVENT.decode(fields[b"t"])))


def observed(events: list[tuple[int, TicketEvent]], server: CameraServer) -> list[Observed]:
    """Camera incidents (opened or repeated) located at their triggering frame's scene time, with wall latency."""
    out: list[Observed] = []
    device_of: dict[str, str] = {}  # ticket -> device, from its open (a repeat does not repeat it)
    for published, ev in events:
        if ev.action not in ("open", "repeat"):
            continue
        d = ev.detail
        camera = device_of.setdefault(ev.ticket_id, str(d.get("device_id", "")))
        at = int(d.get("event_ts") or d.get("last_ts") or 0)
        if not at or not camera.startswith("cam-"):
            continue
        event_type = str(d.get("event_type", ""))
        out.append(Observed(camera, event_type, d.get("event") or {}, server.scene_time(at), float(published - at)))
    return out


def video(cameras: int, seconds: float, seed: int, fps: float) -> dict[str, Any]:
    """Run `cameras` held-out scripts of `seconds` in real time through the whole platform and score them."""
    var = Path(tempfile.mkdtemp(prefix="zq-bench-video-"))
    settings = Settings(
        var_dir=var, ingest={"port": free_port()}, watch={"port": free_port()},
        push={"port": free_port(), "page_port": free_port()}, serve={"enabled": True, "detectors": {"scene": {}}},
    )  # type: ignore[arg-type]  # fmt: skip
    platform = Platform(settings).start()
    loop = LoopThread()
    fleet = scripts(cameras, seconds, seed=seed, fps=fps)
    server = CameraServer(fleet, port=0)
    redis = aioredis.Redis.from_url(platform.redis_url)
    try:
        loop.run(server.start())
        loop.run(provision_cameras(redis, server.url, fleet))
        since, collected = "0", []
        end = time.monotonic() + seconds + TRAILER_S
        while time.monotonic() < end:
            time.sleep(2.0)
            got, since = loop.run(_incident_events(redis, since))
            collected += got
        stats = platform.stats()
        frames = sum(int(h.get("frames", 0)) for name, h in stats["hosts"].items() if name.startswith("camera."))
        seen, episodes = observed(collected, server), episodes_of(fleet)
        result = score(episodes, seen, cameras, seconds)
        rows = {
            name: {k: row[k] for k in ("recall", "false_alarms_per_hour", "p50_event_latency_ms", "episodes")}
            for name, row in result.items()
        }
        return {
            "cameras": cameras, "seconds": seconds, "fps": fps, "frames": frames, "scenarios": rows,
            "missed": missed_rows(episodes, seen), "false_alarms": false_alarm_rows(episodes, seen),
        }  # fmt: skip
    finally:
        loop.run(cast(Coroutine[Any, Any, None], redis.aclose()))
        loop.run(server.stop())
        loop.close()
        platform.stop()
