"""Pure YOLO-format helpers: letterboxing, output decoding, class-aware NMS and class names from ONNX metadata."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from core.vision import Detection

PAD_VALUE = 114  # the grey ultralytics pads letterboxed images with
DEFAULT_SIZE = 640
MAX_NMS_CANDIDATES = 3000  # highest-scoring boxes NMS considers; the rest cannot survive max_detections anyway
_CLASS_OFFSET = 7680.0  # shifts each class's boxes apart so one NMS pass never suppresses across classes


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the model input: scale, padding and the original frame size."""

    scale: float
    pad_x: float
    pad_y: float
    width: int
    height: int


def fit_scale(height: int, width: int, size: tuple[int, int]) -> float:
    """The factor that fits a height x width frame into (height, width) `size` keeping its aspect ratio."""
    return min(size[0] / height, size[1] / width)


def fit(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """The frame resized by fit_scale (the same frame when that changes nothing), and the scale."""
    h, w = frame.shape[:2]
    scale = fit_scale(h, w, size)
    new_w, new_h = round(w * scale), round(h * scale)
    resized = frame if (new_w, new_h) == (w, h) else cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return resized, scale


def letterbox(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect ratio into (height, width) `size`, pad with grey 114; returns the image and its mapping."""
    h, w = frame.shape[:2]
    out_h, out_w = size
    resized, scale = fit(frame, size)
    new_h, new_w = resized.shape[:2]
    dw, dh = (out_w - new_w) / 2, (out_h - new_h) / 2
    top, left = round(dh - 0.1), round(dw - 0.1)
    canvas = np.full((out_h, out_w, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas, Letterbox(scale=scale, pad_x=float(left), pad_y=float(top), width=w, height=h)


def to_tensor(images: Sequence[np.ndarray], dtype: type[np.floating]) -> np.ndarray:
    """Stack letterboxed RGB uint8 images into one [N,3,H,W] tensor scaled to 0..1 in the model's dtype."""
    batch = np.stack(images).astype(np.float32)
    batch *= 1.0 / 255.0
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=dtype)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression on [K,4] xyxy boxes; returns kept indices, best score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        overlap = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode(
    output: np.ndarray, box: Letterbox, names: Sequence[str], conf: float, iou: float, max_detections: int
) -> list[Detection]:
    """Detections from one image's raw [4+C, anchors] output (cx, cy, w, h in input pixels, then class scores)."""
    pred = np.asarray(output, dtype=np.float32)
    if pred.ndim != 2 or pred.shape[0] < 5:
        raise ValueError(f"expected a [4+classes, anchors] output per image, got shape {pred.shape}")
    scores_all = pred[4:]
    classes = scores_all.argmax(axis=0)
    scores = scores_all[classes, np.arange(scores_all.shape[1])]
    mask = scores >= conf
    if not mask.any():
        return []
    cx, cy, bw, bh = pred[0, mask], pred[1, mask], pred[2, mask], pred[3, mask]
    scores, classes = scores[mask], classes[mask]
    if scores.size > MAX_NMS_CANDIDATES:
        top = np.argpartition(-scores, MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES]
        cx, cy, bw, bh, scores, classes = cx[top], cy[top], bw[top], bh[top], scores[top], classes[top]
    xyxy = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    keep = nms(xyxy + (classes[:, None] * _CLASS_OFFSET), scores, iou)[:max_detections]
    xyxy = unletterbox(xyxy[keep], box)
    return [
        Detection(float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s), _name(names, int(c)))
        for b, s, c in zip(xyxy, scores[keep], classes[keep], strict=True)
    ]


def unletterbox(xyxy: np.ndarray, box: Letterbox) -> np.ndarray:
    """Map [K,4] boxes from model-input pixels back to the original frame, clipped to it."""
    out = xyxy.copy()
    out[:, [0, 2]] = np.clip((out[:, [0, 2]] - box.pad_x) / box.scale, 0, box.width)
    out[:, [1, 3]] = np.clip((out[:, [1, 3]] - box.pad_y) / box.scale, 0, box.height)
    return out


def _name(names: Sequence[str], index: int) -> str:
    return names[index] if index < len(names) else f"class_{index}"


def metadata_names(metadata: Mapping[str, str]) -> dict[int, str]:
    """Class index -> name from ONNX metadata `names` ("{0: 'Normal', 1: 'Fall'}" or a list); {} when unusable.

    Parsed with ast.literal_eval, which evaluates literals only, never code."""
    raw = metadata.get("names")
    if not raw:
        return {}
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return {}
    if isinstance(parsed, dict):
        return {int(k): str(v) for k, v in parsed.items() if isinstance(k, int | str) and str(k).isdigit()}
    if isinstance(parsed, list | tuple):
        return {i: str(v) for i, v in enumerate(parsed)}
    return {}


def class_names(metadata: Mapping[str, str], num_classes: int) -> list[str]:
    """Names of classes 0..num_classes-1 from the metadata; class_<i> where missing."""
    table = metadata_names(metadata)
    return [table.get(i, f"class_{i}") for i in range(num_classes)]


def anchors_first(shape: tuple[int, int], metadata: Mapping[str, str]) -> bool:
    """Whether a per-image output of this shape is [anchors, 4+C] (some exporters) rather than [4+C, anchors].

    The metadata's class count decides when it matches one side; else anchors are the longer side."""
    rows, cols = shape
    count = len(metadata_names(metadata))
    if count and rows == 4 + count:
        return False
    if count and cols == 4 + count:
        return True
    return rows > cols


def input_size(shape: Sequence[object], metadata: Mapping[str, str]) -> tuple[int, int]:
    """Model input (height, width): the static input shape, else metadata `imgsz`, else 640 x 640."""
    if len(shape) == 4 and isinstance(shape[2], int) and isinstance(shape[3], int) and shape[2] > 0 and shape[3] > 0:
        return shape[2], shape[3]
    numbers = [int(n) for n in re.findall(r"\d+", metadata.get("imgsz", ""))]
    if len(numbers) == 1:
        return numbers[0], numbers[0]
    if len(numbers) >= 2:
        return numbers[0], numbers[1]
    return DEFAULT_SIZE, DEFAULT_SIZE
