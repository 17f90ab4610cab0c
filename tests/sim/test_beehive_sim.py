"""BeehiveSim through BeehiveActor: quiet normal days, each injected scenario raises its event, seeded determinism."""

from __future__ import annotations

import pytest

from actors.beehive import BeehiveActor
from core.events import DeviceEvent, Message
from core.geo import distance_m
from core.kinds import DeviceProfile
from sim.beehive import BeehiveSim, Scenario, make_profiles

MIN = 60_000
T0 = 1_717_171_200_000  # 2024-06-01 00:00 local (UTC+8)
VILLAGES = [("狼岔坝村", "立节镇", 33.7870, 104.3720), ("峰迭村", "峰迭镇", 33.7710, 104.3090)]
STEP = 5 * MIN


def feed(profile: DeviceProfile, seed: int, days: float, scenarios: list[Scenario] | None = None) -> list[DeviceEvent]:
    """Sample the sim every 5 minutes and apply each reading to a fresh actor; all events raised."""
    sim, actor = BeehiveSim(profile, seed, scenarios), BeehiveActor(profile)
    events: list[DeviceEvent] = []
    for i in range(int(days * 24 * 60 * MIN / STEP)):
        t = T0 + i * STEP
        msg = Message(device_id=profile.device_id, seq=i + 1, ts=t, rx=t + 800, v=sim.sample(t))
        events += actor.apply(msg, t + 800) or []
        events += actor.tick(t + 1000)
    return events


def test_normal_days_raise_nothing() -> None:
    for profile in make_profiles(8, VILLAGES, seed=3):
        assert feed(profile, seed=11, days=3) == []


def test_readings_stay_plausible_with_a_daily_curve() -> None:
    (profile,) = make_profiles(1, VILLAGES, seed=3)
    sim = BeehiveSim(profile, seed=5)
    day = [sim.sample(T0 + i * STEP) for i in range(24 * 12)]
    assert all(25 <= r.weight <= 45 for r in day)
    assert all(34.5 <= r.temp_in <= 35.5 for r in day)
    assert all(50 <= r.humidity <= 75 for r in day)
    assert all(0 <= r.battery <= 100 and r.moved is False for r in day)
    assert all(distance_m(profile.lat, profile.lon, r.lat, r.lon) < 20 for r in day)
    by_hour = {h: [r for i, r in enumerate(day) if i // 12 == h] for h in range(24)}
    night_db = sum(sum(r.sound) for r in by_hour[2]) / 12
    noon_db = sum(sum(r.sound) for r in by_hour[12]) / 12
    assert noon_db > night_db + 20  # busier by day
    # foragers out in the morning: lighter at 11:00 than at 07:00, heavier again by 20:00
    assert by_hour[11][0].weight < by_hour[7][0].weight - 0.2
    assert by_hour[20][0].weight > by_hour[11][0].weight + 0.2


@pytest.mark.parametrize(
    ("kind", "event", "cause", "within_min"),
    [
        ("swarm", "swarm", None, (0, 15)),
        ("theft", "theft", "weight", (0, 5)),
        ("theft_move", "theft", "moved", (0, 5)),
        ("brood_cold", "brood_temp", None, (30, 45)),
    ],
)
def test_each_scenario_raises_its_event(kind: str, event: str, cause: str | None, within_min: tuple[int, int]) -> None:
    for hour in (10, 14):  # mid-morning while foragers leave, afternoon while nectar comes in
        at = T0 + 24 * 60 * MIN + hour * 60 * MIN + 123_456  # second day, between samples
        (profile,) = make_profiles(1, VILLAGES, seed=7)
        events = feed(profile, seed=1, days=2.5, scenarios=[Scenario(at_ms=at, type=kind)])
        assert [e.type for e in events] == [event]  # once, and nothing else
        late_min = (events[0].ts - at) / MIN
        assert within_min[0] <= late_min <= within_min[1]
        if cause:
            assert events[0].detail["cause"] == cause


def test_theft_move_drives_the_hive_away() -> None:
    (profile,) = make_profiles(1, VILLAGES, seed=7)
    at = T0 + 12 * 60 * MIN
    sim = BeehiveSim(profile, seed=1, scenarios=[Scenario(at_ms=at, type="theft_move")])
    readings = [sim.sample(at + i * STEP) for i in range(-2, 12)]
    assert [r.moved for r in readings[:2]] == [False, False]
    assert readings[2].moved is True
    assert distance_m(profile.lat, profile.lon, readings[-1].lat, readings[-1].lon) > 1000
    assert readings[-1].moved is False  # arrived: standing still far away


def test_determinism_by_seed() -> None:
    (profile,) = make_profiles(1, VILLAGES, seed=1)
    scenarios = [Scenario(at_ms=T0 + 9 * 60 * MIN, type="swarm"), Scenario(at_ms=T0 + 15 * 60 * MIN, type="brood_cold")]
    runs = [[BeehiveSim(profile, s, scenarios).sample(T0 + i * STEP) for i in range(300)] for s in (4, 4, 5)]
    first, again, other = runs
    assert first == again
    assert first != other
    assert feed(profile, 4, 1, scenarios) == feed(profile, 4, 1, scenarios)


def test_make_profiles() -> None:
    profiles = make_profiles(5, VILLAGES, seed=9)
    assert profiles == make_profiles(5, VILLAGES, seed=9)
    assert profiles != make_profiles(5, VILLAGES, seed=10)
    assert [p.device_id for p in profiles] == ["hive-0001", "hive-0002", "hive-0003", "hive-0004", "hive-0005"]
    assert {p.kind for p in profiles} == {"beehive"}
    places = {v: (lat, lon, township) for v, township, lat, lon in VILLAGES}
    for p in profiles:
        lat, lon, township = places[p.village]
        assert p.township == township
        assert distance_m(lat, lon, p.lat, p.lon) <= 210
    assert {p.village for p in profiles} == set(places)
    with pytest.raises(ValueError):
        make_profiles(1, [], seed=1)
