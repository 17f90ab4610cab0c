"""Scenario timelines: keyframed movers, the episodes a script promises, and the scene content at a time."""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Any

from sim.scene import Layout, Thing, scale_at

# scenario -> (event type the camera actor raises, detail the event must carry)
SCENARIO_EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "garbage": ("garbage", {}),
    "crowd": ("crowd", {}),
    "restricted_zone": ("restricted_zone", {}),
    "parking": ("vehicle_violation", {"violation": "parking"}),
    "wrong_way": ("vehicle_violation", {"violation": "wrong_way"}),
    "fire": ("fire", {}),
    "smoke": ("smoke", {}),
    "drowning_risk": ("drowning_risk", {}),
    "person_fall": ("person_fall", {}),
}
SCENARIOS: tuple[str, ...] = tuple(SCENARIO_EVENTS)
BACKGROUND = "background"


@dataclass(frozen=True)
class Key:
    """A mover's keyframe: from time t (scene s) it is at (x, y) (bottom centre, frame px) with this label and size."""

    t: float
    x: float
    y: float
    label: str
    size: float = 1.0  # multiplier on the perspective scale of a standing adult at y (fire grows, garbage piles)


@dataclass(frozen=True)
class Mover:
    """One object over time: linear motion between keyframes, visible from the first key's time to the last's."""

    role: str  # BACKGROUND or the id of the episode it acts in
    keys: tuple[Key, ...]
    passengers: int = 0
    plate: str | None = None
    variant: int = 0

    def __post_init__(self) -> None:
        if not self.keys or any(b.t < a.t for a, b in itertools.pairwise(self.keys)):
            raise ValueError(f"mover {self.role!r}: keyframes must be non-empty and in time order")

    @property
    def start(self) -> float:
        """First scene time it is visible."""
        return self.keys[0].t

    @property
    def end(self) -> float:
        """Last scene time it is visible."""
        return self.keys[-1].t

    def pose(self, t: float) -> Key | None:
        """Interpolated position, label (of the segment t lies in) and size at t; None when not in the scene."""
        keys = self.keys
        if not keys[0].t <= t <= keys[-1].t:
            return None
        i = bisect.bisect_right(keys, t, key=lambda k: k.t) - 1  # the last key at or before t
        if i >= len(keys) - 1:
            last = keys[-1]
            return Key(t, last.x, last.y, last.label, last.size)
        a, b = keys[i], keys[i + 1]
        f = (t - a.t) / (b.t - a.t)
        return Key(t, a.x + f * (b.x - a.x), a.y + f * (b.y - a.y), a.label, a.size + f * (b.size - a.size))

    def at(self, layout: Layout, t: float) -> Thing | None:
        """The Thing this mover is at scene time t (scaled for perspective), or None."""
        p = self.pose(t)
        if p is None:
            return None
        return Thing(
            label=p.label,
            x=p.x,
            y=p.y,
            scale=scale_at(layout, p.y) * p.size,
            passengers=self.passengers,
            plate=self.plate,
            variant=self.variant,
        )


@dataclass(frozen=True)
class Episode:
    """A scripted incident: on camera_id, the scenario's condition holds from start_s to end_s (scene seconds)."""

    id: str
    scenario: str  # one of SCENARIOS
    camera_id: str
    start_s: float
    end_s: float
    zone: str | None = None  # the zone the condition is about, if any
    tolerated: tuple[str, ...] = ()  # other scenarios this episode may also (rightly) raise, e.g. smoke from a fire
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def event_type(self) -> str:
        """The event type that detects this episode."""
        return SCENARIO_EVENTS[self.scenario][0]

    @property
    def expected_detail(self) -> dict[str, Any]:
        """Detail the detecting event must carry (scenario-implied fields plus this episode's own)."""
        return {**SCENARIO_EVENTS[self.scenario][1], **self.detail}


@dataclass(frozen=True)
class Script:
    """One camera's held-out timeline: its village layout, video params, everything that moves and the episodes."""

    camera_id: str
    index: int
    seed: int
    duration_s: float
    layout: Layout
    night: bool
    config: dict[str, Any]  # VideoConfig params except `source` (provisioning points it at the camera server)
    movers: tuple[Mover, ...]
    episodes: tuple[Episode, ...]

    def zone(self, purpose: str) -> dict[str, Any] | None:
        """The first zone of the config with that purpose."""
        return next((z for z in self.config.get("zones", []) if z["purpose"] == purpose), None)


def things_at(script: Script, t: float) -> list[Thing]:
    """Scene content at scene time t, far things first (the order a painter draws them)."""
    things = [th for m in script.movers if (th := m.at(script.layout, t)) is not None]
    return sorted(things, key=lambda th: th.y)
