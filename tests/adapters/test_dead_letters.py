"""`python -m adapters.dead_letters replay` on a real Redis and chDB: the dry run changes nothing, the replay puts
each chosen entry back on its stream once, by stream and time range, and the real sink then writes it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from adapters.bus import DEAD, EVENTS, STORE, Consumer
from adapters.dead_letters import main, parse_time
from adapters.sink import GROUP, TelemetrySink
from adapters.telemetry import DB, ChdbBackend
from core.settings import BusSettings, Settings

ROWS = [b'["WB1", 1, 1790000000.001, 1790000000.5, 72, 97, 36.6, null, null, null, null, null, null]',
        b'["WB1", 2, 1790000060.001, 1790000060.5, 73, 97, 36.6, null, null, null, null, null, null]']  # fmt: skip


async def dead_letter_two_store_entries_and_an_event(url: str) -> tuple[list[bytes], int]:
    """What an outage did to the old sink: good store entries in `dead`; returns their ids and a time between."""
    r = aioredis.Redis.from_url(url)
    sink = Consumer(r, STORE, GROUP, "sink-0", BusSettings())
    await sink.ensure_group()
    ids = [await r.xadd(STORE, {b"t": "tele_wristband", b"r": row, b"n": 1}) for row in ROWS]
    entries = await sink.read(block_ms=0)
    await sink.dead_letter(entries[:1], "failed 5 deliveries")
    await asyncio.sleep(0.02)
    between = int(time.time() * 1000)
    await asyncio.sleep(0.02)
    await sink.dead_letter(entries[1:], "failed 5 deliveries")
    events = Consumer(r, EVENTS, "rules", "desk-0", BusSettings())
    await events.ensure_group()
    await r.xadd(EVENTS, {b"e": b"\xc1"})
    await events.dead_letter(await events.read(block_ms=0), "undecodable event")
    await r.aclose()
    return ids, between


async def write_with_sink(url: str, backend: ChdbBackend) -> int:
    r = aioredis.Redis.from_url(url)
    sink = TelemetrySink(r, backend, Settings(sink={"ttl_days": 3650}))
    await sink.setup()
    written = await sink.round()
    await r.aclose()
    return written


async def dead(url: str) -> list[dict[bytes, bytes]]:
    r = aioredis.Redis.from_url(url)
    found = [f for _, f in await r.xrange(DEAD)]
    await r.aclose()
    return found


def test_dry_run_lists_and_replay_moves_each_entry_back_once_by_stream_and_time(
    redis_url: str, var_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids, between = asyncio.run(dead_letter_two_store_entries_and_an_event(redis_url))
    cli = ["replay", "--redis-url", redis_url, "--stream", STORE]

    assert main([*cli, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "store: 2 条" in out and ids[0].decode() in out and ids[1].decode() in out
    assert "events" not in out
    assert len(asyncio.run(dead(redis_url))) == 3  # the dry run changed nothing

    until = datetime.fromtimestamp(between / 1000, UTC).isoformat()
    assert main([*cli, "--until", until]) == 0  # only the first store entry was dead-lettered before `until`
    assert "已重放 store: 1 条" in capsys.readouterr().out
    assert main([*cli, "--since", until]) == 0
    assert "已重放 store: 1 条" in capsys.readouterr().out
    assert main(cli) == 0  # nothing left to replay: each entry moved once
    assert "没有符合条件的死信" in capsys.readouterr().out
    [left] = asyncio.run(dead(redis_url))
    assert left[b"stream"] == EVENTS.encode()  # another stream's dead letter stays

    backend = ChdbBackend(var_dir / "chdb")
    try:
        assert asyncio.run(write_with_sink(redis_url, backend)) == 2  # replayed entries are new to the sink
        got = backend.query(f"SELECT seq, hr FROM {DB}.tele_wristband ORDER BY seq")
    finally:
        backend.close()
    assert got == [{"seq": 1, "hr": 72}, {"seq": 2, "hr": 73}]


def test_naive_times_are_beijing_time_and_bad_times_are_refused(redis_url: str) -> None:
    assert parse_time("2026-01-01T08:00:00") == parse_time("2026-01-01T00:00:00+00:00")
    assert main(["replay", "--redis-url", redis_url, "--stream", STORE, "--since", "昨天"]) == 2
