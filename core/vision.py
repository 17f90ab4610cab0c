"""The shared vision model: detections as the Serve deployments return them, and canonical object labels."""

from __future__ import annotations

from typing import Protocol

import msgspec

# Canonical labels the camera and station actors reason about. A model's own class names are mapped onto
# these per camera (e.g. the fall model's "Normal" -> person, "Fall" -> fallen).
PERSON, FALLEN, CAR, MOTORCYCLE = "person", "fallen", "car", "motorcycle"
FIRE, SMOKE, GARBAGE = "fire", "smoke", "garbage"
SCENE_CLASSES: tuple[str, ...] = (PERSON, FALLEN, CAR, MOTORCYCLE, FIRE, SMOKE, GARBAGE)
PEOPLE = frozenset({PERSON, FALLEN})
VEHICLES = frozenset({CAR, MOTORCYCLE})


class Detection(msgspec.Struct, array_like=True, frozen=True):
    """One detected object: box corners in original-frame pixels, confidence and the model's class name."""

    x1: float
    y1: float
    x2: float
    y2: float
    score: float
    label: str

    @property
    def bottom_centre(self) -> tuple[float, float]:
        """The ground-contact point (bottom centre), the anchor zones are tested with."""
        return ((self.x1 + self.x2) / 2, self.y2)


class PlateRead(msgspec.Struct, frozen=True):
    """A plate the PlateReader read: normalised text (e.g. 甘P·A1234), confidence, and whether it is well-formed."""

    text: str
    score: float
    valid: bool


class Boxed(Protocol):
    """Anything with a box in frame pixels (a Detection, a camera actor's object)."""

    @property
    def x1(self) -> float: ...
    @property
    def y1(self) -> float: ...
    @property
    def x2(self) -> float: ...
    @property
    def y2(self) -> float: ...


def covered(box: tuple[float, float, float, float], by: tuple[float, float, float, float]) -> float:
    """The share of `box` (x1, y1, x2, y2) that lies inside `by`; 0 for an empty box."""
    area = (box[2] - box[0]) * (box[3] - box[1])
    w = min(box[2], by[2]) - max(box[0], by[0])
    h = min(box[3], by[3]) - max(box[1], by[1])
    return w * h / area if area > 0 and w > 0 and h > 0 else 0.0


def rides(person: Boxed, vehicle: Boxed, min_overlap: float = 0.5) -> bool:
    """The rider rule: a person rides a vehicle when at least `min_overlap` of the person's box lies inside the
    vehicle's box and the person's feet (box bottom) are not below the vehicle's wheels (box bottom) by more than
    a tenth of the vehicle's height, i.e. the person is on the vehicle, not standing in front of it."""
    inside = covered((person.x1, person.y1, person.x2, person.y2), (vehicle.x1, vehicle.y1, vehicle.x2, vehicle.y2))
    return inside >= min_overlap and person.y2 <= vehicle.y2 + 0.1 * (vehicle.y2 - vehicle.y1)
