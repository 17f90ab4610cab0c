"""Elderly wristband simulator: a seeded daily rhythm of vitals, steps, battery and village walks, plus scenarios."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any, NamedTuple

import msgspec

from core.clock import LOCAL_OFFSET_MS
from core.geo import offset
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# how long a scenario lasts when it does not say: alarms cover one sample at the usual 1-minute rate
DEFAULT_DURATION_MS = {
    "sos": MINUTE_MS,
    "fall": MINUTE_MS,
    "geofence_exit": 30 * MINUTE_MS,
    "band_removed": 20 * MINUTE_MS,
    "hr_high": 5 * MINUTE_MS,
    "low_battery": 2 * HOUR_MS,
}
SCENARIO_TYPES = tuple(DEFAULT_DURATION_MS)
WALK_SLOTS = ((8.0, 11.0), (11.0, 14.5), (14.5, 18.0))  # local hours; at most one walk in each
STEPS_PER_MIN_WALK = 70  # an elderly person's slow walk
STEPS_PER_MIN_HOME = 4  # pottering about the house and yard, 07:00-21:00


class Scenario(msgspec.Struct, frozen=True, kw_only=True):
    """Something injected into one band's readings from at_ms for duration_ms (0: the type's default)."""

    at_ms: int
    type: str
    duration_ms: int = 0

    def __post_init__(self) -> None:
        if self.type not in DEFAULT_DURATION_MS:
            raise ValueError(f"unknown wristband scenario {self.type!r}; one of {SCENARIO_TYPES}")

    def active(self, now_ms: int) -> bool:
        """Whether a reading at now_ms is affected."""
        return self.at_ms <= now_ms < self.at_ms + (self.duration_ms or DEFAULT_DURATION_MS[self.type])


class Walk(NamedTuple):
    """A walk around the village: out along a bearing to reach_m and back home."""

    start_h: float  # local hour it starts
    minutes: float
    bearing: float
    reach_m: float


class DayPlan(NamedTuple):
    """One local day's walks and the time the band is off the wrist (a wash), if any."""

    walks: tuple[Walk, ...]
    off_wrist: tuple[float, float] | None  # (start, end) local hours


def _activity(h: float) -> float:
    """Daytime activity level 0..1: asleep 22:00-06:00, ramps over 06-08 and 20-22."""
    if 8 <= h < 20:
        return 1.0
    if 6 <= h < 8:
        return (h - 6) / 2
    if 20 <= h < 22:
        return (22 - h) / 2
    return 0.0


class WristbandSim:
    """Seeded, pure signal generator for one wristband: same (profile, seed, scenarios, time), same reading."""

    def __init__(self, profile: DeviceProfile, seed: int, scenarios: Iterable[Scenario] = ()) -> None:
        self.profile = profile
        self.seed = seed
        self.scenarios = list(scenarios)
        rng = random.Random(self._key("person"))
        self.hr_rest = rng.uniform(57.0, 61.0)
        self.hr_day = rng.uniform(72.0, 80.0)
        self.temp_base = rng.uniform(36.5, 36.7)
        self.drain = rng.uniform(0.8, 1.2)  # battery % per hour, 06:00-22:00
        self._plans: dict[int, DayPlan] = {}  # cache of the deterministic day plans

    def add(self, at_ms: int, type_: str, duration_ms: int = 0) -> Scenario:
        """Inject a scenario and return it."""
        sc = Scenario(at_ms=at_ms, type=type_, duration_ms=duration_ms)
        self.scenarios.append(sc)
        return sc

    def alarm_times(self, start_ms: int, end_ms: int) -> list[int]:
        """SOS/fall times in [start_ms, end_ms): a runner samples there too, as a band sends alarms at once."""
        return sorted(s.at_ms for s in self.scenarios if s.type in ("sos", "fall") and start_ms <= s.at_ms < end_ms)

    def plan(self, day: int) -> DayPlan:
        """The walks and off-wrist time of local day number `day` (days since the epoch, UTC+8)."""
        if day not in self._plans:
            rng = random.Random(self._key("day", day))
            walks = []
            for lo, hi in sorted(rng.sample(WALK_SLOTS, rng.randint(1, 3))):
                minutes = rng.uniform(20, 50)
                start = rng.uniform(lo, hi - minutes / 60)
                walks.append(Walk(start, minutes, rng.uniform(0, 360), rng.uniform(80, 300)))
            off = None
            if rng.random() < 0.1:
                start = rng.uniform(19.0, 20.5)
                off = (start, start + rng.uniform(10, 20) / 60)
            if len(self._plans) > 8:
                self._plans.clear()
            self._plans[day] = DayPlan(tuple(walks), off)
        return self._plans[day]

    def sample(self, now_ms: int) -> WristbandReading:
        """The reading the band would send at now_ms (device time, ms since the epoch)."""
        day, in_day = divmod(now_ms + LOCAL_OFFSET_MS, DAY_MS)
        h = in_day / HOUR_MS
        plan = self.plan(day)
        noise = random.Random(self._key("t", now_ms))
        walk = next((w for w in plan.walks if w.start_h <= h < w.start_h + w.minutes / 60), None)
        hr_cap = self.profile.params.get("hr_max", 120) - 5
        hr = self.hr_rest + (self.hr_day - self.hr_rest) * _activity(h) + noise.uniform(-3, 3)
        if walk is not None:
            hr += noise.uniform(15, 25)
        temp = self.temp_base + 0.3 * math.cos(2 * math.pi * (h - 17) / 24) + noise.uniform(-0.1, 0.1)
        lat, lon = self._position(h, walk, noise)
        worn = plan.off_wrist is None or not plan.off_wrist[0] <= h < plan.off_wrist[1]
        values: dict[str, Any] = {
            "hr": int(min(round(hr), hr_cap)),
            "spo2": noise.choice((95, 96, 97, 97, 98, 98, 99)),
            "temp": round(min(max(temp, 36.2), 37.1), 1),
            "steps": self._steps(h, plan.walks),
            "battery": self._battery(h),
            "lat": lat,
            "lon": lon,
            "worn": worn,
        }
        for sc in self.scenarios:
            if sc.active(now_ms):
                self._inject(sc, now_ms, values, noise)
        if not values["worn"]:  # vitals are not measured off the wrist
            values.update(hr=None, spo2=None, temp=None)
        return WristbandReading(**values)

    # --- parts of a reading ----------------------------------------------------------------

    def _inject(self, sc: Scenario, now_ms: int, values: dict, noise: random.Random) -> None:
        if sc.type in ("sos", "fall"):
            values["alarm"] = sc.type
        elif sc.type == "band_removed":
            values["worn"] = False
        elif sc.type == "hr_high":
            values["worn"] = True
            values["hr"] = int(self.profile.params.get("hr_max", 120)) + noise.randint(15, 25)
        elif sc.type == "low_battery":
            values["battery"] = min(values["battery"], max(3, 14 - (now_ms - sc.at_ms) // (10 * MINUTE_MS)))
        elif sc.type == "geofence_exit":
            away = max(900.0, 2 * float(self.profile.params.get("fence_radius_m", 500)))
            bearing = random.Random(self._key("away", sc.at_ms)).uniform(0, 360)
            lat, lon = offset(self.profile.lat, self.profile.lon, bearing, away + noise.uniform(0, 50))
            values.update(lat=round(lat, 6), lon=round(lon, 6))

    def _position(self, h: float, walk: Walk | None, noise: random.Random) -> tuple[float, float]:
        """Home with indoor GPS scatter, or along the walk's out-and-back path."""
        if walk is None:
            bearing, dist = noise.uniform(0, 360), noise.uniform(0, 12)
        else:
            f = (h - walk.start_h) / (walk.minutes / 60)
            bearing, dist = walk.bearing, walk.reach_m * (1 - abs(2 * f - 1)) + noise.uniform(0, 5)
        lat, lon = offset(self.profile.lat, self.profile.lon, bearing, dist)
        return round(lat, 6), round(lon, 6)

    @staticmethod
    def _steps(h: float, walks: Iterable[Walk]) -> int:
        """Steps since local midnight: background pottering plus the walks so far."""
        home_min = max(0.0, min(h, 21.0) - 7.0) * 60
        walk_min = sum(min(max(0.0, h - w.start_h) * 60, w.minutes) for w in walks)
        return int(home_min * STEPS_PER_MIN_HOME + walk_min * STEPS_PER_MIN_WALK)

    def _battery(self, h: float) -> int:
        """Drains by day from a full charge at 06:00; charges on its cable from 22:00 (worn in bed)."""
        evening = 100 - self.drain * 16
        if 6 <= h < 22:
            return round(100 - self.drain * (h - 6))
        return round(min(100.0, evening + 25 * ((h - 22) % 24)))

    def _key(self, *parts: object) -> str:
        return ":".join(str(p) for p in (self.seed, self.profile.device_id, *parts))


def make_profiles(n: int, villages: list[tuple[str, str, float, float]], seed: int) -> list[DeviceProfile]:
    """n wristband profiles spread over villages (village, township, lat, lon), homes within ~300 m of the village."""
    rng = random.Random(f"wristband-profiles:{seed}")
    out = []
    for i in range(n):
        village, township, vlat, vlon = villages[i % len(villages)]
        lat, lon = offset(vlat, vlon, rng.uniform(0, 360), rng.uniform(0, 300))
        params = {
            "hr_min": rng.randint(45, 52),
            "hr_max": rng.randint(110, 125),
            "spo2_min": 90,
            "temp_max": 37.8,
            "fence_radius_m": rng.choice((400, 500, 600)),
            "fence_policy": "always" if rng.random() < 0.1 else "night",
        }
        out.append(
            DeviceProfile(
                device_id=f"wb-{i + 1:05d}",
                kind="wristband",
                village=village,
                township=township,
                lat=round(lat, 6),
                lon=round(lon, 6),
                params=params,
            )
        )
    return out
