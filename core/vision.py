"""The shared vision model: detections as the Serve deployments return them, and canonical object labels."""

from __future__ import annotations

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
