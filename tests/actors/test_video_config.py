"""Video config validation (errors name the device) and zone/line geometry against supervision's own semantics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import supervision as sv

from actors.camera import CameraActor
from actors.video_config import Line, VideoConfigError, Zone, load_video_config, point_in_polygon
from core.kinds import DeviceProfile

TRIANGLE = [[0, 0], [9, 0], [9, 9]]
WATER = {"name": "z", "purpose": "water", "polygon": TRIANGLE}


def profile(params: dict[str, Any], device_id: str = "cam-lcb-07") -> DeviceProfile:
    """A camera profile with these params."""
    return DeviceProfile(device_id=device_id, kind="camera", params=params)


def test_defaults_map_scene_and_fall_classes() -> None:
    c = load_video_config(profile({"source": "rtsp://10.0.0.5/stream1"}))
    assert c.fps == 1.0 and c.model == "scene" and c.min_score == 0.35 and c.cooldown_s == 300
    assert c.classes["Fall"] == "fallen" and c.classes["Normal"] == "person" and c.classes["garbage"] == "garbage"
    assert c.night_hours == (20, 6)


@pytest.mark.parametrize(
    ("params", "fault"),
    [
        ({}, "source: Field required"),
        ({"source": "ftp://x/y"}, "unsupported"),
        ({"source": "a.mp4", "fps": 0}, "fps"),
        ({"source": "a.mp4", "zones": [{"name": "z", "purpose": "crowd", "polygon": [[0, 0], [1, 1]]}]}, "polygon"),
        ({"source": "a.mp4", "zones": [{"name": "z", "purpose": "pool", "polygon": TRIANGLE}]}, "purpose"),
        ({"source": "a.mp4", "zones": [{**WATER, "hours": [7, 7]}]}, "hours (7, 7)"),
        ({"source": "a.mp4", "lines": [{"name": "l", "start": [1, 1], "end": [1, 1]}]}, "same point"),
        ({"source": "a.mp4", "classes": {"Fall": "lying"}}, "not canonical"),
        ({"source": "a.mp4", "garbage_s": 60, "garbag_s": 5}, "garbag_s: Extra inputs"),
        ({"source": "a.mp4", "zones": [WATER, WATER]}, "unique"),
    ],
)  # fmt: skip
def test_config_errors_name_the_device_and_the_field(params: dict[str, Any], fault: str) -> None:
    with pytest.raises(VideoConfigError) as err:
        load_video_config(profile(params))
    assert "device cam-lcb-07" in str(err.value) and fault in str(err.value)


def test_actor_construction_fails_loudly_on_bad_params() -> None:
    with pytest.raises(VideoConfigError, match="device cam-9"):
        CameraActor(profile({"source": "a.mp4", "crowd_min": 0}, device_id="cam-9"))


def test_point_in_polygon_matches_supervision_polygon_zone() -> None:
    rng = np.random.default_rng(7)
    polygon = [(37.0, 210.0), (300.0, 180.0), (420.0, 330.0), (200.0, 355.0), (90.0, 300.0)]
    zone = sv.PolygonZone(np.array(polygon, dtype=np.int64), triggering_anchors=(sv.Position.BOTTOM_CENTER,))
    feet = rng.uniform([0, 150], [460, 360], size=(2000, 2))
    boxes = np.column_stack([feet[:, 0] - 8, feet[:, 1] - 40, feet[:, 0] + 8, feet[:, 1]])
    theirs = zone.trigger(sv.Detections(xyxy=boxes))
    ours = np.array([point_in_polygon((float(x), float(y)), polygon) for x, y in feet])
    # rasterised vs exact edges may disagree on pixels the border passes through; nowhere else
    assert (ours == theirs).mean() > 0.99
    assert ours.sum() > 300 and (~ours).sum() > 300
    assert point_in_polygon((37, 210), polygon) and point_in_polygon((300, 180), polygon)  # vertices count


def test_zone_contains_uses_whole_pixels_and_includes_the_border() -> None:
    z = Zone(name="z", purpose="crowd", polygon=[(0, 0), (100, 0), (100, 100), (0, 100)])
    assert z.contains((100.4, 50)) and not z.contains((100.6, 50)) and z.contains((0, 0))


def test_line_crossing_direction() -> None:
    # horizontal line left -> right: walking along it (towards +x), left is up the picture (y smaller)
    line = Line(name="l", start=(100, 200), end=(500, 200), forbidden="left_to_right")
    assert line.crossing((300, 150), (300, 250)) == "left_to_right"
    assert line.crossing((300, 250), (300, 150)) == "right_to_left"
    assert line.crossing((300, 150), (300, 190)) is None  # not reaching it
    assert line.crossing((50, 150), (50, 250)) is None  # beside the segment
    assert line.crossing((300, 200), (300, 250)) is None  # starting on it is not a crossing
