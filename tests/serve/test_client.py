"""The caller side of a detector: frames shrunk to the model's scale exactly as letterbox() would, boxes mapped back."""

from __future__ import annotations

import numpy as np

from serve.client import shrink
from serve.yolo import letterbox


def test_a_wide_frame_shrinks_to_the_model_width_with_factors_back() -> None:
    small, sx, sy = shrink(np.zeros((360, 640, 3), np.uint8), (320, 320))
    assert small.shape == (180, 320, 3)
    assert (sx, sy) == (2.0, 2.0)


def test_an_odd_frame_keeps_exact_factors_per_axis() -> None:
    small, sx, sy = shrink(np.zeros((361, 641, 3), np.uint8), (320, 320))
    assert small.shape == (180, 320, 3)
    assert sx == 641 / 320
    assert sy == 361 / 180


def test_a_frame_already_small_enough_is_sent_as_it_is() -> None:
    frame = np.zeros((120, 200, 3), np.uint8)
    small, sx, sy = shrink(frame, (320, 320))
    assert small is frame
    assert (sx, sy) == (1.0, 1.0)


def test_the_replica_letterboxes_a_shrunk_frame_without_resizing_it_again() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (360, 640, 3), dtype=np.uint8)
    small, _, _ = shrink(frame, (320, 320))
    direct, _ = letterbox(frame, (320, 320))
    via_client, box = letterbox(small, (320, 320))
    assert box.scale == 1.0
    assert np.array_equal(direct, via_client)
