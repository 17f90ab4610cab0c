"""The device registry in Redis: who may send, of which kind, from where, with which key version."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import msgspec
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

from core.kinds import DeviceProfile

REGISTRY = "registry:devices"
VERSION = "registry:version"

_DECODE = msgspec.msgpack.Decoder(DeviceProfile)


async def register(redis: aioredis.Redis, profiles: Iterable[DeviceProfile]) -> int:
    """Add or update devices; returns how many were written."""
    mapping: dict[FieldT, EncodableT] = {p.device_id: msgspec.msgpack.encode(p) for p in profiles}
    if not mapping:
        return 0
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(REGISTRY, mapping=mapping)
        pipe.incr(VERSION)
        await pipe.execute()
    return len(mapping)


async def load_all(redis: aioredis.Redis) -> dict[str, DeviceProfile]:
    """Every registered device by id."""
    raw = cast(dict[bytes, bytes], await redis.hgetall(REGISTRY))  # no decode_responses: bytes
    return {k.decode(): _DECODE.decode(v) for k, v in raw.items()}


async def load_some(redis: aioredis.Redis, device_ids: list[str]) -> dict[str, DeviceProfile]:
    """The registered devices among `device_ids`."""
    if not device_ids:
        return {}
    values = cast(list[bytes | None], await redis.hmget(REGISTRY, device_ids))
    return {d: _DECODE.decode(v) for d, v in zip(device_ids, values, strict=True) if v is not None}


async def version(redis: aioredis.Redis) -> int:
    """Changes whenever the registry changes."""
    return int(await redis.get(VERSION) or 0)
