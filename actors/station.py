"""Road advisory station (劝导站) actor: vehicle passes with plate, direction and speed; speeding, wrong-way and
passenger violations. Pure and clock-injected: it sees only readings (tracked vehicles per frame) and times."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import numpy as np

from actors.base import BaseState, DeviceActor
from actors.station_config import StationParams, to_road
from actors.station_perception import STATION_LABELS, StationPerception
from actors.video_config import VideoConfig, load_video_config, point_in_polygon
from adapters.speaker.synth import standard_warnings
from core.events import DeviceEvent, Message
from core.kinds import DeviceProfile
from core.kinds.station import StationReading
from core.vision import CAR, MOTORCYCLE

MAX_TRACKS = 64  # open tracks kept at most (the oldest are concluded first)
DONE_KEEP = 256  # concluded track ids remembered, so a track is one pass however it flickers
MAX_SAMPLES = 240  # positions kept per track (a vehicle standing in the zone must not grow the twin without end)


class TrackState(msgspec.Struct, kw_only=True):
    """What the station remembers of one vehicle track until its pass is concluded."""

    first_ts: int
    last_ts: int
    votes: dict[str, int] = msgspec.field(default_factory=dict)  # canonical label -> frames seen as it
    # (ms, road x m, road y m) while inside the measure zone
    samples: list[tuple[int, float, float]] = msgspec.field(default_factory=list)
    left_zone: bool = False  # seen outside the zone after being inside it
    plate: str = ""
    plate_score: float = 0.0
    passenger_frames: int = 0  # frames with more riders than the driver
    most_riders: int = 0


class StationState(BaseState, kw_only=True):
    """A station's twin: open tracks, concluded ids, counters and the picture's health."""

    tracks: dict[int, TrackState] = msgspec.field(default_factory=dict)
    done: list[int] = msgspec.field(default_factory=list)  # concluded track ids, newest last
    passes: int = 0
    violations: int = 0
    no_frame_since: int | None = None
    still_since: int | None = None
    health: str = "ok"  # ok | offline | frozen
    last_pass: dict[str, Any] = msgspec.field(default_factory=dict)


class Pass(msgspec.Struct, kw_only=True):
    """One concluded vehicle pass (the detail of a `vehicle_pass` event)."""

    track: int
    vehicle: str
    plate: str
    plate_score: float
    direction: str  # "" when the vehicle did not travel far enough to tell
    speed_kmh: float | None
    passengers: int
    samples: int
    first_ts: int
    last_ts: int


def fit_speed(samples: list[tuple[int, float, float]]) -> tuple[float, float]:
    """Least-squares velocity along the road axis (m/s, signed) and the travel between the fitted ends (m)."""
    t = np.array([s[0] for s in samples], dtype=np.float64) / 1000.0
    y = np.array([s[2] for s in samples], dtype=np.float64)
    t -= t[0]
    if t[-1] <= 0:
        return 0.0, 0.0
    slope, _ = np.polyfit(t, y, 1)
    return float(slope), float(abs(slope) * t[-1])


def station_settings(profile: DeviceProfile) -> tuple[VideoConfig, StationParams]:
    """The station's video config and station params; ValueError naming the device when either is unusable."""
    config = load_video_config(profile)
    if config.station is None:
        raise ValueError(f"device {profile.device_id}: a station needs a `station` section in its params")
    return config, config.station


class StationActor(DeviceActor[StationReading]):
    """Digital twin of one road advisory station: turns tracked vehicles into passes and violations."""

    kind = "station"
    hosted: ClassVar[str] = "video"
    perception: ClassVar[type] = StationPerception
    reading = StationReading
    state_type = StationState
    labels: ClassVar[dict[str, str]] = STATION_LABELS

    def __init__(self, profile: DeviceProfile, state: msgspec.Struct | None = None) -> None:
        super().__init__(profile, state)
        self.config, self.params = station_settings(profile)
        self.h = self.params.calibration.homography
        measure = [z.polygon for z in self.config.zones if z.purpose == "measure"]
        self.measure: list[tuple[float, float]] = measure[0] if measure else list(self.params.calibration.image)

    # --- messages and timers -------------------------------------------------------------------

    def on_message(self, msg: Message[StationReading], now: int) -> list[DeviceEvent]:
        """Fold one frame's tracks in; conclude tracks that left the zone or were lost; watch picture health."""
        r, ts = msg.v, msg.ts
        events = self._health(r, ts, msg.seq)
        if r.frame and r.analysed:
            seen = set()
            for i, tid in enumerate(r.track):
                if tid in self.state.done or tid < 0:
                    continue
                seen.add(tid)
                self._observe(tid, r, i, ts)
            for tid, tr in list(self.state.tracks.items()):
                if tr.left_zone and tid in seen:
                    events += self._conclude(tid, ts, msg.seq)
        events += self._expire(ts, msg.seq)
        return events

    def status(self) -> str:
        """offline without pictures, warn when the picture is frozen, else ok."""
        return {"offline": "offline", "frozen": "warn"}.get(self.state.health, "ok")

    def on_tick(self, now: int) -> list[DeviceEvent]:
        """Conclude tracks lost while no frames arrive; raise offline when the picture is missing too long."""
        events = self._expire(now, 0)
        st = self.state
        if st.no_frame_since is None and st.last_seen and now - st.last_seen >= self.config.offline_s * 1000:
            st.no_frame_since = st.last_seen
        events += self._offline_check(now, 0)
        return events

    # --- tracks --------------------------------------------------------------------------------

    def _observe(self, tid: int, r: StationReading, i: int, ts: int) -> None:
        st, p = self.state, self.params
        tr = st.tracks.get(tid)
        if tr is None:
            if len(st.tracks) >= MAX_TRACKS:
                oldest = min(st.tracks, key=lambda k: st.tracks[k].last_ts)
                st.tracks.pop(oldest)
            tr = st.tracks[tid] = TrackState(first_ts=ts, last_ts=ts)
        tr.last_ts = ts
        label = r.label[i] if i < len(r.label) else CAR
        tr.votes = {**tr.votes, label: tr.votes.get(label, 0) + 1}
        x, y = r.x[i], r.y[i]
        if point_in_polygon((x, y), self.measure):
            if not tr.left_zone:
                rx, ry = to_road(self.h, x, y)
                tr.samples = [*tr.samples, (ts, round(rx, 3), round(ry, 3))][-MAX_SAMPLES:]
        elif tr.samples:
            tr.left_zone = True
        plate = r.plate[i] if i < len(r.plate) else ""
        score = r.plate_score[i] if i < len(r.plate_score) else 0.0
        if plate and score > tr.plate_score:
            tr.plate, tr.plate_score = plate, score
        riders = r.riders[i] if i < len(r.riders) else 0
        tr.most_riders = max(tr.most_riders, riders)
        if riders > 1 + p.max_passengers:
            tr.passenger_frames += 1

    def _expire(self, now: int, seq: int) -> list[DeviceEvent]:
        lost_ms = self.params.lost_s * 1000
        events: list[DeviceEvent] = []
        for tid in sorted(self.state.tracks):
            if now - self.state.tracks[tid].last_ts >= lost_ms:
                events += self._conclude(tid, now, seq)
        return events

    def measure_pass(self, tid: int, tr: TrackState) -> Pass:
        """Speed, direction, vehicle and plate of a finished track."""
        p = self.params
        vehicle = max(sorted(tr.votes), key=lambda k: tr.votes[k]) if tr.votes else CAR
        speed: float | None = None
        direction = ""
        if len(tr.samples) >= 2:
            velocity, travel = fit_speed(tr.samples)
            if travel >= p.min_travel_m:
                direction = p.directions[0] if velocity > 0 else p.directions[1]
                if len(tr.samples) >= p.min_samples:
                    speed = round(abs(velocity) * 3.6, 1)
        return Pass(
            track=tid, vehicle=vehicle, plate=tr.plate, plate_score=round(tr.plate_score, 3), direction=direction,
            speed_kmh=speed, passengers=max(0, tr.most_riders - 1), samples=len(tr.samples),
            first_ts=tr.first_ts, last_ts=tr.last_ts,
        )  # fmt: skip

    def _conclude(self, tid: int, at: int, seq: int) -> list[DeviceEvent]:
        """End a track: one vehicle_pass (when it was measured in the zone) plus its violations."""
        st, p = self.state, self.params
        tr = st.tracks.pop(tid)
        st.done = [*st.done, tid][-DONE_KEEP:]
        if not tr.samples:
            return []  # never inside the measure zone: not a pass at this station
        ps = self.measure_pass(tid, tr)
        base = {"track": tid, "vehicle": ps.vehicle, "plate": ps.plate, "direction": ps.direction,
                "speed_kmh": ps.speed_kmh}  # fmt: skip
        events = [self._event("vehicle_pass", at, seq, tid, {**msgspec.structs.asdict(ps), "limit_kmh": p.limit_kmh})]
        found: list[tuple[str, dict[str, Any]]] = []
        if ps.speed_kmh is not None and ps.speed_kmh > p.speeding_above_kmh:
            over = round((ps.speed_kmh / p.limit_kmh - 1) * 100, 1)
            found.append(("speeding", {"limit_kmh": p.limit_kmh, "over_pct": over}))
        if p.forbidden_direction is not None and ps.direction == p.forbidden_direction:
            allowed = next(d for d in p.directions if d != p.forbidden_direction)
            found.append(("wrong_way", {"allowed": allowed}))
        if ps.vehicle == MOTORCYCLE and tr.passenger_frames >= p.passenger_frames:
            found.append(("carrying_passengers", {"passengers": ps.passengers, "allowed": p.max_passengers}))
        for type_, extra in found:
            detail = {**base, **extra}
            if type_ in p.warn_on:
                detail["voice"] = standard_warnings()[type_]
            events.append(self._event(type_, at, seq, tid, detail))
        st.passes += 1
        st.violations += len(found)
        st.last_pass = {**base, "ts": ps.last_ts}
        return events

    def _event(self, type_: str, at: int, seq: int, tid: int, detail: dict[str, Any]) -> DeviceEvent:
        """An event of one track; the id names the track so two passes concluded together stay distinct."""
        ev = self.event(type_, at, seq=seq, detail=detail)
        return msgspec.structs.replace(ev, event_id=f"{ev.event_id}:{tid}")

    # --- picture health ------------------------------------------------------------------------

    def _health(self, r: StationReading, ts: int, seq: int) -> list[DeviceEvent]:
        st = self.state
        if not r.frame:
            st.no_frame_since = st.no_frame_since or ts
            return self._offline_check(ts, seq)
        st.no_frame_since = None
        events: list[DeviceEvent] = []
        if r.still:
            st.still_since = st.still_since or ts
            if st.health == "ok" and ts - st.still_since >= self.config.frozen_s * 1000:
                st.health = "frozen"
                still_s = (ts - st.still_since) // 1000
                events.append(self.event("camera_frozen", ts, seq=seq, detail={"still_s": still_s}))
            return events
        st.still_since = None
        if st.health != "ok":
            events.append(self.event("camera_online", ts, seq=seq, detail={"was": st.health}))
            st.health = "ok"
        return events

    def _offline_check(self, now: int, seq: int) -> list[DeviceEvent]:
        st = self.state
        if st.health == "offline" or st.no_frame_since is None:
            return []
        if now - st.no_frame_since < self.config.offline_s * 1000:
            return []
        st.health = "offline"
        return [self.event("camera_offline", now, seq=seq, detail={"silent_s": (now - st.no_frame_since) // 1000})]
