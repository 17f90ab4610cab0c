"""Host-side perception of a road advisory station: detector + ByteTrack, riders, and plate reads per track."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from actors.base import DeviceActor
from actors.camera_perception import LabelTracker, frame_change, thumbnail, to_sv
from actors.snapshots import draw_scene, encode_jpeg
from actors.station_config import StationParams
from actors.station_reading import count_riders, plate_box
from actors.video_config import VideoConfig, VideoModels, Zone
from core.clock import local_time
from core.events import DeviceEvent
from core.kinds import DeviceProfile
from core.kinds.station import StationReading
from core.vision import MOTORCYCLE, PERSON, VEHICLES, Detection, PlateRead

log = logging.getLogger(__name__)
KEEP_VIEWS = 12  # tracks whose best frame is kept for event snapshots
KEEP_PLATES = 64  # tracks whose plate reads are remembered
# the station's event types and their Chinese names (StationActor.labels; snapshot titles here)
STATION_LABELS: dict[str, str] = {
    "vehicle_pass": "车辆通过", "speeding": "超速行驶", "wrong_way": "逆向行驶",
    "carrying_passengers": "摩托车/三轮车违法载人", "camera_offline": "劝导站摄像头离线",
    "camera_frozen": "劝导站画面冻结", "camera_online": "劝导站摄像头恢复",
}  # fmt: skip


@dataclass
class PlateMemo:
    """Plate reads of one track: the best valid read so far and how many reads were tried."""

    best: PlateRead | None = None
    widths: list[float] = field(default_factory=list)  # vehicle box width at each read


@dataclass
class TrackView:
    """The frame in which a track was seen best (its best plate read, else its first), for event snapshots."""

    frame: np.ndarray
    box: Detection


def upscale(crop: np.ndarray, width: int) -> np.ndarray:
    """Enlarge a small crop to `width` (aspect kept) so OCR sees readable characters; larger crops pass as is."""
    h, w = crop.shape[:2]
    if width <= 0 or w >= width:
        return crop
    return cv2.resize(crop, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_CUBIC)


class StationPerception:
    """Per-station perception (a video_config.Perception): frame -> StationReading; event -> annotated JPEG."""

    def __init__(self, profile: DeviceProfile, config: VideoConfig, models: VideoModels) -> None:
        if config.station is None:
            raise ValueError(f"device {profile.device_id}: a station needs a `station` section in its params")
        self.profile, self.config, self.models = profile, config, models
        self.params: StationParams = config.station
        self.tracker = LabelTracker(config.fps, config.static_frames, config.min_score)
        self.plates: OrderedDict[int, PlateMemo] = OrderedDict()
        self.views: OrderedDict[int, TrackView] = OrderedDict()
        self.latest: list[tuple[int, Detection]] = []
        self.errors = 0  # detector calls that failed
        self._thumb: np.ndarray | None = None
        zones = [z for z in config.zones if z.purpose == "measure"]
        self.measure = zones[0] if zones else Zone(name="测速区", purpose="measure",
                                                   polygon=list(self.params.calibration.image))  # fmt: skip

    # --- perceive ------------------------------------------------------------------------------

    async def perceive(self, frame: np.ndarray | None, now: int) -> StationReading:
        """Detect, track and read plates in one sampled frame; None gives a reading that says there was no picture."""
        if frame is None:
            return StationReading(frame=False)
        thumb = thumbnail(frame)
        change = frame_change(self._thumb, thumb)
        self._thumb = thumb
        still = change is not None and change <= self.config.frozen_motion
        try:
            found = await self._detect(frame, self.config.model)
        except Exception as exc:  # the model being down is not a dead camera: the picture still counts
            self.errors += 1
            log.warning("station %s: detector call failed: %s", self.profile.device_id, f"{exc}"[:200])
            self.latest = []
            return StationReading(frame=True, still=still, analysed=False)
        people = [d for d in found if d.label == PERSON]
        dets, ids = self.tracker.update([d for d in found if d.label in VEHICLES])
        tracked = [(t, d) for d, t in zip(dets, ids, strict=True) if t >= 0]
        if self.params.rider_model:
            people += await self._riders(frame, [d for _, d in tracked if d.label == MOTORCYCLE])
        await asyncio.gather(*(self._read_plate(frame, tid, det) for tid, det in tracked))
        self.latest = tracked
        reading = StationReading(frame=True, still=still)
        for tid, det in tracked:
            memo = self.plates.get(tid)
            best = memo.best if memo else None
            x, y = det.bottom_centre
            reading.track.append(tid)
            reading.label.append(det.label)
            reading.x.append(round(x, 1))
            reading.y.append(round(y, 1))
            reading.riders.append(count_riders(det, people, self.params.rider_overlap))
            reading.plate.append(best.text if best else "")
            reading.plate_score.append(round(best.score, 3) if best else 0.0)
            if tid not in self.views:
                self._keep_view(tid, frame, det)
        return reading

    def _canonical(self, dets: list[Detection], dx: float = 0.0, dy: float = 0.0) -> list[Detection]:
        """Model classes mapped to canonical labels (unmapped dropped), weak ones dropped, shifted by (dx, dy)."""
        c = self.config
        return [
            Detection(d.x1 + dx, d.y1 + dy, d.x2 + dx, d.y2 + dy, d.score, c.classes[d.label])
            for d in dets
            if d.label in c.classes and d.score >= c.min_score
        ]

    async def _detect(self, frame: np.ndarray, model: str, dx: float = 0.0, dy: float = 0.0) -> list[Detection]:
        dets: list[Detection] = await self.models.detector(model).detect(frame)
        return self._canonical(dets, dx, dy)

    async def _riders(self, frame: np.ndarray, bikes: list[Detection]) -> list[Detection]:
        """People the rider model finds in each motorcycle's crop (widened by a quarter, raised by half)."""
        model = str(self.params.rider_model)
        h, w = frame.shape[:2]
        jobs = []
        for b in bikes:
            bw, bh = b.x2 - b.x1, b.y2 - b.y1
            x1, x2 = max(0, int(b.x1 - bw / 4)), min(w, int(b.x2 + bw / 4))
            y1, y2 = max(0, int(b.y1 - bh / 2)), min(h, int(b.y2))
            if x2 - x1 >= 16 and y2 - y1 >= 16:
                jobs.append(self._detect(np.ascontiguousarray(frame[y1:y2, x1:x2]), model, x1, y1))
        try:
            found = await asyncio.gather(*jobs)
        except Exception as exc:  # no rider count this frame, the rest of the reading stands
            log.warning("station %s: rider detection failed: %s", self.profile.device_id, f"{exc}"[:200])
            return []
        return [d for dets in found for d in dets if d.label == PERSON]

    async def _read_plate(self, frame: np.ndarray, tid: int, det: Detection) -> None:
        """Read the plate of a track until a confident valid read or the read budget is spent."""
        crop_cfg = self.params.plate
        memo = self.plates.setdefault(tid, PlateMemo())
        self.plates.move_to_end(tid)
        while len(self.plates) > KEEP_PLATES:
            self.plates.popitem(last=False)
        if len(memo.widths) >= crop_cfg.max_reads or (memo.best is not None and memo.best.score >= crop_cfg.good_score):
            return
        width = det.x2 - det.x1
        if any(abs(width - w) < crop_cfg.resize_step * w for w in memo.widths):
            return  # about the size of an earlier read: wait until the vehicle is nearer (or farther)
        box = plate_box(det, crop_cfg, frame.shape[1], frame.shape[0])
        if box is None:
            return
        x1, y1, x2, y2 = box
        crop = upscale(np.ascontiguousarray(frame[y1:y2, x1:x2]), crop_cfg.upscale_to_px)
        memo.widths.append(width)
        try:
            read: PlateRead | None = await self.models.plate_reader().read.remote(crop)
        except Exception as exc:  # a failed read costs this frame's read, not the station
            log.warning("station %s: plate reading failed: %s", self.profile.device_id, f"{exc}"[:200])
            return
        if read is not None and read.valid and (memo.best is None or read.score > memo.best.score):
            memo.best = read
            self._keep_view(tid, frame, det)

    def _keep_view(self, tid: int, frame: np.ndarray, det: Detection) -> None:
        self.views[tid] = TrackView(frame=frame.copy(), box=det)
        self.views.move_to_end(tid)
        while len(self.views) > KEEP_VIEWS:
            self.views.popitem(last=False)

    # --- annotate ------------------------------------------------------------------------------

    def annotate(self, frame: np.ndarray, event: DeviceEvent) -> bytes:
        """JPEG of the event: the vehicle's best frame when kept (box, plate, speed), else this frame's tracks."""
        tid = event.detail.get("track")
        view = self.views.get(tid) if isinstance(tid, int) else None
        if isinstance(tid, int) and view is not None:
            scene, boxes = view.frame, [(tid, view.box)]
        else:
            scene, boxes = frame, list(self.latest)
        labels = [self._label(t, d, event) for t, d in boxes]
        dets = to_sv([d for _, d in boxes], [t for t, _ in boxes])
        name = STATION_LABELS.get(event.type) or DeviceActor.label(event.type)
        title = f"{self.profile.device_id} {name} {local_time(event.ts)}"
        image = draw_scene(scene, dets, labels, [self.measure], (), title)
        return encode_jpeg(image, self.config.snapshot_quality)

    def _label(self, tid: int, det: Detection, event: DeviceEvent) -> str:
        d: dict[str, Any] = event.detail
        short = self.tracker.local_id(tid)
        if d.get("track") != tid:
            return f"{det.label} #{short}"
        parts = [f"#{short}", str(d.get("plate") or "未识别车牌")]
        if d.get("speed_kmh") is not None:
            parts.append(f"{d['speed_kmh']}km/h")
        if d.get("direction"):
            parts.append(str(d["direction"]))
        return " ".join(parts)
