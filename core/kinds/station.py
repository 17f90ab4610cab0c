"""Road advisory station reading: the tracked vehicles of one sampled frame and the picture's health."""

from __future__ import annotations

import msgspec


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


READING = StationReading
