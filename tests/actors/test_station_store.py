"""Station readings and pass events land in ClickHouse (real Redis store stream, real chDB sink)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import redis.asyncio as aioredis

from adapters.bus import STORE
from adapters.sink import TelemetrySink
from adapters.telemetry import DB, EVENTS_TABLE, ChdbBackend, event_row, reading_row, table_of
from core.events import DeviceEvent, Message
from core.kinds.station import StationReading
from core.settings import BusSettings, Settings, SinkSettings

TS = 1_790_000_000_000


@pytest.mark.asyncio
async def test_a_station_row_and_its_pass_are_queryable(redis_url: str, var_dir: Path) -> None:
    settings = Settings(var_dir=var_dir, bus=BusSettings(block_ms=10), sink=SinkSettings(flush_ms=10, ttl_days=3650))
    reading = StationReading(track=[17, 18], label=["car", "motorcycle"], x=[300.5, 120.0], y=[220.0, 190.0],
                             riders=[0, 3], plate=["甘P·A1234", ""], plate_score=[0.97, 0.0])  # fmt: skip
    row = reading_row(Message(device_id="st-0001", seq=TS, ts=TS, rx=TS + 40, v=reading))
    passed = DeviceEvent(event_id="st-0001:vehicle_pass:1:17", type="vehicle_pass", kind="station", device_id="st-0001",
                         ts=TS, seq=TS, detail={"plate": "甘P·A1234", "speed_kmh": 52.3})  # fmt: skip
    r = aioredis.Redis.from_url(redis_url)
    await r.xadd(STORE, {b"t": table_of("station"), b"r": row, b"n": 1})
    await r.xadd(STORE, {b"t": EVENTS_TABLE, b"r": event_row(passed), b"n": 1})
    backend = ChdbBackend(var_dir / "chdb")
    try:
        sink = TelemetrySink(r, backend, settings)
        await sink.setup()
        assert await sink.round() == 2
        [tele] = backend.query(f"SELECT track, label, riders, plate, frame FROM {DB}.tele_station")
        [ev] = backend.query(f"SELECT type, detail FROM {DB}.{EVENTS_TABLE} WHERE kind = 'station'")
    finally:
        backend.close()
        await r.aclose()
    assert tele == {"track": [17, 18], "label": ["car", "motorcycle"], "riders": [0, 3], "plate": ["甘P·A1234", ""],
                    "frame": True}  # fmt: skip
    assert ev["type"] == "vehicle_pass" and msgspec.json.decode(ev["detail"])["speed_kmh"] == 52.3
