"""Station perception through real Serve deployments: a generated detector that sees one car, the real PP-OCR
plate reader; tracks, plate reads per track, the annotated snapshot, and a model that is down."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from actors.station import StationActor
from actors.station_perception import StationPerception
from core.events import DeviceEvent
from core.kinds import DeviceProfile
from core.settings import Settings
from serve.app import deploy, shutdown_serve
from serve.client import ServeModels
from sim.plate import render_plate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))
from serve_testkit import MODELS, yolo_onnx  # the serve tests' generated-model kit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MODELS / "ppocr" / "rec.onnx").is_file(), reason="PP-OCR models not placed"),
]
T0 = 1_790_000_000_000
PLATE = "甘P·A1234"
IMAGE = [(200.0, 300.0), (440.0, 300.0), (380.0, 120.0), (260.0, 120.0)]
ROAD = [(-3.0, 0.0), (3.0, 0.0), (3.0, 30.0), (-3.0, 30.0)]


@pytest.fixture(scope="module")
def served(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """detector-tiny: one 'car' box at (220,130)-(420,230) of a 640x360 frame, scored by the frame's brightness."""
    base = tmp_path_factory.mktemp("served")
    model = yolo_onnx(base / "car.onnx", [(32.0, 32.0, 20.0, 10.0)], [[0.95], [0.0]], names="{0: 'car', 1: 'x'}")
    tiny: dict[str, Any] = {"model_path": model, "conf": 0.3, "intra_op_threads": 1, "max_batch_size": 4,
                            "max_ongoing_requests": 16}  # fmt: skip
    deploy(Settings(var_dir=base / "var", serve={"detectors": {"tiny": tiny},  # type: ignore[arg-type]
                                                 "plate_reader": {"intra_op_threads": 1}}))  # fmt: skip
    yield
    shutdown_serve()


def station(model: str = "tiny") -> tuple[DeviceProfile, StationPerception]:
    params = {"source": "http://127.0.0.1:1/x.mjpg", "fps": 5, "model": model, "classes": {"car": "car"},
              "station": {"calibration": {"image": IMAGE, "road": ROAD}}}  # fmt: skip
    profile = DeviceProfile(device_id="st-0001", kind="station", params=params)
    actor = StationActor(profile)
    return profile, StationPerception(profile, actor.config, ServeModels())


def frame_with_plate() -> np.ndarray:
    """A bright road frame with a plate where the car's bumper is (lower half of the detector's box)."""
    frame = np.full((360, 640, 3), 215, dtype=np.uint8)
    frame[130:230, 220:420] = (120, 125, 135)  # the car body
    plate = render_plate(PLATE, height=40)
    frame[185 : 185 + plate.shape[0], 257 : 257 + plate.shape[1]] = plate
    return frame


@pytest.mark.asyncio
async def test_a_tracked_car_gets_its_plate_read_once_and_an_annotated_snapshot(served: None) -> None:
    _, perception = station()
    frame = frame_with_plate()
    readings = [await perception.perceive(frame, T0 + k * 200) for k in range(4)]
    tracked = [r for r in readings if r.track]
    assert tracked and all(r.label == ["car"] and r.y == [230.0] for r in tracked)
    assert len({r.track[0] for r in tracked}) == 1  # one vehicle, one track id
    assert tracked[-1].plate == [PLATE] and tracked[-1].plate_score[0] >= 0.9
    tid = tracked[-1].track[0]
    assert len(perception.plates[tid].widths) == 1  # a confident read ends reading; the same size is not re-read
    assert readings[0].still is False and readings[-1].still is True  # an unchanging picture is reported still
    event = DeviceEvent(event_id="st-0001:speeding:1:1", type="speeding", kind="station", device_id="st-0001",
                        ts=T0, detail={"track": tid, "plate": PLATE, "speed_kmh": 61.2})  # fmt: skip
    jpeg = perception.annotate(np.zeros_like(frame), event)  # the kept best view is drawn, not the frame passed
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == frame.shape and int(np.abs(picture.astype(int) - 215).min()) < 30


@pytest.mark.asyncio
async def test_a_detector_that_is_down_gives_unanalysed_readings_not_a_crash(served: None) -> None:
    _, perception = station(model="absent")
    reading = await perception.perceive(frame_with_plate(), T0)
    assert reading.frame and not reading.analysed and reading.track == [] and perception.errors == 1
    assert (await perception.perceive(None, T0 + 200)).frame is False
