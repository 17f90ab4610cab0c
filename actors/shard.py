"""One shard of device actors of one kind: read the stream, apply, and commit effects with the ack atomically."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from actors.base import DeviceActor
from actors.kinds import actor_class
from adapters import registry
from adapters.bus import DEAD, EVENTS, STORE, Consumer, Entry, Fields, run_rounds, shard_of, tele_stream
from adapters.telemetry import EVENTS_TABLE, event_row, reading_row, table_of
from core.events import DeviceEvent, Message, now_ms
from core.kinds import DeviceProfile
from core.settings import Settings

log = logging.getLogger(__name__)

GROUP = "hosts"
TRIM_EVERY_S = 10.0  # how often a shard applies bus.retention to its telemetry stream


def twin_key(kind: str) -> str:
    """Redis hash of device snapshots (digital twins) of a kind; the ops center reads it."""
    return f"twin:{kind}"


class Shard:
    """Hosts the device actors of (kind, shard); every effect of a batch is committed in one MULTI with its ack."""

    def __init__(
        self, redis: aioredis.Redis, settings: Settings, kind: str, shard: int, clock: Callable[[], int] = now_ms
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.kind, self.shard = kind, shard
        self.clock = clock
        self.cls: type[DeviceActor[Any]] = actor_class(kind)
        self.consumer = Consumer(redis, tele_stream(kind, shard), GROUP, f"host-{kind}-{shard}", settings.bus)
        self.decode = msgspec.msgpack.Decoder(list[Message[self.cls.reading]]).decode  # type: ignore[name-defined]
        self.actors: dict[str, DeviceActor[Any]] = {}
        self.stats = {"applied": 0, "duplicates": 0, "events": 0, "dead": 0, "rounds": 0, "restored": 0}
        self._next_tick = 0

    async def start(self) -> None:
        """Create the group and restore every device of this shard from its snapshot."""
        await self.consumer.ensure_group()
        shards = self.settings.shard_count(self.kind)
        profiles = [
            p for p in (await registry.load_all(self.redis)).values()
            if p.kind == self.kind and shard_of(p.device_id, shards) == self.shard
        ]  # fmt: skip
        await self._restore(profiles)

    async def _restore(self, profiles: list[DeviceProfile]) -> None:
        if not profiles:
            return
        blobs = cast(list[bytes | None], await self.redis.hmget(twin_key(self.kind), [p.device_id for p in profiles]))
        for p, blob in zip(profiles, blobs, strict=True):
            self.actors[p.device_id] = self._make(p, blob)
            self.stats["restored"] += blob is not None

    def _make(self, profile: DeviceProfile, blob: bytes | None) -> DeviceActor[Any]:
        """Build or restore an actor; a malformed profile or snapshot costs that device its extras, not the shard."""
        try:
            return self.cls.restore(profile, blob) if blob else self.cls(profile)
        except Exception as exc:
            log.error("device %s: unusable profile or snapshot (%s); running it with defaults", profile.device_id, exc)
            plain = msgspec.structs.replace(profile, params={})
            try:
                return self.cls.restore(plain, blob) if blob else self.cls(plain)
            except Exception:
                return self.cls(plain)

    async def _ensure_actors(self, device_ids: set[str]) -> None:
        missing = [d for d in device_ids if d not in self.actors]
        if not missing:
            return
        known = await registry.load_some(self.redis, missing)
        # a device removed from the registry after its data was accepted still gets its data kept
        await self._restore([known.get(d) or DeviceProfile(device_id=d, kind=self.kind) for d in missing])

    async def round(self) -> int:
        """Process one batch (and due timers); returns messages applied."""
        entries = await self.consumer.read()
        now = self.clock()
        msgs: list[Message[Any]] = []
        poison: list[tuple[Entry, str]] = []
        for entry in entries:
            try:
                msgs += self.decode(entry[1][b"m"])
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                poison.append((entry, f"undecodable entry: {exc}"))
        await self._ensure_actors({m.device_id for m in msgs})
        rows: list[bytes] = []
        events: list[DeviceEvent] = []
        changed: dict[str, DeviceActor[Any]] = {}
        failed: list[tuple[Message[Any], str]] = []
        for m in msgs:
            actor = self.actors[m.device_id]
            before = actor.snapshot()
            try:
                raised = actor.apply(m, now)
            except Exception as exc:  # a bad message must not stop the shard, nor leave half its effect
                failed.append((m, f"{type(exc).__name__}: {exc}"))
                self.actors[m.device_id] = self.cls.restore(actor.profile, before)
                continue
            if raised is None:
                self.stats["duplicates"] += 1
                continue
            rows.append(reading_row(m))
            events += raised
            changed[m.device_id] = actor
        if now >= self._next_tick:
            self._next_tick = now + 5_000
            for did, actor in self.actors.items():
                due = actor.tick(now)
                if due:
                    events += due
                    changed[did] = actor
        if not (entries or events):
            return 0
        await self._commit(entries, poison, rows, events, changed, failed)
        self.stats["applied"] += len(rows)
        self.stats["events"] += len(events)
        self.stats["rounds"] += 1
        return len(rows)

    async def _commit(
        self,
        entries: list[Entry],
        poison: list[tuple[Entry, str]],
        rows: list[bytes],
        events: list[DeviceEvent],
        changed: dict[str, DeviceActor[Any]],
        failed: list[tuple[Message[Any], str]],
    ) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if rows:
                pipe.xadd(STORE, {b"t": table_of(self.kind), b"r": b"\n".join(rows), b"n": len(rows)})
            if events:
                pipe.xadd(STORE, {b"t": EVENTS_TABLE, b"r": b"\n".join(map(event_row, events)), b"n": len(events)})
                for e in events:
                    pipe.xadd(EVENTS, {b"e": msgspec.msgpack.encode(e)})  # trimmed by the desk (bus.retention)
            if changed:
                pipe.hset(twin_key(self.kind), mapping={d: a.snapshot() for d, a in changed.items()})
            for (entry_id, fields), error in poison:
                record = {**fields, b"stream": self.consumer.stream, b"id": entry_id, b"error": error[:500]}
                pipe.xadd(DEAD, cast(Fields, record))
            for m, error in failed:
                pipe.xadd(DEAD, {b"m": msgspec.msgpack.encode([m]), b"stream": self.consumer.stream, b"error": error})
            self.consumer.ack_in(pipe, [e[0] for e in entries])
            await pipe.execute()
        for (_, _), error in poison:
            log.error("%s: dead-lettered an undecodable entry: %s", self.consumer.stream, error[:200])
        for m, error in failed:
            log.error("device %s seq %d dead-lettered: %s", m.device_id, m.seq, error[:200])
        self.stats["dead"] += len(poison) + len(failed)

    async def run(self) -> None:
        """Process until cancelled; a failed batch is retried from the pending list after a restore."""
        await self.start()
        await run_rounds(self.consumer.stream, self.round, [self.consumer], trim_every_s=TRIM_EVERY_S,
                         recover=self._restore_all)  # fmt: skip

    async def _restore_all(self) -> None:
        """The snapshots in Redis are the truth: drop in-memory state touched by a failed batch and reload."""
        self.actors.clear()
        await self.start()
