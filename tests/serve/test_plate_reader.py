"""PlateReader core: plate text normalisation and PP-OCR reads of rendered Chinese plates."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from serve_testkit import MODELS

from serve.plate_reader import PlateOCR, normalise_plate
from sim.plate import BLUE, YELLOW, random_plate, render_plate

PPOCR = {part: MODELS / "ppocr" / f"{part}.onnx" for part in ("det", "cls", "rec")}
needs_ppocr = pytest.mark.skipif(
    not all(p.is_file() for p in PPOCR.values()),
    reason="PP-OCR models not placed: run `make models` (python -m serve.fetch_models)",
)


@pytest.mark.parametrize(
    ("raw", "text", "valid"),
    [
        ("甘P·A1234", "甘P·A1234", True),
        ("甘PA1234", "甘P·A1234", True),  # the dot was not read
        ("甘Ｐ・Ａ１２３４", "甘P·A1234", True),  # full-width letters, digits and dot
        ("甘p.a12 34", "甘P·A1234", True),
        ("甘P·AO23I", "甘P·A0231", True),  # O and I never appear in the serial
        ("甘0·A1234", "甘O·A1234", True),  # the city code is a letter
        ("甘P·D12345", "甘P·D12345", True),  # new-energy plates have six characters
        ("甘P·A123", "甘P·A123", False),
        ("甘P·A1234567", "甘P·A1234567", False),
        ("P·A12345", "PA12345", False),  # no province
        ("", "", False),
    ],
)
def test_normalise_plate(raw: str, text: str, valid: bool) -> None:
    assert normalise_plate(raw) == (text, valid)


@pytest.fixture(scope="module")
def ocr() -> PlateOCR:
    if not all(p.is_file() for p in PPOCR.values()):
        pytest.skip("PP-OCR models not placed: run `make models` (python -m serve.fetch_models)")
    return PlateOCR(PPOCR["det"], PPOCR["cls"], PPOCR["rec"], intra_op_threads=2)


@needs_ppocr
@pytest.mark.parametrize("seed", range(6))
def test_reads_rendered_plates_blue_and_yellow(ocr: PlateOCR, seed: int) -> None:
    rng = random.Random(seed)
    colours = BLUE if seed % 2 else YELLOW
    text = random_plate(rng)
    read = ocr.read(render_plate(text, height=(28, 40, 56)[seed % 3], colours=colours))
    assert read is not None and (read.text, read.valid) == (text, True)
    assert 0.5 <= read.score <= 1.0


@needs_ppocr
def test_finds_the_plate_in_a_larger_crop(ocr: PlateOCR) -> None:
    text = random_plate(random.Random(42))
    crop = np.full((140, 180, 3), (120, 130, 140), np.uint8)  # a vehicle front, roughly
    plate = render_plate(text, height=30, colours=YELLOW)
    crop[90 : 90 + plate.shape[0], 40 : 40 + plate.shape[1]] = plate
    read = ocr.read(crop)
    assert read is not None and (read.text, read.valid) == (text, True)


@needs_ppocr
def test_nothing_to_read_is_none(ocr: PlateOCR) -> None:
    assert ocr.read(np.full((40, 126, 3), 128, np.uint8)) is None


@needs_ppocr
def test_a_raised_min_score_drops_the_read(ocr: PlateOCR) -> None:
    crop = render_plate(random_plate(random.Random(7)), height=40)
    assert ocr.read(crop, min_score=1.0) is None


def test_missing_model_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing-here\.onnx"):
        PlateOCR(tmp_path / "nothing-here.onnx", PPOCR["cls"], PPOCR["rec"])


@needs_ppocr
@pytest.mark.parametrize(("label", "seed"), [("car", 0), ("motorcycle", 1), ("car", 2)])
def test_reads_the_plate_on_a_rendered_vehicle_crop(ocr: PlateOCR, label: str, seed: int) -> None:
    from sim.scene import Thing, layout, render, scale_at

    lay = layout(seed, "road")
    text = random_plate(random.Random(100 + seed))
    frame, truth = render(lay, [Thing(label, 320, 300, scale=scale_at(lay, 300), plate=text)], 0.0)
    _, x1, y1, x2, y2 = truth[0]
    read = ocr.read(frame[int(y1) : int(y2), int(x1) : int(x2)])
    assert read is not None and (read.text, read.valid) == (text, True)
