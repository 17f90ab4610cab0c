"""Pure YOLO helpers: letterbox geometry, decoding, class-aware NMS, class names and input size from metadata."""

from __future__ import annotations

import numpy as np
import pytest

from serve.yolo import (
    PAD_VALUE,
    Letterbox,
    anchors_first,
    class_names,
    decode,
    input_size,
    letterbox,
    nms,
    to_tensor,
    unletterbox,
)


def _output(boxes: list[tuple[float, float, float, float]], scores: list[list[float]]) -> np.ndarray:
    """A raw [4+C, A] output from per-anchor boxes (cx, cy, w, h) and per-class score rows."""
    return np.concatenate([np.asarray(boxes, np.float32).T, np.asarray(scores, np.float32)])


IDENTITY = Letterbox(scale=1.0, pad_x=0.0, pad_y=0.0, width=640, height=640)


def test_letterbox_wide_frame_pads_top_and_bottom_with_grey() -> None:
    frame = np.zeros((360, 640, 3), np.uint8)
    frame[:, :, 0] = 200
    img, box = letterbox(frame, (64, 64))
    assert img.shape == (64, 64, 3)
    assert box == Letterbox(scale=0.1, pad_x=0.0, pad_y=14.0, width=640, height=360)
    assert (img[:14] == PAD_VALUE).all() and (img[14 + 36 :] == PAD_VALUE).all()
    assert (img[14 : 14 + 36, :, 0] == 200).all()


def test_letterbox_tall_frame_pads_left_and_right() -> None:
    img, box = letterbox(np.zeros((300, 100, 3), np.uint8), (64, 64))
    assert box.pad_y == 0.0 and box.pad_x == 21.0
    assert (img[:, :21] == PAD_VALUE).all() and (img[:, 21:42] == 0).all() and (img[:, 42:] == PAD_VALUE).all()


def test_letterbox_to_a_rectangular_input() -> None:
    img, box = letterbox(np.zeros((360, 640, 3), np.uint8), (384, 640))
    assert img.shape == (384, 640, 3)
    assert box.scale == 1.0 and box.pad_x == 0.0 and box.pad_y == 12.0


@pytest.mark.parametrize(("h", "w"), [(360, 640), (480, 270), (100, 100), (37, 913)])
def test_boxes_map_back_to_the_original_frame(h: int, w: int) -> None:
    _, box = letterbox(np.zeros((h, w, 3), np.uint8), (320, 320))
    original = np.array([[0.1 * w, 0.2 * h, 0.6 * w, 0.9 * h]], np.float32)
    in_model = original * box.scale + np.array([box.pad_x, box.pad_y, box.pad_x, box.pad_y], np.float32)
    np.testing.assert_allclose(unletterbox(in_model, box), original, atol=1e-3)


def test_unletterbox_clips_to_the_frame() -> None:
    box = Letterbox(scale=0.1, pad_x=0.0, pad_y=14.0, width=640, height=360)
    out = unletterbox(np.array([[-5.0, 2.0, 70.0, 63.0]], np.float32), box)
    assert out.tolist() == [[0.0, 0.0, 640.0, 360.0]]


def test_to_tensor_is_nchw_scaled_in_the_model_dtype() -> None:
    a = np.zeros((4, 6, 3), np.uint8)
    a[..., 2] = 255
    t = to_tensor([a, a], np.float16)
    assert t.shape == (2, 3, 4, 6) and t.dtype == np.float16 and t.flags.c_contiguous
    assert t[:, 2].min() == 1.0 and t[:, :2].max() == 0.0


def test_decode_picks_the_best_class_and_applies_the_threshold() -> None:
    out = _output([(100, 100, 20, 40), (300, 200, 50, 50)], [[0.9, 0.2], [0.1, 0.3]])
    dets = decode(out, IDENTITY, ["Normal", "Fall"], conf=0.25, iou=0.5, max_detections=10)
    assert [(d.label, round(d.score, 3)) for d in dets] == [("Normal", 0.9), ("Fall", 0.3)]
    assert (dets[0].x1, dets[0].y1, dets[0].x2, dets[0].y2) == (90.0, 80.0, 110.0, 120.0)
    assert decode(out, IDENTITY, ["Normal", "Fall"], conf=0.95, iou=0.5, max_detections=10) == []


@pytest.mark.parametrize(
    ("shape", "meta", "expected"),
    [
        ((6, 8400), {}, False),
        ((8400, 6), {}, True),
        ((6, 3), {"names": "{0: 'a', 1: 'b'}"}, False),
        ((3, 6), {"names": "['a', 'b']"}, True),
    ],
)
def test_output_orientation(shape: tuple[int, int], meta: dict[str, str], expected: bool) -> None:
    assert anchors_first(shape, meta) is expected


def test_nms_suppresses_overlaps_of_one_class_only() -> None:
    boxes = [(100, 100, 40, 40), (102, 101, 40, 40), (101, 100, 40, 40), (400, 300, 40, 40)]
    # anchors 0 and 1 are class 0 and overlap; anchor 2 overlaps them but is class 1; anchor 3 is far away
    out = _output(boxes, [[0.9, 0.8, 0.0, 0.7], [0.0, 0.0, 0.6, 0.0]])
    dets = decode(out, IDENTITY, ["p", "q"], conf=0.25, iou=0.5, max_detections=10)
    assert sorted((d.label, round(d.score, 2)) for d in dets) == [("p", 0.7), ("p", 0.9), ("q", 0.6)]


def test_decode_respects_max_detections_best_first() -> None:
    boxes = [(50.0 * i + 20, 50.0, 10.0, 10.0) for i in range(8)]
    out = _output(boxes, [[0.3 + 0.05 * i for i in range(8)]])
    dets = decode(out, IDENTITY, ["x"], conf=0.1, iou=0.5, max_detections=3)
    assert [round(d.score, 2) for d in dets] == [0.65, 0.6, 0.55]


def test_nms_function_keeps_best_of_each_cluster() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.5, 0.9, 0.4, 0.3], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 0, 2, 3]


def test_decode_rejects_outputs_that_are_not_yolo_format() -> None:
    with pytest.raises(ValueError, match="4\\+classes"):
        decode(np.zeros((1, 6, 10), np.float32), IDENTITY, [], 0.25, 0.5, 10)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("{0: 'Normal', 1: 'Fall'}", ["Normal", "Fall", "class_2"]),
        ("['person', 'car', 'fire']", ["person", "car", "fire"]),
        ("{'0': 'a', 2: 'c'}", ["a", "class_1", "c"]),
        ("__import__('os').system('true')", ["class_0", "class_1", "class_2"]),
        ("{0: 'a'", ["class_0", "class_1", "class_2"]),
    ],
)
def test_class_names_from_metadata(raw: str, expected: list[str]) -> None:
    assert class_names({"names": raw}, 3) == expected


def test_class_names_without_metadata() -> None:
    assert class_names({}, 2) == ["class_0", "class_1"]


def test_input_size_prefers_the_static_shape_then_imgsz_then_640() -> None:
    assert input_size([1, 3, 320, 480], {"imgsz": "[640, 640]"}) == (320, 480)
    assert input_size(["N", 3, "H", "W"], {"imgsz": "[384, 640]"}) == (384, 640)
    assert input_size(["N", 3, "H", "W"], {"imgsz": "416"}) == (416, 416)
    assert input_size(["N", 3, None, None], {}) == (640, 640)
