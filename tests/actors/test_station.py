"""The pure station actor on scripted tracks with a frozen clock: passes, speed, direction and violations."""

from __future__ import annotations

from typing import Any

import cv2
import msgspec
import numpy as np
import pytest

from actors.station import StationActor
from actors.station_config import Calibration, StationParams, to_road
from actors.station_reading import count_riders, plate_box
from actors.video_config import VideoConfigError
from adapters.telemetry import reading_columns
from core.events import DeviceEvent, Message
from core.kinds import DeviceProfile
from core.kinds.station import StationReading
from core.vision import Detection

T0 = 1_790_000_000_000
FPS = 5
# A road seen from a pole: 8 m wide, 0 m at the bottom of the picture, 40 m at y=200 px.
IMAGE = [(160.0, 340.0), (480.0, 340.0), (360.0, 200.0), (280.0, 200.0)]
ROAD = [(-4.0, 0.0), (4.0, 0.0), (4.0, 40.0), (-4.0, 40.0)]
TO_IMAGE = cv2.getPerspectiveTransform(np.float32(ROAD), np.float32(IMAGE))


def station(**params: Any) -> StationActor:
    station_params = {"calibration": {"image": IMAGE, "road": ROAD}, "limit_kmh": 40.0, **params}
    zone = {"name": "测速区", "purpose": "measure", "polygon": IMAGE}
    cfg = {"source": "http://127.0.0.1:1/st-1.mjpg", "fps": FPS, "offline_s": 10, "frozen_s": 10, "zones": [zone],
           "station": station_params}  # fmt: skip
    return StationActor(DeviceProfile(device_id="st-1", kind="station", village="城关村", params=cfg))


def pixel(x_m: float, y_m: float) -> tuple[float, float]:
    """Where a road point (metres) appears in the picture."""
    return to_road(TO_IMAGE, x_m, y_m)


class Drive:
    """Feeds an actor readings frame by frame, with a frozen clock, and collects its events."""

    def __init__(self, actor: StationActor) -> None:
        self.actor = actor
        self.seq = 0
        self.events: list[DeviceEvent] = []

    def frame(self, ts: int, tracks: list[dict[str, Any]] | None = None, **health: bool) -> None:
        r = StationReading(**health)
        for t in tracks or []:
            x, y = t.get("xy") or pixel(t.get("lane", 2.0), t["y_m"])
            r.track.append(t["id"])
            r.label.append(t.get("label", "car"))
            r.x.append(x)
            r.y.append(y)
            r.riders.append(t.get("riders", 0))
            r.plate.append(t.get("plate", ""))
            r.plate_score.append(t.get("score", 0.0))
        self.seq += 1
        out = self.actor.apply(Message(device_id="st-1", seq=self.seq, ts=ts, rx=ts, v=r), ts)
        self.events += out or []

    def drive(self, tid: int, kmh: float, start_m: float, end_m: float, t0: int = T0, **extra: Any) -> int:
        """One vehicle at constant speed from start_m to end_m along the road axis; returns the last frame time."""
        v = kmh / 3.6 * (1 if end_m >= start_m else -1)
        ts, y = t0, start_m
        while (y <= end_m) if v > 0 else (y >= end_m):
            self.frame(ts, [{"id": tid, "y_m": y, **extra}])
            ts += 1000 // FPS
            y += v / FPS
        return ts

    def of(self, type_: str) -> list[DeviceEvent]:
        return [e for e in self.events if e.type == type_]


@pytest.mark.parametrize("kmh", [18.0, 36.0, 72.0])
def test_speed_estimate_is_within_ten_percent_and_direction_follows_the_road_axis(kmh: float) -> None:
    d = Drive(station())
    d.drive(7, kmh, start_m=-5, end_m=45)
    [p] = d.of("vehicle_pass")
    assert p.detail["speed_kmh"] == pytest.approx(kmh, rel=0.10)
    assert p.detail["direction"] == "上行" and p.detail["vehicle"] == "car" and p.detail["track"] == 7
    back = Drive(station())
    back.drive(8, kmh, start_m=45, end_m=-5)
    [q] = back.of("vehicle_pass")
    assert q.detail["direction"] == "下行" and q.detail["speed_kmh"] == pytest.approx(kmh, rel=0.10)


def test_a_pass_concludes_once_when_the_vehicle_leaves_the_zone_and_carries_the_best_plate_read() -> None:
    d = Drive(station())
    reads = iter([("甘P·A1234", 0.71), ("甘P·A1284", 0.65), ("甘P·A1234", 0.93), ("", 0.0)])
    ts, y = T0, 2.0
    while y < 38:
        plate, score = next(reads, ("甘P·A1234", 0.8))
        d.frame(ts, [{"id": 3, "y_m": y, "plate": plate, "score": score}])
        ts, y = ts + 200, y + 2.0
    assert d.of("vehicle_pass") == []  # still inside the zone
    d.frame(ts, [{"id": 3, "y_m": 44.0}])  # out of the measure zone: concluded at once
    [p] = d.of("vehicle_pass")
    assert p.detail["plate"] == "甘P·A1234" and p.detail["plate_score"] == 0.93
    for k in range(10):  # the same track seen again (tracker flicker) is no second pass
        d.frame(ts + 200 * (k + 1), [{"id": 3, "y_m": 30.0}])
    d.actor.tick(ts + 60_000)
    assert len(d.of("vehicle_pass")) == 1


def test_a_lost_track_is_concluded_after_lost_s_even_when_no_frames_come() -> None:
    d = Drive(station(lost_s=1.0))
    last = d.drive(5, 36, start_m=5, end_m=20)  # vanishes mid-zone (occluded, then gone)
    d.frame(last + 500, [])
    assert d.of("vehicle_pass") == []  # a short gap is not the end of the track
    d.events += d.actor.tick(last + 1_500)
    [p] = d.of("vehicle_pass")
    assert p.detail["speed_kmh"] == pytest.approx(36, rel=0.1)


def test_a_vehicle_never_inside_the_measure_zone_is_no_pass() -> None:
    d = Drive(station())
    for k in range(10):
        d.frame(T0 + 200 * k, [{"id": 9, "xy": (20.0 + 10 * k, 330.0)}])  # along the verge, left of the road
    d.events += d.actor.tick(T0 + 60_000)
    assert d.of("vehicle_pass") == []


def test_speeding_is_raised_above_the_limit_plus_tolerance_with_a_voice_text() -> None:
    d = Drive(station(limit_kmh=40, tolerance_pct=10))
    d.drive(1, 60, start_m=-5, end_m=45, plate="甘P·B7788", score=0.95)
    [s] = d.of("speeding")
    assert s.detail["speed_kmh"] == pytest.approx(60, rel=0.1) and s.detail["limit_kmh"] == 40
    assert s.detail["plate"] == "甘P·B7788" and "超速" in s.detail["voice"]
    tolerated = Drive(station(limit_kmh=40, tolerance_pct=10))
    tolerated.drive(2, 42, start_m=-5, end_m=45)
    assert tolerated.of("speeding") == [] and len(tolerated.of("vehicle_pass")) == 1


def test_warn_on_decides_which_violations_carry_a_voice_warning() -> None:
    d = Drive(station(warn_on=["wrong_way"]))
    d.drive(1, 70, start_m=-5, end_m=45)
    [s] = d.of("speeding")
    assert "voice" not in s.detail


def test_wrong_way_only_on_a_one_way_road_in_the_forbidden_direction() -> None:
    one_way = Drive(station(forbidden_direction="下行"))
    one_way.drive(1, 30, start_m=45, end_m=-5)
    one_way.drive(2, 30, start_m=-5, end_m=45, t0=T0 + 60_000)
    [w] = one_way.of("wrong_way")
    assert w.detail["track"] == 1 and w.detail["direction"] == "下行" and w.detail["allowed"] == "上行"
    two_way = Drive(station())
    two_way.drive(1, 30, start_m=45, end_m=-5)
    assert two_way.of("wrong_way") == [] and len(two_way.of("vehicle_pass")) == 1


def test_carrying_passengers_needs_a_motorcycle_with_passengers_seen_in_enough_frames() -> None:
    d = Drive(station(passenger_frames=2))
    d.drive(1, 30, start_m=-5, end_m=45, label="motorcycle", riders=3)
    [c] = d.of("carrying_passengers")
    assert c.detail["passengers"] == 2 and c.detail["vehicle"] == "motorcycle" and "载人" in c.detail["voice"]
    alone = Drive(station())
    alone.drive(2, 30, start_m=-5, end_m=45, label="motorcycle", riders=1)
    car = Drive(station())
    car.drive(3, 30, start_m=-5, end_m=45, label="car", riders=4)  # riders are not counted on cars
    glimpse = Drive(station(passenger_frames=3))
    ts = T0
    for k, y in enumerate(range(0, 40, 4)):
        glimpse.frame(ts + 300 * k, [{"id": 4, "y_m": float(y), "label": "motorcycle", "riders": 2 if k < 2 else 1}])
    glimpse.frame(ts + 300 * 11, [{"id": 4, "y_m": 45.0, "label": "motorcycle"}])
    for run in (alone, car, glimpse):
        assert run.of("carrying_passengers") == [] and len(run.of("vehicle_pass")) == 1


def test_one_passenger_is_allowed_where_the_county_allows_it() -> None:
    d = Drive(station(max_passengers=1))
    d.drive(1, 30, start_m=-5, end_m=45, label="motorcycle", riders=2)
    assert d.of("carrying_passengers") == []


def test_two_passes_concluded_in_one_frame_have_distinct_event_ids() -> None:
    d = Drive(station(lost_s=1.0))
    for k in range(8):
        d.frame(T0 + 200 * k, [{"id": 1, "y_m": 5.0 + k, "lane": -2}, {"id": 2, "y_m": 30.0 - k, "lane": 2}])
    d.frame(T0 + 5_000, [])
    passes = d.of("vehicle_pass")
    assert {p.detail["track"] for p in passes} == {1, 2}
    assert len({p.event_id for p in passes}) == 2


def test_a_restored_actor_continues_an_open_track() -> None:
    a = Drive(station())
    ts = T0
    for k in range(5):
        a.frame(ts + 200 * k, [{"id": 6, "y_m": 2.0 + 2 * k}])
    restored = StationActor.restore(a.actor.profile, a.actor.snapshot())
    b = Drive(restored)  # type: ignore[arg-type]
    b.seq = a.seq
    for k in range(5, 25):
        b.frame(ts + 200 * k, [{"id": 6, "y_m": 2.0 + 2 * k}])
    [p] = b.of("vehicle_pass")
    assert p.detail["speed_kmh"] == pytest.approx(36, rel=0.05) and p.detail["samples"] >= 15


def test_missing_and_frozen_pictures_raise_offline_and_frozen_then_online() -> None:
    d = Drive(station())
    for k in range(12):
        d.frame(T0 + 1000 * k, frame=False)
    assert [e.type for e in d.events] == ["camera_offline"]
    d.frame(T0 + 13_000)
    for k in range(12):
        d.frame(T0 + 14_000 + 1000 * k, still=True)
    d.frame(T0 + 30_000)
    assert [e.type for e in d.events] == ["camera_offline", "camera_online", "camera_frozen", "camera_online"]


def test_the_rider_rule() -> None:
    bike = Detection(300, 200, 360, 300, 0.9, "motorcycle")
    driver = Detection(310, 180, 350, 280, 0.8, "person")  # sits on it: most of the box inside
    pillion = Detection(320, 185, 362, 290, 0.8, "person")
    walker = Detection(365, 210, 395, 300, 0.8, "person")  # beside it
    ahead = Detection(310, 240, 350, 345, 0.8, "person")  # standing in front of it: feet well below the wheels
    assert count_riders(bike, [driver, pillion, walker, ahead], 0.5) == 2
    assert count_riders(Detection(300, 200, 360, 300, 0.9, "car"), [driver], 0.5) == 0


def test_plate_box_is_the_lower_part_of_the_vehicle_and_skips_tiny_boxes() -> None:
    crop = StationParams(calibration=Calibration(image=IMAGE, road=ROAD)).plate
    car = Detection(100, 100, 220, 190, 0.9, "car")
    assert plate_box(car, crop, 640, 360) == (100, 140, 220, 190)
    assert plate_box(Detection(100, 100, 120, 115, 0.9, "car"), crop, 640, 360) is None


def test_the_reading_is_storable_in_clickhouse() -> None:
    cols = dict(reading_columns(StationReading))
    assert cols["track"] == "Array(Int64)" and cols["plate"] == "Array(String)" and cols["frame"] == "Bool"
    blob = msgspec.msgpack.encode(StationReading(track=[1], label=["car"], x=[1.0], y=[2.0], riders=[0],
                                                 plate=["甘P·A1234"], plate_score=[0.9]))  # fmt: skip
    assert msgspec.msgpack.decode(blob, type=StationReading).plate == ["甘P·A1234"]


@pytest.mark.parametrize(
    ("params", "fault"),
    [
        ({"calibration": {"image": [(0, 0), (10, 10), (20, 20), (0, 50)], "road": ROAD}}, "one line"),
        ({"calibration": {"image": IMAGE, "road": ROAD}, "forbidden_direction": "东行"}, "forbidden_direction"),
        ({"calibration": {"image": IMAGE[:3], "road": ROAD}}, "calibration.image"),
        ({"calibration": {"image": IMAGE, "road": ROAD}, "limit": 40}, "limit"),
    ],
)
def test_bad_station_params_are_refused_naming_the_device(params: dict[str, Any], fault: str) -> None:
    cfg = {"source": "http://127.0.0.1:1/x.mjpg", "station": params}
    with pytest.raises(VideoConfigError, match=rf"device st-9: .*{fault}"):
        StationActor(DeviceProfile(device_id="st-9", kind="station", params=cfg))
    with pytest.raises(ValueError, match="device st-9: a station needs a `station` section"):
        StationActor(DeviceProfile(device_id="st-9", kind="station", params={"source": "x.mp4"}))
