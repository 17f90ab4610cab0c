"""Stream retention on a real Redis: declared for every stream, never cutting what a group still needs, and loud
when a pending entry left the stream anyway."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis

from adapters import bus
from adapters.bus import LOST, Consumer, retention_of, trim_stream
from adapters.reports import REPORTS
from core.settings import BusSettings, StreamRetention


async def fill(r: aioredis.Redis, stream: str, n: int, start_ms: int | None = None) -> list[bytes]:
    async with r.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(stream, {b"i": i}, id=f"{start_ms + i}-0" if start_ms is not None else "*")
        return list(await pipe.execute())


def test_every_stream_of_the_platform_has_a_declared_retention() -> None:
    s = BusSettings()
    names = [bus.EVENTS, bus.STORE, bus.DEAD, bus.COMMANDS, bus.INCIDENTS, bus.DISPATCH, bus.RESULTS, bus.SPEAKER,
             REPORTS, "audit", bus.tele_stream("wristband", 3)]  # fmt: skip
    assert [n for n in names if retention_of(s, n) is None] == []
    assert retention_of(s, "undeclared") is None


@pytest.mark.asyncio
async def test_trim_past_max_age_keeps_every_entry_a_group_has_not_read_or_acknowledged(r: aioredis.Redis) -> None:
    s = BusSettings(retention={"events": StreamRetention(max_age_s=0)})
    c = Consumer(r, bus.EVENTS, "rules", "desk-0", s, count=300)
    await c.ensure_group()
    ids = await fill(r, bus.EVENTS, 1000)
    got = await c.read(block_ms=0)  # 300 delivered ...
    await c.ack([i for i, _ in got[:250]])  # ... 250 acknowledged, 50 pending, 700 never read
    await trim_stream(r, bus.EVENTS, s)
    left = [i for i, _ in await r.xrange(bus.EVENTS)]
    assert left[-750:] == ids[250:]  # max_age_s 0 says "drop everything", the group says "not these"
    assert len(left) < 1000
    again = Consumer(r, bus.EVENTS, "rules", "desk-0", s, count=300)
    assert [i for i, _ in await again.read(block_ms=0)] == ids[250:300]  # pending ones still re-read in full


@pytest.mark.asyncio
async def test_a_stream_no_group_reads_is_cut_by_length_and_by_age(r: aioredis.Redis) -> None:
    now = 1_790_000_000_000
    s = BusSettings(retention={bus.DEAD: StreamRetention(max_age_s=3_600, max_len=200)})
    await fill(r, bus.DEAD, 500, start_ms=now - 7_200_000)  # two hours old
    recent = await fill(r, bus.DEAD, 1000, start_ms=now - 60_000)
    await trim_stream(r, bus.DEAD, s, now_ms=now)
    left = [i for i, _ in await r.xrange(bus.DEAD)]
    assert 200 <= len(left) < 500  # approximate: whole stream nodes
    assert left == recent[-len(left) :]


@pytest.mark.asyncio
async def test_a_pending_entry_trimmed_away_is_counted_and_logged_not_silently_acked(
    r: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    s = BusSettings()
    c = Consumer(r, bus.EVENTS, "rules", "desk-0", s)
    await c.ensure_group()
    ids = await fill(r, bus.EVENTS, 3)
    await c.read(block_ms=0)  # all three pending
    await r.xdel(bus.EVENTS, ids[1])  # what a length cap at XADD did to unread alarms
    restarted = Consumer(r, bus.EVENTS, "rules", "desk-0", s)
    with caplog.at_level(logging.ERROR, logger="adapters.bus"):
        assert [i for i, _ in await restarted.read(block_ms=0)] == [ids[0], ids[2]]
    assert int(await r.hget(LOST, f"{bus.EVENTS}|rules") or 0) == 1
    assert any("trimmed or deleted before they were processed" in m for m in caplog.messages)


@pytest.mark.asyncio
async def test_a_stream_whose_consumer_has_not_created_its_group_yet_keeps_everything(r: aioredis.Redis) -> None:
    s = BusSettings(retention={bus.DISPATCH: StreamRetention(max_age_s=0)})
    await fill(r, bus.DISPATCH, 300)  # the desk dispatched before the push service started
    await trim_stream(r, bus.DISPATCH, s)
    assert await r.xlen(bus.DISPATCH) == 300
