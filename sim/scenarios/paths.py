"""Builds movers' keyframes step by step: walk, wait (optionally as another label), grow, drive along the road."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from shapely import Point
from shapely.geometry.base import BaseGeometry

from sim.scenarios.geometry import XY, Stage
from sim.scenarios.timeline import Key, Mover
from sim.scene import Layout, Thing


class Path:
    """A keyframe builder for one mover, starting at time t0 at `start`."""

    def __init__(self, st: Stage, t0: float, start: XY, label: str = "person", size: float = 1.0) -> None:
        self.st = st
        self.keys = [Key(t0, start[0], start[1], label, size)]

    @property
    def t(self) -> float:
        """Time of the last keyframe."""
        return self.keys[-1].t

    @property
    def pos(self) -> XY:
        """Position at the last keyframe."""
        return (self.keys[-1].x, self.keys[-1].y)

    def _add(self, t: float, pt: XY, label: str | None = None, size: float | None = None) -> Path:
        last = self.keys[-1]
        size = last.size if size is None else size
        self.keys.append(Key(t, round(pt[0], 2), round(pt[1], 2), label or last.label, size))
        return self

    def walk_to(self, pt: XY, pace: float | None = None, duration: float | None = None) -> Path:
        """Walk in a straight line to pt, at `pace` heights per second or taking `duration` seconds."""
        dt = duration if duration is not None else self.st.walk_time(self.pos, pt, *(() if pace is None else (pace,)))
        return self._add(self.t + max(0.1, dt), pt)

    def wait(self, seconds: float, label: str | None = None) -> Path:
        """Stay put for `seconds`, from now on as `label` if given (a person falls, gets up)."""
        if label is not None and label != self.keys[-1].label:
            self._add(self.t, self.pos, label)
        return self._add(self.t + seconds, self.pos)

    def grow(self, seconds: float, size: float) -> Path:
        """Stay put while the size changes linearly to `size` (a fire spreads)."""
        return self._add(self.t + seconds, self.pos, size=size)

    def drive(self, f0: float, f1: float, lat0: float, lat1: float, rate: float) -> Path:
        """Drive along the road from depth f0 to f1 (the first point replaces nothing: call on a fresh path)."""
        for t, pt in self.st.drive(self.t, f0, f1, lat0, lat1, rate)[1:]:
            self._add(t, pt)
        return self

    def mover(self, role: str, passengers: int = 0, plate: str | None = None, variant: int = 0) -> Mover:
        """The finished mover."""
        return Mover(role, tuple(self.keys), passengers, plate, variant)


def on_road(st: Stage, t0: float, f: float, lateral: float, label: str) -> Path:
    """A fresh path of a vehicle at depth f and lateral position on the road."""
    return Path(st, t0, st.road_point(f, lateral), label)


def approach(st: Stage, rng: random.Random, target: XY, blockers: BaseGeometry, near: float = 60.0,
             far: float = 110.0) -> XY:  # fmt: skip
    """A ground point near->far px from target whose straight walk to it keeps out of blockers (target if none)."""
    ground = st.ground(0.08, 0.98).buffer(-6)
    for _ in range(80):
        d = rng.uniform(near, far)
        ang = rng.uniform(0, 2 * math.pi)
        q = (target[0] + d * math.cos(ang), target[1] + 0.6 * d * math.sin(ang))  # flatter in depth (perspective)
        if ground.contains(Point(q)) and st.clear([q, target], blockers):
            return (round(q[0], 1), round(q[1], 1))
    return target


def span(layout: Layout, movers: Sequence[Mover], test: Callable[[list[Thing]], bool], t0: float, t1: float,
         step: float = 0.25) -> tuple[float, float]:  # fmt: skip
    """First and last sampled time in [t0, t1] at which `test` holds for the movers' things."""
    hits = []
    n = int((t1 - t0) / step) + 1
    for i in range(n):
        t = t0 + i * step
        things = [th for m in movers if (th := m.at(layout, t)) is not None]
        if test(things):
            hits.append(t)
    if not hits:
        raise ValueError(f"layout {layout.seed}: a scripted episode never met its condition in [{t0:.1f}, {t1:.1f}]")
    return inward(hits[0], hits[-1])


def inward(start: float, end: float) -> tuple[float, float]:
    """A window rounded to centiseconds without growing: start rounded up, end rounded down."""
    return math.ceil(start * 100 - 1e-9) / 100, math.floor(end * 100 + 1e-9) / 100
