"""WristbandActor: events raised exactly when due, once per episode, re-armed; idempotency and snapshots."""

from __future__ import annotations

from datetime import datetime

import pytest

from actors.wristband import WristbandActor
from core.clock import BEIJING
from core.events import Message
from core.geo import offset
from core.kinds import DeviceProfile
from core.kinds.wristband import WristbandReading

HOME = (33.7868, 104.3712)  # a house in Zhouqu
S = 1000
MIN = 60 * S


def local(h: int, m: int = 0) -> int:
    """Device time (ms) of 2024-06-01 h:m China time."""
    return int(datetime(2024, 6, 1, h, m, tzinfo=BEIJING).timestamp() * 1000)


T0 = local(10)


def make(**params) -> WristbandActor:
    profile = DeviceProfile(
        device_id="wb-00001", kind="wristband", village="Lijie", lat=HOME[0], lon=HOME[1], params=params
    )
    return WristbandActor(profile)


class Feed:
    """Feeds readings with increasing seq; receive time is device time + 0.5 s."""

    def __init__(self, actor: WristbandActor) -> None:
        self.actor, self.seq = actor, 0

    def __call__(self, ts: int, **values) -> list[str]:
        self.seq += 1
        msg = Message(device_id="wb-00001", seq=self.seq, ts=ts, rx=ts + 500, v=WristbandReading(**values))
        events = self.actor.apply(msg, ts + 600)
        assert events is not None
        return [e.type for e in events]


def away(metres: float) -> dict:
    lat, lon = offset(HOME[0], HOME[1], 45.0, metres)
    return {"lat": lat, "lon": lon}


@pytest.mark.parametrize("alarm", ["sos", "fall"])
def test_alarm_raised_on_every_message(alarm):
    feed = Feed(actor := make())
    assert feed(T0, hr=70, alarm=alarm) == [alarm]
    assert feed(T0 + MIN, alarm=alarm) == [alarm]
    assert feed(T0 + 2 * MIN, hr=70) == []
    ev = actor.on_message(Message(device_id="wb-00001", seq=99, ts=T0, rx=T0, v=WristbandReading(alarm=alarm)), T0)[0]
    assert (ev.event_id, ev.seq, ev.ts, ev.kind, ev.village) == (f"wb-00001:{alarm}:99", 99, T0, "wristband", "Lijie")
    assert (ev.lat, ev.lon) == HOME  # no fix yet: the home position


def test_unknown_alarm_ignored():
    assert Feed(make())(T0, alarm="other") == []


def test_hr_out_of_range_sustained_once_per_episode_and_rearmed():
    feed = Feed(actor := make())
    assert feed(T0, hr=130) == []
    assert feed(T0 + 60 * S, hr=131) == []
    assert feed(T0 + 119 * S, hr=132) == []  # not before hr_sustain_s
    assert feed(T0 + 120 * S, hr=133) == ["hr_out_of_range"]
    assert feed(T0 + 180 * S, hr=140) == []  # once per episode
    assert feed(T0 + 240 * S, hr=80) == ["hr_normal"]  # back in range: re-armed
    assert feed(T0 + 300 * S, hr=40) == []  # a new episode, below hr_min
    assert feed(T0 + 419 * S, hr=40) == []
    assert feed(T0 + 420 * S, hr=40) == ["hr_out_of_range"]
    assert actor.state.hr == 40 and "hr_out_of_range" in actor.state.raised


def test_hr_interruption_restarts_sustain_timer():
    feed = Feed(make())
    assert feed(T0, hr=130) == []
    assert feed(T0 + 100 * S, hr=100) == []  # in range before it counted: no event, no hr_normal
    assert feed(T0 + 150 * S, hr=130) == []
    assert feed(T0 + 260 * S, hr=130) == []
    assert feed(T0 + 270 * S, hr=130) == ["hr_out_of_range"]


def test_hr_range_and_sustain_from_params():
    feed = Feed(make(hr_min=50, hr_max=100, hr_sustain_s=60))
    assert feed(T0, hr=105) == []
    assert feed(T0 + 60 * S, hr=101) == ["hr_out_of_range"]
    feed = Feed(make(hr_min=50, hr_max=100, hr_sustain_s=60))
    assert feed(T0, hr=100) == [] and feed(T0 + 200 * S, hr=50) == []  # bounds are in range


def test_readings_without_hr_do_not_break_an_episode():
    feed = Feed(make())
    assert feed(T0, hr=130) == []
    assert feed(T0 + 60 * S, battery=80) == []
    assert feed(T0 + 120 * S, hr=130) == ["hr_out_of_range"]


@pytest.mark.parametrize(
    ("event", "field", "bad", "good", "sustain_s", "params"),
    [
        ("spo2_low", "spo2", 88, 96, 120, {}),
        ("spo2_low", "spo2", 91, 96, 120, {"spo2_min": 93}),
        ("fever", "temp", 38.2, 36.8, 300, {}),
        ("fever", "temp", 37.6, 36.8, 60, {"temp_max": 37.5, "temp_sustain_s": 60}),
    ],
)
def test_other_vitals_sustained(event, field, bad, good, sustain_s, params):
    feed = Feed(actor := make(**params))
    assert feed(T0, **{field: bad}) == []
    assert feed(T0 + (sustain_s - 1) * S, **{field: bad}) == []
    assert feed(T0 + sustain_s * S, **{field: bad}) == [event]
    assert feed(T0 + (sustain_s + 60) * S, **{field: bad}) == []
    assert feed(T0 + (sustain_s + 120) * S, **{field: good}) == []  # re-armed (no recovery event for this one)
    assert event not in actor.state.raised
    t1 = T0 + (sustain_s + 180) * S
    assert feed(t1, **{field: bad}) == []
    assert feed(t1 + sustain_s * S, **{field: bad}) == [event]


def test_vitals_ignored_while_band_is_off():
    feed = Feed(make())
    assert feed(T0, hr=130, worn=True) == []
    assert feed(T0 + 60 * S, worn=False, hr=0) == ["band_removed"]
    assert feed(T0 + 200 * S, hr=0) == []  # still off the wrist: no hr event
    assert feed(T0 + 260 * S, worn=True, hr=130) == []  # sustain restarts once worn again
    assert feed(T0 + 380 * S, hr=130) == ["hr_out_of_range"]


def test_band_removed_once_per_episode():
    feed = Feed(make())
    assert feed(T0, worn=True) == []
    assert feed(T0 + MIN, worn=False) == ["band_removed"]
    assert feed(T0 + 2 * MIN, worn=False) == []
    assert feed(T0 + 3 * MIN, battery=50) == []
    assert feed(T0 + 4 * MIN, worn=True) == []
    assert feed(T0 + 5 * MIN, worn=False) == ["band_removed"]


def test_low_battery_once_and_rearmed_with_hysteresis():
    feed = Feed(make())
    assert feed(T0, battery=20) == []
    assert feed(T0 + MIN, battery=15) == ["low_battery"]
    assert feed(T0 + 2 * MIN, battery=10) == []
    assert feed(T0 + 3 * MIN, battery=25) == []  # not above low + 10: still the same episode
    assert feed(T0 + 4 * MIN, battery=14) == []
    assert feed(T0 + 5 * MIN, battery=26) == []  # re-armed
    assert feed(T0 + 6 * MIN, battery=15) == ["low_battery"]
    assert Feed(make(battery_low=30))(T0, battery=30) == ["low_battery"]


def test_geofence_always_policy():
    feed = Feed(actor := make(fence_policy="always"))
    assert feed(T0, **away(100)) == []
    assert feed(T0 + MIN, **away(490)) == []
    assert feed(T0 + 2 * MIN, **away(520)) == ["geofence_exit"]
    assert actor.state.outside
    assert feed(T0 + 3 * MIN, **away(800)) == []
    assert feed(T0 + 4 * MIN, **away(50)) == ["geofence_return"]
    assert feed(T0 + 5 * MIN, **away(50)) == []
    assert feed(T0 + 6 * MIN, **away(700)) == ["geofence_exit"]


def test_geofence_event_carries_position_and_distance():
    feed = Feed(actor := make(fence_policy="always", fence_radius_m=200))
    pos = away(300)
    msg = Message(device_id="wb-00001", seq=1, ts=T0, rx=T0, v=WristbandReading(**pos))
    (ev,) = actor.apply(msg, T0)
    assert ev.type == "geofence_exit" and (ev.lat, ev.lon) == (pos["lat"], pos["lon"])
    assert ev.detail == {"distance_m": 300, "policy": "always"}
    assert feed.actor is actor


def test_geofence_night_policy_is_default():
    feed = Feed(make())
    assert feed(local(14), **away(800)) == []  # daytime: out in the fields is fine
    assert feed(local(19, 59), **away(800)) == []
    assert feed(local(20, 0), **away(800)) == ["geofence_exit"]  # still out when night starts
    assert feed(local(20, 30), **away(50)) == ["geofence_return"]
    assert feed(local(23), **away(900)) == ["geofence_exit"]


def test_geofence_night_hours_wrap_midnight_and_day_return_is_silent():
    feed = Feed(make(night_start=22, night_end=5))
    assert feed(local(21), **away(800)) == []
    assert feed(local(21, 30), **away(10)) == []  # back before night: no exit, so no return either
    feed = Feed(make(night_start=22, night_end=5))
    t = local(4, 59)
    assert feed(t, **away(800)) == ["geofence_exit"]
    assert feed(local(5, 0), **away(800)) == []
    assert feed(local(6, 0), **away(10)) == ["geofence_return"]


def test_geofence_polygon_ring():
    lat, lon = HOME
    ring = [
        [lon - 0.001, lat - 0.001],
        [lon + 0.001, lat - 0.001],
        [lon + 0.001, lat + 0.001],
        [lon - 0.001, lat + 0.001],
    ]
    feed = Feed(make(fence_ring=ring, fence_policy="always", fence_radius_m=5000))
    assert feed(T0, lat=lat + 0.0009, lon=lon) == []
    assert feed(T0 + MIN, lat=lat + 0.0011, lon=lon) == ["geofence_exit"]


def test_no_home_no_fence():
    actor = WristbandActor(DeviceProfile(device_id="wb-00002", kind="wristband", params={"fence_policy": "always"}))
    assert actor.fence is None
    assert Feed(actor)(T0, lat=33.0, lon=104.0) == []


def test_duplicate_seq_returns_none_and_keeps_state():
    feed = Feed(actor := make())
    feed(T0, hr=130, battery=50, **away(10))
    before = actor.snapshot()
    for seq in (1, 0):
        dup = Message(
            device_id="wb-00001", seq=seq, ts=T0 + 5 * MIN, rx=T0 + 5 * MIN, v=WristbandReading(hr=140, alarm="sos")
        )
        assert actor.apply(dup, T0 + 5 * MIN) is None
    assert actor.snapshot() == before


def test_snapshot_restore_round_trip_and_same_behaviour():
    script = [
        (T0, {"hr": 130, "battery": 16, "worn": True, **away(10)}),
        (T0 + MIN, {"hr": 131, "battery": 15}),
        (T0 + 2 * MIN, {"hr": 132, "temp": 38.5, "worn": False}),
        (T0 + 3 * MIN, {"worn": True, "hr": 135, "temp": 38.4}),
        # --- snapshot taken here, mid-episodes ---
        (T0 + 5 * MIN, {"hr": 135, "temp": 38.6}),
        (T0 + 8 * MIN, {"hr": 80, "temp": 38.6, "battery": 30}),
        (T0 + 9 * MIN, {"temp": 38.7, "battery": 14, "alarm": "fall"}),
        (local(21), {**away(900)}),
        (local(22), {**away(5)}),
    ]
    live, restored = make(fence_policy="night"), None
    feed = Feed(live)
    for ts, values in script[:4]:
        feed(ts, **values)
    blob = live.snapshot()
    restored = WristbandActor.restore(live.profile, blob)
    assert restored.state == live.state and restored.snapshot() == blob
    assert live.state.since and live.state.raised  # open timers and episodes survived the trip
    feed2 = Feed(restored)
    feed2.seq = feed.seq
    a = [feed(ts, **values) for ts, values in script[4:]]
    b = [feed2(ts, **values) for ts, values in script[4:]]
    assert a == b
    assert a == [
        ["hr_out_of_range"],
        ["hr_normal", "fever"],  # fever counts from 3 min (worn again), 300 s sustained
        ["fall", "low_battery"],
        ["geofence_exit"],
        ["geofence_return"],
    ]
    assert live.snapshot() == restored.snapshot()


def test_state_keeps_latest_values():
    feed = Feed(actor := make())
    feed(T0, hr=70, spo2=97, temp=36.6, steps=1200, battery=80, worn=True, **away(20))
    feed(T0 + MIN, steps=1300)
    st = actor.state
    assert (st.hr, st.spo2, st.temp, st.steps, st.battery, st.worn) == (70, 97, 36.6, 1300, 80, True)
    assert st.ts == T0 + MIN and st.last_seen == T0 + MIN + 500 and st.applied == 2


def test_no_data_after_20_minutes_via_base_tick():
    feed = Feed(actor := make())
    feed(T0, hr=70)
    rx = T0 + 500
    assert actor.tick(rx + 19 * MIN) == []
    assert [e.type for e in actor.tick(rx + 20 * MIN)] == ["no_data"]
    assert actor.tick(rx + 40 * MIN) == []  # once until data comes back
    feed(T0 + 41 * MIN, hr=70)
    assert not actor.state.offline


def test_live_has_no_personal_params_or_timers():
    feed = Feed(actor := make(hr_min=50, hr_max=100))
    feed(T0, hr=130, battery=60)
    out = actor.live()
    assert out["kind"] == "wristband" and out["village"] == "Lijie" and out["hr"] == 130
    assert "since" not in out and "params" not in out and "hr_max" not in out
