"""Video hosts: one shard of camera-like devices of a kind; sample frames, perceive, apply, snapshot and commit."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import msgspec
import numpy as np
import ray
import redis.asyncio as aioredis

from actors.base import DeviceActor
from actors.kinds import actor_class
from actors.shard import twin_key
from actors.snapshots import snapshot_relpath, write_snapshot
from actors.video_config import VideoModels
from actors.video_source import FrameSource
from adapters import bus, registry
from adapters.bus import EVENTS, STORE, raise_if_cancelled, shard_of
from adapters.speaker.requests import event_warnings, queue
from adapters.telemetry import EVENTS_TABLE, event_row, reading_row, table_of
from core.events import DeviceEvent, Message, now_ms
from core.kinds import DeviceProfile
from core.retention import sweep_files
from core.settings import Settings
from serve.client import ServeModels

log = logging.getLogger(__name__)

TICK_MS = 1_000  # how often each device's timers (offline) run
REFRESH_S = 5.0  # how often the registry is checked for added, changed or removed devices
SWEEP_EVERY_S = 3_600.0  # how often snapshots past settings.snapshot_retention_days are deleted


@dataclass
class Hosted:
    """One device in a video shard: its actor, perception, frame source and sampling task."""

    profile: DeviceProfile
    actor: DeviceActor[Any]
    perception: Any
    source: FrameSource
    task: asyncio.Task[None] | None = None
    last_capture: int = 0
    next_tick: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"frames": 0, "events": 0, "errors": 0, "model_errors": 0})
    logged_errors: int = 0  # perception errors already logged


class VideoShard:
    """The devices of (kind, shard) whose actors are hosted="video": one sampling task per device, own fps each."""

    def __init__(
        self,
        redis: aioredis.Redis,
        settings: Settings,
        kind: str,
        shard: int,
        models: VideoModels | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.redis, self.settings, self.kind, self.shard, self.clock = redis, settings, kind, shard, clock
        self.cls: type[DeviceActor[Any]] = actor_class(kind)
        if self.cls.hosted != "video":
            raise ValueError(f"kind {kind!r} is hosted by {self.cls.hosted!r} hosts, not video hosts")
        self.models: VideoModels = models or ServeModels()
        self.var_dir = Path(settings.var_dir)
        self.devices: dict[str, Hosted] = {}
        self.rejected: dict[str, str] = {}  # device id -> why it is not hosted (bad params)
        self.stats = {"frames": 0, "events": 0, "errors": 0, "model_errors": 0, "restored": 0, "snapshots": 0}
        self._version = -1

    # --- devices --------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Host this shard's registered devices: start new ones, restart changed ones, stop removed ones."""
        version = await registry.version(self.redis)
        if version == self._version:
            return
        shards = self.settings.shard_count(self.kind)
        wanted = {
            d: p for d, p in (await registry.load_all(self.redis)).items()
            if p.kind == self.kind and shard_of(d, shards) == self.shard
        }  # fmt: skip
        for d in [d for d, h in self.devices.items() if d not in wanted or wanted[d] != h.profile]:
            await self._drop(d)
        self.rejected = {d: why for d, why in self.rejected.items() if d in wanted and d not in self.devices}
        new = [p for d, p in wanted.items() if d not in self.devices]
        if new:
            blobs = cast(list[bytes | None], await self.redis.hmget(twin_key(self.kind), [p.device_id for p in new]))
            for p, blob in zip(new, blobs, strict=True):
                self._add(p, blob)
        self._version = version

    def _add(self, profile: DeviceProfile, blob: bytes | None) -> None:
        """Build the device's actor (from its snapshot when there is one), perception and source; start sampling."""
        did = profile.device_id
        try:
            try:
                actor = self.cls.restore(profile, blob) if blob else self.cls(profile)
                self.stats["restored"] += blob is not None
            except msgspec.DecodeError as exc:
                log.error("device %s: its saved state could not be restored (%s), starting afresh", did, exc)
                actor = self.cls(profile)
            config = cast(Any, actor).config
            perception = cast(Any, self.cls).perception(profile, config, self.models)
        except Exception as exc:  # bad params: this device is not hosted, the shard goes on
            self.rejected[did] = str(exc)[:500]
            log.error("device %s has an invalid configuration, not connected: %s", did, str(exc)[:500])
            return
        source = FrameSource(did, config.source, fps=config.fps, loop=config.loop, clock=self.clock).start()
        hosted = Hosted(profile, actor, perception, source)
        self.devices[did] = hosted
        hosted.task = asyncio.get_running_loop().create_task(self._sample(hosted, config.fps), name=f"video-{did}")

    async def _drop(self, device_id: str) -> None:
        h = self.devices.pop(device_id)
        if h.task is not None:
            h.task.cancel()
            await asyncio.gather(h.task, return_exceptions=True)
        await asyncio.to_thread(h.source.stop)

    # --- sampling -------------------------------------------------------------------------

    async def _sample(self, h: Hosted, fps: float) -> None:
        """Step the device at its own fps until cancelled; a failed step is logged and the next one runs."""
        period = 1 / fps
        due = time.monotonic()
        while True:
            raise_if_cancelled()
            try:
                await self.step(h)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                h.counts["errors"] += 1
                self.stats["errors"] += 1
                if h.counts["errors"] in (1, 10, 100) or h.counts["errors"] % 1000 == 0:
                    log.warning("device %s: processing failed (%d): %s", h.profile.device_id, h.counts["errors"], exc)
            due += period
            now = time.monotonic()
            if due < now - period:  # fell behind (slow model): skip the missed samples rather than burst
                due = now
            await asyncio.sleep(max(0.0, due - now))

    async def step(self, h: Hosted) -> list[DeviceEvent]:
        """One sample: newest frame (or none) -> reading -> events with snapshots -> one atomic commit."""
        now = self.clock()
        got = h.source.latest()
        frame: np.ndarray | None = None
        capture = now
        if got is not None and got[1] > h.last_capture:
            frame, capture = got
            h.last_capture = capture
        reading = await h.perception.perceive(frame, now)
        self._log_perception_errors(h)
        actor = h.actor
        seq = max(capture, actor.state.last_seq + 1)
        msg = Message(device_id=h.profile.device_id, seq=seq, ts=capture, rx=now, v=reading)
        before = actor.snapshot()
        try:
            events = actor.apply(msg, now) or []
            if now >= h.next_tick:
                h.next_tick = now + TICK_MS
                events += actor.tick(now)
            if frame is not None and events:
                await self._snapshots(h, frame, events)
            await self._commit(h, msg, events)
        except BaseException:
            h.actor = self.cls.restore(h.profile, before)  # the twin in Redis stays the truth
            raise
        if frame is not None:
            h.counts["frames"] += 1
            self.stats["frames"] += 1
        h.counts["events"] += len(events)
        self.stats["events"] += len(events)
        return events

    def _log_perception_errors(self, h: Hosted) -> None:
        errors = int(getattr(h.perception, "errors", 0))
        if errors > h.logged_errors:
            if h.logged_errors == 0 or errors // 100 > h.logged_errors // 100:
                err = getattr(h.perception, "last_error", "")
                log.warning("device %s: model calls failed %d times, the latest: %s", h.profile.device_id, errors, err)
            self.stats["model_errors"] += errors - h.logged_errors
            h.counts["model_errors"] = h.logged_errors = errors

    async def _snapshots(self, h: Hosted, frame: np.ndarray, events: list[DeviceEvent]) -> None:
        """Annotate and store a JPEG per event (off the event loop); the event's detail names the file."""
        for e in events:
            try:
                jpeg = await asyncio.to_thread(h.perception.annotate, frame, e)
                rel = await asyncio.to_thread(write_snapshot, self.var_dir, h.profile.device_id, e.event_id, jpeg)
            except Exception as exc:  # an event without its picture is better than no event
                log.warning("device %s: saving the snapshot of event %s failed: %s", h.profile.device_id, e.type, exc)
                continue
            e.detail = {**e.detail, "snapshot": rel}
            self.stats["snapshots"] += 1

    async def _commit(self, h: Hosted, msg: Message[Any], events: list[DeviceEvent]) -> None:
        """The reading row, the events (store + events stream) and the twin, in one MULTI."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(STORE, {b"t": table_of(self.kind), b"r": reading_row(msg), b"n": 1})
            if events:
                pipe.xadd(STORE, {b"t": EVENTS_TABLE, b"r": b"\n".join(map(event_row, events)), b"n": len(events)})
                for e in events:
                    pipe.xadd(EVENTS, {b"e": msgspec.msgpack.encode(e)})  # trimmed by the desk (bus.retention)
                queue(pipe, event_warnings(events))  # stations' immediate voice warnings (warn_on), once per event
            pipe.hset(twin_key(self.kind), h.profile.device_id, h.actor.snapshot())
            await pipe.execute()

    # --- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Host the shard's devices until cancelled, following registry changes."""
        swept = float("-inf")
        try:
            while True:
                raise_if_cancelled()
                try:
                    await self.refresh()
                except Exception as exc:
                    log.warning("video host %s#%d: reading the device registry failed: %s", self.kind, self.shard, exc)
                if time.monotonic() - swept >= SWEEP_EVERY_S:
                    swept = time.monotonic()
                    try:
                        await self.sweep_snapshots()
                    except OSError as exc:
                        log.warning("video host %s#%d: snapshot sweep failed: %s", self.kind, self.shard, exc)
                await asyncio.sleep(REFRESH_S)
        finally:
            await self.close()

    async def sweep_snapshots(self) -> int:
        """Delete this host's devices' snapshots older than settings.snapshot_retention_days; the count."""
        days = self.settings.snapshot_retention_days
        dirs = [self.var_dir / snapshot_relpath(d, "x").parent for d in self.devices]
        return sum([await asyncio.to_thread(sweep_files, d, days, "*.jpg") for d in dirs])

    async def close(self) -> None:
        """Stop every device's sampling and frame source."""
        for did in list(self.devices):
            await self._drop(did)

    def snapshot_stats(self) -> dict[str, Any]:
        """Counters plus, per device, the age of its newest frame in seconds (None before the first)."""
        now = self.clock()
        ages = {d: (now - h.last_capture) / 1000 if h.last_capture else None for d, h in self.devices.items()}
        return {**self.stats, "devices": len(self.devices), "rejected": dict(self.rejected), "frame_age_s": ages}

    def device(self, device_id: str) -> dict[str, Any] | None:
        """Live state of one hosted device, with its source's and sampler's counters."""
        h = self.devices.get(device_id)
        if h is None:
            return None
        return {**h.actor.live(), "source": h.source.stats(), "host": dict(h.counts)}


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class VideoHost:
    """A process hosting one shard of a video kind (cameras, stations); on restart it restores the twins."""

    async def __init__(  # type: ignore[misc]  # Ray allows async actor constructors
        self, kind: str, shard: int, settings: Settings, redis_url: str, models: VideoModels | None = None
    ) -> None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.redis = bus.connect(redis_url)
        self.shard = VideoShard(self.redis, settings, kind, shard, models)
        await self.shard.refresh()  # devices are up (and restored) before the constructor returns
        self.task = asyncio.get_running_loop().create_task(self.shard.run())

    async def stats(self) -> dict[str, Any]:
        """Counters, per-device frame age, pid and whether the loop is alive."""
        return {**self.shard.snapshot_stats(), "pid": os.getpid(), "alive": not self.task.done()}

    async def device(self, device_id: str) -> dict[str, Any] | None:
        """Live state of one hosted device."""
        return self.shard.device(device_id)

    async def stop(self) -> None:
        """Stop sampling and release the sources (call before ray.kill for a quick, clean exit)."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
