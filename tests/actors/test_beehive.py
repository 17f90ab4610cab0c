"""BeehiveActor: swarm, theft, brood temperature and battery events with a frozen, advanced clock."""

from __future__ import annotations

import math

import pytest

from actors.beehive import HISTORY_MAX, BeehiveActor, BeehiveState
from core.events import DeviceEvent, Message
from core.geo import offset
from core.kinds import DeviceProfile
from core.kinds.beehive import BeehiveReading

MIN = 60_000
T0 = 1_717_171_200_000  # 2024-06-01 00:00 local (UTC+8)
LAT, LON = 33.7870, 104.3720
NORMAL = {"temp_in": 35.0, "humidity": 62.0, "battery": 80, "lat": LAT, "lon": LON}


def profile(**params: float) -> DeviceProfile:
    return DeviceProfile(
        device_id="hive-0001", kind="beehive", village="狼岔坝村", township="立节镇", lat=LAT, lon=LON, params=params
    )


class Hive:
    """Feeds one actor numbered messages; the clock is frozen at the message's receive time."""

    def __init__(self, **params: float) -> None:
        self.actor = BeehiveActor(profile(**params))
        self.seq = 0

    def send(self, ts: int, **values: object) -> list[DeviceEvent]:
        self.seq += 1
        reading = BeehiveReading(**{**NORMAL, **values})
        events = self.actor.apply(Message(device_id="hive-0001", seq=self.seq, ts=ts, rx=ts + 300, v=reading), ts + 300)
        assert events is not None
        return events

    def run(self, start: int, minutes: int, step_min: int = 1, **values: object) -> list[DeviceEvent]:
        out: list[DeviceEvent] = []
        for i in range(0, minutes, step_min):
            out += self.send(start + i * MIN, **values)
        return out


def types(events: list[DeviceEvent]) -> list[str]:
    return [e.type for e in events]


def ramp(h: float, start: float, end: float) -> float:
    return min(1.0, max(0.0, (h - start) / (end - start)))


def foraging_weight(t: int) -> float:
    """Normal days: 0.8 kg out 7-11h, back 17-20h; 1.2 kg nectar 11-17h, 0.9 kg of it evaporates by night; noise."""
    day, h = divmod((t - T0) / 60 / MIN, 24)
    out = -0.8 * ramp(h, 7, 11) + 0.8 * ramp(h, 17, 20)
    nectar = 1.2 * ramp(h, 11, 17) - 0.9 * ramp(h, 20, 24)
    return round(35.0 + 0.3 * day + out + nectar + 0.03 * math.sin(t / 7_000), 2)


def test_class_contract() -> None:
    assert BeehiveActor.kind == "beehive"
    assert BeehiveActor.reading is BeehiveReading
    assert BeehiveActor.state_type is BeehiveState
    assert BeehiveActor.no_data_after_ms == 60 * MIN


def test_normal_daily_foraging_curve_raises_nothing() -> None:
    for step in (1, 5, 15):  # one, five and fifteen minute uploads
        hive = Hive()
        times = [T0 + i * step * MIN for i in range(3 * 24 * 60 // step)]
        assert [e for t in times for e in hive.send(t, weight=foraging_weight(t))] == []
    assert hive.actor.state.latched == []


def test_slow_large_drop_is_not_a_swarm() -> None:
    hive = Hive()
    # 1.5 kg over two hours (e.g. a cold spell eating stores) never loses 1 kg within 15 minutes
    assert hive.run(T0, 120, weight=35.0) == []
    assert [e for i in range(120) for e in hive.send(T0 + (120 + i) * MIN, weight=35.0 - 1.5 * i / 120)] == []


def test_swarm_raised_when_the_drop_crosses_the_threshold_once_per_episode_and_rearmed() -> None:
    hive = Hive()
    assert hive.run(T0, 30, weight=35.0) == []
    start = T0 + 30 * MIN
    assert hive.send(start, weight=34.6) == []
    assert hive.send(start + MIN, weight=34.2) == []
    (swarm,) = hive.send(start + 2 * MIN, weight=33.8)  # 1.2 kg below the window's peak
    assert swarm.type == "swarm"
    assert swarm.ts == start + 2 * MIN
    assert swarm.seq == hive.seq
    assert swarm.event_id == f"hive-0001:swarm:{hive.seq}"
    assert swarm.detail["drop_kg"] == pytest.approx(1.2)
    assert swarm.detail["from_kg"] == 35.0
    assert (swarm.lat, swarm.lon) == (LAT, LON)
    # the drop continues and the colony settles: one episode
    assert hive.send(start + 3 * MIN, weight=33.4) == []
    assert hive.run(start + 4 * MIN, 40, weight=33.0) == []
    assert hive.actor.state.latched == []  # window passed: re-armed
    # an afterswarm later that day is a new episode
    assert hive.send(start + 44 * MIN, weight=32.5) == []
    assert types(hive.send(start + 45 * MIN, weight=31.9)) == ["swarm"]


def test_swarm_window_and_threshold_come_from_params() -> None:
    hive = Hive(swarm_drop_kg=2.0)
    hive.run(T0, 20, weight=35.0)
    assert hive.send(T0 + 20 * MIN, weight=33.5) == []
    assert types(hive.send(T0 + 21 * MIN, weight=32.9)) == ["swarm"]
    hive = Hive(swarm_window_s=120)
    hive.run(T0, 20, weight=35.0)
    # 1.2 kg over 6 minutes is outside a 2-minute window
    assert [e for i in range(1, 7) for e in hive.send(T0 + (20 + i) * MIN, weight=35.0 - 0.2 * i)] == []


def test_weight_to_zero_is_theft_not_swarm() -> None:
    hive = Hive()
    hive.run(T0, 10, weight=35.0)
    (theft,) = hive.send(T0 + 10 * MIN, weight=0.2)
    assert theft.type == "theft"
    assert theft.detail["cause"] == "weight"
    assert theft.detail["prev_kg"] == 35.0
    assert theft.ts == T0 + 10 * MIN
    assert hive.run(T0 + 11 * MIN, 30, weight=0.1) == []  # still off the scale: same episode
    assert hive.run(T0 + 41 * MIN, 5, weight=34.8) == []  # hive put back: re-armed, no swarm
    assert "theft" not in hive.actor.state.latched
    assert types(hive.send(T0 + 46 * MIN, weight=0.0)) == ["theft"]


def test_low_weight_from_the_start_is_not_theft() -> None:
    hive = Hive()
    assert hive.run(T0, 10, weight=0.4) == []  # scale installed before the hive
    assert hive.run(T0 + 10 * MIN, 5, weight=8.0) == []  # an empty box (below theft_from_kg) then lifted again
    assert hive.send(T0 + 15 * MIN, weight=0.3) == []


def test_moved_flag_is_theft_once_and_rearms_when_still() -> None:
    hive = Hive()
    hive.run(T0, 5, weight=35.0)
    (theft,) = hive.send(T0 + 5 * MIN, weight=35.0, moved=True)
    assert theft.detail == {"cause": "moved", "causes": ["moved"]}
    assert hive.send(T0 + 6 * MIN, weight=35.0, moved=True) == []
    assert hive.send(T0 + 7 * MIN, weight=35.0, moved=False) == []
    assert types(hive.send(T0 + 8 * MIN, weight=35.0, moved=True)) == ["theft"]


def test_gps_beyond_theft_move_m_is_theft() -> None:
    hive = Hive()
    near = offset(LAT, LON, 90, 30)
    far = offset(LAT, LON, 90, 80)
    assert hive.send(T0, weight=35.0, lat=near[0], lon=near[1]) == []  # GPS jitter / inside 50 m
    (theft,) = hive.send(T0 + MIN, weight=35.0, lat=far[0], lon=far[1])
    assert theft.detail["cause"] == "gps"
    assert theft.detail["distance_m"] == pytest.approx(80, abs=0.5)
    assert (theft.lat, theft.lon) == far  # where the hive is now
    assert hive.send(T0 + 2 * MIN, weight=35.0, lat=far[0], lon=far[1]) == []
    assert hive.send(T0 + 3 * MIN, weight=35.0) == []  # back at the install point
    assert types(hive.send(T0 + 4 * MIN, weight=35.0, lat=far[0], lon=far[1])) == ["theft"]
    assert types(Hive(theft_move_m=100).run(T0, 3, weight=35.0, lat=far[0], lon=far[1])) == []


@pytest.mark.parametrize(("temp", "side"), [(30.8, "cold"), (37.2, "hot")])
def test_brood_temp_sustained_out_of_range(temp: float, side: str) -> None:
    hive = Hive()
    hive.run(T0, 10, weight=35.0)
    out = T0 + 10 * MIN
    assert hive.run(out, 30, temp_in=temp, weight=35.0) == []  # 29 minutes out: not yet
    assert hive.send(out + 30 * MIN - 1000, temp_in=temp, weight=35.0) == []
    (brood,) = hive.send(out + 30 * MIN, temp_in=temp, weight=35.0)
    assert brood.type == "brood_temp"
    assert brood.detail["side"] == side
    assert brood.detail["out_s"] == 1800
    assert hive.run(out + 31 * MIN, 60, temp_in=temp, weight=35.0) == []  # once per episode
    assert hive.send(out + 91 * MIN, temp_in=35.0, weight=35.0) == []  # back in range: re-armed
    assert hive.run(out + 92 * MIN, 30, temp_in=temp, weight=35.0) == []
    assert types(hive.send(out + 122 * MIN, temp_in=temp, weight=35.0)) == ["brood_temp"]


def test_brief_brood_dips_do_not_add_up() -> None:
    hive = Hive()
    events = []
    for k in range(6):  # 20 minutes cold, 1 minute in range, repeated
        events += hive.run(T0 + k * 21 * MIN, 20, temp_in=31.5)
        events += hive.send(T0 + (k * 21 + 20) * MIN, temp_in=34.0)
    assert events == []


def test_low_battery_with_hysteresis() -> None:
    hive = Hive()
    levels = [40, 16, 15, 14, 20, 15, 25, 15, 26, 15]
    raised = [i for i, b in enumerate(levels) if types(hive.send(T0 + i * MIN, battery=b)) == ["low_battery"]]
    assert raised == [2, 9]


def test_no_data_after_an_hour_of_silence() -> None:
    hive = Hive()
    hive.send(T0, weight=35.0)
    last_seen = T0 + 300
    assert hive.actor.tick(last_seen + 59 * MIN) == []
    assert types(hive.actor.tick(last_seen + 60 * MIN)) == ["no_data"]
    assert hive.actor.tick(last_seen + 90 * MIN) == []


def test_latest_values_and_bounded_history() -> None:
    hive = Hive()
    hive.send(T0, weight=35.0, sound=[40.0, 50.0, 45.0, 38.0], humidity=70.5, battery=77)
    hive.send(T0 + 10_000, temp_in=34.9)  # a partial message keeps the other values
    st = hive.actor.state
    assert (st.weight, st.temp_in, st.humidity, st.battery) == (35.0, 34.9, 62.0, 80)
    assert st.sound == [40.0, 50.0, 45.0, 38.0]
    for i in range(500):
        hive.send(T0 + 20_000 + i * 5_000, weight=35.0)
    assert len(st.history) <= HISTORY_MAX
    hive.send(T0 + 3 * 60 * MIN, weight=35.0)
    assert st.history == [(T0 + 3 * 60 * MIN, 35.0)]  # everything older than the window pruned


def test_duplicate_seq_returns_none_and_changes_nothing() -> None:
    hive = Hive()
    hive.run(T0, 5, weight=35.0)
    before = hive.actor.snapshot()
    dup = Message(device_id="hive-0001", seq=hive.seq, ts=T0 + 6 * MIN, rx=T0 + 6 * MIN, v=BeehiveReading(weight=0.0))
    assert hive.actor.apply(dup, T0 + 6 * MIN) is None
    old = Message(device_id="hive-0001", seq=1, ts=T0 + 7 * MIN, rx=T0 + 7 * MIN, v=BeehiveReading(moved=True))
    assert hive.actor.apply(old, T0 + 7 * MIN) is None
    assert hive.actor.snapshot() == before


def test_snapshot_restore_round_trip() -> None:
    hive = Hive()
    hive.run(T0, 20, weight=35.0, sound=[41.0, 52.0, 47.0, 39.0])
    hive.run(T0 + 20 * MIN, 10, weight=34.0, temp_in=31.0, battery=12)  # swarm, low battery latched, cold brood open
    blob = hive.actor.snapshot()
    restored = BeehiveActor.restore(hive.actor.profile, blob)
    assert restored.state == hive.actor.state
    assert restored.snapshot() == blob
    assert restored.state.latched == ["low_battery", "swarm"]
    assert restored.state.brood_out_since == T0 + 20 * MIN
    # both go on identically: the cold brood episode matures after 30 minutes on either
    twin = Hive()
    twin.actor, twin.seq = restored, hive.seq
    for t in range(30, 55):
        a = hive.send(T0 + t * MIN, weight=34.0, temp_in=31.0, battery=12)
        b = twin.send(T0 + t * MIN, weight=34.0, temp_in=31.0, battery=12)
        assert a == b
    assert hive.actor.state == twin.actor.state
    assert "brood_temp" in hive.actor.state.latched
