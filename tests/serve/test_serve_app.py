"""The Serve applications through real handles: one detector-<name> app on a generated model and plate-reader."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ray import serve
from serve_testkit import MODELS, white, yolo_onnx

from core.settings import Settings
from serve.app import deploy, shutdown_serve
from serve.client import DetectorClient, detector_handle, plate_reader_handle
from serve.detector import YoloModel
from sim.plate import YELLOW, random_plate, render_plate

BOXES = [(32.0, 32.0, 20.0, 10.0), (10.0, 50.0, 8.0, 8.0)]
WEIGHTS = [[0.9, 0.1], [0.1, 0.6]]
PPOCR_PLACED = all((MODELS / "ppocr" / f"{p}.onnx").is_file() for p in ("det", "cls", "rec"))


def _settings(model: Path, var: Path, conf: float) -> Settings:
    detector: dict[str, Any] = {
        "model_path": model, "conf": conf, "intra_op_threads": 1, "max_batch_size": 4, "max_ongoing_requests": 16,
    }  # fmt: skip
    return Settings(var_dir=var, serve={"detectors": {"tiny": detector}, "plate_reader": {"intra_op_threads": 1}})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not PPOCR_PLACED:
        pytest.skip("PP-OCR models not placed: run `make models` (python -m serve.fetch_models)")
    base = tmp_path_factory.mktemp("served")
    model = yolo_onnx(base / "tiny.onnx", BOXES, WEIGHTS)
    deploy(_settings(model, base / "var", conf=0.3))
    yield model
    shutdown_serve()


@pytest.mark.asyncio
async def test_detect_through_a_handle_returns_boxes_in_frame_pixels(served: Path) -> None:
    dets = await detector_handle("tiny").detect.remote(white(360, 640))
    assert [(d.label, d.x1, d.y1, d.x2, d.y2) for d in dets] == [
        ("Normal", 220.0, 130.0, 420.0, 230.0),
        ("Fall", 60.0, 320.0, 140.0, 360.0),
    ]
    info = await detector_handle("tiny").info.remote()
    assert info["names"] == ["Normal", "Fall"] and info["config"]["conf"] == 0.3


@pytest.mark.asyncio
async def test_concurrent_cameras_each_get_their_own_answer(served: Path) -> None:
    handle = detector_handle("tiny")
    frames = [white(64, 64, level) for level in range(0, 256, 17)] + [white(360, 640), white(480, 270)]
    answers = await asyncio.gather(*(handle.detect.remote(f) for f in frames))
    local = YoloModel(served, intra_op_threads=1).detect_batch(frames, conf=0.3)
    assert answers == local
    assert answers[0] == [] and len(answers[-3]) == 2


@pytest.mark.asyncio
async def test_the_client_sends_a_shrunk_frame_and_answers_in_the_original_pixels(served: Path) -> None:
    handle = detector_handle("tiny")
    before = await handle.info.remote()
    dets = await DetectorClient(handle).detect(white(360, 640))
    assert [(d.label, d.x1, d.y1, d.x2, d.y2) for d in dets] == [
        ("Normal", 220.0, 130.0, 420.0, 230.0),
        ("Fall", 60.0, 320.0, 140.0, 360.0),
    ]
    after = await handle.info.remote()
    assert after["frames"] == before["frames"] + 1
    assert after["batches"] == before["batches"] + 1


@pytest.mark.asyncio
async def test_the_client_passes_a_bad_frame_to_the_replica_to_be_named(served: Path) -> None:
    with pytest.raises(ValueError, match="RGB"):
        await DetectorClient(detector_handle("tiny")).detect(np.zeros((64, 64), np.uint8))


@pytest.mark.asyncio
async def test_a_bad_frame_fails_only_its_own_call(served: Path) -> None:
    handle = detector_handle("tiny")
    with pytest.raises(ValueError, match="uint8"):
        await handle.detect.remote(white(64, 64).astype("float32"))
    assert len(await handle.detect.remote(white(64, 64))) == 2


@pytest.mark.asyncio
async def test_reads_a_plate_through_the_deployment(served: Path) -> None:
    text = random_plate(random.Random(3))
    read = await plate_reader_handle().read.remote(render_plate(text, height=40, colours=YELLOW))
    assert read is not None and (read.text, read.valid) == (text, True)
    assert await plate_reader_handle().read.remote(white(40, 126, 128)) is None


def test_serve_runs_without_http_proxies(served: Path) -> None:
    status = serve.status()
    assert status.proxies == {}
    assert {"detector-tiny", "plate-reader"} <= set(status.applications)


@pytest.mark.asyncio
async def test_user_config_thresholds_apply_live(served: Path, tmp_path: Path) -> None:
    handle = detector_handle("tiny")
    before = await handle.info.remote()
    try:
        deploy(_settings(served, tmp_path / "var", conf=0.7))
        dets = await detector_handle("tiny").detect.remote(white(64, 64))
        assert [d.label for d in dets] == ["Normal"]
        after = await detector_handle("tiny").info.remote()
        assert after["config"]["conf"] == 0.7
        assert after["pid"] == before["pid"]  # the same replica, reconfigured rather than restarted
    finally:
        deploy(_settings(served, tmp_path / "var", conf=0.3))
