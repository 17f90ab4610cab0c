"""Consumer groups on a real Redis: idempotent setup, read once, crash recovery, XAUTOCLAIM, dead letters, trim."""

from __future__ import annotations

import asyncio
import zlib

import pytest
import redis.asyncio as aioredis

from adapters.bus import DEAD, Consumer, shard_of, tele_stream
from core.settings import BusSettings

STREAM = "test.stream"
GROUP = "g"


def bus(**kw: int) -> BusSettings:
    return BusSettings(**{"block_ms": 10, "claim_idle_ms": 50, "max_deliveries": 3, "read_count": 100, **kw})


def consumer(r: aioredis.Redis, name: str = "c1", **kw: int) -> Consumer:
    return Consumer(r, STREAM, GROUP, name, bus(**kw))


async def add(r: aioredis.Redis, n: int, stream: str = STREAM) -> list[bytes]:
    return [await r.xadd(stream, {b"i": str(i).encode()}) for i in range(n)]


async def pending_ids(r: aioredis.Redis, group: str = GROUP) -> dict[bytes, bytes]:
    """Pending entry id -> owning consumer."""
    rows = await r.xpending_range(STREAM, group, min="-", max="+", count=1000)
    return {p["message_id"]: p["consumer"] for p in rows}


@pytest.mark.asyncio
async def test_ensure_group_is_idempotent_and_creates_the_stream(r: aioredis.Redis) -> None:
    c = consumer(r)
    await c.ensure_group()
    await c.ensure_group()  # BUSYGROUP swallowed
    await consumer(r, "other").ensure_group()
    assert await r.exists(STREAM) == 1
    groups = await r.xinfo_groups(STREAM)
    assert [g["name"] for g in groups] == [GROUP.encode()]


@pytest.mark.asyncio
async def test_ensure_group_reads_entries_added_before_it(r: aioredis.Redis) -> None:
    ids = await add(r, 3)
    c = consumer(r)
    await c.ensure_group()
    assert [e[0] for e in await c.read(block_ms=0)] == ids


@pytest.mark.asyncio
async def test_new_entries_are_read_once(r: aioredis.Redis) -> None:
    c = consumer(r)
    await c.ensure_group()
    ids = await add(r, 5)
    got = await c.read(block_ms=0)
    assert [e[0] for e in got] == ids
    assert [e[1][b"i"] for e in got] == [b"0", b"1", b"2", b"3", b"4"]
    assert not c.recovering
    assert await c.read(block_ms=0) == []
    await c.ack(ids)
    assert await pending_ids(r) == {}
    more = await add(r, 2)
    assert [e[0] for e in await c.read(block_ms=0)] == more
    assert await c.read(block_ms=0) == []


@pytest.mark.asyncio
async def test_read_count_limits_a_batch(r: aioredis.Redis) -> None:
    c = Consumer(r, STREAM, GROUP, "c1", bus(), count=2)
    await c.ensure_group()
    ids = await add(r, 5)
    assert [e[0] for e in await c.read(block_ms=0)] == ids[:2]
    assert [e[0] for e in await c.read(block_ms=0)] == ids[2:4]
    assert [e[0] for e in await c.read(block_ms=0)] == ids[4:]


@pytest.mark.asyncio
async def test_blocking_read_returns_empty_after_block_ms(r: aioredis.Redis) -> None:
    c = consumer(r)
    await c.ensure_group()
    assert await c.read() == []  # blocks settings.block_ms (10 ms), nothing arrives


@pytest.mark.asyncio
async def test_crashed_consumer_rereads_its_pending_first(r: aioredis.Redis) -> None:
    c = consumer(r, "host-1")
    await c.ensure_group()
    first = await add(r, 3)
    assert [e[0] for e in await c.read(block_ms=0)] == first  # read, then "crash" before the ack
    later = await add(r, 2)

    restarted = consumer(r, "host-1")  # same name, fresh object
    assert restarted.recovering
    again = await restarted.read(block_ms=0)
    assert [e[0] for e in again] == first  # own pending before anything new
    assert [e[1][b"i"] for e in again] == [b"0", b"1", b"2"]
    await restarted.ack([e[0] for e in again])
    # pending list now empty: recovery ends and new entries follow
    assert [e[0] for e in await restarted.read(block_ms=0)] == later
    assert not restarted.recovering
    await restarted.ack(later)
    assert await pending_ids(r) == {}


@pytest.mark.asyncio
async def test_recovery_pages_through_pending_in_batches(r: aioredis.Redis) -> None:
    c = Consumer(r, STREAM, GROUP, "host-1", bus(), count=2)
    await c.ensure_group()
    ids = await add(r, 5)
    for _ in range(3):
        await c.read(block_ms=0)  # all 5 read, none acked

    restarted = Consumer(r, STREAM, GROUP, "host-1", bus(), count=2)
    seen: list[bytes] = []
    for _ in range(3):
        batch = await restarted.read(block_ms=0)
        assert restarted.recovering
        seen += [e[0] for e in batch]
        await restarted.ack([e[0] for e in batch])
    assert seen == ids
    assert await restarted.read(block_ms=0) == []
    assert not restarted.recovering


@pytest.mark.asyncio
async def test_retry_pending_redelivers_an_unacked_batch(r: aioredis.Redis) -> None:
    c = consumer(r)
    await c.ensure_group()
    ids = await add(r, 2)
    assert [e[0] for e in await c.read(block_ms=0)] == ids
    assert await c.read(block_ms=0) == []  # not re-delivered without retry_pending
    c.retry_pending()
    assert [e[0] for e in await c.read(block_ms=0)] == ids


@pytest.mark.asyncio
async def test_autoclaim_takes_stale_entries_from_a_dead_consumer(r: aioredis.Redis) -> None:
    dead = consumer(r, "host-dead")
    await dead.ensure_group()
    ids = await add(r, 3)
    assert len(await dead.read(block_ms=0)) == 3  # dies holding them

    early = consumer(r, "host-early")
    assert await early.read(block_ms=0) == []  # not idle for claim_idle_ms yet: left alone
    assert set((await pending_ids(r)).values()) == {b"host-dead"}

    await asyncio.sleep(0.12)  # > claim_idle_ms (50 ms)
    heir = consumer(r, "host-heir")
    claimed = await heir.read(block_ms=0)
    assert [e[0] for e in claimed] == ids
    assert [e[1][b"i"] for e in claimed] == [b"0", b"1", b"2"]
    assert set((await pending_ids(r)).values()) == {b"host-heir"}
    assert await heir.read(block_ms=0) == []  # claimed once, not again
    await heir.ack(ids)
    assert await pending_ids(r) == {}


@pytest.mark.asyncio
async def test_own_pending_comes_before_claimed_entries(r: aioredis.Redis) -> None:
    a, b = consumer(r, "a"), consumer(r, "b")
    await a.ensure_group()
    await add(r, 1)
    a_ids = [e[0] for e in await a.read(block_ms=0)]
    b_add = await add(r, 1)
    assert [e[0] for e in await b.read(block_ms=0)] == b_add
    await asyncio.sleep(0.12)

    b2 = consumer(r, "b")  # b restarts: its own pending first, then a's stale entry
    assert [e[0] for e in await b2.read(block_ms=0)] == b_add
    await b2.ack(b_add)
    assert [e[0] for e in await b2.read(block_ms=0)] == a_ids


@pytest.mark.asyncio
async def test_entry_failing_max_deliveries_goes_to_dead(r: aioredis.Redis) -> None:
    c = consumer(r, max_deliveries=3)
    await c.ensure_group()
    [bad] = await add(r, 1)
    for attempt in range(3):  # delivered and failed max_deliveries times
        got = await c.read(block_ms=0)
        assert [e[0] for e in got] == [bad], attempt
        c.retry_pending()
    assert await r.xlen(DEAD) == 0
    assert await c.read(block_ms=0) == []  # 4th delivery: dead-lettered instead of returned

    [(_, fields)] = await r.xrange(DEAD)
    assert fields[b"stream"] == STREAM.encode()
    assert fields[b"group"] == GROUP.encode()
    assert fields[b"id"] == bad
    assert b"3 deliveries" in fields[b"error"]
    assert fields[b"i"] == b"0"  # the original fields are kept
    assert await pending_ids(r) == {}  # acked in the source group

    later = await add(r, 1)  # the stream moves on
    assert [e[0] for e in await c.read(block_ms=0)] == later


@pytest.mark.asyncio
async def test_only_the_poison_entries_of_a_batch_are_dead_lettered(r: aioredis.Redis) -> None:
    c = consumer(r, max_deliveries=2)
    await c.ensure_group()
    old, young = await add(r, 2)
    assert len(await c.read(block_ms=0)) == 2  # both delivered once
    await r.xclaim(STREAM, GROUP, "c1", 0, [old], retrycount=2)  # old: already delivered max_deliveries times
    c.retry_pending()
    got = await c.read(block_ms=0)  # old: 3rd delivery -> dead; young: 2nd -> returned
    assert [e[0] for e in got] == [young]
    assert [f[b"id"] for _, f in await r.xrange(DEAD)] == [old]
    assert set(await pending_ids(r)) == {young}


@pytest.mark.asyncio
async def test_dead_letter_moves_entries_with_their_error(r: aioredis.Redis) -> None:
    c = consumer(r)
    await c.ensure_group()
    ids = await add(r, 2)
    entries = await c.read(block_ms=0)
    await c.dead_letter(entries, "boom " + "x" * 1000)
    dead = await r.xrange(DEAD)
    assert [f[b"id"] for _, f in dead] == ids
    assert all(f[b"error"].startswith(b"boom ") and len(f[b"error"]) == 500 for _, f in dead)
    assert await pending_ids(r) == {}


@pytest.mark.asyncio
async def test_ack_in_acks_inside_a_transaction(r: aioredis.Redis) -> None:
    c = consumer(r)
    await c.ensure_group()
    ids = await add(r, 2)
    await c.read(block_ms=0)
    async with r.pipeline(transaction=True) as pipe:
        pipe.set("effect", 1)
        c.ack_in(pipe, ids)
        c.ack_in(pipe, [])  # nothing queued
        await pipe.execute()
    assert await r.get("effect") == b"1"
    assert await pending_ids(r) == {}


async def _fill(r: aioredis.Redis, n: int) -> list[bytes]:
    async with r.pipeline(transaction=False) as pipe:
        for i in range(n):
            pipe.xadd(STREAM, {b"i": str(i).encode()})
        return list(await pipe.execute())


@pytest.mark.asyncio
async def test_trim_removes_only_entries_every_group_acked(r: aioredis.Redis) -> None:
    fast = Consumer(r, STREAM, "fast", "f", bus(), count=1000)
    slow = Consumer(r, STREAM, "slow", "s", bus(), count=300)
    await fast.ensure_group()
    await slow.ensure_group()
    ids = await _fill(r, 1000)

    await fast.ack([e[0] for e in await fast.read(block_ms=0)])  # fast: all 1000 acked
    await slow.read(block_ms=0)  # slow: 300 read ...
    await slow.ack(ids[:250])  # ... 250 acked, 50 still pending
    await fast.trim()

    left = [i for i, _ in await r.xrange(STREAM)]
    assert ids[250:] == left[-750:]  # nothing slow still needs is gone
    assert len(left) < 1000  # trimming happened (approximate: whole stream nodes below the floor)

    # slow's pending entries can still be re-read after the trim
    restarted = Consumer(r, STREAM, "slow", "s", bus(), count=300)
    assert [e[0] for e in await restarted.read(block_ms=0)] == ids[250:300]


@pytest.mark.asyncio
async def test_trim_keeps_everything_a_group_has_not_read(r: aioredis.Redis) -> None:
    fast = Consumer(r, STREAM, "fast", "f", bus(), count=1000)
    idle = Consumer(r, STREAM, "idle", "i", bus())
    await fast.ensure_group()
    await idle.ensure_group()
    await _fill(r, 1000)
    await fast.ack([e[0] for e in await fast.read(block_ms=0)])
    await fast.trim()
    assert await r.xlen(STREAM) == 1000


@pytest.mark.asyncio
async def test_trim_when_all_groups_acked_everything(r: aioredis.Redis) -> None:
    c = Consumer(r, STREAM, GROUP, "c", bus(), count=1000)
    await c.ensure_group()
    ids = await _fill(r, 1000)
    await c.ack([e[0] for e in await c.read(block_ms=0)])
    await c.trim()
    left = [i for i, _ in await r.xrange(STREAM)]
    assert 0 < len(left) < 1000
    assert left == ids[-len(left) :]  # only the oldest were dropped
    new = await add(r, 1)
    assert [e[0] for e in await c.read(block_ms=0)] == new


def test_shard_of_is_stable_and_in_range() -> None:
    ids = [f"WB{i:05d}" for i in range(500)]
    for shards in (1, 2, 3, 8):
        got = [shard_of(d, shards) for d in ids]
        assert all(0 <= s < shards for s in got)
        assert got == [shard_of(d, shards) for d in ids]
        assert len(set(got)) == shards  # 500 ids spread over every shard
    assert shard_of("WB00001", 2) == shard_of("WB00001", 2)

    assert shard_of("hive-7", 5) == zlib.crc32(b"hive-7") % 5  # fixed across processes and versions


def test_tele_stream_name() -> None:
    assert tele_stream("wristband", 3) == "tele.wristband.3"


@pytest.mark.asyncio
async def test_entries_deleted_while_pending_are_skipped_and_leave_the_pending_list(r: aioredis.Redis) -> None:
    c = Consumer(r, STREAM, GROUP, "host-1", bus(), count=2)
    await c.ensure_group()
    ids = await add(r, 5)
    for _ in range(3):
        await c.read(block_ms=0)  # all 5 pending, then the consumer dies
    await r.xdel(STREAM, ids[0], ids[1], ids[3])  # e.g. deleted by hand or trimmed by MAXLEN

    restarted = Consumer(r, STREAM, GROUP, "host-1", bus(), count=2)
    got = await restarted.read(block_ms=0)  # first page held only deleted entries: the next page follows
    assert [e[0] for e in got] == [ids[2]]
    assert all(fields for _, fields in got)
    await restarted.ack([e[0] for e in got])
    assert [e[0] for e in await restarted.read(block_ms=0)] == [ids[4]]
    await restarted.ack([ids[4]])
    assert await pending_ids(r) == {}  # nothing stuck in the pending list to hold back trim()
    assert await restarted.read(block_ms=0) == []
    assert not restarted.recovering


@pytest.mark.asyncio
async def test_trim_every_trims_only_when_due(r: aioredis.Redis) -> None:
    c = Consumer(r, STREAM, "g", "c", bus(), count=1000)
    await c.ensure_group()
    await _fill(r, 1000)
    await c.ack([e[0] for e in await c.read(block_ms=0)])
    await c.trim_every(3600)  # just created: not due yet
    assert await r.xlen(STREAM) == 1000
    await c.trim_every(0)
    assert await r.xlen(STREAM) < 1000
