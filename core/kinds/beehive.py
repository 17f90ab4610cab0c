"""Smart beehive reading: weight, brood temperature, humidity, sound bands, battery, GPS and motion."""

from __future__ import annotations

import msgspec


class BeehiveReading(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """Values of one beehive message."""

    weight: float | None = None  # kg, whole hive on the scale
    temp_in: float | None = None  # brood-nest temperature, deg C
    humidity: float | None = None  # inside relative humidity, %
    sound: list[float] | None = None  # band levels in dB: [<200 Hz, 200-300, 300-400, 400-600 Hz]
    battery: int | None = None  # %
    lat: float | None = None  # GPS, WGS84
    lon: float | None = None
    moved: bool | None = None  # accelerometer: the hive was moved since the last message


READING = BeehiveReading
