"""Per-device video configuration (source, model, zones, lines, thresholds) and the pure zone/line geometry."""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol

import msgspec
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actors.station_config import StationParams
from core.clock import local_hour
from core.events import DeviceEvent
from core.kinds import DeviceProfile
from core.vision import SCENE_CLASSES

Point = tuple[float, float]
Direction = Literal["left_to_right", "right_to_left"]


def in_hours(hours: tuple[int, int], now: int) -> bool:
    """Whether `now` falls in local hours [start, end); a range with start > end wraps past midnight."""
    start, end = hours
    h = local_hour(now)
    return start <= h < end if start < end else (h >= start or h < end)


def point_in_polygon(pt: Point, polygon: list[Point]) -> bool:
    """sv.PolygonZone semantics for one anchor: the point rounded to whole pixels, inside or on the border counts."""
    x, y = float(np.rint(pt[0])), float(np.rint(pt[1]))
    poly = [(float(int(px)), float(int(py))) for px, py in polygon]  # PolygonZone casts vertices to int
    inside = False
    n = len(poly)
    for i in range(n):
        (ax, ay), (bx, by) = poly[i], poly[(i + 1) % n]
        # on the border (the rasterised mask includes its edges)
        if (
            (bx - ax) * (y - ay) == (by - ay) * (x - ax)
            and min(ax, bx) <= x <= max(ax, bx)
            and min(ay, by) <= y <= max(ay, by)
        ):
            return True
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def side_of(start: Point, end: Point, pt: Point) -> float:
    """Cross product (end - start) x (pt - start) in image coordinates (y down): < 0 left, > 0 right of start->end."""
    return (end[0] - start[0]) * (pt[1] - start[1]) - (end[1] - start[1]) * (pt[0] - start[0])


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Zone(_Model):
    """A polygon of the picture with a purpose; objects count as inside by their bottom-centre (ground) point."""

    name: str = Field(min_length=1, description="Zone name, unique per camera, shown to operators (e.g. 村口广场).")
    purpose: Literal["crowd", "restricted", "no_parking", "water", "elderly_area", "measure"] = Field(
        description="What the zone is watched for; decides which scenario uses it."
    )
    polygon: list[Point] = Field(min_length=3, description="Zone corners in frame pixels, at least 3 points.")
    hours: tuple[int, int] | None = Field(
        None,
        description="Local (UTC+8) hours [start, end) when the zone is active; wraps past midnight; None = always.",
    )

    @field_validator("hours")
    @classmethod
    def _hours_valid(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (not (0 <= v[0] <= 23 and 0 <= v[1] <= 24) or v[0] == v[1]):
            raise ValueError(f"hours {v} must be [start, end) with 0 <= start <= 23, 0 <= end <= 24, start != end")
        return v

    def contains(self, pt: Point) -> bool:
        """Whether a ground point is in the zone (border included)."""
        return point_in_polygon(pt, self.polygon)

    def active(self, now: int) -> bool:
        """Whether the zone is watched at `now` (ms)."""
        return self.hours is None or in_hours(self.hours, now)


class Line(_Model):
    """A counting/direction line; a track's bottom-centre crossing it in the forbidden direction is wrong-way."""

    name: str = Field(min_length=1, description="Line name, unique per camera (e.g. 桥头单行线).")
    start: Point = Field(description="Line start in frame pixels.")
    end: Point = Field(description="Line end in frame pixels.")
    forbidden: Direction | None = Field(
        None, description="Crossing direction that is wrong-way, as seen walking along the line from start to end."
    )

    @model_validator(mode="after")
    def _not_a_point(self) -> Line:
        if self.start == self.end:
            raise ValueError(f"line {self.name!r}: start and end are the same point")
        return self

    def side(self, pt: Point) -> float:
        """Signed side of a point: < 0 left, > 0 right (seen from start towards end), 0 on the line."""
        return side_of(self.start, self.end, pt)

    def crossing(self, prev: Point, cur: Point) -> Direction | None:
        """Direction in which the move prev -> cur crosses this segment, None when it does not cross it."""
        a, b = self.side(prev), self.side(cur)
        if a == 0 or b == 0 or (a < 0) == (b < 0):
            return None
        # the line's end points must lie on opposite sides of (or on) the move, else it passed beside the segment
        s, e = side_of(prev, cur, self.start), side_of(prev, cur, self.end)
        if s * e > 0:
            return None
        return "left_to_right" if a < 0 else "right_to_left"


def _default_classes() -> dict[str, str]:
    return {**{c: c for c in SCENE_CLASSES}, "Normal": "person", "Fall": "fallen"}


class VideoConfig(_Model):
    """What a camera (or station) actor and its host need, read from DeviceProfile.params."""

    source: str = Field(
        min_length=1, description="Where frames come from: http(s) MJPEG URL, rtsp:// URL or a video file path."
    )
    fps: float = Field(1.0, gt=0, le=30, description="Frames sampled and analysed per second.")
    loop: bool = Field(False, description="File sources: start again at the end (simulation); else the file ends.")
    model: str = Field("scene", min_length=1, description="Detector deployment name (serve app detector-<model>).")
    classes: dict[str, str] = Field(
        default_factory=_default_classes,
        description="Model class name -> canonical label (core.vision.SCENE_CLASSES); unmapped classes are dropped.",
    )
    min_score: float = Field(
        0.35, ge=0, le=1, description="Detections below this confidence are dropped unless they continue a track."
    )
    track_min_score: float = Field(
        0.1, ge=0, le=1, description="Weaker detections still continue an existing track (ByteTrack's second stage: "
        "a person half hidden in a crowd, a pile behind a passer-by); below this they are ignored.",
    )  # fmt: skip
    zones: list[Zone] = Field(default_factory=list, description="Watched polygons of the picture.")
    lines: list[Line] = Field(default_factory=list, description="Direction lines of the picture.")
    garbage_s: float = Field(60, ge=0, description="A garbage pile seen this long (s) raises `garbage`.")
    crowd_min: int = Field(5, ge=1, description="Persons in a crowd zone that make a crowd.")
    crowd_s: float = Field(30, ge=0, description="A crowd lasting this long (s) raises `crowd`.")
    crowd_memory_s: float = Field(
        5, ge=0, description="A crowd counts every tracked person seen in its zone within this many seconds."
    )
    restricted_s: float = Field(3, ge=0, description="A person in an active restricted zone this long (s) is reported.")
    parking_s: float = Field(60, ge=0, description="A vehicle standing in a no-parking zone this long (s) is reported.")
    parking_move_px: float = Field(
        8, gt=0, description="A vehicle whose ground point moved less than this (px) stands."
    )
    parking_move_frac: float = Field(
        0.25, ge=0, le=1, description="... or less than this fraction of its box width (detection boxes jitter)."
    )
    fire_frames: int = Field(3, ge=1, description="Fire or smoke in this many consecutive frames raises fire/smoke.")
    drowning_s: float = Field(3, ge=0, description="A person in a water zone this long (s) raises drowning_risk.")
    fall_s: float = Field(5, ge=0, description="A fallen person in an elderly area this long (s) raises person_fall.")
    frozen_s: float = Field(30, ge=0, description="A picture that has not changed for this long (s) is frozen.")
    frozen_motion: float = Field(
        0.02, ge=0, description="Frame change (mean abs grey diff of a 32x18 thumbnail, 0-255) at or below = unchanged."
    )
    offline_s: float = Field(30, gt=0, description="No frame for this long (s) raises camera_offline.")
    cooldown_s: float = Field(300, ge=0, description="The same event for the same zone/track repeats only after this.")
    missed_frames: int = Field(2, ge=0, description="Frames an object may go unseen without ending its episode.")
    static_gap_s: float = Field(
        15, ge=0, description="Seconds a static object (garbage pile, parked vehicle) may go unseen, hidden by "
        "passers-by or missed by the detector, without ending its episode.",
    )  # fmt: skip
    night_hours: tuple[int, int] = Field((20, 6), description="Local (UTC+8) hours [start, end) that count as night.")
    speaker_url: str | None = Field(None, description="Stations: where voice warnings are POSTed (HTTP).")
    snapshot_quality: int = Field(80, ge=30, le=95, description="JPEG quality of annotated event snapshots.")
    station: StationParams | None = Field(
        None, description="Road advisory stations (kind station): limit, calibration, directions, warnings."
    )

    @field_validator("classes")
    @classmethod
    def _canonical(cls, v: dict[str, str]) -> dict[str, str]:
        wrong = sorted({label for label in v.values() if label not in SCENE_CLASSES})
        if wrong:
            raise ValueError(f"labels {wrong} are not canonical; use one of {list(SCENE_CLASSES)}")
        return v

    @field_validator("source")
    @classmethod
    def _source_kind(cls, v: str) -> str:
        scheme = v.split("://", 1)[0].lower() if "://" in v else ""
        if scheme and scheme not in ("http", "https", "rtsp", "rtsps", "file"):
            raise ValueError(f"source scheme {scheme!r} unsupported; use http(s)://, rtsp:// or a file path")
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> VideoConfig:
        for what, names in (("zone", [z.name for z in self.zones]), ("line", [ln.name for ln in self.lines])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"{what} names must be unique; repeated: {dup}")
        if self.track_min_score > self.min_score:
            raise ValueError(f"track_min_score {self.track_min_score} must not exceed min_score {self.min_score}")
        if not (0 <= self.night_hours[0] <= 23 and 0 <= self.night_hours[1] <= 24):
            raise ValueError(f"night_hours {self.night_hours} must be local hours 0-24")
        return self

    def night(self, now: int) -> bool:
        """Whether `now` (ms) is night at the camera (local time)."""
        return in_hours(self.night_hours, now)

    @property
    def static_frames(self) -> int:
        """Frames a static object may go unseen: static_gap_s at the sampling rate, at least missed_frames."""
        return max(self.missed_frames, math.ceil(self.static_gap_s * self.fps))


class VideoConfigError(ValueError):
    """A device's video params are unusable; the message names the device and every fault."""


def load_video_config(profile: DeviceProfile, model: type[VideoConfig] = VideoConfig) -> VideoConfig:
    """Validate a device's params as its video config; errors name the device id and each bad field."""
    try:
        return model.model_validate(profile.params)
    except ValidationError as exc:
        faults = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(params)'}: {err['msg']}" for err in exc.errors()
        )
        raise VideoConfigError(f"device {profile.device_id}: invalid video params: {faults}") from None


# --- what the video host gives perception, and what perception must offer (VideoModels, Perception) -------------------


class RemoteMethod(Protocol):
    """A deployment method called as `await handle.method.remote(...)`."""

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Call the deployment; the result is awaited."""


class VideoModels(Protocol):
    """The model handles a video host hands to perception (serve.app handles)."""

    def detector(self, name: str) -> Any:
        """Client of detector `name` (`await client.detect(frame)` -> list[Detection], serve.client)."""

    def plate_reader(self) -> Any:
        """DeploymentHandle of the plate reader (`await h.read.remote(crop)` -> PlateRead | None)."""


class Perception(Protocol):
    """Host-side, per-device perception: frame -> reading, and event -> annotated JPEG."""

    def __init__(self, profile: DeviceProfile, config: Any, models: VideoModels) -> None: ...

    async def perceive(self, frame: np.ndarray | None, now: int) -> msgspec.Struct:
        """Reading of one sampled frame (None = no picture this tick)."""

    def annotate(self, frame: np.ndarray, event: DeviceEvent) -> bytes:
        """Annotated JPEG of the frame that raised `event`."""
