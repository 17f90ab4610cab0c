"""Builds a deterministic simulated fleet over the gazetteer's villages and provisions it in the registry."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from actors.base import DeviceProfile
from adapters import registry
from core.gazetteer import load_gazetteer
from sim import beehive, wristband

WATCH_ID_BASE = 8_800_000_000  # watch ids are 10 digits, like the IMEI-derived ids real watches report


@dataclass(frozen=True)
class Fleet:
    """Wristbands over HTTP, wristbands speaking the watch TCP protocol, and beehives."""

    bands: list[DeviceProfile]
    watches: list[DeviceProfile]
    hives: list[DeviceProfile]

    @property
    def all(self) -> list[DeviceProfile]:
        """Every device."""
        return self.bands + self.watches + self.hives


def build_fleet(wristbands: int, hives: int, watch_share: float = 0.1, seed: int = 7) -> Fleet:
    """Deterministic fleet: the same arguments give the same devices in every process."""
    villages = load_gazetteer().demo_villages(197)
    people = wristband.make_profiles(wristbands, villages, seed)
    n_watch = round(wristbands * watch_share)
    watches = [
        msgspec.structs.replace(p, device_id=str(WATCH_ID_BASE + i + 1), params={**p.params, "protocol": "watch"})
        for i, p in enumerate(people[:n_watch])
    ]
    # hives stand in the apiaries of 狼岔坝村 first (the pilot), then in other key villages
    apiaries = villages[:5]
    return Fleet(bands=people[n_watch:], watches=watches, hives=beehive.make_profiles(hives, apiaries, seed))


async def provision(redis: aioredis.Redis, fleet: Fleet) -> int:
    """Register every device of the fleet; returns the count."""
    return await registry.register(redis, fleet.all)
