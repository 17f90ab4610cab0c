"""Smart beehive simulator: a seeded hive with a daily foraging curve; injected swarm, theft, cold-brood scenarios."""

from __future__ import annotations

import math
import random
from typing import Literal

import msgspec

from core.clock import LOCAL_OFFSET_MS  # the bees follow local daylight
from core.geo import offset
from core.kinds import DeviceProfile
from core.kinds.beehive import BeehiveReading

MIN_MS = 60_000
HOUR_MS = 60 * MIN_MS
DAY_MS = 24 * HOUR_MS
EVAPORATED = 0.7  # share of the day's nectar weight lost overnight (water evaporated, honey eaten)

# Weight rate by local hour, as multiples of the hive's `depart` (foragers out) and `nectar` (daily intake) per hour:
# foragers leave in the morning, nectar comes in over the afternoon, foragers return at dusk, water evaporates by night.
# (start hour, end hour, depart per hour, nectar per hour)
DAY_CURVE = (
    (0, 7, 0.0, -EVAPORATED / 11),
    (7, 11, -1 / 4, 0.0),
    (11, 17, 0.0, 1 / 6),
    (17, 20, 1 / 3, 0.0),
    (20, 24, 0.0, -EVAPORATED / 11),
)
NIGHT_SOUND = (40.0, 46.0, 43.0, 36.0)  # dB per band: <200 Hz, 200-300, 300-400, 400-600 Hz
DAY_SOUND = (8.0, 12.0, 10.0, 6.0)  # added at full foraging activity
PIPING = (0.0, 4.0, 6.0, 9.0)  # added in the half hour before and during a swarm (queen piping, roar)
MOVE_M, MOVE_MPS = 5000.0, 5.0  # a stolen hive ends this far away, moving at this speed


class Scenario(msgspec.Struct, kw_only=True, frozen=True):
    """One injected incident: what happens to the hive and from when (device time, ms)."""

    at_ms: int
    type: Literal["swarm", "theft", "theft_move", "brood_cold"]


def local_hour(t_ms: int) -> float:
    """Hour of the local (UTC+8) day, 0 <= h < 24."""
    return ((t_ms + LOCAL_OFFSET_MS) % DAY_MS) / HOUR_MS


def daylight(t_ms: int) -> float:
    """Sun and forager activity, 0 at night, 1 at local noon."""
    return max(0.0, math.sin(math.pi * (local_hour(t_ms) - 6) / 12))


def _ramp(t: int, start: int, ramp_ms: float) -> float:
    """0 before start, rising linearly to 1 over ramp_ms."""
    return min(1.0, max(0.0, (t - start) / ramp_ms))


class BeehiveSim:
    """One simulated hive; `sample` is called with increasing device time."""

    def __init__(self, profile: DeviceProfile, seed: int, scenarios: list[Scenario] | None = None) -> None:
        self.profile = profile
        self.rng = random.Random(f"beehive:{seed}:{profile.device_id}")
        rng = self.rng
        self.base_kg = rng.uniform(28.0, 38.0)
        self.depart_kg = rng.uniform(0.3, 0.8)
        self.nectar_kg = rng.uniform(0.4, 1.2)
        self.brood_c = rng.uniform(34.8, 35.2)
        self.sun = rng.uniform(0.6, 1.0)  # how well the solar panel sits
        self.battery = rng.uniform(60.0, 95.0)
        self.scenarios = sorted(scenarios or [], key=lambda s: s.at_ms)
        # per-scenario magnitudes, drawn up front so sampling rate does not change them
        self.shape = [
            {
                "drop_kg": rng.uniform(1.5, 2.5),
                "dur_ms": int(rng.uniform(5, 10) * MIN_MS),
                "cold_c": rng.uniform(30.5, 31.5),
                "bearing": rng.uniform(0, 360),
            }
            for _ in self.scenarios
        ]
        self.t0: int | None = None
        self.last_t: int | None = None

    def _cum_kg(self, t: int) -> float:
        """Foraging weight change from the start of local time to t (kg)."""
        days, rem = divmod(t + LOCAL_OFFSET_MS, DAY_MS)
        h = rem / HOUR_MS
        total = days * (1 - EVAPORATED) * self.nectar_kg
        for start, end, depart, nectar in DAY_CURVE:
            hours = max(0.0, min(h, end) - start)
            total += hours * (depart * self.depart_kg + nectar * self.nectar_kg)
        return total

    def sample(self, now_ms: int) -> BeehiveReading:
        """The hive's reading at device time now_ms."""
        rng = self.rng
        if self.t0 is None:
            self.t0 = now_ms
        light = daylight(now_ms)
        weight = self.base_kg + self._cum_kg(now_ms) - self._cum_kg(self.t0) + rng.gauss(0.0, 0.02)
        temp = self.brood_c + 0.15 * math.sin(2 * math.pi * local_hour(now_ms) / 24) + rng.gauss(0.0, 0.05)
        humidity = 62.0 + 8.0 * math.cos(2 * math.pi * (local_hour(now_ms) - 4) / 24) + rng.gauss(0.0, 1.0)
        sound = [n + light * d + rng.gauss(0.0, 0.8) for n, d in zip(NIGHT_SOUND, DAY_SOUND, strict=True)]
        lat, lon = offset(self.profile.lat, self.profile.lon, rng.uniform(0, 360), abs(rng.gauss(0.0, 3.0)))
        moved = False
        for sc, shape in zip(self.scenarios, self.shape, strict=True):
            since = now_ms - sc.at_ms
            if sc.type == "swarm":
                if -30 * MIN_MS <= since <= shape["dur_ms"]:
                    sound = [s + p for s, p in zip(sound, PIPING, strict=True)]
                weight -= shape["drop_kg"] * _ramp(now_ms, sc.at_ms, shape["dur_ms"])
            elif sc.type == "theft" and since >= 0:
                weight = abs(rng.gauss(0.1, 0.1))  # hive lifted off the scale
            elif sc.type == "theft_move" and since >= 0:
                # carried off and driven away at ~5 m/s; the accelerometer flags every sample that saw movement
                metres = min(MOVE_M, MOVE_MPS * since / 1000)
                lat, lon = offset(self.profile.lat, self.profile.lon, shape["bearing"], metres)
                arrived = sc.at_ms + int(MOVE_M / MOVE_MPS * 1000)
                moved = moved or self.last_t is None or self.last_t < arrived
            elif sc.type == "brood_cold":
                # cools over 10 minutes, stays cold for the hour, recovers over 15 minutes
                frac = _ramp(now_ms, sc.at_ms, 10 * MIN_MS) - _ramp(now_ms, sc.at_ms + HOUR_MS, 15 * MIN_MS)
                temp += frac * (shape["cold_c"] - temp)
        self._charge(now_ms, light)
        self.last_t = now_ms
        return BeehiveReading(
            weight=round(weight, 2),
            temp_in=round(temp, 1),
            humidity=round(min(75.0, max(50.0, humidity)), 1),
            sound=[round(s, 1) for s in sound],
            battery=round(self.battery),
            lat=round(lat, 6),
            lon=round(lon, 6),
            moved=moved,
        )

    def _charge(self, now_ms: int, light: float) -> None:
        """Solar charge by day, a steady drain always."""
        hours = 0.0 if self.last_t is None else max(0, now_ms - self.last_t) / HOUR_MS
        self.battery = min(100.0, max(0.0, self.battery + hours * (2.0 * light * self.sun - 0.25)))


def make_profiles(n: int, villages: list[tuple[str, str, float, float]], seed: int) -> list[DeviceProfile]:
    """n beehive profiles spread over the villages' apiaries, each apiary within ~200 m of its village point."""
    if not villages:
        raise ValueError("make_profiles needs at least one village")
    rng = random.Random(f"beehive-profiles:{seed}")
    apiaries = []
    for village, township, lat, lon in villages:
        alat, alon = offset(lat, lon, rng.uniform(0, 360), rng.uniform(30.0, 190.0))
        apiaries.append((village, township, alat, alon))
    profiles = []
    for i in range(n):
        village, township, alat, alon = apiaries[i % len(apiaries)]
        lat, lon = offset(alat, alon, rng.uniform(0, 360), rng.uniform(0.0, 8.0))  # hives stand in rows
        profiles.append(
            DeviceProfile(
                device_id=f"hive-{i + 1:04d}",
                kind="beehive",
                village=village,
                township=township,
                lat=round(lat, 6),
                lon=round(lon, 6),
            )
        )
    return profiles
