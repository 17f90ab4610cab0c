"""Camera perception pieces without a model: label mapping, ByteTrack ids, picture change, annotated snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest

from actors.camera_perception import CameraPerception, LabelTracker, frame_change, thumbnail, to_sv
from actors.snapshots import draw_scene, encode_jpeg, safe_name, snapshot_relpath, write_snapshot
from actors.video_config import load_video_config
from core.events import DeviceEvent
from core.kinds import DeviceProfile
from core.vision import Detection


def perception(**params: object) -> CameraPerception:
    """A camera perception with these params; no model is called by the tests that use it."""
    profile = DeviceProfile(device_id="cam-1", kind="camera", params={"source": "x.mp4", **params})
    return CameraPerception(profile, load_video_config(profile), models=None)  # type: ignore[arg-type]


def test_model_classes_are_mapped_and_weak_or_unknown_ones_dropped() -> None:
    p = perception(min_score=0.4, track_min_score=0.2)
    raw = [
        Detection(0, 0, 10, 10, 0.9, "Fall"), Detection(0, 0, 10, 10, 0.3, "person"),
        Detection(0, 0, 10, 10, 0.8, "dog"), Detection(0, 0, 10, 10, 0.5, "smoke"),
        Detection(0, 0, 10, 10, 0.1, "person"),
    ]  # fmt: skip
    assert [(d.label, d.score) for d in p.canonical(raw)] == [("fallen", 0.9), ("person", 0.3), ("smoke", 0.5)]


def test_a_weak_detection_continues_a_track_but_starts_none() -> None:
    p = perception(fps=1, min_score=0.35)
    person = Detection(100, 100, 120, 160, 0.8, "person")
    for _ in range(2):
        p.tracked([person])
    half_hidden = Detection(101, 100, 121, 160, 0.2, "person")
    stranger = Detection(400, 100, 420, 160, 0.2, "person")
    dets, ids = p.tracked([half_hidden, stranger])
    assert [(d.x1, round(d.score, 3)) for d in dets] == [(101, 0.2)]
    assert ids[0] >= 0


def test_tracks_keep_their_ids_while_moving_and_labels_never_share_one() -> None:
    t = LabelTracker(fps=5, missed_frames=2, min_score=0.35)
    ids: list[dict[str, int]] = []
    for i in range(6):
        car = Detection(100 + 6 * i, 200, 180 + 6 * i, 250, 0.9, "car")
        rider = Detection(120 + 6 * i, 160, 150 + 6 * i, 240, 0.8, "person")  # overlaps the car heavily
        dets, tids = t.update([car, rider])
        ids.append({d.label: tid for d, tid in zip(dets, tids, strict=True)})
    assert ids[0] == {"car": -1, "person": -1}  # not yet confirmed on the first sight
    assert len({f["car"] for f in ids[1:]}) == 1 and len({f["person"] for f in ids[1:]}) == 1
    assert ids[1]["car"] != ids[1]["person"] and min(ids[1].values()) >= 0
    assert t.local_id(ids[1]["car"]) == t.local_id(ids[1]["person"])  # short ids are per label


def test_track_ids_differ_across_restarts() -> None:
    a, b = LabelTracker(1, 2, 0.35), LabelTracker(1, 2, 0.35)
    d = Detection(10, 10, 50, 50, 0.9, "car")
    ia = [a.update([d])[1][0] for _ in range(2)][-1]
    b.base += 1000  # a later process (bases are start times in ms, x1000)
    ib = [b.update([d])[1][0] for _ in range(2)][-1]
    assert ia >= 0 and ib >= 0 and ia != ib


def test_frame_change_measures_picture_motion() -> None:
    still = np.full((360, 640, 3), 40, dtype=np.uint8)
    still[100:200, 100:200] = 230  # a bright object ...
    moved = np.full((360, 640, 3), 40, dtype=np.uint8)
    moved[100:200, 300:400] = 230  # ... that moved
    assert frame_change(None, thumbnail(still)) is None
    assert frame_change(thumbnail(still), thumbnail(still)) == 0.0
    change = frame_change(thumbnail(still), thumbnail(moved))
    assert change is not None and change > 5


@pytest.mark.asyncio
async def test_no_picture_is_a_not_ok_reading() -> None:
    r = await perception().perceive(None, 0)
    assert (r.ok, r.analysed, r.labels) == (False, False, [])


def test_snapshot_is_an_annotated_jpeg_file(tmp_path: Path) -> None:
    zones = [{"name": "村口广场", "purpose": "crowd", "polygon": [[20, 200], [300, 200], [300, 350], [20, 350]]}]
    p = perception(zones=zones, lines=[{"name": "桥", "start": [400, 50], "end": [400, 350]}])
    frame = np.full((360, 640, 3), 90, dtype=np.uint8)
    p.last = ([Detection(100, 150, 140, 300, 0.88, "person")], [-1])
    event = DeviceEvent(event_id="cam-1:crowd:1748743200000:村口广场", type="crowd", kind="camera",
                        device_id="cam-1", ts=1748743200000, detail={"zone": "村口广场"})  # fmt: skip
    jpeg = p.annotate(frame, event)
    rel = write_snapshot(tmp_path, "cam-1", event.event_id, jpeg)
    assert rel == "snapshots/cam-1/cam-1_crowd_1748743200000_村口广场.jpg"
    picture = cv2.cvtColor(cast(np.ndarray, cv2.imread(str(tmp_path / rel))), cv2.COLOR_BGR2RGB)
    assert picture.shape == frame.shape
    diff = np.abs(picture.astype(int) - frame.astype(int)).max(axis=2)
    assert diff[:12].mean() > 40  # the title bar
    assert diff[150, 95:105].max() > 60 and diff[200, 150:200].max() > 60  # the box and the zone border
    assert diff[60, 600] < 10  # untouched elsewhere


def test_snapshot_names_are_safe() -> None:
    assert safe_name("../../etc/passwd") == "_.._etc_passwd"
    assert snapshot_relpath("cam/1", "a:b c").as_posix() == "snapshots/cam_1/a_b_c.jpg"
    plain = draw_scene(np.zeros((90, 160, 3), np.uint8), to_sv([]), [])
    assert len(encode_jpeg(plain)) > 100 and plain.max() == 0
