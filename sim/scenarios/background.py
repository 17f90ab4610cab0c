"""Background that must raise nothing: passers-by, a small group chatting, traffic the right way, a short stop."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from shapely import LineString

from core.vision import CAR, MOTORCYCLE, PEOPLE
from sim.plate import random_plate
from sim.scenarios.episodes import FAR_F, NEAR_F, THRESHOLDS, parking, vehicle_rate
from sim.scenarios.geometry import XY, Stage
from sim.scenarios.paths import Path, approach, on_road
from sim.scenarios.timeline import BACKGROUND, Episode, Mover

STEP_S = 0.5  # occupancy sampling step
CROWD_QUIET = THRESHOLDS["crowd_min"] - 2  # most people on the square outside crowd episodes (a margin of two)


class Occupancy:
    """People in the crowd zone over time, so background never comes near a crowd outside crowd episodes."""

    def __init__(self, st: Stage, duration_s: float, crowd_windows: list[tuple[float, float]]) -> None:
        self.st = st
        n = int((duration_s + 300) / STEP_S) + 1
        self.count = np.zeros(n, np.int32)
        self.free = np.ones(n, bool)  # False where a crowd episode may exceed the limit
        for a, b in crowd_windows:
            self.free[max(0, int((a - 20) / STEP_S)) : int((b + 20) / STEP_S) + 1] = False

    def _samples(self, movers: Sequence[Mover]) -> np.ndarray:
        hits = np.zeros_like(self.count)
        for m in movers:
            for i in range(max(0, int(m.start / STEP_S)), min(len(hits), int(m.end / STEP_S) + 1)):
                th = m.at(self.st.layout, i * STEP_S)
                if th is not None and th.label in PEOPLE and self.st.inside("crowd", (th.x, th.y)):
                    hits[i] += 1
        return hits

    def fits(self, movers: Sequence[Mover]) -> bool:
        """Whether adding these movers keeps the square quiet outside crowd episodes."""
        total = self.count + self._samples(movers)
        return bool(np.all((total <= CROWD_QUIET) | ~self.free))

    def add(self, movers: Sequence[Mover]) -> None:
        """Count these movers in."""
        self.count += self._samples(movers)


def _edge_point(st: Stage, rng: random.Random) -> XY:
    """Where a passer-by enters or leaves: a side of the frame, its bottom, or far away."""
    lay, r = st.layout, rng.random()
    if r < 0.35:
        return (-8.0, st.y_at(rng.uniform(0.15, 0.95)))
    if r < 0.7:
        return (lay.width + 8.0, st.y_at(rng.uniform(0.15, 0.95)))
    if r < 0.85:
        return (rng.uniform(20, lay.width - 20), lay.height + 4.0)
    return (rng.uniform(20, lay.width - 20), st.y_at(0.1))


def _passer_by(st: Stage, rng: random.Random, t0: float) -> Mover | None:
    """A villager crossing the picture in a straight line that keeps out of the restricted zone and the water."""
    blockers = st.walk_blockers()
    for _ in range(30):
        a, b = _edge_point(st, rng), _edge_point(st, rng)
        if LineString([a, b]).length > 200 and st.clear([a, b], blockers):
            return Path(st, t0, a).walk_to(b, pace=rng.uniform(0.4, 0.6)).mover(BACKGROUND, variant=rng.randrange(1000))
    return None


def _bank_walker(st: Stage, rng: random.Random, t0: float) -> Mover | None:
    """A villager strolling along the river bank, close to the water but never in it."""
    water = st.zone("water")
    top = water.bounds[1] - rng.uniform(12, 18)
    lay = st.layout
    xl, xr = st.road_span(top)
    a = (xl if st.out > 0 else xr, top)  # the road edge on the water's side
    b = (-8.0 if st.out > 0 else lay.width + 8.0, top)
    if not st.clear([a, b], st.walk_blockers(8.0)):
        return None
    path = Path(st, t0, a).walk_to(b, pace=rng.uniform(0.35, 0.5))
    return path.mover(BACKGROUND, variant=rng.randrange(1000))


def _group(st: Stage, rng: random.Random, t0: float) -> list[Mover]:
    """Fewer people than a crowd stand chatting on the square for a while, then leave."""
    inner = st.zone("crowd").buffer(-16)
    if inner.is_empty:
        return []
    centre = st.spot(rng, inner)
    h = st.person_px(centre[1])
    stay = rng.uniform(60, 90)
    movers = []
    for k in range(CROWD_QUIET):
        p = (centre[0] + (k - 1) * 0.6 * h, centre[1] + rng.uniform(-0.1, 0.1) * h)
        path = Path(st, t0 + rng.uniform(0, 3), approach(st, rng, p, st.walk_blockers(), 40, 90)).walk_to(p)
        path.wait(max(0.5, t0 + stay - path.t)).walk_to(approach(st, rng, p, st.walk_blockers(), 50, 100))
        movers.append(path.mover(BACKGROUND, variant=rng.randrange(1000)))
    return movers


def _vehicle(st: Stage, rng: random.Random, t0: float) -> Mover:
    """A car or tricycle driving through the right way."""
    enter, leave = (FAR_F, NEAR_F) if st.down else (NEAR_F, FAR_F)
    label = CAR if rng.random() < 0.7 else MOTORCYCLE
    lane = rng.uniform(-0.4, 0.1)
    path = on_road(st, t0, enter, lane, label)
    path.drive(enter, leave, lane, lane + rng.uniform(-0.05, 0.05), vehicle_rate(rng))
    riders = rng.choice((0, 0, 1, 2)) if label == MOTORCYCLE else 0
    return path.mover(BACKGROUND, passengers=riders, plate=random_plate(rng), variant=rng.randrange(1000))


def background(
    st: Stage, rng: random.Random, duration_s: float, episodes: Sequence[Episode], acting: Sequence[Mover]
) -> list[Mover]:
    """Background movers for [0, duration_s] that keep every scenario condition false outside the episodes."""
    occupancy = Occupancy(st, duration_s, [(e.start_s, e.end_s) for e in episodes if e.scenario == "crowd"])
    occupancy.add(acting)
    out: list[Mover] = []

    def keep(movers: Sequence[Mover]) -> None:
        if movers and occupancy.fits(movers):
            occupancy.add(movers)
            out.extend(movers)

    # traffic keeps off the road while an episode's vehicle is on it, and one vehicle drives at a time
    busy = [(m.start - 4.0, m.end + 4.0) for m in acting if m.keys[0].label in (CAR, MOTORCYCLE)]
    stop_at = rng.uniform(0.2, 0.8) * duration_s
    t = rng.uniform(0, 10)
    stopped = False
    while t < duration_s:
        if not stopped and t >= stop_at:
            movers, _ = parking(st, rng, t, "background", 0, stay_s=rng.uniform(12, 20))  # a short stop is allowed
            car = movers[0]
            stopped = True
        else:
            car = _vehicle(st, rng, t)
        if any(a < car.end and car.start < b for a, b in busy):
            t = max(b for a, b in busy if a < car.end and car.start < b) + rng.uniform(1, 5)
            continue
        out.append(Mover(BACKGROUND, car.keys, car.passengers, car.plate, car.variant))
        t = car.end - 2.0 + rng.uniform(0, 20)
    t = rng.uniform(0, 5)
    while t < duration_s:
        walker = _passer_by(st, rng, t)
        if walker is not None:
            keep([walker])
        t += rng.expovariate(1 / 9.0)
    for frac in (0.15, 0.6):
        bank = _bank_walker(st, rng, frac * duration_s + rng.uniform(0, 30))
        if bank is not None:
            keep([bank])
    for _ in range(5):  # try a few times to fit the chatting group in a quiet spell
        group = _group(st, rng, rng.uniform(0.05, 0.85) * duration_s)
        if group and occupancy.fits(group):
            keep(group)
            break
    return out
