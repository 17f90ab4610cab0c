"""The batched ClickHouse sink: reads the `store` stream, inserts idempotently, acks after the insert."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

import redis.asyncio as aioredis

from adapters.bus import STORE, Consumer, Entry, run_rounds
from adapters.telemetry import Backend, column_names, schema
from core.settings import Settings

log = logging.getLogger(__name__)

GROUP = "sink"
TRIM_EVERY_S = 10.0  # how often the sink applies bus.retention to the store stream


class StoreDown(Exception):
    """ClickHouse does not answer: the batch is held in memory and retried, and no entry counts a delivery."""


class TelemetrySink:
    """One consumer; a batch's insert token is derived from its entry ids, so a retried batch inserts nothing new.

    An insert that fails while ClickHouse answers a probe is the entry's own failure (dead-lettered alone, or after
    max_deliveries re-reads). One that fails while the probe fails too is an outage: the batch stays pending and is
    retried from memory with a bounded exponential backoff, so an outage of any length raises no delivery count.
    """

    def __init__(self, redis: aioredis.Redis, backend: Backend, settings: Settings, name: str = "sink-0") -> None:
        self.redis = redis
        self.backend = backend
        self.settings = settings
        self.consumer = Consumer(redis, STORE, GROUP, name, settings.bus, count=settings.sink.max_entries)
        self.rows_written = 0
        self.batches = 0
        self.last_error = ""
        self.down_since: float | None = None  # monotonic time the current outage began
        self._held: list[Entry] = []  # the batch read before an outage, retried without re-reading
        self._written: set[bytes] = set()  # entries of the held batch already inserted (alone, in isolation)
        self._columns: dict[str, list[str]] = {}
        self._backoff = settings.sink.flush_ms / 1000  # the wait before the next try while ClickHouse is down

    async def setup(self) -> None:
        """Create the schema and the consumer group."""
        for ddl in schema(self.settings.sink.ttl_days):
            await asyncio.to_thread(self.backend.command, ddl)
        await self.consumer.ensure_group()

    async def run(self) -> None:
        """Write a batch every flush interval until cancelled; wait longer and longer while ClickHouse is down."""
        interval = self.settings.sink.flush_ms / 1000
        # the store stream keeps only what is not yet written; a failed round re-reads the same entries
        await run_rounds("sink", self._step, [self.consumer], trim_every_s=TRIM_EVERY_S, retry_s=interval,
                         pace_s=interval)  # fmt: skip

    async def _step(self) -> None:
        """One round; an outage holds the batch and waits (doubling up to outage_backoff_max_s) instead of failing."""
        try:
            await self.round()
        except StoreDown as exc:
            self._down(exc)
            self._backoff = min(self._backoff * 2, self.settings.sink.outage_backoff_max_s)
            await asyncio.sleep(self._backoff)
            return
        except Exception as exc:  # an entry's own failure or Redis trouble
            self.last_error = str(exc)[:300]
            raise
        self._recovered()

    def _down(self, exc: StoreDown) -> None:
        """Log an outage once, when it begins."""
        self.last_error = str(exc)[:300]
        if self.down_since is None:
            self.down_since = time.monotonic()
            log.error("ClickHouse is down, holding %d entries pending until it answers: %s",
                      len(self._held), self.last_error)  # fmt: skip

    def _recovered(self) -> None:
        """Log the end of an outage; the next one waits from the flush interval again."""
        if self.down_since is not None:
            log.warning("ClickHouse answers again after %.0f s", time.monotonic() - self.down_since)
            self.down_since = None
        self._backoff = self.settings.sink.flush_ms / 1000

    async def round(self) -> int:
        """Read what is waiting (one read of up to max_entries), insert per table, then ack; returns rows written.

        One read per round means a batch re-read from the pending list after a crash is the same set of entries,
        so it gets the same insert tokens and ClickHouse drops the repeat. A batch held through an outage is not
        re-read at all. Raises StoreDown when ClickHouse does not answer.
        """
        entries: list[Entry] = self._held or await self.consumer.read(block_ms=0)
        self._held = []
        if not entries:
            return 0
        try:
            bad = await self._write(entries)
        except StoreDown:
            self._held = entries
            raise
        self._written.clear()
        for entry, error in bad:
            await self.consumer.dead_letter([entry], f"rejected by ClickHouse: {error}")
        dead = {e[0] for e, _ in bad}
        await self.consumer.ack([e[0] for e in entries if e[0] not in dead])
        written = sum(int(f.get(b"n", b"0")) for i, f in entries if i not in dead)
        self.rows_written += written
        self.batches += 1
        return written

    async def _write(self, entries: list[Entry]) -> list[tuple[Entry, str]]:
        """Insert every table of the batch; returns the entries ClickHouse rejected on their own."""
        by_table: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            if entry[0] not in self._written:
                by_table[entry[1][b"t"].decode()].append(entry)
        first, last = entries[0][0].decode(), entries[-1][0].decode()
        bad: list[tuple[Entry, str]] = []
        for table, group in by_table.items():
            try:
                await self._insert(table, group, f"{STORE}:{first}:{last}:{table}")
            except Exception as exc:
                await self._raise_if_down(exc)
                if len(group) == 1:
                    raise
                bad += await self._isolate(table, group)
        return bad

    async def _raise_if_down(self, exc: Exception) -> None:
        """StoreDown when ClickHouse does not answer a trivial query either (the failure is not the data's)."""
        try:
            await asyncio.to_thread(self.backend.query, "SELECT 1")
        except Exception as probe:
            raise StoreDown(f"{type(exc).__name__}: {exc}; probe: {type(probe).__name__}: {probe}") from exc

    async def _insert(self, table: str, group: list[Entry], token: str) -> None:
        cols = self._columns.get(table) or self._columns.setdefault(table, column_names(table))
        data = b"\n".join(fields[b"r"] for _, fields in group)
        await asyncio.to_thread(self.backend.insert_json_rows, table, cols, data, token)

    async def _isolate(self, table: str, group: list[Entry]) -> list[tuple[Entry, str]]:
        """Insert a failed batch entry by entry: those failing alone while ClickHouse answers are bad data.

        Tables of the batch that were written already keep their batch token, so a retry of the batch skips them;
        entries written here are remembered, so a batch held through an outage that began mid-way skips them too.
        """
        bad: list[tuple[Entry, str]] = []
        for entry in group:
            eid = entry[0].decode()
            try:
                await self._insert(table, [entry], f"{STORE}:{eid}:{eid}:{table}")
                self._written.add(entry[0])
            except Exception as exc:
                await self._raise_if_down(exc)
                bad.append((entry, str(exc)[:300]))
        if len(bad) == len(group):
            raise RuntimeError(f"{table}: every entry of the batch failed: {bad[0][1]}")
        return bad
