"""Village camera reading: what perception made of one sampled frame."""

from __future__ import annotations

import msgspec


class CameraReading(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What perception made of one sampled frame; parallel lists, one entry per detected object."""

    ok: bool = True  # a picture was sampled this tick (False: no new frame from the source)
    analysed: bool = True  # the detector answered for this picture
    motion: float | None = None  # frame change vs the previous picture (mean abs grey diff, 32x18 thumbnail)
    labels: list[str] = []  # canonical labels (core.vision.SCENE_CLASSES)
    track_ids: list[int] = []  # tracker ids, -1 while not yet tracked
    boxes: list[float] = []  # x1, y1, x2, y2 per object, flattened, frame pixels
    scores: list[float] = []
    latency_ms: int | None = None  # detector round trip


READING = CameraReading
