"""云上认养 (cloud adoption) of beehives: who adopted which hive, kept in the Redis hash `hive:adopters`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import cast

import msgspec
import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

ADOPTERS = "hive:adopters"  # hive device id -> Adopter (msgpack)
_PHONE = re.compile(r"^1\d{10}$")


class Adopter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The adopter of one hive and their plan."""

    name: str
    phone: str
    since: str  # adoption start date, ISO YYYY-MM-DD
    plan: str  # the adoption plan as sold, e.g. 年度认养(一箱)


class AdopterError(ValueError):
    """An adopter record that cannot be stored; the message names the hive and the field."""


_ENC = msgspec.msgpack.Encoder()
_DEC = msgspec.msgpack.Decoder(Adopter)


def check_adopter(hive_id: str, a: Adopter) -> None:
    """Raise AdopterError when a record's fields are malformed."""
    if not a.name.strip():
        raise AdopterError(f"蜂箱 {hive_id}: 认养人姓名为空")
    if not _PHONE.match(a.phone):
        raise AdopterError(f"蜂箱 {hive_id}: 认养人电话须为11位手机号")
    try:
        dt.date.fromisoformat(a.since)
    except ValueError:
        raise AdopterError(f"蜂箱 {hive_id}: 认养日期须为 YYYY-MM-DD") from None
    if not a.plan.strip():
        raise AdopterError(f"蜂箱 {hive_id}: 认养方案为空")


async def save_adopters(redis: aioredis.Redis, adopters: Mapping[str, Adopter]) -> int:
    """Store (add or replace) hive adopters; every record is checked first, none stored on error."""
    for hive_id, a in adopters.items():
        check_adopter(hive_id, a)
    mapping: dict[FieldT, EncodableT] = {h: _ENC.encode(a) for h, a in adopters.items()}
    if mapping:
        await redis.hset(ADOPTERS, mapping=mapping)
    return len(mapping)


async def load_adopter(redis: aioredis.Redis, hive_id: str) -> Adopter | None:
    """The adopter of a hive, or None when it is not adopted."""
    blob = cast(bytes | None, await redis.hget(ADOPTERS, hive_id))
    return _DEC.decode(blob) if blob else None
