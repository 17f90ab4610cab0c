"""Elderly wristband reading: vitals, steps, battery, position, wear sensor and the band's own alarms."""

from __future__ import annotations

import msgspec


class WristbandReading(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Values of one wristband message; absent fields were not measured this time."""

    hr: int | None = None  # heart rate, bpm
    spo2: int | None = None  # blood oxygen saturation, %
    temp: float | None = None  # body temperature, deg C
    steps: int | None = None  # steps today (cumulative, resets at local midnight)
    battery: int | None = None  # %
    lat: float | None = None  # WGS84
    lon: float | None = None
    worn: bool | None = None  # wear sensor: False when the band is off the wrist
    alarm: str | None = None  # "sos" (button) or "fall" (on-band fall detection)


READING = WristbandReading
