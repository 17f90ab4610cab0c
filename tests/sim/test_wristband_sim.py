"""WristbandSim: plausible daily signals, determinism by seed, scenarios that the actor turns into events."""

from __future__ import annotations

from datetime import datetime

import pytest

from actors.wristband import WristbandActor
from core.clock import BEIJING
from core.events import Message
from core.geo import distance_m
from core.kinds import DeviceProfile
from sim.wristband import Scenario, WristbandSim, make_profiles

MIN = 60_000
DAY0 = int(datetime(2024, 6, 1, tzinfo=BEIJING).timestamp() * 1000)  # local midnight
VILLAGES = [("狼岔坝村", "立节镇", 33.7868, 104.3712), ("峰迭村", "峰迭镇", 33.7611, 104.3360)]


def local(h: int, m: int = 0, day: int = 0) -> int:
    return DAY0 + day * 86_400_000 + (h * 60 + m) * MIN


def profile(**params) -> DeviceProfile:
    """A generated profile, or a hand-made one with exactly these params."""
    if not params:
        return make_profiles(1, VILLAGES, seed=7)[0]
    return DeviceProfile(device_id="wb-00001", kind="wristband", lat=33.7868, lon=104.3712, params=params)


def run_day(sim: WristbandSim, start: int = DAY0, minutes: int = 24 * 60, step: int = 1):
    return [(t, sim.sample(t)) for t in range(start, start + minutes * MIN, step * MIN)]


def feed(sim: WristbandSim, times: list[int]) -> list[str]:
    """Feed sim readings at the given times through a fresh actor; the event types raised, in order."""
    actor = WristbandActor(sim.profile)
    out = []
    for seq, t in enumerate(times, start=1):
        msg = Message(device_id=sim.profile.device_id, seq=seq, ts=t, rx=t + 300, v=sim.sample(t))
        out += [e.type for e in actor.apply(msg, t + 400)]
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_signals_plausible_over_a_day(seed):
    prof = make_profiles(3, VILLAGES, seed=seed)[seed - 1]
    sim = WristbandSim(prof, seed)
    day = run_day(sim)
    worn = [(t, r) for t, r in day if r.worn]
    assert len(worn) >= 0.95 * len(day)
    hour = {t: (t - DAY0) / 3_600_000 for t, _ in day}
    night = [r.hr for t, r in worn if hour[t] >= 22 or hour[t] < 6]
    daytime = [r.hr for t, r in worn if 8 <= hour[t] < 20]
    assert min(night) >= 52 and max(night) <= 66
    assert min(daytime) >= 64 and max(daytime) <= prof.params["hr_max"] - 5
    assert sum(night) / len(night) + 8 < sum(daytime) / len(daytime)
    assert max(daytime) >= 88  # walks raise the heart rate
    assert all(95 <= r.spo2 <= 99 for _, r in worn)
    temps = [r.temp for _, r in worn]
    assert min(temps) >= 36.2 and max(temps) <= 37.1 and max(temps) - min(temps) >= 0.3
    steps = [r.steps for _, r in day]
    assert steps[0] == 0 and steps == sorted(steps) and 2000 <= steps[-1] <= 15000
    battery = [r.battery for _, r in day]
    assert min(battery) >= 75 and max(battery) == 100
    assert battery[day.index(next(x for x in day if hour[x[0]] >= 21.9))] < 90  # drained by evening
    dist = [distance_m(prof.lat, prof.lon, r.lat, r.lon) for _, r in day]
    assert max(dist) <= 320 and max(dist) >= 70  # walked around the village, stayed inside it
    assert all(r.alarm is None for _, r in day)
    assert all(r.hr is None for _, r in day if not r.worn)


def test_steps_reset_at_local_midnight():
    sim = WristbandSim(profile(), 5)
    assert sim.sample(local(23, 59)).steps > 1000
    assert sim.sample(local(0, 1, day=1)).steps == 0


def test_deterministic_by_seed():
    prof = profile()
    a = run_day(WristbandSim(prof, 11), step=7)
    b = run_day(WristbandSim(prof, 11), step=7)
    c = run_day(WristbandSim(prof, 12), step=7)
    assert a == b and a != c
    sim = WristbandSim(prof, 11)
    assert sim.sample(local(15)) == sim.sample(local(15))  # pure: order and repetition do not matter
    assert make_profiles(5, VILLAGES, 3) == make_profiles(5, VILLAGES, 3) != make_profiles(5, VILLAGES, 4)


def test_make_profiles():
    profs = make_profiles(12, VILLAGES, seed=9)
    assert [p.device_id for p in profs[:2]] == ["wb-00001", "wb-00002"] and profs[-1].device_id == "wb-00012"
    assert len({p.device_id for p in profs}) == 12
    for i, p in enumerate(profs):
        village, township, lat, lon = VILLAGES[i % 2]
        assert (p.kind, p.village, p.township) == ("wristband", village, township)
        assert distance_m(lat, lon, p.lat, p.lon) <= 301
        assert 45 <= p.params["hr_min"] <= 52 and 110 <= p.params["hr_max"] <= 125
        assert p.params["fence_policy"] in ("always", "night")


def test_normal_day_raises_no_alarms():
    for prof in make_profiles(4, VILLAGES, seed=21):
        sim = WristbandSim(prof, 21)
        assert set(feed(sim, [t for t, _ in run_day(sim, step=2)])) <= {"band_removed"}


def test_unknown_scenario_rejected():
    with pytest.raises(ValueError, match="unknown wristband scenario"):
        Scenario(at_ms=0, type="flood")


@pytest.mark.parametrize(
    ("kind", "at", "expected"),
    [
        ("sos", local(10, 30), "sos"),
        ("fall", local(15, 5), "fall"),
        ("geofence_exit", local(21), "geofence_exit"),  # night: the default fence policy applies
        ("band_removed", local(11), "band_removed"),
        ("hr_high", local(9), "hr_out_of_range"),
        ("low_battery", local(13), "low_battery"),
    ],
)
def test_scenario_produces_matching_event(kind, at, expected):
    prof = profile()
    sim = WristbandSim(prof, 3, [Scenario(at_ms=at, type=kind)])
    times = [t for t, _ in run_day(sim, start=at - 30 * MIN, minutes=90)]
    before = feed(WristbandSim(prof, 3), times)
    assert expected not in before
    events = feed(sim, times)
    assert events.count(expected) == 1, events
    baseline = WristbandSim(prof, 3)
    at_reading, base_reading = sim.sample(at), baseline.sample(at)
    assert at_reading != base_reading and sim.sample(at - MIN) == baseline.sample(at - MIN)


def test_hr_high_is_sustained_and_geofence_exit_is_far_enough():
    prof = profile(hr_min=48, hr_max=115, fence_radius_m=500)
    sim = WristbandSim(prof, 4)
    sim.add(local(9), "hr_high")
    sim.add(local(21), "geofence_exit", duration_ms=10 * MIN)
    highs = [sim.sample(local(9, m)).hr for m in range(5)]
    assert all(h > 115 for h in highs) and sim.sample(local(9, 5)).hr <= 115
    r = sim.sample(local(21, 5))
    assert distance_m(prof.lat, prof.lon, r.lat, r.lon) >= 900
    assert distance_m(prof.lat, prof.lon, sim.sample(local(21, 10)).lat, sim.sample(local(21, 10)).lon) < 320
    events = feed(sim, [local(21, m) for m in range(20)])
    assert events == ["geofence_exit", "geofence_return"]


def test_alarm_times_for_runners():
    sim = WristbandSim(profile(), 1)
    sim.add(local(10), "sos")
    sim.add(local(8), "fall")
    sim.add(local(9), "hr_high")
    assert sim.alarm_times(local(0), local(12)) == [local(8), local(10)]
    assert sim.alarm_times(local(9), local(10)) == []
    assert sim.sample(local(10)).alarm == "sos" and sim.sample(local(10, 1)).alarm is None
