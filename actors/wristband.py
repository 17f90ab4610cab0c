"""Elderly wristband actor: vitals, steps, battery, position; raises SOS, fall, vitals, geofence and wear events."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import msgspec

from actors.base import BaseState, DeviceActor
from core.clock import local_hour
from core.events import DeviceEvent, Message
from core.geo import Geofence, distance_m
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading

ALARMS = ("sos", "fall")


class VitalRule(NamedTuple):
    """A sustained-vitals check: a reading field, its bounds as (param, default) and how long it must last."""

    event: str
    field: str
    low: tuple[str, float] | None  # out of range below this
    high: tuple[str, float] | None  # out of range above this
    sustain: tuple[str, int]  # (param, default seconds of device time)
    recovered: str | None = None  # raised when an episode that raised ends


VITAL_RULES = (
    VitalRule("hr_out_of_range", "hr", ("hr_min", 45), ("hr_max", 120), ("hr_sustain_s", 120), "hr_normal"),
    VitalRule("spo2_low", "spo2", ("spo2_min", 90), None, ("spo2_sustain_s", 120)),
    VitalRule("fever", "temp", None, ("temp_max", 37.8), ("temp_sustain_s", 300)),
)


class WristbandState(BaseState, kw_only=True):
    """Latest values and open episodes of one wristband; snapshotted whole."""

    ts: int = 0  # device time of the newest reading, ms
    hr: int | None = None
    spo2: int | None = None
    temp: float | None = None
    steps: int | None = None
    battery: int | None = None
    lat: float | None = None
    lon: float | None = None
    worn: bool | None = None
    outside: bool = False  # the newest position lies outside the home geofence
    # vital rule event -> device time its value first went out of range
    since: dict[str, int] = msgspec.field(default_factory=dict)
    # episodes raised and not yet re-armed: vital events, low_battery, band_removed, geofence_exit
    raised: list[str] = msgspec.field(default_factory=list)


class WristbandActor(DeviceActor[WristbandReading]):
    """Digital twin of an elderly wristband; pure logic, device time from msg.ts."""

    kind = "wristband"
    reading = WristbandReading
    state_type = WristbandState
    no_data_after_ms = 20 * 60_000
    labels: ClassVar[dict[str, str]] = {
        "sos": "紧急呼救(SOS)", "fall": "跌倒报警", "hr_out_of_range": "心率持续异常", "hr_normal": "心率恢复正常",
        "spo2_low": "血氧持续偏低", "fever": "体温持续偏高", "geofence_exit": "离开居家电子围栏",
        "geofence_return": "返回居家电子围栏", "low_battery": "手环电量低", "band_removed": "手环被摘下",
    }  # fmt: skip

    def __init__(self, profile: DeviceProfile, state: msgspec.Struct | None = None) -> None:
        super().__init__(profile, state)
        self.fence = self._home_fence()

    def on_message(self, msg: Message[WristbandReading], now: int) -> list[DeviceEvent]:
        """Update the twin from one reading and return the events it raises."""
        st, r = self.state, msg.v
        st.ts = msg.ts
        for name in ("hr", "spo2", "temp", "steps", "battery", "worn"):
            value = getattr(r, name)
            if value is not None:
                setattr(st, name, value)
        if r.lat is not None and r.lon is not None:
            st.lat, st.lon = r.lat, r.lon
        events: list[DeviceEvent] = []

        def emit(type_: str, detail: dict[str, Any]) -> None:
            events.append(self.event(type_, msg.ts, seq=msg.seq, lat=st.lat, lon=st.lon, detail=detail))

        if r.alarm in ALARMS:
            emit(r.alarm, {k: v for k, v in (("hr", st.hr), ("battery", st.battery)) if v is not None})
        if r.worn is False and self._open("band_removed"):
            emit("band_removed", {})
        elif r.worn:
            self._close("band_removed")
        self._check_vitals(r, msg.ts, emit)
        if r.lat is not None and r.lon is not None:
            self._check_fence(r.lat, r.lon, msg.ts, emit)
        if r.battery is not None:
            low = self._param("battery_low", 15)
            if r.battery <= low and self._open("low_battery"):
                emit("low_battery", {"battery": r.battery})
            elif r.battery > low + 10:
                self._close("low_battery")
        return events

    def warnings(self) -> list[str]:
        """Open episodes (vitals, low battery, band removed, outside the geofence)."""
        st = self.state
        return [*st.raised, *(["geofence_exit"] if st.outside and "geofence_exit" not in st.raised else [])]

    def on_tick(self, now: int) -> list[DeviceEvent]:
        """Nothing beyond the base no-data check: every wristband condition is judged in device time."""
        return []

    def live(self) -> dict[str, Any]:
        """Live state for the map, without the internal episode timers."""
        out = super().live()
        out.pop("since", None)
        return out

    # --- checks -------------------------------------------------------------------------

    def _check_vitals(self, r: WristbandReading, ts: int, emit: Any) -> None:
        st = self.state
        if st.worn is False:  # off the wrist: vitals are not the person's
            st.since.clear()
            return
        for rule in VITAL_RULES:
            value = getattr(r, rule.field)
            if value is None:
                continue
            limit = self._breached(rule, value)
            if limit is None:
                st.since.pop(rule.event, None)
                if self._close(rule.event) and rule.recovered:
                    emit(rule.recovered, {rule.field: value})
                continue
            start = st.since.setdefault(rule.event, ts)
            held_ms = max(0, ts - start)
            if held_ms >= self._param(rule.sustain[0], rule.sustain[1]) * 1000 and self._open(rule.event):
                emit(rule.event, {rule.field: value, "limit": limit, "sustained_s": held_ms // 1000})

    def _breached(self, rule: VitalRule, value: float) -> float | None:
        """The bound a value breaches, or None when it is in range."""
        if rule.low is not None and value < (low := self._param(*rule.low)):
            return low
        if rule.high is not None and value > (high := self._param(*rule.high)):
            return high
        return None

    def _check_fence(self, lat: float, lon: float, ts: int, emit: Any) -> None:
        st = self.state
        if self.fence is None:
            return
        if self.fence.contains(lat, lon):
            st.outside = False
            if self._close("geofence_exit"):
                emit("geofence_return", {})
            return
        st.outside = True
        if self._fence_active(ts) and self._open("geofence_exit"):
            away = distance_m(self.profile.lat, self.profile.lon, lat, lon)
            emit("geofence_exit", {"distance_m": round(away), "policy": self._param("fence_policy", "night")})

    def _fence_active(self, ts: int) -> bool:
        """Whether the fence policy applies at device time ts (night hours are local time, UTC+8)."""
        if self._param("fence_policy", "night") == "always":
            return True
        hour = local_hour(ts)
        start, end = self._param("night_start", 20), self._param("night_end", 6)
        if start <= end:
            return start <= hour < end
        return hour >= start or hour < end

    def _home_fence(self) -> Geofence | None:
        ring = self.profile.params.get("fence_ring")
        if ring:
            return Geofence(ring=[(float(x), float(y)) for x, y in ring])
        if not (self.profile.lat or self.profile.lon):
            return None
        radius = float(self._param("fence_radius_m", 500))
        return Geofence(centre=(self.profile.lat, self.profile.lon), radius_m=radius)

    # --- helpers ------------------------------------------------------------------------

    def _param(self, name: str, default: Any) -> Any:
        return self.profile.params.get(name, default)

    def _open(self, episode: str) -> bool:
        """Open an episode; False when it is already open (raised and not re-armed)."""
        if episode in self.state.raised:
            return False
        self.state.raised.append(episode)
        return True

    def _close(self, episode: str) -> bool:
        """Re-arm an episode; True when it was open."""
        if episode not in self.state.raised:
            return False
        self.state.raised.remove(episode)
        return True
