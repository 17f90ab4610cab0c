"""Annotated event snapshots: boxes, labels, track ids, zones and lines drawn on the frame, stored as JPEG files."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt
import supervision as sv
from PIL import Image, ImageDraw, ImageFont

from actors.video_config import Line, Zone

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
ZONE_COLOURS = {
    "crowd": sv.Color.from_hex("#ffb000"), "restricted": sv.Color.from_hex("#ff3030"),
    "no_parking": sv.Color.from_hex("#30a0ff"), "water": sv.Color.from_hex("#00d0d0"),
    "elderly_area": sv.Color.from_hex("#c060ff"), "measure": sv.Color.from_hex("#a0a0a0"),
}  # fmt: skip
LINE_COLOUR = sv.Color.from_hex("#ffff00")


@cache
def cjk_font_path() -> str | None:
    """A font with Chinese glyphs, None when the system has none (labels then fall back to ASCII)."""
    return next((p for p in FONT_CANDIDATES if Path(p).exists()), None)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = cjk_font_path()
    return ImageFont.truetype(path, size) if path else ImageFont.load_default()


@cache
def _annotators(font_size: int) -> tuple[sv.BoxAnnotator, sv.LabelAnnotator | sv.RichLabelAnnotator]:
    box = sv.BoxAnnotator(thickness=2, color_lookup=sv.ColorLookup.CLASS)
    path = cjk_font_path()
    label: sv.LabelAnnotator | sv.RichLabelAnnotator
    if path:
        label = sv.RichLabelAnnotator(font_path=path, font_size=font_size, text_padding=3)
    else:
        label = sv.LabelAnnotator(text_scale=0.4, text_padding=3)
    return box, label


def draw_scene(
    frame: np.ndarray,
    detections: sv.Detections,
    labels: Sequence[str],
    zones: Sequence[Zone] = (),
    lines: Sequence[Line] = (),
    title: str = "",
) -> np.ndarray:
    """A copy of an RGB frame with zones, lines, boxes with their labels, and a title bar drawn on it."""
    # supervision draws on BGR pictures
    out = cast(npt.NDArray[np.uint8], cv2.cvtColor(np.ascontiguousarray(frame, dtype=np.uint8), cv2.COLOR_RGB2BGR))
    for z in zones:
        poly = np.array([[int(x), int(y)] for x, y in z.polygon], dtype=np.int64)
        out = sv.draw_polygon(out, poly, color=ZONE_COLOURS[z.purpose], thickness=2)
    for ln in lines:
        start, end = sv.Point(*ln.start), sv.Point(*ln.end)
        out = sv.draw_line(out, start, end, color=LINE_COLOUR, thickness=2)
    size = max(10, out.shape[0] // 30)
    if len(detections):
        box, label = _annotators(size)
        out = box.annotate(out, detections)
        out = label.annotate(out, detections, labels=list(labels))
    out = cast(npt.NDArray[np.uint8], cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
    texts = [(z.name, z.polygon[0], ZONE_COLOURS[z.purpose]) for z in zones]
    texts += [(ln.name, ln.start, LINE_COLOUR) for ln in lines]
    if texts or title:
        out = _draw_texts(out, texts, title, size)
    return out


def _draw_texts(
    image: np.ndarray, texts: list[tuple[str, tuple[float, float], sv.Color]], title: str, size: int
) -> np.ndarray:
    """Zone/line names at their first point and a title bar at the top (PIL: Chinese glyphs)."""
    pil = Image.fromarray(image)
    draw = ImageDraw.Draw(pil)
    font = _font(size)
    for text, (x, y), colour in texts:
        draw.text((x + 3, y + 2), text, fill=colour.as_rgb(), font=font, stroke_width=1, stroke_fill=(0, 0, 0))
    if title:
        draw.rectangle((0, 0, image.shape[1], size + 8), fill=(0, 0, 0))
        draw.text((4, 3), title, fill=(255, 255, 255), font=font)
    return np.asarray(pil)


def encode_jpeg(rgb: np.ndarray, quality: int = 80) -> bytes:
    """JPEG bytes of an RGB image."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(buf)


def safe_name(text: str) -> str:
    """A file-name-safe form of an id: word characters (Chinese included), dots and dashes; the rest become '_'."""
    name = re.sub(r"[^\w.-]", "_", text).strip(".")
    return name[:200] or "_"


def snapshot_relpath(device_id: str, event_id: str) -> Path:
    """Where an event's snapshot lives, relative to var_dir: snapshots/<device_id>/<event id sanitised>.jpg."""
    return Path("snapshots") / safe_name(device_id) / f"{safe_name(event_id)}.jpg"


def write_snapshot(var_dir: Path, device_id: str, event_id: str, jpeg: bytes) -> str:
    """Store an event's JPEG (atomically: temp file then rename); returns its path relative to var_dir."""
    rel = snapshot_relpath(device_id, event_id)
    path = var_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jpg.tmp")
    tmp.write_bytes(jpeg)
    tmp.replace(path)
    return rel.as_posix()
