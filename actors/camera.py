"""Village camera actor: zones, lines and dwell timers over tracked detections; raises the six camera scenarios.

Presence only, by design: the restricted-zone scenario (our form of 重点人员监测) reports that *someone* is in a
watched area during its hours. There is no face or identity recognition anywhere in this pipeline, because under
PIPL (个人信息保护法, art. 26) biometric identification in public places needs a legal basis and visible signage,
while detecting the presence of a person needs neither.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from actors.base import BaseState, DeviceActor
from actors.camera_objects import Condition, Obj, TrackMemo, feet_hidden, hidden, ms, track_vehicles
from actors.camera_perception import CAMERA_LABELS, CameraPerception
from actors.video_config import VideoConfig, load_video_config
from core.events import DeviceEvent, Message
from core.kinds import DeviceProfile
from core.kinds.camera import CameraReading
from core.vision import FALLEN, FIRE, GARBAGE, MOTORCYCLE, PEOPLE, SMOKE, rides


class Episode(msgspec.Struct, array_like=True):
    """A condition that has held since `since` (ms), over `frames` frames, now missing for `missed` frames."""

    since: int
    frames: int = 0
    missed: int = 0


class CameraState(BaseState, kw_only=True):
    """Everything a camera actor remembers: picture health, open episodes, cooldowns and tracks."""

    last_frame: int = 0  # capture time of the newest picture, ms
    watching_since: int = 0  # first time the actor was ticked or fed (offline counts from here without frames)
    cam_offline: bool = False
    motion: float | None = None
    still_since: int | None = None  # the picture has not changed since (frozen check)
    frozen: bool = False
    counts: dict[str, int] = msgspec.field(default_factory=dict)  # objects by label in the newest analysed picture
    episodes: dict[str, Episode] = msgspec.field(default_factory=dict)  # by scenario key, e.g. "crowd:村口广场"
    fired: dict[str, int] = msgspec.field(default_factory=dict)  # scenario key -> when its event was last raised
    tracks: dict[int, TrackMemo] = msgspec.field(default_factory=dict)  # vehicle tracks
    unconfirmed: list[tuple[str, float, float]] = msgspec.field(default_factory=list)  # untracked vehicles, last frame
    piles: list[tuple[float, float, float, float]] = msgspec.field(default_factory=list)  # garbage last seen here
    people: dict[int, tuple[int, float, float]] = msgspec.field(default_factory=dict)  # track -> when, where seen


def objects(r: CameraReading) -> list[Obj]:
    """The objects of a reading; ValueError when its parallel lists disagree."""
    n = len(r.labels)
    if len(r.boxes) != 4 * n or len(r.scores) != n or len(r.track_ids) not in (0, n):
        raise ValueError(f"inconsistent reading: {n} labels, {len(r.boxes)} box values, {len(r.scores)} scores")
    tracks = r.track_ids or [-1] * n
    b = r.boxes
    return [
        Obj(r.labels[i], tracks[i], b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3], r.scores[i]) for i in range(n)
    ]


class CameraActor(DeviceActor[CameraReading]):
    """Digital twin of one village camera; pure: every decision takes the frame's capture time or `now`."""

    kind = "camera"
    reading = CameraReading
    state_type = CameraState
    hosted: ClassVar[str] = "video"
    perception: ClassVar[type] = CameraPerception
    labels: ClassVar[dict[str, str]] = CAMERA_LABELS

    def __init__(self, profile: DeviceProfile, state: msgspec.Struct | None = None) -> None:
        super().__init__(profile, state)
        self.config: VideoConfig = load_video_config(profile)

    # --- frames ---------------------------------------------------------------------------

    def on_message(self, msg: Message[CameraReading], now: int) -> list[DeviceEvent]:
        """Fold one sampled frame into the twin and raise what its scenarios conclude."""
        st, r, ts = self.state, msg.v, msg.ts
        st.watching_since = st.watching_since or ts
        if not r.ok:
            return []
        events: list[DeviceEvent] = []
        if st.cam_offline:
            st.cam_offline = False
            detail = {"offline_s": (ts - st.last_frame) // 1000 if st.last_frame else None}
            events.append(self.event("camera_online", ts, seq=msg.seq, detail=detail))
        st.last_frame = ts
        events += self._frozen(r.motion, ts, msg.seq)
        if r.analysed:
            objs = objects(r)
            counts: dict[str, int] = {}
            for o in objs:
                counts[o.label] = counts.get(o.label, 0) + 1
            st.counts = counts
            conditions, instant, waiting = self._conditions(objs, ts)
            events += self._episodes(conditions, waiting, ts, msg.seq)
            events += [e for key, c in instant.items() if (e := self._raise(key, c, ts, msg.seq)) is not None]
        return events

    def _frozen(self, motion: float | None, ts: int, seq: int) -> list[DeviceEvent]:
        st, c = self.state, self.config
        st.motion = motion
        if motion is None:
            return []
        if motion > c.frozen_motion:
            st.still_since, st.frozen = None, False
            return []
        st.still_since = st.still_since if st.still_since is not None else ts
        if st.frozen or ts - st.still_since < c.frozen_s * 1000:
            return []
        st.frozen = True
        return [self.event("camera_frozen", ts, seq=seq, detail={"frozen_s": (ts - st.still_since) // 1000})]

    # --- scenarios ------------------------------------------------------------------------

    def _conditions(self, objs: list[Obj], ts: int) -> tuple[dict[str, Condition], dict[str, Condition], set[str]]:
        """Dwell conditions holding in this frame, instant ones (line crossings), and the keys of static objects
        hidden behind something this frame (their episodes wait rather than count a miss)."""
        st, c, out = self.state, self.config, {}
        detail: dict[str, Any]
        waiting: set[str] = set()
        garbage = [o for o in objs if o.label == GARBAGE]
        if garbage:
            out["garbage"] = Condition("garbage", {"count": len(garbage)}, ms(c.garbage_s))
            st.piles = [o.box for o in garbage]
        elif "garbage" in st.episodes and any(hidden(box, objs, GARBAGE) for box in st.piles):
            waiting.add("garbage")
        for label in (FIRE, SMOKE):
            seen = [o for o in objs if o.label == label]
            if seen:
                detail = {"count": len(seen), "score": round(max(o.score for o in seen), 3)}
                out[label] = Condition(label, detail, need_frames=c.fire_frames)
        # people on foot: a motorcycle's riders are judged with their vehicle, not as pedestrians in a zone
        bikes = [o for o in objs if o.label == MOTORCYCLE]
        people = [o for o in objs if o.label in PEOPLE and not any(rides(o, b) for b in bikes)]
        standing = self._standing(people, objs, ts)
        recent = [(x, y) for _, x, y in st.people.values()]
        for z in c.zones:
            if not z.active(ts):
                continue
            inside = [o for o, point in standing if z.contains(point)]
            key = f"{z.purpose}:{z.name}"
            base: dict[str, Any] = {"zone": z.name}
            if z.purpose == "crowd":
                crowd = max(len(inside), sum(1 for point in recent if z.contains(point)))
                if crowd >= c.crowd_min:
                    out[key] = Condition("crowd", {**base, "count": crowd}, ms(c.crowd_s), scope=z.name)
            elif z.purpose == "restricted" and inside:
                detail = {**base, "count": len(inside), "hours": list(z.hours) if z.hours else None}
                out[key] = Condition("restricted_zone", detail, ms(c.restricted_s), scope=z.name)
            elif z.purpose == "water" and inside:
                alone, night = len(people) <= 1, c.night(ts)
                detail = {
                    **base,
                    "count": len(inside),
                    "alone": alone,
                    "night": night,
                    "level": 1 if alone or night else 2,
                }
                out[key] = Condition("drowning_risk", detail, ms(c.drowning_s), scope=z.name)
            elif z.purpose == "elderly_area" and (fallen := [o for o in inside if o.label == FALLEN]):
                detail = {**base, "count": len(fallen)}
                out[key] = Condition("person_fall", detail, ms(c.fall_s), scope=z.name)
        instant = track_vehicles(st, c, objs, ts, out, waiting)
        return out, instant, waiting

    def _standing(self, people: list[Obj], objs: list[Obj], ts: int) -> list[tuple[Obj, tuple[float, float]]]:
        """Where each person stands this frame, and st.people: where each tracked one last stood within
        crowd_memory_s (in a crowd some are hidden in any one frame, so it counts everyone seen there lately).
        A person whose feet a vehicle hides still stands where they were last seen, or nowhere known."""
        st = self.state
        hid = [feet_hidden(o, objs) for o in people]
        for o, h in zip(people, hid, strict=True):
            if o.track >= 0 and not h:
                st.people[o.track] = (ts, *o.ground)
            elif o.track in st.people:
                st.people[o.track] = (ts, *st.people[o.track][1:])
        horizon = ts - ms(self.config.crowd_memory_s)
        st.people = {t: seen for t, seen in st.people.items() if seen[0] >= horizon}
        return [
            (o, st.people[o.track][1:] if h else o.ground)
            for o, h in zip(people, hid, strict=True)
            if not h or o.track in st.people
        ]

    def _episodes(self, conditions: dict[str, Condition], waiting: set[str], ts: int, seq: int) -> list[DeviceEvent]:
        """Advance every episode by one analysed frame; raise those that have held long enough."""
        st = self.state
        events: list[DeviceEvent] = []
        for key, cond in conditions.items():
            ep = st.episodes.get(key)
            if ep is None:
                st.episodes[key] = ep = Episode(since=ts)
            if cond.since > ep.since:  # e.g. the vehicle moved: its standing time starts again
                ep.since, ep.frames = cond.since, 0
            ep.frames += 1
            ep.missed = 0
            held = ts - ep.since
            if held >= cond.need_ms and ep.frames >= cond.need_frames:
                detail = {**cond.detail, "seen_s": held // 1000, "frames": ep.frames}
                e = self._raise(key, Condition(cond.type, detail, scope=cond.scope), ts, seq)
                if e is not None:
                    events.append(e)
        for key in [k for k in st.episodes if k not in conditions and k not in waiting]:
            ep = st.episodes[key]
            ep.missed += 1
            if ep.missed > self._tolerance(key):
                del st.episodes[key]  # the condition cleared: the scenario re-arms
        cooldown = ms(self.config.cooldown_s)
        st.fired = {k: t for k, t in st.fired.items() if ts - t < cooldown}
        return events

    def _tolerance(self, key: str) -> int:
        """Unseen frames an episode survives: none for fire/smoke (consecutive frames), more for static objects."""
        if key in (FIRE, SMOKE):
            return 0
        if key == "garbage" or key.startswith("parking:"):
            return self.config.static_frames
        return self.config.missed_frames

    def _raise(self, key: str, cond: Condition, ts: int, seq: int) -> DeviceEvent | None:
        """The event of a scenario key unless it was raised within the cooldown."""
        st = self.state
        last = st.fired.get(key)
        if last is not None and ts - last < ms(self.config.cooldown_s):
            return None
        st.fired[key] = ts
        e = self.event(cond.type, ts, seq=seq, detail=dict(cond.detail))
        if cond.scope:
            e.event_id = f"{e.event_id}:{cond.scope}"
        return e

    # --- time -----------------------------------------------------------------------------

    def tick(self, now: int) -> list[DeviceEvent]:
        """Camera health over time: offline after offline_s without a picture (replaces the stream no_data check)."""
        return self.on_tick(now)

    def on_tick(self, now: int) -> list[DeviceEvent]:
        """Raise camera_offline once when no picture came for offline_s; open episodes end with it."""
        st = self.state
        st.watching_since = st.watching_since or now
        silent_from = st.last_frame or st.watching_since
        if st.cam_offline or now - silent_from < ms(self.config.offline_s):
            return []
        st.cam_offline = True
        st.episodes, st.tracks, st.still_since, st.frozen, st.counts = {}, {}, None, False, {}
        return [self.event("camera_offline", now, detail={"silent_s": (now - silent_from) // 1000})]

    def status(self) -> str:
        """offline without pictures, warn when the picture is frozen, else ok."""
        st = self.state
        return "offline" if st.cam_offline or st.offline else ("warn" if st.frozen else "ok")

    def live(self) -> dict[str, Any]:
        """Live state for the operations center: health and what the camera sees now."""
        st = self.state
        return {
            "kind": self.kind, "village": self.profile.village, "township": self.profile.township,
            "last_frame": st.last_frame, "offline": st.cam_offline, "frozen": st.frozen, "motion": st.motion,
            "counts": dict(st.counts), "open": sorted(st.episodes), "applied": st.applied, "last_seq": st.last_seq,
        }  # fmt: skip
