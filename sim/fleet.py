"""Builds a deterministic simulated fleet over the gazetteer's villages and provisions it in the registry."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from adapters import registry
from adapters.adoption import Adopter, save_adopters
from adapters.care import Person, id_check_digit, save_persons
from core.gazetteer import load_gazetteer
from core.kinds import DeviceProfile
from sim import beehive, wristband

WATCH_ID_BASE = 8_800_000_000  # watch ids are 10 digits, like the IMEI-derived ids real watches report
# Synthetic people for simulated devices only: generated names, ID numbers of 舟曲县 (623023) with a valid check
# digit and made-up mobile numbers. Real deployments register real records through the care/adoption adapters.
ZHOUQU_ID_PREFIX = "623023"
_SURNAMES = "杨张王李赵刘陈马何安雷苏魏石包"
_GIVEN = "秀兰英桂芳玉华春梅金花明德国文生海福成永"
_TIBETAN = ("卓玛", "扎西", "拉姆", "才让", "措吉", "旦增", "央金", "多杰")
_MOBILE = ("133", "139", "151", "158", "177", "181", "189")
_PLANS = ("年度认养(一箱)", "半年认养(一箱)", "年度认养(蜂蜜礼盒)")
ADOPTED_SHARE = 0.6  # share of simulated hives with an adopter


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


def _name(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(_TIBETAN)
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE) + f"{rng.randrange(10**8):08d}"


def synthetic_id_number(rng: random.Random, birth: dt.date) -> str:
    """A synthetic 舟曲县 ID number: 623023, the birth date, a sequence number and its valid check digit."""
    first17 = f"{ZHOUQU_ID_PREFIX}{birth:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + id_check_digit(first17)


def synthetic_person(device_id: str) -> Person:
    """A made-up elderly person for a simulated wristband (deterministic in the device id)."""
    rng = random.Random(f"person:{device_id}")
    birth = dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(25 * 365))
    return Person(name=_name(rng), id_number=synthetic_id_number(rng, birth), phone=_mobile(rng),
                  family_phone=_mobile(rng), birth_year=birth.year)  # fmt: skip


def synthetic_adopter(hive_id: str) -> Adopter | None:
    """A made-up adopter for part of the simulated hives (deterministic in the hive id); None = not adopted."""
    rng = random.Random(f"adopter:{hive_id}")
    if rng.random() >= ADOPTED_SHARE:
        return None
    since = dt.date(2024, 3, 1) + dt.timedelta(days=rng.randrange(540))
    return Adopter(name=_name(rng), phone=_mobile(rng), since=since.isoformat(), plan=rng.choice(_PLANS))


async def provision(redis: aioredis.Redis, fleet: Fleet) -> int:
    """Register every device of the fleet with synthetic wearers and adopters; returns the device count."""
    count = await registry.register(redis, fleet.all)
    await save_persons(redis, {p.device_id: synthetic_person(p.device_id) for p in fleet.bands + fleet.watches})
    adopters = {h.device_id: a for h in fleet.hives if (a := synthetic_adopter(h.device_id)) is not None}
    await save_adopters(redis, adopters)
    return count
