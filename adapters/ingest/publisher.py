"""Group commit into Redis Streams: messages arriving within a few ms share one XADD per kind and shard."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import cast

import msgspec
import redis.asyncio as aioredis

from adapters.bus import shard_of, tele_stream
from core.events import Message
from core.settings import Settings

LAST_TS = "ingest:last_ts"  # device -> newest accepted signed timestamp (replay defence across restarts)


class Publisher:
    """Batches messages per stream and resolves each caller once its messages are in Redis."""

    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.redis = redis
        self.settings = settings
        self._buffers: dict[str, list[Message]] = defaultdict(list)
        self._last_ts: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._encode = msgspec.msgpack.Encoder().encode
        self.published = 0

    async def publish(self, kind: str, messages: list[Message], signed_ts: int | None = None) -> None:
        """Queue messages of one kind; returns when they are durable in Redis (raises if Redis failed)."""
        shards = self.settings.shard_count(kind)
        for m in messages:
            self._buffers[tele_stream(kind, shard_of(m.device_id, shards))].append(m)
        if signed_ts is not None and messages:
            self._last_ts[messages[0].device_id] = signed_ts
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_soon())
        await fut

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.settings.ingest.flush_ms / 1000)
        buffers, self._buffers = self._buffers, defaultdict(list)
        last_ts, self._last_ts = self._last_ts, {}
        waiters, self._waiters = self._waiters, []
        self._flusher = None
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for stream, msgs in buffers.items():
                    pipe.xadd(stream, {b"m": self._encode(msgs)})
                if last_ts:
                    pipe.hset(LAST_TS, mapping=last_ts)  # type: ignore[arg-type]
                await pipe.execute()
        except Exception as exc:  # every waiter learns its messages were not stored
            for w in waiters:
                if not w.done():
                    w.set_exception(exc)
            return
        self.published += sum(len(v) for v in buffers.values())
        for w in waiters:
            if not w.done():
                w.set_result(None)

    async def load_last_ts(self) -> dict[str, int]:
        """Newest accepted signed timestamp per device, as persisted."""
        raw = cast(dict[bytes, bytes], await self.redis.hgetall(LAST_TS))  # no decode_responses: bytes
        return {k.decode(): int(v) for k, v in raw.items()}
