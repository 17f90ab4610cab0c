"""Smart beehive actor: weight, brood temperature, humidity, sound bands; raises swarm, theft and brood events."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from actors.base import BaseState, DeviceActor
from core.events import DeviceEvent, Message
from core.geo import distance_m
from core.kinds.beehive import BeehiveReading

# Per-device parameters (DeviceProfile.params overrides any of them).
DEFAULTS: dict[str, float] = {
    "swarm_drop_kg": 1.0,  # a drop this large within the window is a swarm (foraging moves < 0.1 kg in 15 min)
    "swarm_window_s": 900,
    "theft_weight_kg": 3.0,  # at or below this the hive is off the scale
    "theft_from_kg": 10.0,  # ... when the previous weight was at least this (an empty box weighs more)
    "theft_move_m": 50.0,  # GPS distance from the install point
    "brood_min": 32.0,  # deg C; the colony holds the brood nest at 34.5-35.5
    "brood_max": 36.5,
    "brood_sustain_s": 1800,
    "battery_low": 15,  # %, raise at or below
    "battery_ok": 25,  # %, re-arm above
}
HISTORY_MAX = 64  # weight samples kept at most; older than the swarm window are pruned first
LATEST = ("weight", "temp_in", "humidity", "sound", "battery", "lat", "lon")

# What one check says about a message: (raise now, episode over so re-arm, event detail); None = not measured.
Check = tuple[bool, bool, dict[str, Any]] | None


class BeehiveState(BaseState, kw_only=True):
    """Everything a beehive actor remembers: latest values, recent weights and open episodes."""

    weight: float | None = None
    temp_in: float | None = None
    humidity: float | None = None
    sound: list[float] | None = None
    battery: int | None = None
    lat: float | None = None
    lon: float | None = None
    moved: bool = False
    last_ts: int = 0  # device time of the newest message, ms
    # (device time ms, kg) in arrival order, pruned to the swarm window
    history: list[tuple[int, float]] = msgspec.field(default_factory=list)
    brood_out_since: int | None = None  # device time the brood temperature left its range
    latched: list[str] = msgspec.field(default_factory=list)  # event types raised, episode still open


class BeehiveActor(DeviceActor[BeehiveReading]):
    """Digital twin of one smart beehive (狼岔坝村 pilot)."""

    kind = "beehive"
    reading = BeehiveReading
    state_type = BeehiveState
    no_data_after_ms = 60 * 60_000
    labels: ClassVar[dict[str, str]] = {
        "swarm": "分蜂(重量骤降)", "theft": "蜂箱疑似被盗", "brood_temp": "蜂巢育雏温度异常",
        "low_battery": "蜂箱电量低",
    }  # fmt: skip
    # Checks run in this order on every message; each is `_check_<event type>`.
    CHECKS: ClassVar[tuple[str, ...]] = ("theft", "swarm", "brood_temp", "low_battery")

    def warnings(self) -> list[str]:
        """Checks whose episode is still open."""
        return list(self.state.latched)

    def param(self, name: str) -> float:
        """A parameter from the profile, else its default."""
        return float(self.profile.params.get(name, DEFAULTS[name]))

    def on_message(self, msg: Message[BeehiveReading], now: int) -> list[DeviceEvent]:
        """Update the twin from one message and raise each check's event once per episode."""
        st = self.state
        prev_weight = st.weight
        self._update(msg)
        events: list[DeviceEvent] = []
        for name in self.CHECKS:
            check = getattr(self, f"_check_{name}")(msg.v, msg.ts, prev_weight)
            if check is None:
                continue
            fire, rearm, detail = check
            if fire and name not in st.latched:
                st.latched = sorted([*st.latched, name])
                events.append(self.event(name, msg.ts, seq=msg.seq, lat=st.lat, lon=st.lon, detail=detail))
            elif rearm and name in st.latched:
                st.latched = [n for n in st.latched if n != name]
        return events

    def _update(self, msg: Message[BeehiveReading]) -> None:
        st, r = self.state, msg.v
        for field in LATEST:
            value = getattr(r, field)
            if value is not None:
                setattr(st, field, value)
        st.moved = bool(r.moved)
        st.last_ts = max(st.last_ts, msg.ts)
        if r.weight is not None:
            start = msg.ts - self.param("swarm_window_s") * 1000
            kept = [(t, w) for t, w in st.history if t >= start]
            st.history = [*kept, (msg.ts, r.weight)][-HISTORY_MAX:]

    # --- checks: (reading, device time, weight before this message) -> Check ---------------

    def _check_theft(self, r: BeehiveReading, ts: int, prev: float | None) -> Check:
        st = self.state
        low = self.param("theft_weight_kg")
        causes: list[str] = []
        detail: dict[str, Any] = {}
        if r.weight is not None and r.weight <= low and prev is not None and prev >= self.param("theft_from_kg"):
            causes.append("weight")
            detail.update(weight_kg=r.weight, prev_kg=prev)
        if r.moved:
            causes.append("moved")
        dist = self._distance_from_install()
        if dist is not None and dist > self.param("theft_move_m"):
            causes.append("gps")
            detail["distance_m"] = round(dist, 1)
        if causes:
            return True, False, {"cause": causes[0], "causes": causes, **detail}
        off_scale = st.weight is not None and st.weight <= low
        return False, not off_scale, {}

    def _check_swarm(self, r: BeehiveReading, ts: int, prev: float | None) -> Check:
        if r.weight is None:
            return None
        # history holds this sample last; the peak is over the earlier samples still inside the window
        peak = max((w for t, w in self.state.history[:-1] if t <= ts), default=r.weight)
        drop = peak - r.weight
        threshold = self.param("swarm_drop_kg")
        if drop >= threshold and r.weight > self.param("theft_weight_kg"):
            window_s = int(self.param("swarm_window_s"))
            return True, False, {"drop_kg": round(drop, 2), "from_kg": peak, "to_kg": r.weight, "window_s": window_s}
        return False, drop < threshold / 2, {}  # hysteresis: noise around the threshold is one episode

    def _check_brood_temp(self, r: BeehiveReading, ts: int, prev: float | None) -> Check:
        if r.temp_in is None:
            return None
        st = self.state
        lo, hi = self.param("brood_min"), self.param("brood_max")
        if lo <= r.temp_in <= hi:
            st.brood_out_since = None
            return False, True, {}
        if st.brood_out_since is None:
            st.brood_out_since = ts
        out_s = (ts - st.brood_out_since) // 1000
        side = "cold" if r.temp_in < lo else "hot"
        detail = {"temp": r.temp_in, "side": side, "out_s": out_s, "min": lo, "max": hi}
        return out_s >= self.param("brood_sustain_s"), False, detail

    def _check_low_battery(self, r: BeehiveReading, ts: int, prev: float | None) -> Check:
        if r.battery is None:
            return None
        return r.battery <= self.param("battery_low"), r.battery > self.param("battery_ok"), {"battery": r.battery}

    def _distance_from_install(self) -> float | None:
        st, p = self.state, self.profile
        if st.lat is None or st.lon is None or not (p.lat or p.lon):
            return None
        return distance_m(p.lat, p.lon, st.lat, st.lon)
