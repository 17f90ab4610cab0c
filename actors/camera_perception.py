"""Host-side perception of one camera: detector call, label mapping, ByteTrack tracking, picture change, annotation."""

from __future__ import annotations

import asyncio
import math
import time
from typing import cast

import cv2
import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from actors.base import DeviceActor
from actors.snapshots import draw_scene, encode_jpeg
from actors.video_config import VideoConfig, VideoModels
from core.clock import local_time
from core.events import DeviceEvent, now_ms
from core.kinds import DeviceProfile
from core.kinds.camera import CameraReading
from core.vision import SCENE_CLASSES, Detection

THUMB = (32, 18)  # (w, h) of the grey thumbnail the frame-change measure compares
DETECT_TIMEOUT_S = 10.0  # a detector call slower than this counts as failed (the picture itself still counts)
# the camera's event types and their Chinese names (CameraActor.labels; snapshot titles here)
CAMERA_LABELS: dict[str, str] = {
    "garbage": "垃圾乱堆乱放", "crowd": "人员聚集", "restricted_zone": "人员进入重点区域",
    "vehicle_violation": "车辆违法(违停/逆行)", "fire": "发现火情", "smoke": "发现烟雾",
    "drowning_risk": "溺水风险", "person_fall": "老人跌倒", "camera_offline": "摄像头离线",
    "camera_frozen": "摄像头画面冻结", "camera_online": "摄像头恢复在线",
}  # fmt: skip
LABEL_SLOTS = 8  # track ids are base + local id * LABEL_SLOTS + label index, so labels never share an id


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """32x18 grey thumbnail (float32, 0-255) of an RGB frame."""
    grey = cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.float32)


def frame_change(prev: np.ndarray | None, cur: np.ndarray) -> float | None:
    """Mean absolute difference of two thumbnails (0 = identical pictures); None without a previous one."""
    if prev is None or prev.shape != cur.shape:
        return None
    return round(float(np.mean(np.abs(cur - prev))), 3)


class LabelTracker:
    """ByteTrack per canonical label (a rider and its motorcycle must not swap ids); ids unique across restarts."""

    def __init__(self, fps: float, missed_frames: int, min_score: float) -> None:
        self.fps, self.missed, self.min_score = fps, missed_frames, min_score
        self.base = now_ms() * 1000  # a restarted host never reuses the ids its restored actors remember
        self.trackers: dict[str, ByteTrackTracker] = {}

    def _tracker(self, label: str) -> ByteTrackTracker:
        t = self.trackers.get(label)
        if t is None:
            t = self.trackers[label] = ByteTrackTracker(
                lost_track_buffer=math.ceil(30 * (self.missed + 1) / self.fps), frame_rate=self.fps,
                track_activation_threshold=self.min_score, high_conf_det_threshold=self.min_score,
                minimum_consecutive_frames=1,
            )  # fmt: skip
        return t

    def update(self, dets: list[Detection]) -> tuple[list[Detection], list[int]]:
        """Detections (regrouped by label) with their track ids, -1 for objects not yet tracked."""
        out: list[Detection] = []
        ids: list[int] = []
        by_label: dict[str, list[Detection]] = {label: [] for label in self.trackers}
        for d in dets:
            by_label.setdefault(d.label, []).append(d)
        for label, group in by_label.items():  # every tracker steps each frame, so lost tracks age
            sv_dets = to_sv(group)
            tracked = self._tracker(label).update(sv_dets)
            slot = SCENE_CLASSES.index(label) if label in SCENE_CLASSES else LABEL_SLOTS - 1
            for i, tid in enumerate(tracked.tracker_id if tracked.tracker_id is not None else []):
                x1, y1, x2, y2 = (float(v) for v in tracked.xyxy[i])
                score = float(tracked.confidence[i]) if tracked.confidence is not None else 1.0
                out.append(Detection(x1, y1, x2, y2, score, label))
                ids.append(self.base + int(tid) * LABEL_SLOTS + slot if tid >= 0 else -1)
        return out, ids

    def local_id(self, track: int) -> int:
        """The short id shown on pictures."""
        return (track - self.base) // LABEL_SLOTS if track >= 0 else -1


def to_sv(dets: list[Detection], track_ids: list[int] | None = None) -> sv.Detections:
    """supervision Detections of our detections (class_id = index in SCENE_CLASSES)."""
    if not dets:
        empty = sv.Detections.empty()
        if track_ids is not None:
            empty.tracker_id = np.array([], dtype=int)
        return empty
    return sv.Detections(
        xyxy=np.array([[d.x1, d.y1, d.x2, d.y2] for d in dets], dtype=np.float32),
        confidence=np.array([d.score for d in dets], dtype=np.float32),
        class_id=np.array([SCENE_CLASSES.index(d.label) if d.label in SCENE_CLASSES else 0 for d in dets]),
        tracker_id=np.array(track_ids, dtype=int) if track_ids is not None else None,
    )


class CameraPerception:
    """Turns one camera's sampled frames into CameraReadings and its events into annotated JPEGs."""

    def __init__(self, profile: DeviceProfile, config: VideoConfig, models: VideoModels) -> None:
        self.profile, self.config, self.models = profile, config, models
        self.tracker = LabelTracker(config.fps, config.static_frames, config.min_score)
        self.prev_thumb: np.ndarray | None = None
        self.last: tuple[list[Detection], list[int]] = ([], [])  # the newest frame's objects, for annotate
        self.errors = 0  # detector calls that failed (the host logs them)
        self.last_error: str | None = None

    def canonical(self, raw: list[Detection]) -> list[Detection]:
        """Map model class names to canonical labels; drop unmapped ones and those too weak even to continue a track."""
        c = self.config
        out: list[Detection] = []
        for d in raw:
            label = c.classes.get(d.label)
            if label is not None and d.score >= c.track_min_score:
                out.append(Detection(d.x1, d.y1, d.x2, d.y2, d.score, label))
        return out

    async def _detect(self, frame: np.ndarray) -> list[Detection]:
        return cast(list[Detection], await self.models.detector(self.config.model).detect(frame))

    def tracked(self, dets: list[Detection]) -> tuple[list[Detection], list[int]]:
        """Track; keep what is confident enough, and weak detections that continue a track (ByteTrack's point)."""
        tracked, ids = self.tracker.update(dets)
        floor = self.config.min_score
        kept = [(d, t) for d, t in zip(tracked, ids, strict=True) if d.score >= floor or t >= 0]
        return [d for d, _ in kept], [t for _, t in kept]

    async def perceive(self, frame: np.ndarray | None, now: int) -> CameraReading:
        """Detect, track and measure one frame (None = no new picture this tick)."""
        if frame is None:
            return CameraReading(ok=False, analysed=False)
        thumb = thumbnail(frame)
        motion = frame_change(self.prev_thumb, thumb)
        self.prev_thumb = thumb
        t0 = time.perf_counter()
        try:
            raw: list[Detection] = await asyncio.wait_for(self._detect(frame), DETECT_TIMEOUT_S)
        except Exception as exc:  # the model being down must not look like a dead camera: the picture still counts
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            self.last = ([], [])
            return CameraReading(ok=True, analysed=False, motion=motion)
        latency = int((time.perf_counter() - t0) * 1000)
        dets, ids = self.tracked(self.canonical(raw))
        self.last = (dets, ids)
        return CameraReading(
            ok=True, analysed=True, motion=motion, labels=[d.label for d in dets], track_ids=ids,
            boxes=[round(v, 1) for d in dets for v in (d.x1, d.y1, d.x2, d.y2)],
            scores=[round(d.score, 3) for d in dets], latency_ms=latency,
        )  # fmt: skip

    def annotate(self, frame: np.ndarray, event: DeviceEvent) -> bytes:
        """JPEG of the frame with the newest objects, the camera's zones and lines, and the event as title."""
        dets, ids = self.last
        labels = [
            f"{d.label} #{self.tracker.local_id(t)} {d.score:.2f}" if t >= 0 else f"{d.label} {d.score:.2f}"
            for d, t in zip(dets, ids, strict=True)
        ]
        name = CAMERA_LABELS.get(event.type) or DeviceActor.label(event.type)
        title = f"{self.profile.device_id} {name} {local_time(event.ts)}"
        extra = event.detail.get("zone") or event.detail.get("line")
        if extra:
            title += f" [{extra}]"
        image = draw_scene(frame, to_sv(dets, ids), labels, self.config.zones, self.config.lines, title)
        return encode_jpeg(image, self.config.snapshot_quality)
