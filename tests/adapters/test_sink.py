"""TelemetrySink with a real Redis and a real chDB: schema, values, idempotent retry after a crash, dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from actors.kinds import device_kinds
from adapters.bus import DEAD, STORE
from adapters.sink import GROUP, TelemetrySink
from adapters.telemetry import (
    DB,
    EVENT_COLUMNS,
    EVENTS_TABLE,
    FIXED_TABLES,
    ChdbBackend,
    column_names,
    event_row,
    reading_row,
    table_of,
)  # fmt: skip
from core.events import DeviceEvent, Message
from core.kinds.beehive import BeehiveReading
from core.kinds.wristband import WristbandReading
from core.settings import BusSettings, Settings, SinkSettings

TS = 1_790_000_000_000  # 2026-09-21 UTC; TTL is set long so these rows never expire in the test


def make_settings(**sink: int) -> Settings:
    return Settings(
        bus=BusSettings(block_ms=10, claim_idle_ms=50, max_deliveries=3),
        sink=SinkSettings(**{"flush_ms": 10, "ttl_days": 3650, **sink}),
    )


@pytest.fixture
def backend(var_dir: Path) -> Iterator[ChdbBackend]:
    """One chDB session per test (chDB allows one per directory and process); closed at the end."""
    b = ChdbBackend(var_dir / "chdb")
    try:
        yield b
    finally:
        b.close()


def wristband_rows() -> list[bytes]:
    msgs = [
        Message(device_id="WB1", seq=1, ts=TS + 1, rx=TS + 501, v=WristbandReading(hr=72, spo2=97, temp=36.6)),
        Message(device_id="WB1", seq=2, ts=TS + 60_999, rx=TS + 61_000, v=WristbandReading(alarm="sos", worn=True)),
        Message(
            device_id="WB2", seq=7, ts=TS + 120_500, rx=TS + 121_000,
            v=WristbandReading(lat=33.7868123, lon=104.3712456, battery=12, steps=4200, worn=False),
        ),
    ]  # fmt: skip
    return [reading_row(m) for m in msgs]


def beehive_rows() -> list[bytes]:
    msgs = [
        Message(
            device_id="HV1", seq=1, ts=TS, rx=TS + 10,
            v=BeehiveReading(weight=42.5, temp_in=35.0, humidity=61.0, sound=[40.0, 52.5, 38.25, 30.0], moved=False),
        ),
        Message(device_id="HV1", seq=2, ts=TS + 999, rx=TS + 1_000, v=BeehiveReading(battery=80)),
    ]  # fmt: skip
    return [reading_row(m) for m in msgs]


def events() -> list[DeviceEvent]:
    return [
        DeviceEvent(
            event_id="WB1:sos:2", type="sos", kind="wristband", device_id="WB1", ts=TS + 60_999, seq=2,
            village="大川镇", lat=33.78, lon=104.37, detail={"hr": 72},
        ),
        DeviceEvent(event_id=f"HV1:no_data:{TS}", type="no_data", kind="beehive", device_id="HV1", ts=TS),
    ]  # fmt: skip


async def put(r: aioredis.Redis, table: str, rows: list[bytes]) -> bytes:
    """One store-stream entry, as a shard writes it."""
    return await r.xadd(STORE, {b"t": table, b"r": b"\n".join(rows), b"n": len(rows)})


def count(backend: ChdbBackend, table: str) -> int:
    return int(backend.query(f"SELECT count() AS n FROM {DB}.{table}")[0]["n"])


async def pending(r: aioredis.Redis) -> int:
    return int((await r.xpending(STORE, GROUP))["pending"])


async def new_sink(r: aioredis.Redis, backend: ChdbBackend, settings: Settings | None = None) -> TelemetrySink:
    sink = TelemetrySink(r, backend, settings or make_settings())
    await sink.setup()
    return sink


@pytest.mark.asyncio
async def test_schema_creates_tables_with_expected_columns(r: aioredis.Redis, backend: ChdbBackend) -> None:
    await new_sink(r, backend)
    await new_sink(r, backend)  # setup is repeatable (IF NOT EXISTS, BUSYGROUP)
    cols: dict[str, list[tuple[str, str]]] = {}
    for row in backend.query(
        f"SELECT table, name, type FROM system.columns WHERE database = '{DB}' ORDER BY table, position"
    ):
        cols.setdefault(row["table"], []).append((row["name"], row["type"]))
    assert {"tele_wristband", "tele_beehive", "device_events", "ticket_events"} <= set(cols)
    assert set(cols) == {table_of(k) for k in device_kinds()} | set(FIXED_TABLES)
    ms = "DateTime64(3, 'UTC')"
    common = [("device_id", "String"), ("seq", "UInt64"), ("ts", ms), ("rx", ms)]
    assert cols["tele_wristband"] == [
        *common,
        ("hr", "Nullable(Int32)"), ("spo2", "Nullable(Int32)"), ("temp", "Nullable(Float32)"),
        ("steps", "Nullable(Int32)"), ("battery", "Nullable(Int32)"), ("lat", "Nullable(Float64)"),
        ("lon", "Nullable(Float64)"), ("worn", "Nullable(Bool)"), ("alarm", "LowCardinality(Nullable(String))"),
        ("stored", ms),
    ]  # fmt: skip
    assert cols["tele_beehive"] == [
        *common,
        ("weight", "Nullable(Float32)"), ("temp_in", "Nullable(Float32)"), ("humidity", "Nullable(Float32)"),
        ("sound", "Array(Float32)"), ("battery", "Nullable(Int32)"), ("lat", "Nullable(Float64)"),
        ("lon", "Nullable(Float64)"), ("moved", "Nullable(Bool)"), ("stored", ms),
    ]  # fmt: skip
    assert cols["device_events"] == [*EVENT_COLUMNS, ("stored", ms)]
    for table in ("tele_wristband", "tele_beehive", "device_events"):
        assert [n for n, _ in cols[table]][:-1] == column_names(table)
    engines = backend.query(f"SELECT name, engine, sorting_key FROM system.tables WHERE database = '{DB}'")
    assert {e["name"]: e["engine"] for e in engines} == dict.fromkeys(cols, "MergeTree")
    assert {e["name"]: e["sorting_key"] for e in engines}["tele_wristband"] == "device_id, ts, seq"
    assert table_of("wristband") == "tele_wristband"
    assert await r.xinfo_groups(STORE)  # the consumer group exists


@pytest.mark.asyncio
async def test_rows_from_the_store_stream_land_with_correct_values(r: aioredis.Redis, backend: ChdbBackend) -> None:
    sink = await new_sink(r, backend)
    await put(r, "tele_wristband", wristband_rows())
    await put(r, "tele_beehive", beehive_rows())
    await put(r, EVENTS_TABLE, [event_row(e) for e in events()])
    assert await sink.round() == 7
    assert sink.rows_written == 7 and sink.batches == 1
    assert await pending(r) == 0
    assert await sink.round() == 0  # nothing new

    wb = backend.query(
        "SELECT device_id, seq, toUnixTimestamp64Milli(ts) AS ts, toUnixTimestamp64Milli(rx) AS rx, hr, spo2,"
        f" round(temp, 2) AS temp, steps, battery, lat, lon, worn, alarm FROM {DB}.tele_wristband ORDER BY seq"
    )
    assert wb == [
        {"device_id": "WB1", "seq": 1, "ts": TS + 1, "rx": TS + 501, "hr": 72, "spo2": 97, "temp": 36.6,
         "steps": None, "battery": None, "lat": None, "lon": None, "worn": None, "alarm": None},
        {"device_id": "WB1", "seq": 2, "ts": TS + 60_999, "rx": TS + 61_000, "hr": None, "spo2": None, "temp": None,
         "steps": None, "battery": None, "lat": None, "lon": None, "worn": True, "alarm": "sos"},
        {"device_id": "WB2", "seq": 7, "ts": TS + 120_500, "rx": TS + 121_000, "hr": None, "spo2": None,
         "temp": None, "steps": 4200, "battery": 12, "lat": 33.7868123, "lon": 104.3712456, "worn": False,
         "alarm": None},
    ]  # fmt: skip
    types = backend.query(f"SELECT toTypeName(ts) AS t FROM {DB}.tele_wristband LIMIT 1")
    assert types == [{"t": "DateTime64(3, 'UTC')"}]

    hv = backend.query(
        "SELECT seq, toUnixTimestamp64Milli(ts) AS ts, weight, temp_in, humidity, sound, battery, moved"
        f" FROM {DB}.tele_beehive ORDER BY seq"
    )
    assert hv == [
        {"seq": 1, "ts": TS, "weight": 42.5, "temp_in": 35, "humidity": 61, "sound": [40, 52.5, 38.25, 30],
         "battery": None, "moved": False},
        {"seq": 2, "ts": TS + 999, "weight": None, "temp_in": None, "humidity": None, "sound": [], "battery": 80,
         "moved": None},
    ]  # fmt: skip

    ev = backend.query(
        "SELECT event_id, type, kind, device_id, toUnixTimestamp64Milli(ts) AS ts, seq, village, lat, lon, detail"
        f" FROM {DB}.device_events ORDER BY event_id"
    )
    assert ev == [
        {"event_id": f"HV1:no_data:{TS}", "type": "no_data", "kind": "beehive", "device_id": "HV1", "ts": TS,
         "seq": 0, "village": "", "lat": None, "lon": None, "detail": "{}"},
        {"event_id": "WB1:sos:2", "type": "sos", "kind": "wristband", "device_id": "WB1", "ts": TS + 60_999,
         "seq": 2, "village": "大川镇", "lat": 33.78, "lon": 104.37, "detail": '{"hr":72}'},
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_read_is_limited_to_max_entries_per_round(r: aioredis.Redis, backend: ChdbBackend) -> None:
    sink = await new_sink(r, backend, make_settings(max_entries=2))
    rows = wristband_rows()
    for row in rows:
        await put(r, "tele_wristband", [row])
    assert await sink.round() == 2
    assert await sink.round() == 1
    assert await sink.round() == 0
    assert count(backend, "tele_wristband") == 3


@pytest.mark.asyncio
async def test_crash_after_insert_before_ack_inserts_once(
    r: aioredis.Redis, backend: ChdbBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = await new_sink(r, backend)
    await put(r, "tele_wristband", wristband_rows())
    await put(r, EVENTS_TABLE, [event_row(e) for e in events()])

    async def crash(ids: list[bytes]) -> None:
        raise ConnectionError("process died before XACK")

    monkeypatch.setattr(sink.consumer, "ack", crash)
    with pytest.raises(ConnectionError):
        await sink.round()
    assert count(backend, "tele_wristband") == 3  # the insert happened ...
    assert await pending(r) == 2  # ... the ack did not
    await put(r, "tele_beehive", beehive_rows())  # arrives while the sink is down

    restarted = TelemetrySink(r, backend, make_settings())  # same consumer name, fresh object
    await restarted.setup()
    assert await restarted.round() == 5  # the pending batch again, same token: ClickHouse drops the repeat
    assert count(backend, "tele_wristband") == 3
    assert count(backend, EVENTS_TABLE) == 2
    assert count(backend, "tele_beehive") == 0  # not part of the re-read batch
    assert await restarted.round() == 2  # then the new entry
    assert count(backend, "tele_beehive") == 2
    assert await pending(r) == 0


@pytest.mark.asyncio
async def test_retry_after_a_partial_insert_completes_without_duplicates(
    r: aioredis.Redis, backend: ChdbBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = await new_sink(r, backend)
    await put(r, "tele_wristband", wristband_rows())
    await put(r, "tele_beehive", beehive_rows())
    real = backend.insert_json_rows
    failed: list[str] = []

    def flaky(table: str, columns: list[str], data: bytes, token: str) -> None:
        if table == "tele_beehive" and not failed:
            failed.append(token)
            raise RuntimeError("ClickHouse went away")
        real(table, columns, data, token)

    monkeypatch.setattr(backend, "insert_json_rows", flaky)
    with pytest.raises(RuntimeError):
        await sink.round()  # wristband rows inserted, beehive failed, nothing acked
    assert count(backend, "tele_wristband") == 3
    sink.consumer.retry_pending()  # what run() does after a failed round
    assert await sink.round() == 5
    assert count(backend, "tele_wristband") == 3
    assert count(backend, "tele_beehive") == 2
    assert await pending(r) == 0


@pytest.mark.asyncio
async def test_same_rows_in_a_different_batch_are_not_deduplicated(r: aioredis.Redis, backend: ChdbBackend) -> None:
    """The token is per batch (entry ids), not per content: a genuinely new entry is always written."""
    sink = await new_sink(r, backend)
    rows = wristband_rows()
    await put(r, "tele_wristband", rows)
    assert await sink.round() == 3
    await put(r, "tele_wristband", rows)
    assert await sink.round() == 3
    assert count(backend, "tele_wristband") == 6


async def wait_for(check: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.asyncio
async def test_failing_batch_goes_to_dead_and_later_batches_flow(r: aioredis.Redis, backend: ChdbBackend) -> None:
    settings = make_settings(max_entries=1)
    sink = await new_sink(r, backend, settings)
    bad = await r.xadd(STORE, {b"t": "tele_wristband", b"r": b"this is not json", b"n": 1})
    await put(r, "tele_wristband", wristband_rows()[:1])
    await put(r, "tele_beehive", beehive_rows())

    async def settled() -> bool:
        # settled means acked too: a batch written but not yet acked is still pending
        return await r.xlen(DEAD) == 1 and count(backend, "tele_beehive") == 2 and await pending(r) == 0

    task = asyncio.create_task(sink.run())
    try:
        await wait_for(settled)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [(_, dead)] = await r.xrange(DEAD)
    assert dead[b"id"] == bad
    assert dead[b"stream"] == STORE.encode() and dead[b"group"] == GROUP.encode()
    assert b"3 deliveries" in dead[b"error"]
    assert dead[b"r"] == b"this is not json"  # kept for inspection / replay
    assert "parse" in sink.last_error.lower() or "Cannot" in sink.last_error
    assert count(backend, "tele_wristband") == 1
    assert await pending(r) == 0
    assert sink.rows_written == 3


@pytest.mark.asyncio
async def test_unknown_table_is_retried_then_dead_lettered(r: aioredis.Redis, backend: ChdbBackend) -> None:
    sink = await new_sink(r, backend, make_settings(max_entries=1))
    await r.xadd(STORE, {b"t": "tele_toaster", b"r": b"[]", b"n": 1})
    await put(r, "tele_wristband", wristband_rows())
    for _ in range(3):  # max_deliveries failed rounds, each followed by what run() does
        with pytest.raises(KeyError):
            await sink.round()
        sink.consumer.retry_pending()
    assert await r.xlen(DEAD) == 0
    assert await sink.round() == 0  # the 4th delivery dead-letters it and returns nothing ...
    assert await r.xlen(DEAD) == 1
    assert await sink.round() == 3  # ... and the stream moves on
    assert count(backend, "tele_wristband") == 3


@pytest.mark.asyncio
async def test_bad_entry_is_dead_lettered_at_once_and_its_batch_mates_are_written(
    r: aioredis.Redis, backend: ChdbBackend
) -> None:
    sink = await new_sink(r, backend)
    await put(r, "tele_wristband", wristband_rows()[:1])
    bad = await r.xadd(STORE, {b"t": "tele_wristband", b"r": b"this is not json", b"n": 1})
    await put(r, "tele_beehive", beehive_rows())
    assert await sink.round() == 3  # one batch: the good entries are written in the same round
    [(_, dead)] = await r.xrange(DEAD)
    assert dead[b"id"] == bad
    assert b"rejected by ClickHouse" in dead[b"error"]
    assert count(backend, "tele_wristband") == 1
    assert count(backend, "tele_beehive") == 2
    assert await pending(r) == 0
