"""End to end: a scripted fire in front of a simulated camera opens an incident with its annotated snapshot,
and the village officer's phone receives it with the snapshot attached."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis
import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from adapters.bus import INCIDENTS
from adapters.push.tokens import add_token
from adapters.rosters import OFFICERS
from core.incidents import TicketEvent
from runtime.platform import Platform
from sim.camera import CameraServer, provision_cameras
from sim.scenario import script
from sim.scenarios.timeline import Key, Mover
from tests.runtime.platform_kit import count, wait

pytestmark = pytest.mark.slow
OFFICER = "officer-video"


def _fire_script() -> Any:
    """A quiet village scene in which a fire starts 4 s in and keeps burning."""
    base = script(0, 600)
    fire = Mover(role="fire-e2e", keys=(Key(4.0, 420.0, 250.0, "fire", 1.4), Key(600.0, 420.0, 250.0, "fire", 1.6)))
    return dataclasses.replace(base, movers=(fire,), episodes=())


async def _dispatch(platform: Platform, server: CameraServer, fleet: list[Any]) -> dict[str, Any]:
    client = aioredis.Redis.from_url(platform.redis_url)
    profiles = await provision_cameras(client, server.url, fleet)
    await client.hset(OFFICERS, profiles[0].village, OFFICER)
    token = await add_token(client, OFFICER)
    await client.aclose()
    s = platform.settings.push
    ws = await connect(
        f"ws://127.0.0.1:{s.port}/push", additional_headers={"Authorization": f"Bearer {token}"},
        origin=f"http://127.0.0.1:{s.page_port}",  # type: ignore[arg-type]
    )  # fmt: skip
    try:
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 120))
            if msg.get("type") == "dispatch":
                await ws.send(json.dumps({"type": "ack", "dispatch_id": msg["dispatch_id"]}))
                return dict(msg)
    finally:
        await ws.close()


def test_a_scripted_fire_opens_an_incident_with_its_snapshot_and_reaches_the_officer(
    video_platform: Platform,
) -> None:
    fleet = [_fire_script()]
    server = CameraServer(fleet, port=0)

    async def go() -> dict[str, Any]:
        await server.start()
        try:
            return await _dispatch(video_platform, server, fleet)
        finally:
            await server.stop()

    msg = asyncio.run(go())
    assert msg["title"] == "发现火情" and msg["severity"] == 1
    snapshot = msg["detail"]["snapshot"]
    var_dir: Path = video_platform.settings.var_dir
    picture = (var_dir / snapshot).read_bytes()
    assert snapshot.startswith("snapshots/cam-0001/") and picture[:3] == b"\xff\xd8\xff"

    client = redis.Redis.from_url(video_platform.redis_url)
    opened = [
        ev for ev in (msgspec.msgpack.decode(f[b"t"], type=TicketEvent) for _, f in client.xrange(INCIDENTS))
        if ev.action == "open" and ev.ticket_id == msg["ticket_id"]
    ]  # fmt: skip
    client.close()
    assert len(opened) == 1
    assert opened[0].detail["device_id"] == "cam-0001" and opened[0].detail["event_type"] in ("fire", "smoke")
    assert opened[0].detail["event"]["snapshot"] == snapshot
    where = "device_id = 'cam-0001' AND type IN ('fire', 'smoke')"
    assert wait(lambda: count(video_platform, "device_events", where) >= 1, timeout=30)
    assert wait(lambda: count(video_platform, "tele_camera", "device_id = 'cam-0001' AND analysed") >= 3, timeout=30)
