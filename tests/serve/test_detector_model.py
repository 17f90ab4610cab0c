"""YoloModel (the Detector's in-process core) on generated YOLO-format ONNX models and on the real fall model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from serve_testkit import MODELS, white, yolo_onnx

from core.vision import Detection
from serve.detector import YoloModel, check_frame

# Anchors in 64x64 input pixels: a0 and a2 overlap (same class), a1 is elsewhere and another class.
BOXES = [(32.0, 32.0, 20.0, 10.0), (10.0, 50.0, 8.0, 8.0), (33.0, 32.0, 20.0, 10.0)]
WEIGHTS = [[0.9, 0.1, 0.8], [0.1, 0.6, 0.1]]  # class x anchor; a white square frame scores exactly these
# A white 640x360 frame letterboxed to 64x64: 36 content rows of 255 and 28 grey rows of 114.
WIDE_MEAN = (36 * 255 + 28 * 114) / (64 * 255)


def _summary(dets: list[Detection]) -> list[tuple[str, float, tuple[float, ...]]]:
    return [(d.label, round(d.score, 3), tuple(round(v, 1) for v in (d.x1, d.y1, d.x2, d.y2))) for d in dets]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> YoloModel:
    return YoloModel(yolo_onnx(tmp_path_factory.mktemp("m") / "tiny.onnx", BOXES, WEIGHTS), intra_op_threads=1)


def test_model_description_comes_from_the_file(tiny: YoloModel) -> None:
    info = tiny.describe()
    assert info["names"] == ["Normal", "Fall"]
    assert info["input_size"] == [64, 64] and info["dtype"] == "float32" and info["static_batch"] is None
    assert info["providers"] == ["CPUExecutionProvider"]


def test_boxes_come_back_in_the_wide_frames_own_pixels(tiny: YoloModel) -> None:
    dets = tiny.detect_batch([white(360, 640)], conf=0.25, iou=0.45)[0]
    assert _summary(dets) == [
        ("Normal", round(0.9 * WIDE_MEAN, 3), (220.0, 130.0, 420.0, 230.0)),
        ("Fall", round(0.6 * WIDE_MEAN, 3), (60.0, 320.0, 140.0, 360.0)),  # clipped at the frame's bottom
    ]


def test_thresholds_change_the_result(tiny: YoloModel) -> None:
    frame = white(64, 64)
    assert [d.label for d in tiny.detect_batch([frame], conf=0.7)[0]] == ["Normal"]
    assert len(tiny.detect_batch([frame], conf=0.25, iou=0.45)[0]) == 2
    loose = tiny.detect_batch([frame], conf=0.25, iou=0.99)[0]  # the overlapping a2 survives NMS
    assert sorted(round(d.score, 2) for d in loose) == [0.6, 0.8, 0.9]
    assert len(tiny.detect_batch([frame], conf=0.25, iou=0.99, max_detections=1)[0]) == 1


def test_each_frame_of_a_batch_gets_its_own_result(tiny: YoloModel) -> None:
    frames = [white(64, 64, 0), white(64, 64, 255), white(64, 64, 102), white(360, 640)]
    results = tiny.detect_batch(frames, conf=0.3)
    assert results[0] == []
    assert [round(d.score, 3) for d in results[1]] == [0.9, 0.6]
    assert [round(d.score, 3) for d in results[2]] == [0.36]  # 102/255 * 0.9; Fall at 0.24 is under 0.3
    assert results[3][0].y1 == pytest.approx(130.0)
    assert tiny.detect_batch([]) == []


def test_fp16_model_input_is_cast(tmp_path: Path) -> None:
    model = YoloModel(yolo_onnx(tmp_path / "half.onnx", BOXES, WEIGHTS, fp16=True), intra_op_threads=1)
    assert model.describe()["dtype"] == "float16"
    dets = model.detect_batch([white(64, 64), white(64, 64, 0)], conf=0.25)
    assert [(d.label, round(d.score, 2)) for d in dets[0]] == [("Normal", 0.9), ("Fall", 0.6)]
    assert dets[1] == []


def test_static_batch_model_runs_a_batch_in_chunks(tmp_path: Path) -> None:
    model = YoloModel(yolo_onnx(tmp_path / "b1.onnx", BOXES, WEIGHTS, static_batch=1), intra_op_threads=1)
    assert model.static_batch == 1
    results = model.detect_batch([white(64, 64), white(64, 64, 0), white(64, 64)], conf=0.7)
    assert [len(r) for r in results] == [1, 0, 1]
    two = YoloModel(yolo_onnx(tmp_path / "b2.onnx", BOXES, WEIGHTS, static_batch=2), intra_op_threads=1)
    assert [len(r) for r in two.detect_batch([white(64, 64)] * 3, conf=0.7)] == [1, 1, 1]


def test_dynamic_input_size_comes_from_imgsz_metadata(tmp_path: Path) -> None:
    path = yolo_onnx(tmp_path / "dyn.onnx", BOXES, WEIGHTS, static_size=False, imgsz="[128, 128]")
    model = YoloModel(path, intra_op_threads=1)
    assert model.size == (128, 128)
    # 640x360 into 128x128: scale 0.2, 36 px of padding on top; a0 (22..42, 27..37) maps to x 110..210
    dets = model.detect_batch([white(360, 640)], conf=0.3)[0]
    assert (dets[0].x1, dets[0].x2) == pytest.approx((110.0, 210.0))


def test_anchor_major_output(tmp_path: Path) -> None:
    model = YoloModel(yolo_onnx(tmp_path / "t.onnx", BOXES, WEIGHTS, anchors_first=True), intra_op_threads=1)
    assert model.anchors_first and model.names == ["Normal", "Fall"]
    dets = model.detect_batch([white(64, 64)], conf=0.7)[0]
    assert _summary(dets) == [("Normal", 0.9, (22.0, 27.0, 42.0, 37.0))]


def test_names_default_to_class_numbers_without_metadata(tmp_path: Path) -> None:
    # Without names the longer output side is taken as the anchors, so give it more anchors than channels.
    boxes = [(8.0 * i + 4, 32.0, 6.0, 6.0) for i in range(8)]
    weights = [[0.9] + [0.0] * 7, [0.0, 0.0, 0.0, 0.8] + [0.0] * 4]
    model = YoloModel(yolo_onnx(tmp_path / "n.onnx", boxes, weights, names=None), intra_op_threads=1)
    assert model.names == ["class_0", "class_1"]
    assert [d.label for d in model.detect_batch([white(64, 64)], conf=0.5)[0]] == ["class_0", "class_1"]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ([[1, 2, 3]], "numpy array"),
        (np.zeros((10, 10), np.uint8), "HxWx3"),
        (np.zeros((10, 10, 4), np.uint8), "HxWx3"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((1, 10, 3), np.uint8), "outside"),
    ],
)
def test_bad_frames_get_a_clear_error(frame: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_frame(frame)


def test_missing_or_broken_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.onnx"):
        YoloModel(tmp_path / "nope.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"broken\.onnx"):
        YoloModel(broken)


FALL = MODELS / "fall" / "model.onnx"


@pytest.mark.skipif(
    not FALL.is_file(), reason="fall model not placed: run `make models` (python -m serve.fetch_models)"
)
def test_real_fall_model_finds_a_standing_person_in_a_rendered_village() -> None:
    from sim.scene import Thing, layout, render, scale_at

    model = YoloModel(FALL, intra_op_threads=2)
    assert model.names == ["Normal", "Fall"] and model.size == (640, 640) and model.static_batch == 1
    lay = layout(3, "village")
    frame, truth = render(lay, [Thing("person", 200, 300, scale=scale_at(lay, 300))], 0.0)
    dets = model.detect_batch([frame], conf=0.35)[0]
    _, tx1, ty1, tx2, ty2 = truth[0]
    hits = [d for d in dets if d.label == "Normal" and _iou((d.x1, d.y1, d.x2, d.y2), (tx1, ty1, tx2, ty2)) > 0.5]
    assert hits, f"no 'Normal' box on the person at {truth[0]}: {dets}"


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
