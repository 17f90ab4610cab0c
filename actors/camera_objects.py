"""What a camera actor reasons about: detected objects, scenario conditions, and the vehicles it remembers.

Vehicles are remembered across frames for two scenarios: parking (standing time in a no-parking zone) and wrong
way (the side of a direction line a vehicle was last seen on). Both survive what a real picture does to boxes:
a passer-by in front (the vehicle is hidden, not gone), one odd box (moving shows on two frames in a row), and the
tracker giving a vehicle a new id after it went unseen (it is found again where its motion says it should be).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from core.vision import GARBAGE, VEHICLES, covered, rides

if TYPE_CHECKING:
    from actors.video_config import VideoConfig

MOVE_FRAMES = 2  # frames in a row a vehicle's ground point must be off its anchor before it counts as moved
REFIND_S = 5.0  # a vehicle unseen this long (s) or less may come back under a new track id
Box = tuple[float, float, float, float]
SOLID = VEHICLES | {GARBAGE}  # what hides the feet of someone standing behind it


def ms(seconds: float) -> int:
    """Seconds (config) to milliseconds (clock)."""
    return round(seconds * 1000)


@dataclass(frozen=True)
class Obj:
    """One detected object of a reading."""

    label: str
    track: int
    x1: float
    y1: float
    x2: float
    y2: float
    score: float

    @property
    def ground(self) -> tuple[float, float]:
        """Bottom-centre (ground contact) point, the anchor for zones and lines."""
        return ((self.x1 + self.x2) / 2, self.y2)

    @property
    def box(self) -> Box:
        """x1, y1, x2, y2."""
        return (self.x1, self.y1, self.x2, self.y2)


@dataclass(frozen=True)
class Condition:
    """A scenario condition holding in this frame: what to raise once it has held long enough."""

    type: str
    detail: dict[str, Any]
    need_ms: int = 0  # held at least this long ...
    need_frames: int = 1  # ... over at least this many frames
    scope: str = ""  # event id suffix (zone, line, track) so one frame can raise several of a type
    since: int = 0  # the condition cannot be older than this (e.g. when a vehicle last moved)


class TrackMemo(msgspec.Struct, array_like=True):
    """What the actor remembers of one tracked vehicle: where it was seen, how it moves, where it stands since when."""

    label: str
    x: float  # last ground point
    y: float
    ax: float  # anchor: where it stands still
    ay: float
    still_since: int
    missed: int = 0
    away: int = 0  # consecutive frames its ground point has been off the anchor
    w: float = 0.0  # its box size (px) at the anchor, for telling whether something now hides it
    h: float = 0.0
    seen: int = 0  # when it was last seen (ms)
    vx: float = 0.0  # ground-point velocity (px/s) between its last two sightings
    vy: float = 0.0
    sightings: int = 0  # frames it was seen in

    def box(self) -> Box:
        """Where it stands: its box size on the anchor (bottom centre)."""
        return (self.ax - self.w / 2, self.ay - self.h, self.ax + self.w / 2, self.ay)


def hidden(box: Box, objs: Iterable[Obj], label: str | None, share: float = 0.5) -> bool:
    """Whether an object in front (not of `label`) covers at least `share` of `box`: a car before a pile."""
    y1, y2 = box[1], box[3]
    return any(
        covered(box, o.box) >= share
        for o in objs
        if o.label != label and o.y2 >= y2 - 0.25 * (y2 - y1)  # not the same kind, not standing behind it
    )


def feet_hidden(person: Obj, objs: Iterable[Obj]) -> bool:
    """Whether a vehicle or pile in front covers a person's ground point: someone walking behind a car shows only
    above the car, so the bottom of their box is not where they stand and tells nothing about zones."""
    x, y = person.ground
    in_front = y + 0.25 * (person.y2 - person.y1)
    return any(o.label in SOLID and o.x1 <= x <= o.x2 and o.y1 <= y <= o.y2 and o.y2 >= in_front for o in objs)


def _moves(memo: TrackMemo, o: Obj, objs: list[Obj], ts: int, still_px: float) -> None:
    """Fold one sighting into the memo: velocity, and the anchor unless it is only a jitter, one odd box, or a box
    cut by something in front (a passer-by covering a fifth of it changes the box, not where the vehicle stands)."""
    x, y = o.ground
    in_front = [p for p in objs if p is not o and p.label != o.label and not rides(p, o)]
    blocked = hidden(o.box, in_front, None, share=0.2)
    if memo.seen and ts > memo.seen and not blocked:
        dt = (ts - memo.seen) / 1000
        memo.vx, memo.vy = (x - memo.x) / dt, (y - memo.y) / dt
    memo.x, memo.y, memo.missed, memo.label, memo.seen = x, y, 0, o.label, ts
    memo.sightings += 1
    if blocked and memo.w:
        return
    if math.hypot(x - memo.ax, y - memo.ay) < still_px:
        memo.away, memo.w, memo.h = 0, o.x2 - o.x1, o.y2 - o.y1
        return
    if memo.w and covered(memo.box(), o.box) >= 0.8:  # a box grown around its spot: someone in front merged into it
        return
    memo.away += 1  # moved, unless it is one odd box (a passer-by in front changes it): moving shows on two frames
    if memo.away >= MOVE_FRAMES or not memo.w:
        memo.ax, memo.ay, memo.still_since, memo.away = x, y, ts, 0
        memo.w, memo.h = o.x2 - o.x1, o.y2 - o.y1


def _refind(
    tracks: dict[int, TrackMemo], x: float, y: float, ts: int, still_px: float, reach: float, seen: set[int]
) -> int | None:
    """The lost vehicle this new track most likely is: one that stood here, one whose motion since it was last
    seen (at most REFIND_S ago) brings it within its own travel of here, or one seen only once (no motion yet)
    within `reach` of here; None when none fits."""
    best: tuple[float, int] | None = None
    for tid, m in tracks.items():
        if tid in seen:
            continue
        dt = (ts - m.seen) / 1000 if m.seen else 0.0
        if math.hypot(x - m.ax, y - m.ay) < still_px:  # it stood here (a parked vehicle under a new id)
            gap = 0.0
        elif 0 < dt <= REFIND_S:
            speed = math.hypot(m.vx, m.vy)
            gap = math.hypot(x - (m.x + m.vx * dt), y - (m.y + m.vy * dt))
            if m.sightings == 1:  # no motion known yet: anywhere within one frame's travel
                limit = reach
            elif speed:
                limit = max(still_px, speed * dt)
            else:
                continue
            if gap > limit:
                continue
        else:
            continue
        if best is None or gap < best[0]:
            best = (gap, tid)
    return None if best is None else best[1]


def _first_sighting(
    unconfirmed: list[tuple[str, float, float]], label: str, x: float, y: float, reach: float
) -> tuple[float, float]:
    """The ground point of the previous frame's untracked sighting nearest (x, y) within `reach`, else (x, y): the
    tracker names a vehicle only on its second frame, and a line may have been crossed in between."""
    near = [(math.hypot(x - ux, y - uy), ux, uy) for lab, ux, uy in unconfirmed if lab == label]
    best = min(near, default=None)
    return (best[1], best[2]) if best is not None and best[0] <= reach else (x, y)


def _rename(tables: Iterable[dict[str, Any]], old: int, new: int) -> None:
    """Move a vehicle's parking episodes and cooldowns from its old track id to its new one."""
    for table in tables:
        for key in [k for k in table if k.startswith("parking:") and k.endswith(f":{old}")]:
            table[f"{key[: -len(str(old))]}{new}"] = table.pop(key)


def track_vehicles(
    st: Any, c: VideoConfig, objs: list[Obj], ts: int, out: dict[str, Condition], waiting: set[str]
) -> dict[str, Condition]:
    """Update the camera's vehicle memory (st.tracks): parking conditions go into `out`, parking keys of hidden
    vehicles into `waiting` (their episodes wait), and wrong-way crossings are returned."""
    instant: dict[str, Condition] = {}
    seen = {o.track for o in objs if o.track >= 0 and o.label in VEHICLES}
    for o in objs:
        if o.track not in seen or o.label not in VEHICLES:
            continue
        x, y = o.ground
        # a standing vehicle's box jitters by a few pixels from frame to frame; moving means more than that
        still_px = max(c.parking_move_px, c.parking_move_frac * (o.x2 - o.x1))
        memo = st.tracks.get(o.track)
        if memo is None:
            reach = max(still_px, o.y2 - o.y1)  # how far a vehicle may go between two frames, about its own height
            old = _refind(st.tracks, x, y, ts, still_px, reach, seen)
            if old is None:  # a new track: where it was first seen, a frame before the tracker confirmed it
                fx, fy = _first_sighting(st.unconfirmed, o.label, x, y, reach)
                memo = st.tracks[o.track] = TrackMemo(o.label, fx, fy, x, y, ts, seen=ts)
            else:
                memo = st.tracks[o.track] = st.tracks.pop(old)
                _rename((st.episodes, st.fired), old, o.track)
        for line in c.lines:
            way = line.crossing((memo.x, memo.y), (x, y))
            if way is not None and way == line.forbidden:
                scope = f"{line.name}:{o.track}"
                detail = {"violation": "wrong_way", "line": line.name, "track": o.track, "vehicle": o.label,
                          "direction": way}  # fmt: skip
                instant[f"wrong_way:{scope}"] = Condition("vehicle_violation", detail, scope=scope)
        _moves(memo, o, objs, ts, still_px)
        for z in c.zones:
            if z.purpose == "no_parking" and z.active(ts) and z.contains((x, y)):
                scope = f"{z.name}:{o.track}"
                detail = {"violation": "parking", "zone": z.name, "track": o.track, "vehicle": o.label}
                out[f"parking:{scope}"] = Condition(
                    "vehicle_violation", detail, ms(c.parking_s), scope=scope, since=memo.still_since
                )
    st.unconfirmed = [(o.label, *o.ground) for o in objs if o.track < 0 and o.label in VEHICLES]
    for tid in [t for t in st.tracks if t not in seen]:
        memo = st.tracks[tid]
        if hidden(memo.box(), objs, None):  # behind a passer-by or another vehicle: it is still there
            waiting.update(k for k in st.episodes if k.startswith("parking:") and k.endswith(f":{tid}"))
            continue
        memo.missed += 1
        if memo.missed > c.static_frames:  # a parked vehicle missed by the detector keeps its standing time
            del st.tracks[tid]
    return instant
