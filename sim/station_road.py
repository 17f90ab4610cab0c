"""Road geometry of a simulated advisory-station camera: a pinhole view of a straight road consistent with the
scene renderer's perspective, the calibration it implies, and scripted vehicle passes moving along it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from core.vision import CAR, MOTORCYCLE
from sim.scene import Layout, Thing, scale_at
from sim.scene_sprites import PERSON_PX

ADULT_M = 1.7  # a standing adult, the renderer's scale 1.0 (PERSON_PX pixels)
FOCAL_PX = 554.0  # focal length of the simulated camera (about 60 degrees across a 640-pixel frame)
MEASURE_M = (1.0, 18.0)  # the measure zone along the road, metres beyond the point under the bottom row
VISIBLE_M = (-2.0, 60.0)  # where a vehicle enters and leaves the picture along the road
Heading = Literal["up", "down"]  # up: away from the camera (+v, the first direction name); down: towards it


@dataclass(frozen=True)
class VehiclePass:
    """One scripted vehicle pass: plate, constant speed, heading, riders and when it enters the picture."""

    plate: str
    speed_kmh: float
    heading: Heading = "down"
    start_s: float = 0.0  # scene time at which the vehicle is at its entry point
    vehicle: str = CAR  # car | motorcycle (farm tricycles are motorcycle variants 2, 5, 8 ...)
    passengers: int = 0  # riders besides the driver (motorcycles)
    variant: int = 0

    def __post_init__(self) -> None:
        if self.speed_kmh <= 0 or self.vehicle not in (CAR, MOTORCYCLE) or self.heading not in ("up", "down"):
            raise ValueError(f"bad vehicle pass {self}: speed > 0, vehicle car|motorcycle, heading up|down")

    @property
    def duration_s(self) -> float:
        """Seconds the vehicle is in the picture."""
        return (VISIBLE_M[1] - VISIBLE_M[0]) / (self.speed_kmh / 3.6)

    def along_m(self, t: float) -> float | None:
        """Road position (metres along the axis) at scene time t; None when it is not in the picture."""
        dt = t - self.start_s
        if dt < 0 or dt > self.duration_s:
            return None
        travelled = dt * self.speed_kmh / 3.6
        return VISIBLE_M[0] + travelled if self.heading == "up" else VISIBLE_M[1] - travelled


class RoadCamera:
    """The pinhole camera of a road layout: ground points in road metres (u across, v along) <-> frame pixels.

    Horizon row = the layout's horizon; camera height follows from the renderer's scale (an adult of PERSON_PX
    pixels at scale 1 is ADULT_M tall), so vehicles drawn at `scale_at` have the size their distance implies.
    The road's centre line runs from its vanishing point (the layout road's far end) through its centre on the
    bottom row; v = 0 is that bottom-row point, v grows away from the camera, u grows to the right.
    """

    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        self.cx = lay.width / 2
        half = len(lay.road) // 2
        left, right = lay.road[:half], lay.road[half:][::-1]
        bottom = max(range(half), key=lambda i: left[i][1])
        top = min(range(half), key=lambda i: left[i][1])
        mid = [((left[i][0] + right[i][0]) / 2, left[i][1]) for i in (top, bottom)]
        (x_far, y_far), (x_near, y_near) = mid
        frac = (lay.height - y_far) / (y_near - y_far)
        vanish_x = x_far - (x_near - x_far) * (y_far - lay.horizon_y) / (y_near - y_far)
        self.bottom_x = x_far + (x_near - x_far) * frac  # road centre on the bottom row
        per_px = scale_at(lay, lay.height) * PERSON_PX / ADULT_M / (lay.height - lay.horizon_y)
        self.cam_h = 1.0 / per_px  # metres: ppm(y) = (y - horizon) / cam_h
        z0 = FOCAL_PX * self.cam_h / (lay.height - lay.horizon_y)
        self.origin = np.array([(self.bottom_x - self.cx) * z0 / FOCAL_PX, z0])
        a = (vanish_x - self.cx) / FOCAL_PX
        norm = math.hypot(a, 1.0)
        self.along = np.array([a, 1.0]) / norm
        self.across = np.array([1.0, -a]) / norm
        edge = [(x, y) for x, y in lay.road if lay.horizon_y + 10 < y < lay.height]
        self.half_width_m = float(np.median([abs(self.to_road(x, y)[0]) for x, y in edge])) if edge else 3.0

    def image_point(self, u: float, v: float) -> tuple[float, float]:
        """Frame pixel of the road point (u, v) metres."""
        x, z = self.origin + v * self.along + u * self.across
        return float(self.cx + FOCAL_PX * x / z), float(self.lay.horizon_y + FOCAL_PX * self.cam_h / z)

    def to_road(self, x: float, y: float) -> tuple[float, float]:
        """Road point (u, v) metres of a frame pixel below the horizon."""
        z = FOCAL_PX * self.cam_h / (y - self.lay.horizon_y)
        p = np.array([(x - self.cx) * z / FOCAL_PX, z]) - self.origin
        return float(p @ self.across), float(p @ self.along)

    def lane_u(self, heading: Heading) -> float:
        """Lane centre across the road: traffic keeps right (away from the camera on the right, towards on the left)."""
        return (1 if heading == "up" else -1) * self.half_width_m / 2

    def calibration(self) -> dict[str, list[tuple[float, float]]]:
        """Four lane-edge points of the measure zone in pixels and road metres (a station's `calibration`)."""
        hw = round(self.half_width_m * 0.8, 2)
        v1, v2 = MEASURE_M
        road = [(-hw, v1), (hw, v1), (hw, v2), (-hw, v2)]
        return {"image": [self._rounded(u, v, 2) for u, v in road], "road": road}

    def _rounded(self, u: float, v: float, digits: int) -> tuple[float, float]:
        x, y = self.image_point(u, v)
        return round(x, digits), round(y, digits)

    def measure_polygon(self) -> list[tuple[float, float]]:
        """The measure zone in pixels: the whole road width between MEASURE_M, a little wider than the lanes."""
        hw = self.half_width_m * 1.3
        v1, v2 = MEASURE_M
        return [self._rounded(u, v, 1) for u, v in ((-hw, v1), (hw, v1), (hw, v2), (-hw, v2))]

    def thing(self, p: VehiclePass, t: float) -> Thing | None:
        """The renderer's Thing for a pass at scene time t; None when it is not in the picture."""
        v = p.along_m(t)
        if v is None:
            return None
        x, y = self.image_point(self.lane_u(p.heading), v)
        if y <= self.lay.horizon_y + 2:
            return None
        return Thing(p.vehicle, x, y, scale=scale_at(self.lay, y), passengers=p.passengers, plate=p.plate,
                     variant=p.variant)  # fmt: skip
