"""A camera's stage: its layout's ground, road and zones as shapes, the direction line, and path/placement helpers."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from shapely import LineString, Point, Polygon, box, unary_union
from shapely.geometry.base import BaseGeometry

from actors.video_config import Line, point_in_polygon
from sim.scene import Layout, scale_at
from sim.scene_sprites import PERSON_PX

XY = tuple[float, float]
WALK_HEIGHTS_PER_S = 0.5  # a walker covers half its own height per second (slow village pace, trackable at 2 fps)
KEY_STEP_S = 0.5  # keyframe spacing of curved (perspective) vehicle motion

# Zone names (Chinese, shown to operators) by purpose.
ZONE_NAMES = {
    "crowd": "村委会广场",
    "elderly_area": "老年活动区",
    "restricted": "施工禁入区",
    "no_parking": "路口禁停区",
    "water": "河道",
}
LINE_NAME = "单行道检测线"


def poly_coords(geom: BaseGeometry) -> list[XY]:
    """Exterior corners of a polygon (largest part of a multipolygon), rounded to 0.1 px, without the closing point."""
    if geom.geom_type == "MultiPolygon":
        geom = max(geom.geoms, key=lambda g: g.area)  # type: ignore[attr-defined]
    coords = list(geom.exterior.coords)[:-1]  # type: ignore[attr-defined]
    return [(round(float(x), 1), round(float(y), 1)) for x, y in coords]


@dataclass(frozen=True)
class Stage:
    """One camera's geometry: the layout, its zones (by purpose), the wrong-way line and the allowed driving sense."""

    layout: Layout
    out: int  # +1 / -1: the x direction from the road towards the frame edge that is not the square's side
    zones: dict[str, Polygon]  # by purpose
    line: Line
    down: bool  # True: traffic may drive towards the camera (y increasing); False: away from it

    # --- perspective ------------------------------------------------------------------------

    @property
    def ground_h(self) -> float:
        """Rows from the horizon to the bottom of the frame."""
        return self.layout.height - self.layout.horizon_y

    def y_at(self, f: float) -> float:
        """Row at depth fraction f (0 horizon, 1 bottom of frame)."""
        return self.layout.horizon_y + f * self.ground_h

    def f_at(self, y: float) -> float:
        """Depth fraction of a row."""
        return (y - self.layout.horizon_y) / self.ground_h

    def person_px(self, y: float) -> float:
        """Height (px) of a standing adult whose feet are at row y."""
        return PERSON_PX * scale_at(self.layout, y)

    # --- road -------------------------------------------------------------------------------

    def road_span(self, y: float) -> XY:
        """Left and right x of the road at row y."""
        cut = Polygon(self.layout.road).intersection(LineString([(-1e4, y), (1e4, y)]))
        if cut.is_empty:
            raise ValueError(f"layout {self.layout.seed}: the road does not reach row {y:.1f}")
        parts = [cut] if cut.geom_type == "LineString" else list(cut.geoms)  # type: ignore[attr-defined]
        xs = [x for part in parts for x, _ in part.coords]
        return min(xs), max(xs)

    def road_point(self, f: float, lateral: float) -> XY:
        """Point on the road at depth f; lateral -1..1 from edge to edge, +1 on the `out` side, 0 the centre."""
        y = self.y_at(f)
        xl, xr = self.road_span(y)
        mid, half = (xl + xr) / 2, (xr - xl) / 2
        return (mid + self.out * lateral * half, y)

    def drive(self, t0: float, f0: float, f1: float, lat0: float, lat1: float, rate: float) -> list[tuple[float, XY]]:
        """Timed points of a vehicle driving from depth f0 to f1 (lateral lat0 -> lat1) at `rate` ln-depth per second.

        Constant `rate` keeps the vehicle's move per second a constant share of its own (perspective) size.
        """
        span = math.log(f1 / f0)
        dur = abs(span) / rate
        n = max(1, math.ceil(dur / KEY_STEP_S))
        out = []
        for i in range(n + 1):
            u = i / n
            f = f0 * math.exp(span * u)
            out.append((t0 + u * dur, self.road_point(f, lat0 + u * (lat1 - lat0))))
        return out

    # --- areas ------------------------------------------------------------------------------

    def ground(self, f0: float = 0.06, f1: float = 1.0) -> Polygon:
        """The frame's ground between two depths."""
        return box(0.0, self.y_at(f0), float(self.layout.width), min(self.y_at(f1), self.layout.height - 1.0))

    def zone(self, purpose: str) -> Polygon:
        """The zone of that purpose."""
        return self.zones[purpose]

    def inside(self, purpose: str, pt: XY) -> bool:
        """Whether a ground point is in the zone, with the camera actor's own test (sv.PolygonZone semantics)."""
        return point_in_polygon(pt, poly_coords(self.zones[purpose]))

    def walk_blockers(self, margin: float = 20.0) -> BaseGeometry:
        """Where walkers that are not in an episode must never set foot: restricted and water zones, the line."""
        parts = [self.zones["restricted"].buffer(margin), self.zones["water"].buffer(margin)]
        parts.append(LineString([self.line.start, self.line.end]).buffer(4.0))
        return unary_union(parts)

    def clear(self, points: list[XY], blockers: BaseGeometry) -> bool:
        """Whether a polyline keeps out of the blockers."""
        geom = LineString(points) if len(points) > 1 else Point(points[0])
        return not geom.intersects(blockers)

    def spot(self, rng: random.Random, area: BaseGeometry, tries: int = 400) -> XY:
        """A random point of an area (uniform over its bounding box, rejected outside it)."""
        x0, y0, x1, y1 = area.bounds
        for _ in range(tries):
            pt = (rng.uniform(x0, x1), rng.uniform(y0, y1))
            if area.contains(Point(pt)):
                return (round(pt[0], 1), round(pt[1], 1))
        raise ValueError(f"layout {self.layout.seed}: no room to place a thing in area {poly_coords(area)[:4]}...")

    def walk_time(self, a: XY, b: XY, pace: float = WALK_HEIGHTS_PER_S) -> float:
        """Seconds a person takes from a to b at `pace` heights per second (height taken at the mid row)."""
        speed = pace * max(8.0, self.person_px((a[1] + b[1]) / 2))
        return math.dist(a, b) / speed

    def config(
        self, fps: float, thresholds: dict[str, Any], restricted_hours: tuple[int, int] | None
    ) -> dict[str, Any]:
        """VideoConfig params (without `source`) for these zones and the line."""
        zones = []
        for purpose in ("crowd", "elderly_area", "restricted", "no_parking", "water"):
            corners = [[x, y] for x, y in poly_coords(self.zones[purpose])]  # plain lists: params travel as msgpack
            zone: dict[str, Any] = {"name": ZONE_NAMES[purpose], "purpose": purpose, "polygon": corners}
            if purpose == "restricted":
                zone["hours"] = list(restricted_hours) if restricted_hours else None
            zones.append(zone)
        line = self.line.model_dump(mode="json")
        return {"fps": fps, "model": "scene", "zones": zones, "lines": [line], **thresholds}


def stage(layout: Layout, rng: random.Random) -> Stage:
    """Place zones and the line consistently with a village layout (which must have water)."""
    if layout.view != "village" or not layout.water:
        raise ValueError(f"layout {layout.seed}: scenario cameras need a village view with water")
    square = Polygon(layout.square)
    probe = Stage(layout, 1, {}, Line(name=LINE_NAME, start=(0, 0), end=(1, 0)), True)
    xl, xr = probe.road_span(square.centroid.y)
    out = -1 if square.centroid.x > (xl + xr) / 2 else 1
    g = Stage(layout, out, {}, probe.line, True)
    # restricted: a plot beside the road on the side away from the square, in the middle distance
    fa = rng.uniform(0.16, 0.22)
    fb = fa + rng.uniform(0.14, 0.2)
    corners = []
    for f in (fa, fb):
        y = g.y_at(f)
        edge = g.road_point(f, 1.0)[0] + out * 18
        room = (layout.width - 6 - edge) if out > 0 else (edge - 6)
        corners.append((edge, edge + out * min(rng.uniform(110, 170), room), y))
    (ia, oa, ya), (ib, ob, yb) = corners
    restricted = Polygon([(ia, ya), (oa, ya), (ob, yb), (ib, yb)])
    # no parking: the outer lane and shoulder of the road, nearer the camera
    fa = rng.uniform(0.55, 0.62)
    fb = fa + rng.uniform(0.16, 0.22)
    pa, pb = g.road_point(fa, 0.3), g.road_point(fb, 0.3)
    ea, eb = g.road_point(fa, 1.0), g.road_point(fb, 1.0)
    no_parking = Polygon([pa, (ea[0] + out * 14, ea[1]), (eb[0] + out * 14, eb[1]), pb])
    # elderly area: the part of the square nearer the camera and away from the road
    sx0, sy0, sx1, sy1 = square.bounds
    cut_x = sx0 + (0.45 if out < 0 else 0.55) * (sx1 - sx0)  # the square lies on the -out side of the road
    keep = box(cut_x, sy0 + 0.45 * (sy1 - sy0), sx1, sy1) if out < 0 else box(sx0, sy0 + 0.45 * (sy1 - sy0), cut_x, sy1)
    elderly = square.intersection(keep)
    zones = {
        "crowd": square,
        "elderly_area": elderly,
        "restricted": restricted,
        "no_parking": no_parking.intersection(box(1.0, 0.0, layout.width - 2.0, layout.height - 2.0)),
        "water": Polygon(layout.water),
    }
    # the wrong-way line crosses the whole road in the middle distance; which end is `start` varies
    y = g.y_at(rng.uniform(0.3, 0.4))
    left, right = g.road_span(y)
    ends = [(round(left - 12, 1), round(y, 1)), (round(right + 12, 1), round(y, 1))]
    if rng.random() < 0.5:
        ends.reverse()
    down = rng.random() < 0.5
    mid = (left + right) / 2
    near, far = (mid, y + 20.0), (mid, y - 20.0)
    # forbidden is the sense opposite to the allowed one: driving away when traffic comes down, and vice versa
    forbidden = Line(name=LINE_NAME, start=ends[0], end=ends[1]).crossing(*((near, far) if down else (far, near)))
    line = Line(name=LINE_NAME, start=ends[0], end=ends[1], forbidden=forbidden)
    return Stage(layout, out, zones, line, down)
