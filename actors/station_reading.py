"""The pure geometry rules station perception applies to detections: riders on a motorcycle, where its plate is."""

from __future__ import annotations

from actors.station_config import PlateCrop
from core.vision import MOTORCYCLE, PERSON, Detection, rides


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
