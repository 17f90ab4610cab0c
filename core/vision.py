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


def _area(x1: float, y1: float, x2: float, y2: float) -> float:
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def rides(person: Boxed, vehicle: Boxed, min_overlap: float = 0.5) -> bool:
    """The rider rule: a person rides a vehicle when at least `min_overlap` of the person's box lies inside the
    vehicle's box and the person's feet (box bottom) are not below the vehicle's wheels (box bottom) by more than
    a tenth of the vehicle's height, i.e. the person is on the vehicle, not standing in front of it."""
    own = _area(person.x1, person.y1, person.x2, person.y2)
    if own <= 0:
        return False
    inter = _area(max(person.x1, vehicle.x1), max(person.y1, vehicle.y1),
                  min(person.x2, vehicle.x2), min(person.y2, vehicle.y2))  # fmt: skip
    return inter / own >= min_overlap and person.y2 <= vehicle.y2 + 0.1 * (vehicle.y2 - vehicle.y1)
