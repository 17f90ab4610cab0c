"""The procedural scene renderer: deterministic, truthful boxes, night, flicker, readable plates in the road view."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from core.vision import SCENE_CLASSES, Detection
from sim.plate import random_plate
from sim.scene import H, Layout, Thing, W, jpeg_roundtrip, layout, render, scale_at


def _one_of_each(seed: int, view: str = "village") -> tuple[Layout, list[Thing]]:
    lay = layout(seed, view)
    rng = random.Random(seed)
    things = []
    for i, label in enumerate(SCENE_CLASSES):
        y = lay.horizon_y + (lay.height - lay.horizon_y) * (0.45 + 0.07 * i)
        x = 60 + i * 85.0
        things.append(Thing(label, x, y, scale_at(lay, y), passengers=i % 3, plate=random_plate(rng), variant=seed + i))
    return lay, things


def test_same_arguments_give_the_same_frame_and_boxes() -> None:
    lay, things = _one_of_each(3)
    frame_a, boxes_a = render(lay, things, t=2.0, noise_seed=9)
    frame_b, boxes_b = render(layout(3), things, t=2.0, noise_seed=9)
    assert frame_a.shape == (H, W, 3) and frame_a.dtype == np.uint8
    assert np.array_equal(frame_a, frame_b)
    assert boxes_a == boxes_b
    other, _ = render(layout(4), things, t=2.0, noise_seed=9)
    assert not np.array_equal(frame_a, other)


def test_layouts_are_deterministic_and_sane() -> None:
    for seed in range(20):
        for view in ("village", "road"):
            lay = layout(seed, view)
            assert lay == layout(seed, view)
            assert 0 < lay.horizon_y < lay.height / 2
            assert len(lay.road) >= 3 and len(lay.square) >= 3
            assert (lay.water is None) if view == "road" else True
            assert scale_at(lay, lay.horizon_y) == 0.0
            assert scale_at(lay, lay.height - 1) > scale_at(lay, (lay.height + lay.horizon_y) / 2) > 0
    assert any(layout(s).water for s in range(10))
    with pytest.raises(ValueError, match="view"):
        layout(1, "moon")


def test_every_class_gets_a_box_inside_the_frame_around_its_pixels() -> None:
    lay, things = _one_of_each(5)
    _, boxes = render(lay, things, t=1.0, noise_seed=1)
    assert sorted({b[0] for b in boxes}) == sorted(SCENE_CLASSES)
    empty, none = render(lay, [], t=1.0, noise_seed=1)
    assert none == []
    for thing in things:
        frame, (box, *riders) = render(lay, [thing], t=1.0, noise_seed=1)
        assert all(r[0] == "person" for r in riders) and (not riders or thing.label == "motorcycle")
        label, x1, y1, x2, y2 = box
        assert label == thing.label
        assert 0 <= x1 < x2 <= W and 0 <= y1 < y2 <= H, label
        assert x1 <= thing.x <= x2 and abs(y2 - thing.y) < 0.1 * (y2 - y1) + 2, f"{label} box not on its ground point"
        changed = np.abs(frame.astype(int) - empty.astype(int)).max(axis=2) > 25
        inside = changed[int(y1) : int(y2), int(x1) : int(x2)]
        assert inside.mean() > 0.15, f"{label} box holds few drawn pixels"
        ring = changed[max(0, int(y1) - 12) : int(y2) + 12, max(0, int(x1) - 12) : int(x2) + 12].sum() - inside.sum()
        if label != "fire":  # the fire's glow lights up its surroundings
            assert ring < 0.1 * inside.sum(), f"{label} drawn well outside its box"


def test_things_outside_the_frame_get_no_box() -> None:
    lay = layout(2)
    _, boxes = render(lay, [Thing("person", -200, 300, 1.0), Thing("car", 320, 900, 1.0)], t=0.0)
    assert boxes == []


def test_unknown_label_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="dragon"):
        render(layout(1), [Thing("dragon", 100, 300)], t=0.0)


def test_night_is_darker_but_fire_stays_bright() -> None:
    lay = layout(7)
    fire = Thing("fire", 320, 300, scale_at(lay, 300), variant=2)
    day, day_boxes = render(lay, [fire], t=0.0, noise_seed=1)
    night, night_boxes = render(lay, [fire], t=0.0, night=True, noise_seed=1)
    assert night.mean() < 0.6 * day.mean()
    _, x1, y1, x2, y2 = night_boxes[0]
    flame = night[int(y1) : int(y2), int(x1) : int(x2)]
    assert flame.max(axis=2).mean() > 2 * night.max(axis=2).mean()
    assert day_boxes == night_boxes


def test_fire_and_smoke_move_with_time_and_noise_varies_with_t() -> None:
    lay = layout(8)
    for label in ("fire", "smoke"):
        thing = Thing(label, 320, 320, 1.3, variant=1)
        a, _ = render(lay, [thing], t=0.0, noise_seed=1)
        b, _ = render(lay, [thing], t=0.7, noise_seed=1)
        assert np.abs(a.astype(int) - b.astype(int)).max(axis=2).astype(bool).mean() > 0.003, label
    static_a, _ = render(lay, [Thing("person", 300, 300, 1.0)], t=0.0)
    static_b, _ = render(lay, [Thing("person", 300, 300, 1.0)], t=1.0)
    assert not np.array_equal(static_a, static_b)  # sensor noise: a live static scene is never frozen


def test_passengers_enlarge_the_motorcycle() -> None:
    lay = layout(1, "road")
    sizes = []
    for passengers in (0, 2):
        _, boxes = render(lay, [Thing("motorcycle", 320, 300, 2.5, passengers=passengers, variant=1)], t=0.0)
        _, x1, y1, x2, y2 = boxes[0]
        sizes.append((x2 - x1) * (y2 - y1))
    assert sizes[1] > 1.2 * sizes[0]


def test_jpeg_roundtrip_keeps_shape_and_degrades_gently() -> None:
    frame, _ = render(layout(1), [], t=0.0)
    jpeg = jpeg_roundtrip(frame, 40)
    assert jpeg.shape == frame.shape and jpeg.dtype == np.uint8
    assert 0 < np.abs(jpeg.astype(int) - frame.astype(int)).mean() < 12


@pytest.fixture(scope="module")
def ocr() -> Any:
    """The PP-OCR pipeline the PlateReader is built on."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plate_is_readable_by_ppocr_in_the_road_view(seed: int, ocr: Any) -> None:
    lay = layout(seed, "road")
    plate = random_plate(random.Random(seed))
    y = lay.horizon_y + 3.0 / scale_at(lay, lay.height) * (lay.height - lay.horizon_y)
    frame, boxes = render(lay, [Thing("car", 320, y, scale_at(lay, y), plate=plate, variant=seed)], t=0.0)
    _, x1, y1, x2, y2 = boxes[0]
    assert x2 - x1 >= 200
    crop = frame[int(y1 + 0.6 * (y2 - y1)) : int(y2), int(x1) : int(x2)]
    result, _ = ocr(crop)
    text = "".join(item[1] for item in result or [])
    assert text.replace("·", "").replace(".", "") == plate.replace("·", "")


@pytest.mark.parametrize("variant", [1, 2, 3])  # variant 2: a farm tricycle, passengers in its bed
def test_each_rider_is_a_person_box_on_the_motorcycle(variant: int) -> None:
    from core.vision import rides

    lay = layout(1, "road")
    for passengers in (0, 1, 2):
        _, boxes = render(lay, [Thing("motorcycle", 320, 300, 2.0, passengers=passengers, variant=variant)], t=0.0)
        bike, *riders = [Detection(x1, y1, x2, y2, 1.0, label) for label, x1, y1, x2, y2 in boxes]
        assert bike.label == "motorcycle"
        assert [r.label for r in riders] == ["person"] * (passengers + 1)
        assert all(rides(r, bike, 0.8) for r in riders)
