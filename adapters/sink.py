"""The batched ClickHouse sink: reads the `store` stream, inserts idempotently, acks after the insert."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

import redis.asyncio as aioredis

from adapters.bus import STORE, Consumer, Entry, raise_if_cancelled
from adapters.telemetry import Backend, column_names, schema
from core.settings import Settings

log = logging.getLogger(__name__)

GROUP = "sink"


class TelemetrySink:
    """One consumer; a batch's insert token is derived from its entry ids, so a retried batch inserts nothing new."""

    def __init__(self, redis: aioredis.Redis, backend: Backend, settings: Settings, name: str = "sink-0") -> None:
        self.redis = redis
        self.backend = backend
        self.settings = settings
        self.consumer = Consumer(redis, STORE, GROUP, name, settings.bus, count=settings.sink.max_entries)
        self.rows_written = 0
        self.batches = 0
        self.last_error = ""
        self._columns: dict[str, list[str]] = {}

    async def setup(self) -> None:
        """Create the schema and the consumer group."""
        for ddl in schema(self.settings.sink.ttl_days):
            await asyncio.to_thread(self.backend.command, ddl)
        await self.consumer.ensure_group()

    async def run(self) -> None:
        """Write a batch every flush interval until cancelled."""
        interval = self.settings.sink.flush_ms / 1000
        while True:
            started = time.monotonic()
            try:
                await self.round()
                await self.consumer.trim_every(10)  # the store stream keeps only what is not yet written
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ClickHouse or Redis trouble: retry the same entries next round
                self.last_error = str(exc)[:300]
                log.warning("sink round failed, will retry: %s", self.last_error)
                self.consumer.retry_pending()
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
            raise_if_cancelled()

    async def round(self) -> int:
        """Read what is waiting (one read of up to max_entries), insert per table, then ack; returns rows written.

        One read per round means a batch re-read from the pending list after a crash is the same set of entries,
        so it gets the same insert tokens and ClickHouse drops the repeat.
        """
        entries: list[Entry] = await self.consumer.read(block_ms=0)
        if not entries:
            return 0
        by_table: dict[str, list[Entry]] = defaultdict(list)
        for entry in entries:
            by_table[entry[1][b"t"].decode()].append(entry)
        first, last = entries[0][0].decode(), entries[-1][0].decode()
        bad: list[tuple[Entry, str]] = []
        for table, group in by_table.items():
            try:
                await self._insert(table, group, f"{STORE}:{first}:{last}:{table}")
            except Exception:
                if len(group) == 1:
                    raise
                bad += await self._isolate(table, group)
        for entry, error in bad:
            await self.consumer.dead_letter([entry], f"rejected by ClickHouse: {error}")
        dead = {e[0] for e, _ in bad}
        await self.consumer.ack([e[0] for e in entries if e[0] not in dead])
        written = sum(int(f.get(b"n", b"0")) for i, f in entries if i not in dead)
        self.rows_written += written
        self.batches += 1
        return written

    async def _insert(self, table: str, group: list[Entry], token: str) -> None:
        cols = self._columns.get(table) or self._columns.setdefault(table, column_names(table))
        data = b"\n".join(fields[b"r"] for _, fields in group)
        await asyncio.to_thread(self.backend.insert_json_rows, table, cols, data, token)

    async def _isolate(self, table: str, group: list[Entry]) -> list[tuple[Entry, str]]:
        """Insert a failed batch entry by entry: those failing alone are bad data; all failing means the store is down.

        Tables of the batch that were written already keep their batch token, so a retry of the batch skips them.
        """
        bad: list[tuple[Entry, str]] = []
        for entry in group:
            eid = entry[0].decode()
            try:
                await self._insert(table, [entry], f"{STORE}:{eid}:{eid}:{table}")
            except Exception as exc:
                bad.append((entry, str(exc)[:300]))
        if len(bad) == len(group):
            raise RuntimeError(f"{table}: every entry of the batch failed: {bad[0][1]}")
        return bad
