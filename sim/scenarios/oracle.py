"""A perfect detector for scripts: ground-truth objects with true identities, run through the real CameraActor.

Scoring its events gives the ceiling the scripts allow (recall 1, no false alarms when scripts and camera logic
agree), which separates detector errors from scenario or rule errors in the video benchmark.
"""

from __future__ import annotations

from actors.camera import CameraActor
from core.events import Message
from core.kinds import DeviceProfile
from core.kinds.camera import CameraReading
from sim.scenarios.timeline import Script
from sim.scene import Thing
from sim.video_score import Observed

T0_MS = 1_717_171_200_000  # wall time of scene time 0 (any fixed instant works: scripts' zone hours cover all day)
# Box size (w, h) in px of each label at scale 1, as sim.scene draws it.
BOX_PX = {
    "person": (36, 81), "fallen": (82, 28), "car": (108, 57), "motorcycle": (43, 76), "fire": (70, 72),
    "smoke": (61, 121), "garbage": (74, 31),
}  # fmt: skip
MIN_SCALE = 0.12  # things smaller than this are too far away for any detector


def _visible(th: Thing, width: int, height: int) -> bool:
    return th.scale >= MIN_SCALE and 0 <= th.x <= width and 0 <= th.y <= height


def reading(script: Script, t: float) -> CameraReading:
    """The reading a perfect detector and tracker would give for the script's frame at scene time t."""
    labels, tracks, boxes = [], [], []
    lay = script.layout
    for i, m in enumerate(script.movers):
        th = m.at(lay, t)
        if th is None or not _visible(th, lay.width, lay.height):
            continue
        w, h = BOX_PX[th.label]
        labels.append(th.label)
        tracks.append(i + 1)
        boxes += [th.x - w * th.scale / 2, th.y - h * th.scale, th.x + w * th.scale / 2, th.y]
    return CameraReading(labels=labels, track_ids=tracks, boxes=boxes, scores=[1.0] * len(labels))


def perfect_events(script: Script, source: str = "file:///dev/null") -> list[Observed]:
    """Events the real camera actor raises on the script's ground truth, sampled at its configured fps."""
    profile = DeviceProfile(device_id=script.camera_id, kind="camera", params={**script.config, "source": source})
    actor = CameraActor(profile)
    step = 1.0 / float(script.config["fps"])
    out = []
    for k in range(int(script.duration_s / step) + 1):
        t = k * step
        ts = T0_MS + round(t * 1000)
        msg = Message(device_id=script.camera_id, seq=k + 1, ts=ts, rx=ts, v=reading(script, t))
        for e in actor.apply(msg, ts) or []:
            out.append(Observed(script.camera_id, e.type, e.detail, t, 0.0))
    return out
