"""Duty rosters in Redis: who is on duty for each village, township and the county; /admin writes, the desk reads."""

from __future__ import annotations

from typing import cast

import redis.asyncio as aioredis

OFFICERS = "roster:officer"  # village -> user id of its duty officer
TOWNSHIP_DUTY = "roster:township_duty"  # township -> user id of its duty officer
COUNTY_DUTY = "roster:county"  # "duty" -> user id of the county platform's duty officer
KEYS = {"village": OFFICERS, "township": TOWNSHIP_DUTY, "county": COUNTY_DUTY}  # roster kind -> its hash
# escalation level -> (roster hash, the event field naming the place; None: the county's single "duty" entry)
ROSTERS = {"village_officer": (OFFICERS, "village"), "township_duty": (TOWNSHIP_DUTY, "township"),
           "county": (COUNTY_DUTY, None)}  # fmt: skip


async def entries(redis: aioredis.Redis) -> list[tuple[str, str, str]]:
    """Every roster entry as (kind, place, username), each roster by place."""
    out = []
    for kind, key in KEYS.items():
        raw = cast(dict[bytes, bytes], await redis.hgetall(key))
        out += [(kind, place.decode(), who.decode()) for place, who in sorted(raw.items())]
    return out


async def assign(redis: aioredis.Redis, kind: str, place: str, username: str) -> None:
    """Put a person on a roster (kind: village, township or county; the county's place is "duty")."""
    await redis.hset(KEYS[kind], place, username)
