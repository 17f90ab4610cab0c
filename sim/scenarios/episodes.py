"""One builder per scenario: the movers that act an episode and the Episode (when its condition holds) they promise."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from shapely import Point, Polygon, box, unary_union
from shapely.geometry.base import BaseGeometry

from core.vision import CAR, FALLEN, FIRE, GARBAGE, MOTORCYCLE, PEOPLE, PERSON, SMOKE
from sim.plate import random_plate
from sim.scenarios.geometry import XY, Stage
from sim.scenarios.paths import Path, approach, inward, on_road, span
from sim.scenarios.timeline import Episode, Mover
from sim.scene import Thing, scale_at

# The thresholds the scripts are timed for: VideoConfig defaults, except a short cooldown so that one camera can
# play many episodes in a short benchmark (episodes of one scenario on one camera lie further apart than this).
THRESHOLDS: dict[str, Any] = {
    "garbage_s": 60.0,
    "crowd_min": 5,
    "crowd_s": 30.0,
    "restricted_s": 3.0,
    "parking_s": 60.0,
    "fire_frames": 3,
    "drowning_s": 3.0,
    "fall_s": 5.0,
    "cooldown_s": 60.0,
}
MARGIN_S = 20.0  # an episode's condition holds at least this much longer than the threshold that raises it
FAR_F, NEAR_F = 0.07, 1.12  # depths where vehicles appear / vanish: near the horizon, and below the frame bottom
FIRE_PX = 72.0  # height of a fire sprite at scale 1 (sim.scene_sprites)
Built = tuple[list[Mover], Episode]


def vehicle_rate(rng: random.Random) -> float:
    """Driving speed as ln-depth per second: a vehicle moves ~0.2-0.3 of its own height per frame at 2 fps."""
    return rng.uniform(0.14, 0.2)


def spots(st: Stage) -> BaseGeometry:
    """Open ground for piles and fires: off the road, out of the zones, away from the frame's sides."""
    lay = st.layout
    keep = st.ground(0.3, 0.85).intersection(box(40.0, 0.0, lay.width - 40.0, float(lay.height)))
    taken = unary_union([
        Polygon(lay.road).buffer(10),
        st.zone("water").buffer(18),
        st.zone("crowd").buffer(6),
        st.zone("restricted").buffer(30),
        st.zone("no_parking").buffer(10),
    ])  # fmt: skip
    return keep.difference(taken)


def zone_test(st: Stage, purpose: str, labels: frozenset[str], least: int = 1) -> Callable[[list[Thing]], bool]:
    """Test: at least `least` things with one of `labels` stand (bottom centre) in the zone of that purpose."""

    def test(things: list[Thing]) -> bool:
        return sum(1 for th in things if th.label in labels and st.inside(purpose, (th.x, th.y))) >= least

    return test


def _id(cam: str, n: int, scenario: str) -> str:
    return f"{cam}/{n:02d}-{scenario}"


def _inner(area: BaseGeometry, by: float) -> BaseGeometry:
    """The area shrunk by `by` px, or less when that would leave nothing."""
    for d in (by, by / 2, 2.0):
        shrunk = area.buffer(-d)
        if not shrunk.is_empty and shrunk.area > 50:
            return shrunk
    return area


def garbage(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """A villager dumps a pile of rubbish on open ground and walks off; it lies there until cleaned up."""
    eid = _id(cam, n, "garbage")
    spot = st.spot(rng, spots(st))
    dumper = Path(st, t0, approach(st, rng, spot, st.walk_blockers())).walk_to(spot)
    t_drop = dumper.t + 1.0
    dumper.wait(1.5).walk_to(approach(st, rng, spot, st.walk_blockers()))
    end = t_drop + THRESHOLDS["garbage_s"] + MARGIN_S + rng.uniform(10, 20)
    pile = Path(st, t_drop, spot, GARBAGE, rng.uniform(0.9, 1.3)).wait(end - t_drop)
    movers = [dumper.mover(eid, variant=rng.randrange(1000)), pile.mover(eid, variant=rng.randrange(1000))]
    return movers, Episode(eid, "garbage", cam, *inward(t_drop, end))


def crowd(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """Villagers gather on the square, stand together past the crowd threshold, then disperse."""
    eid = _id(cam, n, "crowd")
    inner = _inner(st.zone("crowd"), 14)
    centre = st.spot(rng, _inner(inner, 20))
    h = st.person_px(centre[1])
    want = THRESHOLDS["crowd_min"] + rng.randint(1, 3)
    places: list[XY] = []
    for _ in range(600):
        if len(places) == want:
            break
        p = (centre[0] + rng.uniform(-2.2, 2.2) * h, centre[1] + rng.uniform(-0.6, 0.6) * h)
        gap = st.person_px(p[1])
        spaced = all(abs(p[0] - q[0]) > 0.5 * gap or abs(p[1] - q[1]) > 0.35 * gap for q in places)
        if spaced and inner.contains(Point(p)):
            places.append((round(p[0], 1), round(p[1], 1)))
    if len(places) < THRESHOLDS["crowd_min"] + 1:
        raise ValueError(f"layout {st.layout.seed}: the square has no room for a crowd")
    stand_until = t0 + 8.0 + THRESHOLDS["crowd_s"] + MARGIN_S + rng.uniform(10, 20)
    movers = []
    for p in places:
        path = Path(st, t0 + rng.uniform(0, 2.5), approach(st, rng, p, st.walk_blockers(), 40, 90)).walk_to(p)
        path.wait(max(0.5, stand_until + rng.uniform(0, 3) - path.t))
        path.walk_to(approach(st, rng, p, st.walk_blockers(), 60, 110))
        movers.append(path.mover(eid, variant=rng.randrange(1000)))
    test = zone_test(st, "crowd", PEOPLE, THRESHOLDS["crowd_min"])
    start, end = span(st.layout, movers, test, t0, stand_until + 10)
    return movers, Episode(eid, "crowd", cam, start, end, zone="crowd")


def restricted_zone(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """Someone walks into the fenced-off plot, lingers inside, and walks out again."""
    eid = _id(cam, n, "restricted_zone")
    inner = _inner(st.zone("restricted"), 10)
    a, b = st.spot(rng, inner), st.spot(rng, inner)
    others = unary_union([st.zone("water").buffer(14), st.zone("crowd")])
    path = Path(st, t0, approach(st, rng, a, others, 50, 100)).walk_to(a)
    path.walk_to(b, duration=THRESHOLDS["restricted_s"] + MARGIN_S + rng.uniform(0, 8))
    path.walk_to(approach(st, rng, b, others, 50, 100))
    movers = [path.mover(eid, variant=rng.randrange(1000))]
    start, end = span(st.layout, movers, zone_test(st, "restricted", PEOPLE), t0, path.t)
    return movers, Episode(eid, "restricted_zone", cam, start, end, zone="restricted")


def _park_spot(st: Stage, rng: random.Random) -> tuple[float, float]:
    """(depth, lateral) of a parking place well inside the no-parking zone."""
    zone = st.zone("no_parking")
    y0, y1 = zone.bounds[1], zone.bounds[3]
    for _ in range(100):
        f = st.f_at(rng.uniform(y0 + 0.3 * (y1 - y0), y1 - 0.3 * (y1 - y0)))
        lat = rng.uniform(0.62, 0.78)
        x, y = st.road_point(f, lat)
        if _inner(zone, 6).contains(Point(x, y)):
            return f, lat
    raise ValueError(f"layout {st.layout.seed}: no parking place inside the no-parking zone")


def parking(st: Stage, rng: random.Random, t0: float, cam: str, n: int, stay_s: float | None = None) -> Built:
    """A vehicle drives in the allowed way, pulls over in the no-parking zone, stands, and drives on."""
    eid = _id(cam, n, "parking")
    f, lat = _park_spot(st, rng)
    enter, leave = (FAR_F, NEAR_F) if st.down else (NEAR_F, FAR_F)
    label = CAR if rng.random() < 0.8 else MOTORCYCLE
    lane = rng.uniform(-0.15, 0.15)
    path = on_road(st, t0, enter, lane, label).drive(enter, f, lane, lat, vehicle_rate(rng))
    arrive = path.t
    stay = stay_s if stay_s is not None else THRESHOLDS["parking_s"] + MARGIN_S + rng.uniform(10, 20)
    path.wait(stay)
    depart = path.t
    path.drive(f, leave, lat, rng.uniform(-0.15, 0.15), vehicle_rate(rng))
    mover = path.mover(eid, plate=random_plate(rng), variant=rng.randrange(1000))
    return [mover], Episode(eid, "parking", cam, *inward(arrive, depart), zone="no_parking")


def wrong_way(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """A car or tricycle drives the one-way road against its direction, crossing the direction line."""
    eid = _id(cam, n, "wrong_way")
    enter, leave = (NEAR_F, FAR_F) if st.down else (FAR_F, NEAR_F)
    label = CAR if rng.random() < 0.6 else MOTORCYCLE
    lat = rng.uniform(-0.3, 0.2)
    path = on_road(st, t0, enter, lat, label).drive(enter, leave, lat, lat + rng.uniform(-0.1, 0.1), vehicle_rate(rng))
    mover = path.mover(eid, passengers=rng.choice((0, 0, 1)) if label == MOTORCYCLE else 0,
                       plate=random_plate(rng), variant=rng.randrange(1000))  # fmt: skip
    lay = st.layout

    def visible(things: list[Thing]) -> bool:
        return any(0 <= th.x <= lay.width and st.f_at(th.y) >= 0.1 and th.y <= lay.height - 1 for th in things)

    start, end = span(lay, [mover], visible, t0, path.t)
    return [mover], Episode(eid, "wrong_way", cam, start, end)


def _smoke_over(st: Stage, t0: float, spot: XY, base_scale: float, grow_s: float, end: float, size: float) -> Path:
    """Smoke rising from a point: anchored above it, sized relative to the ground scale at the source."""
    anchor = (spot[0] + 2.0, spot[1] - 0.55 * FIRE_PX * base_scale)
    k = base_scale / max(0.05, scale_at(st.layout, anchor[1]))  # Mover sizes multiply the scale at the anchor
    return Path(st, t0, anchor, SMOKE, 0.5 * size * k).grow(grow_s, size * k).wait(max(0.0, end - t0 - grow_s))


def fire(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """A fire starts on open ground, grows, and smoke rises from it after a few seconds; then it is put out."""
    eid = _id(cam, n, "fire")
    spot = st.spot(rng, spots(st))
    end = t0 + 25.0 + MARGIN_S + rng.uniform(0, 10)
    size = rng.uniform(1.0, 1.4)
    flames = Path(st, t0, spot, FIRE, 0.5).grow(15.0, size).wait(end - t0 - 15.0)
    smoke = _smoke_over(st, t0 + 6.0, spot, scale_at(st.layout, spot[1]) * size, 12.0, end, rng.uniform(1.0, 1.3))
    movers = [flames.mover(eid, variant=rng.randrange(1000)), smoke.mover(eid, variant=rng.randrange(1000))]
    return movers, Episode(eid, "fire", cam, *inward(t0, end), tolerated=("smoke",))


def smoke(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """Smoke with no visible flame (smouldering straw) rises from open ground, thickens, then dies down."""
    eid = _id(cam, n, "smoke")
    spot = st.spot(rng, spots(st))
    end = t0 + 25.0 + MARGIN_S + rng.uniform(0, 10)
    size = rng.uniform(1.0, 1.4)
    plume = Path(st, t0, spot, SMOKE, 0.5 * size).grow(12.0, size).wait(end - t0 - 12.0)
    return [plume.mover(eid, variant=rng.randrange(1000))], Episode(eid, "smoke", cam, *inward(t0, end))


def drowning_risk(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """Someone walks from the bank into the river and stays in the water, then wades back out."""
    eid = _id(cam, n, "drowning_risk")
    water = st.zone("water")
    lay = st.layout
    visible = box(30.0, 0.0, lay.width - 30.0, st.y_at(0.93))
    a = st.spot(rng, _inner(water, 16).intersection(visible))
    b = st.spot(rng, _inner(water, 16).intersection(visible).intersection(Point(a).buffer(25)))
    blockers = unary_union([st.zone("restricted").buffer(14), st.zone("crowd")])
    bank = approach(st, rng, a, blockers, 50, 100)
    for _ in range(40):  # start on dry land
        if not water.buffer(10).contains(Point(bank)):
            break
        bank = approach(st, rng, a, blockers, 50, 120)
    path = Path(st, t0, bank).walk_to(a)
    path.walk_to(b, duration=THRESHOLDS["drowning_s"] + MARGIN_S + rng.uniform(0, 8)).walk_to(bank)
    movers = [path.mover(eid, variant=rng.randrange(1000))]
    start, end = span(lay, movers, zone_test(st, "water", PEOPLE), t0, path.t)
    return movers, Episode(eid, "drowning_risk", cam, start, end, zone="water")


def person_fall(st: Stage, rng: random.Random, t0: float, cam: str, n: int) -> Built:
    """An elderly villager walks into the activity area, falls, lies there, and is later helped up."""
    eid = _id(cam, n, "person_fall")
    p = st.spot(rng, _inner(st.zone("elderly_area"), 12))
    path = Path(st, t0, approach(st, rng, p, st.walk_blockers(), 50, 100)).walk_to(p, pace=0.35).wait(1.0)
    path.wait(THRESHOLDS["fall_s"] + MARGIN_S + rng.uniform(5, 12), FALLEN).wait(2.0, PERSON)
    path.walk_to(approach(st, rng, p, st.walk_blockers(), 50, 100), pace=0.35)
    movers = [path.mover(eid, variant=rng.randrange(1000))]
    start, end = span(st.layout, movers, zone_test(st, "elderly_area", frozenset({FALLEN})), t0, path.t)
    return movers, Episode(eid, "person_fall", cam, start, end, zone="elderly_area")


BUILDERS: dict[str, Callable[[Stage, random.Random, float, str, int], Built]] = {
    "garbage": garbage,
    "crowd": crowd,
    "restricted_zone": restricted_zone,
    "parking": parking,
    "wrong_way": wrong_way,
    "fire": fire,
    "smoke": smoke,
    "drowning_risk": drowning_risk,
    "person_fall": person_fall,
}
