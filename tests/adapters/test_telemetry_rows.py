"""One row encoder per reading: every kind's telemetry row has one value per column, in column order."""

from __future__ import annotations

import msgspec

from adapters.telemetry import column_names, reading_columns, reading_row, table_of
from core.events import Message
from core.kinds import readings
from core.kinds.beehive import BeehiveReading

TS = 1_790_000_000_000


def test_every_kinds_row_matches_its_columns_with_empty_arrays_not_null() -> None:
    for kind, reading in readings().items():
        row = msgspec.json.decode(reading_row(Message(device_id="d1", seq=3, ts=TS, rx=TS + 500, v=reading())))
        values = dict(zip(column_names(table_of(kind)), row, strict=True))
        assert [values["device_id"], values["seq"], values["ts"], values["rx"]] == ["d1", 3, TS / 1000, TS / 1000 + 0.5]
        for name, type_ in reading_columns(reading):
            if type_.startswith("Array"):
                assert values[name] == [], (kind, name)


def test_a_rows_values_follow_the_reading() -> None:
    reading = BeehiveReading(weight=42.5, sound=[40.0, 52.5], moved=True)
    row = msgspec.json.decode(reading_row(Message(device_id="HV1", seq=1, ts=TS, rx=TS, v=reading)))
    values = dict(zip(column_names("tele_beehive"), row, strict=True))
    assert values == {
        "device_id": "HV1", "seq": 1, "ts": TS / 1000, "rx": TS / 1000, "weight": 42.5, "temp_in": None,
        "humidity": None, "sound": [40.0, 52.5], "battery": None, "lat": None, "lon": None, "moved": True,
    }  # fmt: skip
