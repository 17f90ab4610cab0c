"""File retention: event snapshots, uploaded photos and SMS outbox lines past their retention are removed by the
process that writes them; younger ones stay."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis

from actors.snapshots import write_snapshot
from actors.video_host import VideoShard
from adapters.push.service import PushService
from adapters.push.sms import FileSmsOutbox
from adapters.push.store import DUE, unmember
from core.incidents import Dispatch
from core.settings import PushSettings, Settings

DAY = 86_400


def age(path: Path, days: float) -> None:
    then = time.time() - days * DAY
    os.utime(path, (then, then))


@pytest.mark.asyncio
async def test_a_video_host_deletes_its_cameras_snapshots_past_retention(redis_url: str, var_dir: Path) -> None:
    r = aioredis.Redis.from_url(redis_url)
    shard = VideoShard(r, Settings(var_dir=var_dir, snapshot_retention_days=30), "camera", 0)
    old = var_dir / write_snapshot(var_dir, "cam-1", "cam-1:fire:1", b"\xff\xd8old")
    new = var_dir / write_snapshot(var_dir, "cam-1", "cam-1:fire:2", b"\xff\xd8new")
    other = var_dir / write_snapshot(var_dir, "cam-9", "cam-9:fire:1", b"\xff\xd8other")  # another host's camera
    age(old, 31)
    age(other, 31)
    shard.devices["cam-1"] = cast(Any, None)  # hosted here (sweeping looks at the ids only)
    assert await shard.sweep_snapshots() == 1
    assert not old.exists() and new.exists() and other.exists()
    await r.aclose()


@pytest.mark.asyncio
async def test_the_push_service_deletes_old_photos_and_outbox_lines(redis_url: str, tmp_path: Path) -> None:
    settings = PushSettings(var_dir=tmp_path, photo_retention_days=90, sms_retention_days=30)
    service = PushService(settings, redis_url)
    service.photos.mkdir(parents=True)
    (old := service.photos / "a.jpg").write_bytes(b"x")
    (new := service.photos / "b.jpg").write_bytes(b"y")
    age(old, 91)
    outbox = cast(FileSmsOutbox, service.outbox)
    now_ms = int(time.time() * 1000)
    lines = [{"dispatch_id": "d-old", "ts": now_ms - 31 * DAY * 1000}, {"dispatch_id": "d-new", "ts": now_ms}]
    outbox.path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    assert await service.sweep() == 2
    assert not old.exists() and new.exists()
    assert [x["dispatch_id"] for x in outbox.lines()] == ["d-new"]
    assert await outbox.contains("d-new") and not await outbox.contains("d-old")
    await service.redis.aclose()


@pytest.mark.asyncio
async def test_the_push_service_drops_dispatches_never_acknowledged_within_the_record_ttl(
    redis_url: str, tmp_path: Path
) -> None:
    service = PushService(PushSettings(var_dir=tmp_path, record_ttl_s=30 * DAY), redis_url)
    store, now_ms = service.server.store, int(time.time() * 1000)
    month_ago = now_ms - 31 * DAY * 1000
    old, new = (Dispatch(dispatch_id=f"d-{n}", ticket_id=f"t-{n}", recipient="family-1", role="family", title="SOS",
                         severity=1, ts=ts) for n, ts in (("old", month_ago), ("new", now_ms)))  # fmt: skip
    await service.server.consumer.ensure_group()
    await store.store(service.server.consumer, [(b"0-1", old), (b"0-2", new)])
    assert await service.sweep() == 1
    assert [d.dispatch_id for d in await store.pending("family-1")] == ["d-new"]
    assert [unmember(m) for m in await service.redis.zrange(DUE, 0, -1)] == [("family-1", "d-new")]
    await service.redis.aclose()
