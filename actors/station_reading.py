"""What a road advisory station sees in one frame, and the pure geometry rules perception applies to detections."""

from __future__ import annotations

import msgspec

from actors.station_config import PlateCrop
from core.vision import MOTORCYCLE, PERSON, Detection


class StationReading(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """One sampled frame of a station: its tracked vehicles (parallel lists) and the picture's health."""

    frame: bool = True  # a picture was obtained this tick
    still: bool = False  # the picture is identical to the previous one (frozen feed)
    analysed: bool = True  # the detector answered for this picture (False: no tracks this frame)
    track: list[int] = []  # tracker id of each vehicle in the frame
    label: list[str] = []  # canonical label: car | motorcycle
    x: list[float] = []  # bottom centre of the vehicle's box, frame px
    y: list[float] = []
    riders: list[int] = []  # people on a motorcycle, the driver included (0 for cars or when not seen)
    plate: list[str] = []  # best valid plate read of the track so far ("" when none)
    plate_score: list[float] = []


def _area(x1: float, y1: float, x2: float, y2: float) -> float:
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def rides(person: Detection, vehicle: Detection, min_overlap: float) -> bool:
    """The rider rule: a person rides a vehicle when at least `min_overlap` of the person's box lies inside the
    vehicle's box and the person's feet (box bottom) are not below the vehicle's wheels (box bottom) by more than
    a tenth of the vehicle's height, i.e. the person is on the vehicle, not standing in front of it."""
    own = _area(person.x1, person.y1, person.x2, person.y2)
    if own <= 0:
        return False
    inter = _area(max(person.x1, vehicle.x1), max(person.y1, vehicle.y1),
                  min(person.x2, vehicle.x2), min(person.y2, vehicle.y2))  # fmt: skip
    return inter / own >= min_overlap and person.y2 <= vehicle.y2 + 0.1 * (vehicle.y2 - vehicle.y1)


def count_riders(vehicle: Detection, people: list[Detection], min_overlap: float) -> int:
    """People riding a motorcycle (driver included) by the rider rule; 0 for any other vehicle."""
    if vehicle.label != MOTORCYCLE:
        return 0
    return sum(1 for p in people if p.label == PERSON and rides(p, vehicle, min_overlap))


def plate_box(vehicle: Detection, crop: PlateCrop, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer crop (x1, y1, x2, y2) of where a vehicle's plate is, inside the frame; None when the box is too
    small to read."""
    w, h = vehicle.x2 - vehicle.x1, vehicle.y2 - vehicle.y1
    if w < crop.min_width_px or h < crop.min_height_px:
        return None
    x1 = max(0, int(vehicle.x1 + crop.left * w))
    x2 = min(width, round(vehicle.x1 + crop.right * w))
    y1 = max(0, int(vehicle.y1 + crop.top * h))
    y2 = min(height, round(vehicle.y1 + crop.bottom * h))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    return x1, y1, x2, y2
