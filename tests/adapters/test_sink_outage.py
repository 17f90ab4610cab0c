"""A ClickHouse outage mid-ingest: ingest keeps answering, nothing is dead-lettered, everything lands once after.

Real components in one event loop: the ingest gateway (aiohttp), a wristband host shard and the sink, on the
session's Redis and a real chDB. No ClickHouse server is installed here, so the outage is the most honest one the
embedded backend allows: the sink's own chDB session is closed (its directory lock released), so every insert and
every query fails exactly as against a stopped server, for a real 60 s, and then the session is opened again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from actors.shard import Shard
from adapters import registry
from adapters.bus import DEAD, STORE
from adapters.ingest.gateway import Gateway
from adapters.sink import GROUP, TelemetrySink
from adapters.telemetry import AUDIT_TABLE, DB, ChdbBackend
from core.events import Sample, now_ms
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading
from core.settings import Settings
from core.signing import device_key, sign

MASTER = "sink-outage-test-master-key"
OUTAGE_S = 60.0
BANDS = [DeviceProfile(device_id=f"wb-out{i}", kind="wristband", village="杰迪村", township="立节镇") for i in range(4)]


def settings() -> Settings:
    """Quick rounds, few deliveries allowed: the old sink dead-lettered every pending batch within a second."""
    return Settings(
        device_master_key=MASTER,
        shards={"wristband": 1},
        bus={"block_ms": 10, "claim_idle_ms": 600_000, "max_deliveries": 3},
        sink={"flush_ms": 50, "max_entries": 20, "ttl_days": 3650, "outage_backoff_max_s": 1.0},
    )


async def upload(client: TestClient, device_id: str, seq: int) -> int:
    """One signed sample of a device, as the device sends it; returns the HTTP status."""
    body = msgspec.msgpack.encode([Sample(seq=seq, ts=now_ms(), v=WristbandReading(hr=60 + seq % 40, battery=80))])
    key = device_key(MASTER.encode(), device_id)
    ts = now_ms()
    headers = {"X-Device-Id": device_id, "X-Timestamp": str(ts), "X-Signature": sign(key, ts, body),
               "Content-Type": "application/msgpack"}  # fmt: skip
    async with client.post("/v1/telemetry", data=body, headers=headers) as resp:
        return resp.status


async def max_deliveries_pending(r: aioredis.Redis) -> int:
    """The highest delivery count among the sink's pending entries (0 when none is pending)."""
    pending = await r.xpending_range(STORE, GROUP, min="-", max="+", count=10_000)
    return max((int(p["times_delivered"]) for p in pending), default=0)


async def until(check: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.2)


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_60_s_clickhouse_outage_mid_ingest_loses_nothing_and_dead_letters_nothing(
    r: aioredis.Redis, var_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.sink")
    s = settings()
    await registry.register(r, BANDS)
    backend = ChdbBackend(var_dir / "chdb")
    sink = TelemetrySink(r, backend, s)
    await sink.setup()
    shard = Shard(r, s, "wristband", 0)
    client = TestClient(TestServer(Gateway(r, s).app))
    await client.start_server()
    tasks = [asyncio.create_task(sink.run()), asyncio.create_task(shard.run())]
    statuses: list[int] = []
    sent = 0
    seen_deliveries = 0

    async def send_for(seconds: float) -> None:
        nonlocal sent, seen_deliveries
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sent += 1
            statuses.extend(await asyncio.gather(*(upload(client, b.device_id, sent) for b in BANDS)))
            seen_deliveries = max(seen_deliveries, await max_deliveries_pending(r))
            await asyncio.sleep(0.25)

    try:
        await send_for(3)

        async def writing() -> bool:
            return sink.rows_written > 0

        await until(writing, 20)
        backend.close()  # ClickHouse stops
        with pytest.raises(ConnectionError):
            backend.query("SELECT 1")
        audit = [now_ms() / 1000, "county_op", "login", "", True, "127.0.0.1", "{}"]
        await r.xadd(STORE, {b"t": AUDIT_TABLE, b"r": json.dumps(audit).encode(), b"n": 1})  # an audit row too
        await send_for(OUTAGE_S)
        held = await r.xpending(STORE, GROUP)
        backend.open()  # ClickHouse is back
        await send_for(3)

        async def settled() -> bool:
            n = backend.query(f"SELECT count() AS n FROM {DB}.tele_wristband")[0]["n"]
            return int(n) == sent * len(BANDS) and int((await r.xpending(STORE, GROUP))["pending"]) == 0

        await until(settled, 60)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
        backend.close()

    backend.open()
    rows = backend.query(f"SELECT count() AS n, uniqExact(device_id, seq) AS u FROM {DB}.tele_wristband")[0]
    assert int(rows["n"]) == int(rows["u"]) == sent * len(BANDS)  # exactly what was sent: nothing lost, no repeat
    assert backend.query(f"SELECT user FROM {DB}.{AUDIT_TABLE}") == [{"user": "county_op"}]
    backend.close()
    assert set(statuses) == {200}  # ingest kept answering through the outage
    assert held["pending"] > 0  # the outage really held data back
    assert await r.xlen(DEAD) == 0
    assert seen_deliveries == 1  # held entries were never re-read: no outage length reaches max_deliveries
    down = [rec for rec in caplog.records if "ClickHouse is down" in rec.getMessage()]
    back = [rec for rec in caplog.records if "ClickHouse answers again" in rec.getMessage()]
    assert len(down) == 1 and len(back) == 1  # logged once per outage, not per round
