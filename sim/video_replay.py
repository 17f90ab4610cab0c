"""`python -m runtime.bench video --replay`: scenario scripts through the same perception and camera actors, off line.

No wall clock, no Serve, no Redis: each camera's frames are rendered at their scene times, JPEG-compressed like
the MJPEG server sends them, detected by the model in this process (serve.detector.YoloModel) and stepped through
CameraPerception and CameraActor with the scene time as the clock. It scores like the real-time benchmark and also
lists every missed episode, so detection misses can be studied in minutes on many scripts. Latency is not
measured here (the real-time benchmark does that).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from actors.camera import CameraActor
from actors.camera_perception import CameraPerception
from core.events import Message
from core.kinds import DeviceProfile
from core.settings import Settings
from core.vision import Detection
from serve.detector import YoloModel
from sim.camera import JPEG_QUALITY, script_frame
from sim.scenario import episodes_of, scripts
from sim.scenarios.timeline import Script
from sim.scene import jpeg_roundtrip
from sim.video_score import Observed, false_alarm_rows, missed_rows, score

START_MS = 1_800_000_000_000  # the replay's clock at scene time 0


class _Local:
    """One detector in this process, offered the way a video host offers a Serve client."""

    def __init__(self, model: YoloModel, thresholds: dict[str, Any]) -> None:
        self.model, self.thresholds = model, thresholds

    async def detect(self, frame: np.ndarray) -> list[Detection]:
        """Detections of one frame."""
        return self.model.detect_batch([frame], **self.thresholds)[0]


class _Models:
    def __init__(self, detector: _Local) -> None:
        self._detector = detector

    def detector(self, name: str) -> _Local:
        return self._detector

    def plate_reader(self) -> Any:
        raise NotImplementedError("cameras read no plates")


async def replay_camera(scr: Script, models: _Models, fps: float) -> list[Observed]:
    """Every scored event one camera raises over its script, at the scene time of the frame that raised it."""
    profile = DeviceProfile(device_id=scr.camera_id, kind="camera", params={**scr.config, "source": "replay"})
    actor = CameraActor(profile)
    perception = CameraPerception(profile, actor.config, models)  # type: ignore[arg-type]
    out: list[Observed] = []
    for tick in range(int(scr.duration_s * fps)):
        t = tick / fps
        now = START_MS + round(t * 1000)
        reading = await perception.perceive(jpeg_roundtrip(script_frame(scr, tick, t), JPEG_QUALITY), now)
        msg = Message(device_id=scr.camera_id, seq=now, ts=now, rx=now, v=reading)
        events = (actor.apply(msg, now) or []) + actor.tick(now)
        out += [Observed(scr.camera_id, e.type, e.detail, t, 0.0) for e in events]
    return out


async def replay(cameras: int, seconds: float, seed: int, fps: float, model: str = "scene") -> dict[str, Any]:
    """Replay `cameras` scripts of `seconds` and score them; `missed` lists the episodes no event matched."""
    settings = Settings()
    det = settings.serve.detectors[model]
    local = _Local(
        YoloModel(settings.serve.detector_model(model), det.intra_op_threads),
        {"conf": det.conf, "iou": det.iou, "max_detections": det.max_detections},
    )
    fleet = scripts(cameras, seconds, seed=seed, fps=fps)
    seen: list[Observed] = []
    for scr in fleet:
        seen += await replay_camera(scr, _Models(local), fps)
    episodes = episodes_of(fleet)
    result = score(episodes, seen, cameras, seconds)
    rows = {
        n: {k: r[k] for k in ("recall", "false_alarms_per_hour", "episodes", "false_alarms")} for n, r in result.items()
    }
    return {
        "cameras": cameras, "seconds": seconds, "seed": seed, "fps": fps, "scenarios": rows,
        "missed": missed_rows(episodes, seen), "false_alarms": false_alarm_rows(episodes, seen),
        "model": str(Path(settings.serve.detector_model(model))),
    }  # fmt: skip
