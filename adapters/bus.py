"""Redis Streams: stream names, sharding, consumer groups, pending recovery and the dead-letter stream."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from core.settings import BusSettings, StreamRetention

log = logging.getLogger(__name__)

EVENTS = "events"  # derived device events, for the rules engine
STORE = "store"  # rows for ClickHouse, for the sink
DEAD = "dead"  # entries that failed max_deliveries times, with their error
COMMANDS = "commands"  # operator, responder and system actions on tickets (TicketCommand)
INCIDENTS = "incidents"  # every ticket transition (TicketEvent), append-only
DISPATCH = "dispatch"  # pushes to people's phones (Dispatch)
RESULTS = "command_results"  # the outcome of each command, by its idempotency key
SPEAKER = "speaker"  # voice warnings for station loudspeakers (SpeakerRequest), for the speaker service
LOST = "bus:lost"  # hash "<stream>|<group>" -> pending entries that left the stream unprocessed (health page)

Entry = tuple[bytes, dict[bytes, bytes]]
# The fields xadd takes. redis-py types them as an invariant dict, so merged dicts of our bytes fields need a cast.
Fields = dict[FieldT, EncodableT]


def connect(url: str, max_connections: int = 128) -> aioredis.Redis:
    """An async Redis client whose pool waits for a free connection under bursts instead of failing."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=30)
    return aioredis.Redis(connection_pool=pool)


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that a client library swallowed (redis-py can, mid-command), so loops stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def tele_stream(kind: str, shard: int) -> str:
    """The telemetry stream of one kind and shard."""
    return f"tele.{kind}.{shard}"


def shard_of(device_id: str, shards: int) -> int:
    """Stable shard of a device (crc32, so every process agrees)."""
    return zlib.crc32(device_id.encode()) % shards


@dataclass
class Consumer:
    """A named consumer in a group: new entries, its own pending after a restart, and stale ones of others."""

    redis: aioredis.Redis
    stream: str
    group: str
    name: str
    settings: BusSettings
    count: int = 0  # entries per read; 0 means settings.read_count
    _recovering: bool = True  # start by re-reading our own pending entries
    _trimmed: float = field(default_factory=time.monotonic)  # when `trim_every` last trimmed (monotonic s)

    async def ensure_group(self) -> None:
        """Create the stream and group when missing (reading from the start)."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    @property
    def recovering(self) -> bool:
        """True while re-reading pending entries (after a start or a failed batch)."""
        return self._recovering

    async def read(self, block_ms: int | None = None) -> list[Entry]:
        """Next batch: own pending entries first (after a restart or failure), then claimed stale ones, then new.

        block_ms None waits the configured time for new entries; 0 does not wait.
        """
        count = self.count or self.settings.read_count
        if self._recovering:
            entries = await self._read_from("0", count, None)
            if entries:
                return await self._drop_poison(entries)
            self._recovering = False
            claimed = await self._autoclaim(count)
            if claimed:
                return await self._drop_poison(claimed)
        block = self.settings.block_ms if block_ms is None else block_ms
        return await self._read_from(">", count, block or None)

    def retry_pending(self) -> None:
        """After a failed batch: the next read re-delivers our pending entries."""
        self._recovering = True

    async def ack(self, ids: list[bytes]) -> None:
        """Acknowledge processed entries (use `ack_in` to ack inside a transaction with the effect)."""
        if ids:
            await self.redis.xack(self.stream, self.group, *ids)

    def ack_in(self, pipe: aioredis.client.Pipeline, ids: list[bytes]) -> None:
        """Queue the ack in the same MULTI as the effect, so both happen or neither."""
        if ids:
            pipe.xack(self.stream, self.group, *ids)

    async def dead_letter(self, entries: list[Entry], error: str) -> None:
        """Move entries to the dead-letter stream with their error, and ack them here."""
        async with self.redis.pipeline(transaction=True) as pipe:
            for entry_id, fields in entries:
                record = {b"stream": self.stream, b"group": self.group, b"id": entry_id, b"error": error[:500]}
                pipe.xadd(DEAD, cast(Fields, {**fields, **record}))
            pipe.xack(self.stream, self.group, *[e[0] for e in entries])
            await pipe.execute()
        log.error("dead-lettered %d entries from %s: %s", len(entries), self.stream, error[:200])

    async def trim_every(self, seconds: float) -> None:
        """`trim` when at least `seconds` have passed since this consumer last did (call it every round)."""
        now = time.monotonic()
        if now - self._trimmed >= seconds:
            self._trimmed = now
            await self.trim()

    async def trim(self) -> int:
        """Apply this stream's retention (`trim_stream`); returns how many entries went."""
        return await trim_stream(self.redis, self.stream, self.settings)

    async def _read_from(self, start: str, count: int, block: int | None) -> list[Entry]:
        # clients are created without decode_responses, so the RESP2 reply is [[stream, [(id, fields), ...]]] of bytes
        reply = cast(
            list[tuple[bytes, list[Entry]]],
            await self.redis.xreadgroup(self.group, self.name, {self.stream: start}, count=count, block=block),
        )
        if not reply:
            return []
        # an entry deleted or trimmed while pending comes back with no fields ({} from redis-py): it is lost
        gone = [i for i, f in reply[0][1] if not f]
        if gone:
            await self._lost(gone)
            await self.redis.xack(self.stream, self.group, *gone)
            if start != ">" and len(gone) == len(reply[0][1]):  # a page of only those: read the next page
                return await self._read_from(start, count, block)
        return [(i, f) for i, f in reply[0][1] if f]

    async def _autoclaim(self, count: int) -> list[Entry]:
        reply = await self.redis.xautoclaim(
            self.stream, self.group, self.name, self.settings.claim_idle_ms, start_id="0-0", count=count
        )
        if len(reply) > 2 and reply[2]:  # pending entries no longer in the stream; XAUTOCLAIM already dropped them
            await self._lost(list(reply[2]))
        return [(i, f) for i, f in reply[1] if f]

    async def _lost(self, ids: list[bytes]) -> None:
        """Pending entries that left the stream unprocessed: logged loudly and counted in `LOST` (should never be)."""
        await self.redis.hincrby(LOST, f"{self.stream}|{self.group}", len(ids))
        log.error("%d pending entries of %s (group %s) were trimmed or deleted before they were processed: %s",
                  len(ids), self.stream, self.group, b", ".join(ids[:10]).decode())  # fmt: skip

    async def _drop_poison(self, entries: list[Entry]) -> list[Entry]:
        """Entries delivered max_deliveries times already go to the dead-letter stream instead."""
        info = await self.redis.xpending_range(
            self.stream, self.group, min=entries[0][0], max=entries[-1][0], count=len(entries), consumername=self.name
        )
        tries = {p["message_id"]: cast(int, p["times_delivered"]) for p in info}
        poison = [e for e in entries if tries.get(e[0], 0) > self.settings.max_deliveries]
        if poison:
            await self.dead_letter(poison, f"failed {self.settings.max_deliveries} deliveries")
        return [e for e in entries if tries.get(e[0], 0) <= self.settings.max_deliveries]


async def run_rounds(
    name: str,
    round_: Callable[[], Awaitable[object]],
    consumers: Sequence[Consumer],
    *,
    trim_every_s: float | None,
    retry_s: float = 0.5,
    pace_s: float = 0.0,
    recover: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """The one stream-worker loop: `round_` (read, apply, commit effects with the acks in one MULTI) until cancelled.

    After each round the consumers' streams get their retention every `trim_every_s` (None: the worker trims them
    itself); rounds start at most every `pace_s`. A failed round is logged, the consumers re-read their pending lists
    (their own first, then stale ones of others; dead letters after max_deliveries), and after `retry_s` the worker's
    `recover` rebuilds its in-memory state from Redis before the next round (a failing `recover` is a failed round).
    """
    failed = False
    while True:
        raise_if_cancelled()
        started = time.monotonic()
        try:
            if failed and recover is not None:
                await recover()
            failed = False
            await round_()
            if trim_every_s is not None:
                for consumer in consumers:
                    await consumer.trim_every(trim_every_s)
        except Exception as exc:
            failed = True
            log.warning("%s round failed, retrying: %s", name, exc)
            for consumer in consumers:
                consumer.retry_pending()
            await asyncio.sleep(retry_s)
            continue
        if pace_s:
            await asyncio.sleep(max(0.0, pace_s - (time.monotonic() - started)))


def retention_of(settings: BusSettings, stream: str) -> StreamRetention | None:
    """The declared retention of a stream (by name, else by the part before its first dot), if any."""
    return settings.retention.get(stream) or settings.retention.get(stream.partition(".")[0])


_CONSUMED = StreamRetention(max_age_s=0)  # an undeclared stream keeps only what a group has not acknowledged


async def trim_stream(redis: aioredis.Redis, stream: str, settings: BusSettings, now_ms: int | None = None) -> int:
    """Drop entries past the stream's retention, but never one a consumer group has not read or acknowledged."""
    keep = retention_of(settings, stream) or _CONSUMED
    try:
        groups = cast(list[dict[str, object]], await redis.xinfo_groups(stream))
    except ResponseError:  # no such stream yet
        return 0
    now = int(time.time() * 1000) if now_ms is None else now_ms
    cut = (max(now - keep.max_age_s * 1000, 0), 0)
    for g in groups:
        pending = await redis.xpending(stream, cast(str, g["name"]))
        mark = pending["min"] if pending["pending"] else g["last-delivered-id"]
        cut = min(cut, _id_key(mark.encode() if isinstance(mark, str) else cast(bytes, mark)))
    dropped = 0
    if cut > (0, 0) and (groups or keep.max_age_s):  # "once acknowledged" waits for a group to exist (late consumer)
        dropped += int(await redis.xtrim(stream, minid=f"{cut[0]}-{cut[1]}", approximate=True))
    if keep.max_len is not None and not groups:  # a length cap is safe only where no group still reads
        dropped += int(await redis.xtrim(stream, maxlen=keep.max_len, approximate=True))
    return dropped


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq or 0)
