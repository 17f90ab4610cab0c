"""Base class for device actors: one object per device, messages applied one at a time, pure and clock-injected."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from core.events import DeviceEvent, Message, event_id
from core.kinds import DeviceProfile

R = TypeVar("R", bound=msgspec.Struct)


class DeviceActor(Generic[R]):
    """A device's digital twin. Subclasses set `kind`, `reading`, `state_type` and implement the hooks."""

    kind: ClassVar[str]
    reading: ClassVar[type[msgspec.Struct]]  # the validated values of one message
    state_type: ClassVar[type[msgspec.Struct]]  # everything the actor remembers; snapshotted whole
    no_data_after_ms: ClassVar[int] = 30 * 60_000
    # which host runs this kind: "stream" (actors.host.DeviceHost reads tele.<kind>.<shard>) or
    # "video" (actors.video_host.VideoHost pulls frames from each device's source and perceives them)
    hosted: ClassVar[str] = "stream"
    labels: ClassVar[dict[str, str]] = {"no_data": "设备离线(无数据)"}  # event type -> Chinese name for people

    def __init__(self, profile: DeviceProfile, state: msgspec.Struct | None = None) -> None:
        self.profile = profile
        self.state: Any = state if state is not None else self.state_type()

    # --- the contract the host relies on -------------------------------------------------

    def apply(self, msg: Message[R], now: int) -> list[DeviceEvent] | None:
        """Apply one message; None when its (device_id, seq) was already applied."""
        st = self.state
        if msg.seq <= st.last_seq:
            return None
        st.last_seq = msg.seq
        st.last_seen = max(st.last_seen, msg.rx)
        st.applied += 1
        if st.offline:
            st.offline = False
        events = self.on_message(msg, now)
        if msg.channel:  # an event keeps the channel its message came over (unauthenticated ones are marked)
            events = [msgspec.structs.replace(e, channel=msg.channel) for e in events]
        return events

    def tick(self, now: int) -> list[DeviceEvent]:
        """Time-driven checks (no data, sustained conditions); called periodically by the host."""
        st = self.state
        events: list[DeviceEvent] = []
        if st.last_seen and not st.offline and now - st.last_seen >= self.no_data_after(now):
            st.offline = True
            events.append(self.event("no_data", now, detail={"silent_s": (now - st.last_seen) // 1000}))
        return events + self.on_tick(now)

    def snapshot(self) -> bytes:
        """Serialised state, restorable with `restore`."""
        return msgspec.msgpack.encode(self.state)

    @classmethod
    def restore(cls, profile: DeviceProfile, blob: bytes) -> DeviceActor[R]:
        """Rebuild an actor from its snapshot."""
        return cls(profile, msgspec.msgpack.decode(blob, type=cls.state_type))

    def live(self) -> dict[str, Any]:
        """Live state for the operations center (no personal data beyond what the map needs)."""
        out = msgspec.structs.asdict(self.state)
        out.update(kind=self.kind, village=self.profile.village, township=self.profile.township)
        return out

    def status(self) -> str:
        """Map status for the operations center: offline, warn or ok (open incidents add alarm there)."""
        return "offline" if self.state.offline else ("warn" if self.warnings() else "ok")

    def position(self) -> tuple[float, float]:
        """Where the device is now (lat, lon): its reported position, else where it was installed."""
        lat, lon = getattr(self.state, "lat", None), getattr(self.state, "lon", None)
        return (lat, lon) if lat is not None and lon is not None else (self.profile.lat, self.profile.lon)

    # --- hooks for subclasses -----------------------------------------------------------

    def on_message(self, msg: Message[R], now: int) -> list[DeviceEvent]:
        """Update state from a new message and return the events it raises."""
        raise NotImplementedError

    def on_tick(self, now: int) -> list[DeviceEvent]:
        """Kind-specific timer checks."""
        return []

    def warnings(self) -> list[str]:
        """Open conditions that need attention but raise no alarm by themselves (kind-specific)."""
        return []

    def no_data_after(self, now: int) -> int:
        """Silence (ms) after which the device counts as offline; profiles may override."""
        return int(self.profile.params.get("no_data_after_ms", self.no_data_after_ms))

    @classmethod
    def label(cls, event_type: str) -> str:
        """Chinese name of an event type of this kind (the type itself when unnamed)."""
        return cls.labels.get(event_type) or DeviceActor.labels.get(event_type, event_type)

    # --- helpers ------------------------------------------------------------------------

    def event(
        self,
        type_: str,
        at: int,
        seq: int = 0,
        lat: float | None = None,
        lon: float | None = None,
        detail: dict[str, Any] | None = None,
    ) -> DeviceEvent:
        """Build a device event for this device; id is deterministic in (device, type, seq or time)."""
        return DeviceEvent(
            event_id=event_id(self.profile.device_id, type_, seq or at),
            type=type_,
            kind=self.kind,
            device_id=self.profile.device_id,
            ts=at,
            seq=seq,
            village=self.profile.village,
            lat=lat if lat is not None else (self.profile.lat or None),
            lon=lon if lon is not None else (self.profile.lon or None),
            detail=detail or {},
        )


class BaseState(msgspec.Struct, kw_only=True):
    """Fields every device state has; kind states inherit it."""

    last_seq: int = 0
    last_seen: int = 0  # receive time of the newest message, ms
    applied: int = 0  # messages applied (each (device, seq) once)
    offline: bool = False
