"""The live picture one server process shares with all its browser sessions: device twins and tickets from Redis.

One reader per process, whatever the number of sessions: twins are re-read every `live_interval_ms` (only changed
snapshots are decoded); ticket changes arrive from the `incidents` stream as they happen. Every change gets a
version, so a session asks for what changed since the version it last drew and patches only that.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from typing import Any, NamedTuple, cast

import msgspec
import redis.asyncio as aioredis

from actors.base import DeviceActor
from actors.incident_desk import TICKETS
from actors.kinds import device_kinds
from actors.shard import twin_key
from actors.ticket import TicketActor
from actors.ticket_routing import TERMINAL
from adapters import registry
from adapters.bus import INCIDENTS
from core.events import now_ms
from core.incidents import TicketEvent
from core.kinds import DeviceProfile

log = logging.getLogger(__name__)
HISTORY = 600  # change sets kept; a session further behind redraws its sources
FORGET_EVERY_S = 3_600.0  # how often long-closed tickets leave (every session then redraws, dropping them too)
# ids kept over all change sets: at full fleet rate a change set names every device (~6,000 a second), and 600 of
# them would hold millions of ids (memory, and seconds-long garbage-collector passes); sessions poll 4 times a second
LOG_IDS = 60_000
_R = 6378137.0
_EVENT = msgspec.msgpack.Decoder(TicketEvent)


def mercator(lat: float, lon: float) -> tuple[float, float]:
    """WGS84 degrees to Web Mercator metres (what the map and tile basemaps draw in)."""
    lat = max(min(lat, 85.0), -85.0)
    return _R * math.radians(lon), _R * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


class Device(NamedTuple):
    """One device as the map draws it."""

    device_id: str
    kind: str
    township: str
    village: str
    lat: float
    lon: float
    x: float
    y: float
    status: str  # ok | warn | alarm | offline | unknown (registered, no twin yet)
    warnings: tuple[str, ...]


class Changes(NamedTuple):
    """What changed since a version: device ids, ticket ids, and whether the caller must redraw from scratch."""

    version: int
    devices: set[str]
    tickets: set[str]
    reset: bool


class LiveState:
    """Devices and tickets as of now, with versioned change sets."""

    def __init__(self, ctx: Any) -> None:
        self.redis: aioredis.Redis = ctx.redis
        self.interval = ctx.settings.ops.live_interval_ms / 1000
        self.closed_keep_ms = ctx.settings.bus.closed_ticket_keep_s * 1000  # closed tickets shown this long
        self.kinds: dict[str, type[DeviceActor[Any]]] = device_kinds()
        self.profiles: dict[str, DeviceProfile] = {}
        self.registry_version = -1
        self.blobs: dict[str, bytes] = {}
        self.devices: dict[str, Device] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.alarmed: dict[str, int] = {}  # device id -> open tickets naming it
        self.version = 0
        self.log: deque[tuple[int, set[str], set[str]]] = deque(maxlen=HISTORY)
        self.logged = 0  # ids in the log
        self.stream_id = b"0-0"
        self.last_twin_read = 0.0
        self.forgot_at = 0.0  # loop time of the last forget_closed
        self.errors = 0

    # --- reading -----------------------------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Load the registry, every twin and every ticket (at start)."""
        latest = cast(list[Any], await self.redis.xrevrange(INCIDENTS, count=1))
        self.stream_id = latest[0][0] if latest else b"0-0"
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(TICKETS))
        self._bump(set(), {self._put_ticket(TicketActor.restore(b)) for b in raw.values()})
        await self.read_twins()

    async def run(self) -> None:
        """Keep reading until cancelled; a Redis hiccup is logged and retried, never fatal."""
        await asyncio.gather(self._loop(self.read_twins, self.interval), self._loop(self.read_incidents, 0))

    async def _loop(self, step: Any, pause: float) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("live state read failed; retrying")
                await asyncio.sleep(1.0)
            if pause:
                await asyncio.sleep(pause)

    async def read_twins(self) -> None:
        """Re-read device twins; decode only the snapshots that changed."""
        version = await registry.version(self.redis)
        if version != self.registry_version:
            self.profiles = await registry.load_all(self.redis)
            self.registry_version = version
        changed: set[str] = set()
        for kind in self.kinds:
            raw = cast(dict[bytes, bytes], await self.redis.hgetall(twin_key(kind)))
            for key, blob in raw.items():
                did = key.decode()
                if self.blobs.get(did) != blob and self._put_device(did, blob):
                    self.blobs[did] = blob
                    changed.add(did)
        for did, p in self.profiles.items():  # registered, never reported: drawn where installed
            if did not in self.devices and p.kind in self.kinds:
                self.devices[did] = self._row(p, p.lat, p.lon, "unknown", ())
                changed.add(did)
        self.last_twin_read = asyncio.get_running_loop().time()
        self._bump(changed, set())
        if self.last_twin_read - self.forgot_at >= FORGET_EVERY_S:
            self.forgot_at = self.last_twin_read
            self.forget_closed(now_ms())

    async def read_incidents(self) -> None:
        """Wait for ticket transitions on the `incidents` stream and reload those tickets."""
        got = cast(list[Any], await self.redis.xread({INCIDENTS: self.stream_id}, count=500, block=1000))
        if not got:
            return
        ids: set[str] = set()
        for entry_id, fields in got[0][1]:
            self.stream_id = entry_id
            ids.add(_EVENT.decode(fields[b"t"]).ticket_id)
        blobs = cast(list[bytes | None], await self.redis.hmget(TICKETS, sorted(ids)))
        done = {self._put_ticket(TicketActor.restore(b)) for b in blobs if b}
        self._bump(set(), done)

    # --- building rows -----------------------------------------------------------------------------------------

    def _row(self, p: DeviceProfile, lat: float, lon: float, status: str, warnings: tuple[str, ...]) -> Device:
        x, y = mercator(lat, lon)
        return Device(p.device_id, p.kind, p.township, p.village, lat, lon, x, y, status, warnings)

    def _put_device(self, did: str, blob: bytes) -> bool:
        p = self.profiles.get(did)
        cls = self.kinds.get(p.kind) if p else None
        if p is None or cls is None:
            return False
        try:
            actor = cls.restore(p, blob)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("twin of device %s does not decode; left out of the map", did)
            return False
        lat, lon = actor.position()
        status = "alarm" if self.alarmed.get(did) else actor.status()
        self.devices[did] = self._row(p, lat, lon, status, tuple(actor.warnings()))
        return True

    def _put_ticket(self, ticket: TicketActor) -> str:
        row = ticket.live()
        row["open"] = row["state"] not in TERMINAL
        old = self.tickets.get(row["ticket_id"])
        self.tickets[row["ticket_id"]] = row
        device = row.get("device_id") or ""
        was_open = bool(old and old["open"])
        if device and was_open != row["open"]:
            self.alarmed[device] = self.alarmed.get(device, 0) + (1 if row["open"] else -1)
            if (d := self.devices.get(device)) is not None:
                status = "alarm" if self.alarmed[device] > 0 else ("warn" if d.warnings else "ok")
                if d.status not in ("offline", "unknown"):
                    self.devices[device] = d._replace(status=status)
                    self._bump({device}, set())
        return str(row["ticket_id"])

    def forget_closed(self, now: int) -> list[str]:
        """Drop tickets closed more than closed_ticket_keep_s ago (history stays in ClickHouse); sessions redraw."""
        gone = [t for t, row in self.tickets.items() if not row["open"] and now - row["entered"] >= self.closed_keep_ms]
        for tid in gone:
            del self.tickets[tid]
        if gone:  # every session is now behind an empty log: it redraws, and its sources drop those rows too
            self.log.clear()
            self.logged = 0
            self.version += 1
        return gone

    def _bump(self, devices: set[str], tickets: set[str]) -> None:
        if devices or tickets:
            self.version += 1
            self.logged += len(devices) + len(tickets)
            while self.log and (len(self.log) >= HISTORY or self.logged > LOG_IDS):
                _, d, t = self.log.popleft()
                self.logged -= len(d) + len(t)
            self.log.append((self.version, devices, tickets))

    # --- what sessions ask -------------------------------------------------------------------------------------

    def changes_since(self, version: int) -> Changes:
        """Device and ticket ids changed after `version`; reset when that version is too old to tell."""
        if version >= self.version:
            return Changes(self.version, set(), set(), False)
        if not self.log or self.log[0][0] > version + 1:
            return Changes(self.version, set(), set(), True)
        devices: set[str] = set()
        tickets: set[str] = set()
        for v, d, t in reversed(self.log):
            if v <= version:
                break
            devices |= d
            tickets |= t
        return Changes(self.version, devices, tickets, False)
