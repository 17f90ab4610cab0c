"""Road advisory station (劝导站) parameters: speed limit, road calibration, directions, plate crops, warnings."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

Point = tuple[float, float]
Violation = Literal["speeding", "wrong_way", "carrying_passengers"]
VIOLATIONS: tuple[Violation, ...] = ("speeding", "wrong_way", "carrying_passengers")


def _collinear(a: Point, b: Point, c: Point, eps: float) -> bool:
    """True when three points lie (nearly) on one line: twice the triangle area is below eps."""
    return abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])) < eps


class Calibration(BaseModel):
    """Four image points and the same four points on the road, in metres, for the image-to-road homography."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: list[Point] = Field(
        min_length=4, max_length=4, description="Four points in frame pixels (x right, y down), e.g. lane-mark corners."
    )
    road: list[Point] = Field(
        min_length=4,
        max_length=4,
        description="The same four points on the road surface in metres: x across the road, y along the road axis "
        "(y grows in the direction named first in `directions`).",
    )
    _h: np.ndarray = PrivateAttr()

    @model_validator(mode="after")
    def _solvable(self) -> Calibration:
        for name, pts, eps in (("image", self.image, 1.0), ("road", self.road, 0.01)):
            for i in range(4):
                a, b, c = (pts[j] for j in range(4) if j != i)
                if _collinear(a, b, c, eps):
                    raise ValueError(f"calibration.{name}: three of the four points lie on one line")
        h = cv2.getPerspectiveTransform(np.array(self.image, dtype=np.float32), np.array(self.road, dtype=np.float32))
        if not np.all(np.isfinite(h)):
            raise ValueError("calibration: the image and road points give no usable homography")
        self._h = h.astype(np.float64)
        return self

    @property
    def homography(self) -> np.ndarray:
        """3x3 matrix mapping frame pixels to road metres (computed once, at validation)."""
        return self._h


def to_road(h: np.ndarray, x: float, y: float) -> Point:
    """A frame pixel mapped onto the road plane (metres) with a homography; plain numpy, no OpenCV."""
    vx, vy, w = h @ np.array([x, y, 1.0])
    return float(vx / w), float(vy / w)


class PlateCrop(BaseModel):
    """Where on a vehicle's box the plate is looked for, and how often it is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top: float = Field(0.45, ge=0.0, lt=1.0, description="Crop top as a fraction of the vehicle box height.")
    bottom: float = Field(1.0, gt=0.0, le=1.0, description="Crop bottom as a fraction of the vehicle box height.")
    left: float = Field(0.0, ge=0.0, lt=1.0, description="Crop left edge as a fraction of the vehicle box width.")
    right: float = Field(1.0, gt=0.0, le=1.0, description="Crop right edge as a fraction of the vehicle box width.")
    min_width_px: int = Field(40, ge=8, description="Vehicle boxes narrower than this are too small to read.")
    min_height_px: int = Field(30, ge=8, description="Vehicle boxes lower than this are too small to read.")
    upscale_to_px: int = Field(
        320, ge=0, description="Crops narrower than this are enlarged to this width before OCR (0 keeps them)."
    )
    good_score: float = Field(0.9, gt=0.0, le=1.0, description="A valid read this confident ends reading the track.")
    max_reads: int = Field(8, ge=1, description="Most plate reads per track.")
    resize_step: float = Field(
        0.15,
        ge=0.0,
        description="A track is read again only when its box width differs by this share from every earlier read "
        "(an approaching vehicle is read at growing sizes instead of spending the reads while it is far).",
    )

    @model_validator(mode="after")
    def _ordered(self) -> PlateCrop:
        if self.top >= self.bottom or self.left >= self.right:
            raise ValueError("plate crop needs top < bottom and left < right")
        return self


class StationParams(BaseModel):
    """Everything a road advisory station needs beyond a camera: limit, calibration, directions, warnings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limit_kmh: float = Field(40.0, gt=0, le=200, description="Speed limit of the road at the station, km/h.")
    tolerance_pct: float = Field(
        10.0, ge=0, le=100, description="Speeding is raised above limit_kmh * (1 + tolerance_pct / 100)."
    )
    calibration: Calibration = Field(description="Image-to-road calibration used to measure speed.")
    directions: tuple[str, str] = Field(
        ("上行", "下行"),
        description="Names of the two travel directions: along +y of the road axis, then along -y.",
    )
    forbidden_direction: str | None = Field(
        None, description="On a one-way road, the direction (one of `directions`) that is wrong-way; None = two-way."
    )
    max_passengers: int = Field(
        0, ge=0, le=4, description="People allowed on a motorcycle/farm tricycle besides the driver (county policy)."
    )
    rider_overlap: float = Field(
        0.5, gt=0, le=1, description="Share of a person's box inside a motorcycle's box for the person to ride it."
    )
    rider_model: str | None = Field(
        None,
        description="Optional second detector (e.g. 'fall', classes mapped to person) run on motorcycle crops to "
        "find riders when the scene model does not label people on vehicles.",
    )
    passenger_frames: int = Field(2, ge=1, description="Frames in which a passenger must be seen to raise the event.")
    min_samples: int = Field(3, ge=2, description="Fewest positions in the measure zone for a speed estimate.")
    min_travel_m: float = Field(3.0, gt=0, description="Less travel along the road axis gives no speed or direction.")
    lost_s: float = Field(1.5, gt=0, description="A vehicle track unseen this long is concluded as a pass.")
    plate: PlateCrop = Field(default_factory=PlateCrop, description="Plate crop and read policy.")
    warn_on: list[Violation] = Field(
        default_factory=lambda: list(VIOLATIONS),
        description="Violations that play an immediate voice warning on the station's loudspeaker.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> StationParams:
        a, b = self.directions
        if not a.strip() or not b.strip() or a == b:
            raise ValueError(f"directions must be two different non-empty names, got {self.directions!r}")
        if self.forbidden_direction is not None and self.forbidden_direction not in self.directions:
            raise ValueError(f"forbidden_direction {self.forbidden_direction!r} is not one of {list(self.directions)}")
        return self

    @property
    def speeding_above_kmh(self) -> float:
        """The speed above which a pass is speeding (limit plus tolerance)."""
        return self.limit_kmh * (1 + self.tolerance_pct / 100)
