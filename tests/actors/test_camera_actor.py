"""Camera actor scenarios on scripted detections with a frozen clock: thresholds, cooldown, re-arm, hours, health."""

from __future__ import annotations

import calendar
from typing import Any

import pytest

from actors.camera import CameraActor
from core.events import DeviceEvent, Message
from core.kinds import DeviceProfile
from core.kinds.camera import CameraReading

# 2025-06-01 10:00:00 local time (UTC+8) = 02:00 UTC
T0 = calendar.timegm((2025, 6, 1, 2, 0, 0)) * 1000
S = 1000

SQUARE = [(0, 200), (320, 200), (320, 360), (0, 360)]
RIVER = [(400, 250), (640, 250), (640, 360), (400, 360)]

Obj = tuple[Any, ...]  # (label, x1, y1, x2, y2[, track[, score]])


def camera(**params: Any) -> CameraActor:
    """A camera actor with the given video params (source defaulted)."""
    profile = DeviceProfile(device_id="cam-1", kind="camera", village="狼岔坝村", params={"source": "x.mp4", **params})
    return CameraActor(profile)


def person(x: float, y: float, track: int = -1, label: str = "person") -> Obj:
    """A standing person whose feet are at (x, y)."""
    return (label, x - 10, y - 60, x + 10, y, track)


def car(x: float, y: float, track: int = -1) -> Obj:
    """A car whose ground point is at (x, y)."""
    return ("car", x - 40, y - 40, x + 40, y, track)


def feed(a: CameraActor, t: int, *objs: Obj, motion: float | None = 5.0, ok: bool = True) -> list[DeviceEvent]:
    """Apply one sampled frame captured at t; returns the events."""
    r = CameraReading(
        ok=ok, analysed=ok, motion=motion if ok else None, labels=[o[0] for o in objs],
        track_ids=[o[5] if len(o) > 5 else -1 for o in objs], boxes=[float(v) for o in objs for v in o[1:5]],
        scores=[o[6] if len(o) > 6 else 0.9 for o in objs],
    )  # fmt: skip
    out = a.apply(Message(device_id=a.profile.device_id, seq=t, ts=t, rx=t, v=r), t)
    assert out is not None
    return out


def run(a: CameraActor, start: int, end: int, *objs: Obj, step: int = S) -> list[tuple[int, DeviceEvent]]:
    """Feed the same objects every `step` ms over [start, end]; (time, event) of everything raised."""
    got: list[tuple[int, DeviceEvent]] = []
    for t in range(start, end + 1, step):
        got += [(t, e) for e in feed(a, t, *objs)]
    return got


def types(events: list[tuple[int, DeviceEvent]]) -> list[tuple[int, str]]:
    """(seconds since T0, type) of raised events."""
    return [((t - T0) // S, e.type) for t, e in events]


def test_garbage_fires_at_threshold_tolerates_missed_frames_and_repeats_after_cooldown() -> None:
    a = camera(garbage_s=60, cooldown_s=300, missed_frames=2)
    pile = ("garbage", 100, 300, 160, 340)
    got = run(a, T0, T0 + 59 * S, pile)
    assert got == []
    # two missed frames do not end the episode
    feed(a, T0 + 60 * S)
    feed(a, T0 + 61 * S)
    got = run(a, T0 + 62 * S, T0 + 400 * S, pile)
    assert types(got) == [(62, "garbage"), (362, "garbage")]
    assert got[0][1].detail["seen_s"] == 62 and got[0][1].detail["count"] == 1
    assert a.label("garbage") == "垃圾乱堆乱放"


def test_garbage_episode_ends_after_more_misses_than_tolerated() -> None:
    a = camera(garbage_s=10, missed_frames=1, static_gap_s=0)
    pile = ("garbage", 100, 300, 160, 340)
    run(a, T0, T0 + 8 * S, pile)
    feed(a, T0 + 9 * S)
    feed(a, T0 + 10 * S)  # second miss: the episode is over
    assert types(run(a, T0 + 11 * S, T0 + 30 * S, pile)) == [(21, "garbage")]


def test_a_pile_hidden_for_less_than_the_static_gap_keeps_its_episode() -> None:
    a = camera(garbage_s=30, missed_frames=1, static_gap_s=8)  # 1 frame/s: 8 frames unseen are tolerated
    pile = ("garbage", 100, 300, 160, 340)
    run(a, T0, T0 + 9 * S, pile)
    for t in range(10, 18):  # a passer-by hides it for 8 s
        assert feed(a, T0 + t * S) == []
    assert types(run(a, T0 + 18 * S, T0 + 40 * S, pile)) == [(30, "garbage")]
    b = camera(garbage_s=30, missed_frames=1, static_gap_s=8)
    run(b, T0, T0 + 9 * S, pile)
    for t in range(10, 19):  # 9 s unseen: the episode is over and starts again
        feed(b, T0 + t * S)
    assert types(run(b, T0 + 19 * S, T0 + 60 * S, pile)) == [(49, "garbage")]


def test_crowd_counts_people_by_their_feet_in_the_zone() -> None:
    a = camera(zones=[{"name": "村口广场", "purpose": "crowd", "polygon": SQUARE}], crowd_min=5, crowd_s=30)
    five = [person(40 + 50 * i, 300) for i in range(5)]
    # four inside and one whose box overlaps the zone but whose feet stand above it: no crowd
    four = [*five[:4], person(260, 190)]
    assert run(a, T0, T0 + 60 * S, *four) == []
    got = run(a, T0 + 61 * S, T0 + 100 * S, *five)
    assert types(got) == [(91, "crowd")]
    assert got[0][1].detail["count"] == 5 and got[0][1].detail["zone"] == "村口广场"
    assert got[0][1].event_id == f"cam-1:crowd:{T0 + 91 * S}:村口广场"


def test_restricted_zone_only_during_its_hours_wrapping_midnight() -> None:
    zone = {"name": "水库大坝", "purpose": "restricted", "polygon": SQUARE, "hours": [22, 6]}
    a = camera(zones=[zone], restricted_s=3)
    intruder = person(100, 300)
    assert run(a, T0, T0 + 20 * S, intruder) == []  # 10:00 local: zone not active
    night = T0 + 14 * 3600 * S  # 00:00 local
    got = run(a, night, night + 5 * S, intruder)
    assert types(got) == [(14 * 3600 + 3, "restricted_zone")]
    assert got[0][1].detail["hours"] == [22, 6]


@pytest.mark.parametrize("hours", [(22, 6), (6, 22)])
def test_zone_hours_boundaries(hours: tuple[int, int]) -> None:
    from actors.video_config import in_hours

    local = [(h, in_hours(hours, T0 + (h - 10) * 3600 * S)) for h in range(10, 34)]
    active = sorted(h % 24 for h, on in local if on)
    start, end = hours
    assert active == sorted(h for h in range(24) if (start <= h < end if start < end else h >= start or h < end))


def test_parking_in_no_parking_zone_needs_a_standing_tracked_vehicle() -> None:
    zone = {"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}
    a = camera(zones=[zone], parking_s=60, parking_move_px=8)
    # creeping forward 10 px a frame never counts as parked
    creeping = [(t, e) for i, t in enumerate(range(T0, T0 + 90 * S, S)) for e in feed(a, t, car(20 + i * 3, 300, 7))]
    assert creeping == []
    # untracked vehicles are not judged
    assert run(a, T0 + 90 * S, T0 + 200 * S, car(200, 300)) == []
    got = run(a, T0 + 201 * S, T0 + 300 * S, car(200, 300, 9))
    assert types(got) == [(261, "vehicle_violation")]
    d = got[0][1].detail
    assert d["violation"] == "parking" and d["zone"] == "消防通道" and d["track"] == 9 and d["vehicle"] == "car"


def test_a_parked_vehicle_whose_box_jitters_still_stands() -> None:
    zone = {"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}
    a = camera(zones=[zone], parking_s=30, parking_move_px=8, parking_move_frac=0.25)  # 80 px car: 20 px
    jitter = [0, 9, -6, 12, 3, -9]  # detection boxes of a standing car move like this
    frames = enumerate(range(T0, T0 + 40 * S, S))
    got = [(t, e) for i, t in frames for e in feed(a, t, car(200 + jitter[i % 6], 300, 4))]
    assert [(t - T0) // S for t, _ in got] == [30]
    assert got[0][1].detail["violation"] == "parking"


def test_parked_vehicle_outside_the_zone_is_fine() -> None:
    a = camera(zones=[{"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}], parking_s=10)
    assert run(a, T0, T0 + 100 * S, car(500, 300, 3)) == []


def test_wrong_way_crossing_raises_and_right_way_does_not() -> None:
    # a vertical line at x=320 drawn top to bottom: walking along it, left is screen-right (x > 320)
    line = {"name": "桥头单行线", "start": [320, 100], "end": [320, 360], "forbidden": "right_to_left"}
    a = camera(lines=[line])
    right_way = [e for i in range(8) for e in feed(a, T0 + i * S, car(390 - 20 * i, 300, 1))]
    assert right_way == []
    got = [e for i in range(8) for e in feed(a, T0 + (10 + i) * S, car(250 + 20 * i, 300, 2))]
    assert [e.type for e in got] == ["vehicle_violation"]
    d = got[0].detail
    assert d == {
        "violation": "wrong_way",
        "line": "桥头单行线",
        "track": 2,
        "vehicle": "car",
        "direction": "right_to_left",
    }
    # passing beside the segment (below its end) is not a crossing
    beside = [e for i in range(8) for e in feed(a, T0 + (30 + i) * S, car(250 + 20 * i, 380, 5))]
    assert beside == []


def test_people_crossing_a_line_are_not_vehicles() -> None:
    line = {"name": "l", "start": [320, 100], "end": [320, 360], "forbidden": "right_to_left"}
    a = camera(lines=[line])
    assert [e for i in range(8) for e in feed(a, T0 + i * S, person(250 + 20 * i, 300, 4))] == []


def test_fire_needs_consecutive_frames() -> None:
    a = camera(fire_frames=3)
    fire = ("fire", 300, 200, 340, 260)
    smoke = ("smoke", 280, 100, 360, 200)
    assert feed(a, T0, fire) == []
    assert feed(a, T0 + S, fire) == []
    assert feed(a, T0 + 2 * S) == []  # one frame without: start again
    assert feed(a, T0 + 3 * S, fire) == []
    assert feed(a, T0 + 4 * S, fire, smoke) == []
    got = feed(a, T0 + 5 * S, fire, smoke)
    assert [e.type for e in got] == ["fire"]
    assert got[0].detail["frames"] == 3
    assert [e.type for e in feed(a, T0 + 6 * S, fire, smoke)] == ["smoke"]
    assert feed(a, T0 + 7 * S, fire, smoke) == []  # cooldown


@pytest.mark.parametrize(
    ("local_h", "others", "alone", "night", "level"),
    [(10, 0, True, False, 1), (10, 1, False, False, 2), (21, 1, False, True, 1), (3, 0, True, True, 1)],
)
def test_drowning_risk_alone_and_night(local_h: int, others: int, alone: bool, night: bool, level: int) -> None:
    a = camera(zones=[{"name": "白龙江", "purpose": "water", "polygon": RIVER}], drowning_s=3)
    t0 = T0 + (local_h - 10) * 3600 * S
    bystanders = [person(100 + 40 * i, 300) for i in range(others)]
    got = run(a, t0, t0 + 5 * S, person(500, 320), *bystanders)
    assert types(got) == [((t0 - T0) // S + 3, "drowning_risk")]
    d = got[0][1].detail
    assert (d["alone"], d["night"], d["level"], d["zone"]) == (alone, night, level, "白龙江")


def test_fallen_person_in_elderly_area() -> None:
    a = camera(zones=[{"name": "幸福院", "purpose": "elderly_area", "polygon": SQUARE}], fall_s=5)
    assert run(a, T0, T0 + 20 * S, person(100, 300)) == []  # standing people are fine
    lying = ("fallen", 60, 280, 140, 310)
    got = run(a, T0 + 21 * S, T0 + 30 * S, lying)
    assert types(got) == [(26, "person_fall")]
    assert a.label("person_fall") == "老人跌倒"


def test_cooldown_blocks_a_new_episode_then_it_rearms() -> None:
    a = camera(zones=[{"name": "坝", "purpose": "restricted", "polygon": SQUARE}], restricted_s=3, cooldown_s=60)
    p = person(100, 300)
    assert types(run(a, T0, T0 + 5 * S, p)) == [(3, "restricted_zone")]
    run(a, T0 + 6 * S, T0 + 10 * S)  # gone: the episode ends
    assert run(a, T0 + 11 * S, T0 + 40 * S, p) == []  # back, held long enough, but inside the cooldown
    run(a, T0 + 41 * S, T0 + 50 * S)
    assert types(run(a, T0 + 70 * S, T0 + 75 * S, p)) == [(73, "restricted_zone")]


def test_two_zones_in_one_frame_raise_distinct_event_ids() -> None:
    zones = [
        {"name": "A", "purpose": "restricted", "polygon": SQUARE},
        {"name": "B", "purpose": "restricted", "polygon": RIVER},
    ]
    a = camera(zones=zones, restricted_s=0)
    got = feed(a, T0, person(100, 300), person(500, 300))
    assert sorted(e.event_id for e in got) == [f"cam-1:restricted_zone:{T0}:A", f"cam-1:restricted_zone:{T0}:B"]


def test_offline_by_tick_then_online_when_frames_return() -> None:
    a = camera(offline_s=30)
    assert a.tick(T0) == []  # starts watching
    assert a.tick(T0 + 29 * S) == []
    got = a.tick(T0 + 30 * S)
    assert [e.type for e in got] == ["camera_offline"] and got[0].detail["silent_s"] == 30
    assert a.tick(T0 + 60 * S) == []  # once per outage
    feed(a, T0 + 61 * S, ok=False)  # no picture: still offline
    assert a.state.cam_offline
    back = feed(a, T0 + 62 * S)
    assert [e.type for e in back] == ["camera_online"]
    assert a.tick(T0 + 80 * S) == []
    assert [e.type for e in a.tick(T0 + 92 * S)] == ["camera_offline"]  # 30 s after the last picture
    assert a.label("camera_offline") == "摄像头离线"


def test_frozen_picture() -> None:
    a = camera(frozen_s=30, frozen_motion=0.3)
    for i in range(29):
        assert feed(a, T0 + i * S, motion=0.0 if i else None) == []
    got = [e for i in range(29, 40) for e in feed(a, T0 + i * S, motion=0.1)]
    assert [(e.type, e.ts) for e in got] == [("camera_frozen", T0 + 31 * S)]  # unchanged since the second frame
    feed(a, T0 + 40 * S, motion=12.0)  # moving again: re-armed
    assert not a.state.frozen


def test_snapshot_restore_keeps_the_dwell_going() -> None:
    a = camera(garbage_s=30)
    pile = ("garbage", 100, 300, 160, 340)
    run(a, T0, T0 + 20 * S, pile)
    b = CameraActor.restore(a.profile, a.snapshot())
    assert isinstance(b, CameraActor)
    assert types(run(b, T0 + 21 * S, T0 + 40 * S, pile)) == [(30, "garbage")]
    assert b.apply(Message(device_id="cam-1", seq=T0, ts=T0, rx=T0, v=CameraReading()), T0) is None  # replayed seq


def test_inconsistent_reading_is_an_error() -> None:
    a = camera()
    bad = CameraReading(labels=["person"], boxes=[1.0, 2.0], scores=[0.9], track_ids=[-1])
    with pytest.raises(ValueError, match="inconsistent reading"):
        a.apply(Message(device_id="cam-1", seq=T0, ts=T0, rx=T0, v=bad), T0)


def test_live_state_summarises_what_is_seen() -> None:
    a = camera()
    feed(a, T0, person(100, 300), person(200, 300), car(400, 300, 1))
    live = a.live()
    assert live["counts"] == {"person": 2, "car": 1} and live["offline"] is False and live["kind"] == "camera"


def test_a_pile_hidden_behind_a_standing_car_keeps_its_episode_however_long() -> None:
    pile = ("garbage", 100, 300, 160, 340)
    in_front = car(130, 350, 3)  # covers three quarters of the pile
    a = camera(garbage_s=60, static_gap_s=5)
    run(a, T0, T0 + 29 * S, pile)
    assert run(a, T0 + 30 * S, T0 + 49 * S, in_front) == []  # hidden 20 s, four times the static gap
    assert types(run(a, T0 + 50 * S, T0 + 70 * S, pile)) == [(60, "garbage")]
    b = camera(garbage_s=60, static_gap_s=5)
    run(b, T0, T0 + 29 * S, pile)
    run(b, T0 + 30 * S, T0 + 49 * S)  # gone for 20 s with nothing in front: the episode ends
    assert types(run(b, T0 + 50 * S, T0 + 120 * S, pile)) == [(110, "garbage")]


def test_one_odd_box_does_not_move_a_parked_vehicle() -> None:
    a = camera(zones=[{"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}], parking_s=30)
    got = [(t, e) for t in range(T0, T0 + 40 * S, S) for e in feed(a, t, car(200, 330 if t == T0 + 10 * S else 300, 4))]
    assert types(got) == [(30, "vehicle_violation")]


def test_a_parked_vehicle_under_a_new_track_id_keeps_its_standing_time() -> None:
    a = camera(zones=[{"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}], parking_s=30)
    run(a, T0, T0 + 19 * S, car(200, 300, 4))
    got = run(a, T0 + 20 * S, T0 + 40 * S, car(200, 300, 11))
    assert types(got) == [(30, "vehicle_violation")]
    assert got[0][1].detail["track"] == 11


def test_a_parked_vehicle_behind_a_passing_one_keeps_its_standing_time() -> None:
    a = camera(zones=[{"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}], parking_s=30, static_gap_s=2)
    run(a, T0, T0 + 9 * S, car(200, 300, 4))
    assert run(a, T0 + 10 * S, T0 + 19 * S, car(200, 320, 8)) == []  # a van in front hides it for 10 s
    assert types(run(a, T0 + 20 * S, T0 + 40 * S, car(200, 300, 4))) == [(30, "vehicle_violation")]


def test_wrong_way_is_seen_across_frames_the_vehicle_was_lost_in() -> None:
    line = {"name": "桥头单行线", "start": [320, 100], "end": [320, 360], "forbidden": "right_to_left"}
    a = camera(lines=[line])
    for i in range(4):  # 250 .. 310, then unseen while it crosses, then found again under a new id
        assert feed(a, T0 + i * S, car(250 + 20 * i, 300, 2)) == []
    got = feed(a, T0 + 6 * S, car(370, 300, 6))
    assert [(e.type, e.detail["direction"], e.detail["track"]) for e in got] == [
        ("vehicle_violation", "right_to_left", 6)
    ]
    b = camera(lines=[line])
    for i in range(4):
        feed(b, T0 + i * S, car(250 + 20 * i, 300, 2))
    assert feed(b, T0 + 6 * S, car(600, 300, 6)) == []  # another vehicle, far from where this one was heading


def test_a_vehicle_seen_once_then_renamed_across_the_line_is_the_same_vehicle_within_its_own_height() -> None:
    line = {"name": "桥头单行线", "start": [320, 100], "end": [320, 360], "forbidden": "right_to_left"}
    a = camera(lines=[line])
    assert feed(a, T0, car(300, 300, 2)) == []  # one sighting: no motion known yet
    got = feed(a, T0 + S, car(330, 300, 5))  # the tracker's new id 30 px on (the car is 40 px tall)
    assert [(e.type, e.detail["direction"], e.detail["track"]) for e in got] == [
        ("vehicle_violation", "right_to_left", 5)
    ]
    b = camera(lines=[line])
    feed(b, T0, car(300, 300, 2))
    assert feed(b, T0 + S, car(360, 300, 5)) == []  # 60 px away: another vehicle


def test_a_crowd_counts_everyone_seen_in_the_zone_in_the_last_seconds() -> None:
    zone = {"name": "村口广场", "purpose": "crowd", "polygon": SQUARE}
    six = [person(30 + 45 * i, 300, track=i + 1) for i in range(6)]
    a = camera(zones=[zone], crowd_min=5, crowd_s=10, crowd_memory_s=5)
    # in each frame two of the six stand hidden behind others: no one frame shows five
    got = [
        (t, e)
        for k, t in enumerate(range(T0, T0 + 15 * S, S))
        for e in feed(a, t, *(six[(k + j) % 6] for j in range(4)))
    ]
    assert types(got) == [(11, "crowd")]  # the second frame shows the last two: six from then on
    assert got[0][1].detail["count"] == 6
    b = camera(zones=[zone], crowd_min=5, crowd_s=10, crowd_memory_s=0)
    assert [
        e for k, t in enumerate(range(T0, T0 + 15 * S, S)) for e in feed(b, t, *(six[(k + j) % 6] for j in range(4)))
    ] == []


def test_wrong_way_counts_the_frame_before_the_tracker_named_the_vehicle() -> None:
    line = {"name": "桥头单行线", "start": [320, 100], "end": [320, 360], "forbidden": "right_to_left"}
    a = camera(lines=[line])
    assert feed(a, T0, car(300, 300)) == []  # first sight: no track id yet
    got = feed(a, T0 + S, car(340, 300, 3))
    assert [(e.detail["violation"], e.detail["track"]) for e in got] == [("wrong_way", 3)]
    b = camera(lines=[line])
    feed(b, T0, car(100, 300))  # an untracked vehicle elsewhere is not where this one came from
    assert feed(b, T0 + S, car(340, 300, 3)) == []


def test_riders_are_judged_with_their_motorcycle_not_as_people_in_a_zone() -> None:
    zone = {"name": "施工禁入区", "purpose": "restricted", "polygon": SQUARE}
    a = camera(zones=[zone], restricted_s=3)
    bike = ("motorcycle", 75, 220, 125, 300, 5)
    assert run(a, T0, T0 + 10 * S, bike, person(100, 296, 6), person(110, 290, 7)) == []  # driver and passenger
    walker = person(200, 300, 8)
    assert types(run(a, T0 + 11 * S, T0 + 15 * S, bike, walker)) == [(14, "restricted_zone")]


def test_a_parked_vehicle_whose_box_grows_around_it_for_a_while_still_stands() -> None:
    a = camera(zones=[{"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}], parking_s=30)
    parked, merged = car(200, 300, 4), ("car", 150, 250, 260, 340, 4)  # a person in front merged into its box
    frames = [merged if 10 <= k < 14 else parked for k in range(40)]
    got = [(T0 + k * S, e) for k, obj in enumerate(frames) for e in feed(a, T0 + k * S, obj)]
    assert types(got) == [(30, "vehicle_violation")]


def test_a_parked_vehicle_cut_by_a_passer_by_still_stands() -> None:
    a = camera(zones=[{"name": "消防通道", "purpose": "no_parking", "polygon": SQUARE}], parking_s=30)
    parked, cut = car(200, 300, 4), ("car", 160, 260, 240, 275, 4)  # its lower part hidden: the box shrinks
    walker = person(200, 310, 9)  # standing in front of it
    frames = [(cut, walker) if 10 <= k < 14 else (parked,) for k in range(40)]
    got = [(T0 + k * S, e) for k, objs in enumerate(frames) for e in feed(a, T0 + k * S, *objs)]
    assert types(got) == [(30, "vehicle_violation")]


def test_someone_behind_a_car_is_not_placed_by_the_bottom_of_their_box() -> None:
    zone = {"name": "施工禁入区", "purpose": "restricted", "polygon": SQUARE}
    parked = ("car", 60, 200, 160, 290)
    behind = ("person", 90, 170, 110, 215)  # only head and shoulders show above the car: the box ends in the zone
    a = camera(zones=[zone], restricted_s=3)
    assert run(a, T0, T0 + 20 * S, parked, behind) == []
    b = camera(zones=[zone], restricted_s=3)
    assert types(run(b, T0, T0 + 5 * S, behind)) == [(3, "restricted_zone")]  # no car: the box's bottom is the feet


def test_a_tracked_intruder_who_steps_behind_a_car_still_stands_where_last_seen() -> None:
    low = [(0, 280), (320, 280), (320, 360), (0, 360)]
    a = camera(zones=[{"name": "施工禁入区", "purpose": "restricted", "polygon": low}], restricted_s=20)
    assert run(a, T0, T0 + 2 * S, person(100, 300, track=7)) == []
    arriving = ("car", 40, 250, 200, 340)
    behind = ("person", 90, 240, 110, 260, 7)  # same track, legs hidden: its box now ends above the zone
    got = run(a, T0 + 3 * S, T0 + 30 * S, arriving, behind)  # longer than crowd_memory_s: still there all along
    assert types(got) == [(20, "restricted_zone")]
