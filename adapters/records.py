"""Checked msgpack records of one kind in one Redis hash, keyed by device id (person records, hive adopters)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar, cast

import msgspec
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

T = TypeVar("T", bound=msgspec.Struct)
MOBILE = re.compile(r"^1\d{10}$")  # a mainland mobile number, 11 digits


class RecordHash(Generic[T]):
    """Records in hash `key`: every record is checked before any is stored; a missing one loads as None."""

    def __init__(self, key: str, type_: type[T], check: Callable[[str, T], None]) -> None:
        self.key, self.check = key, check
        self._enc, self._dec = msgspec.msgpack.Encoder(), msgspec.msgpack.Decoder(type_)

    async def save(self, redis: aioredis.Redis, records: Mapping[str, T]) -> int:
        """Store (add or replace) records by device id; none is stored when one fails its check."""
        for device_id, rec in records.items():
            self.check(device_id, rec)
        mapping: dict[FieldT, EncodableT] = {d: self._enc.encode(r) for d, r in records.items()}
        if mapping:
            await redis.hset(self.key, mapping=mapping)
        return len(mapping)

    async def load(self, redis: aioredis.Redis, device_id: str) -> T | None:
        """The record of a device, or None."""
        blob = cast(bytes | None, await redis.hget(self.key, device_id))
        return self._dec.decode(blob) if blob else None
