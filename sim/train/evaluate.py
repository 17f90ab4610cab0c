"""Held-out evaluation of an exported scene detector through the same ONNX path Serve uses (serve.detector)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.vision import SCENE_CLASSES, Detection
from serve.detector import YoloModel

IOU_MATCH = 0.5


@dataclass(frozen=True)
class ClassMetrics:
    """One class on the held-out set: ground-truth count, precision and recall at the operating score, AP at IoU 0.5."""

    label: str
    instances: int
    precision: float
    recall: float
    ap50: float


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return np.asarray(inter / np.maximum(area + areas - inter, 1e-9))


def read_labels(path: Path, width: int, height: int) -> list[tuple[str, np.ndarray]]:
    """Ground truth of one image from its YOLO label file, as (label, xyxy frame pixels)."""
    out = []
    for line in path.read_text().splitlines():
        cls, cx, cy, w, h = line.split()
        x, y, bw, bh = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
        out.append((SCENE_CLASSES[int(cls)], np.array([x - bw / 2, y - bh / 2, x + bw / 2, y + bh / 2])))
    return out


Truth = list[tuple[str, np.ndarray]]
Marks = list[tuple[float, bool]]


def read_rgb(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array; a clear error when it cannot be read."""
    image = cv2.imread(str(path))
    if image is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _match(dets: list[Detection], truth: Truth, label: str) -> tuple[Marks, int]:
    """Score and true/false-positive flag of each detection of `label` (greedy by score), and the GT count."""
    gt = np.array([b for lab, b in truth if lab == label]).reshape(-1, 4)
    used = np.zeros(len(gt), bool)
    marks = []
    for det in sorted((d for d in dets if d.label == label), key=lambda d: -d.score):
        hit = False
        if len(gt):
            ious = _iou(np.array([det.x1, det.y1, det.x2, det.y2]), gt)
            ious[used] = 0.0
            best = int(ious.argmax())
            if ious[best] >= IOU_MATCH:
                used[best] = hit = True
        marks.append((det.score, hit))
    return marks, len(gt)


def average_precision(marks: Marks, positives: int) -> float:
    """Area under the interpolated precision-recall curve (all points), as VOC2010+/ultralytics compute it."""
    if positives == 0:
        return float("nan")
    if not marks:
        return 0.0
    order = sorted(marks, key=lambda m: -m[0])
    hits = np.array([h for _, h in order], dtype=np.float64)
    tp = np.cumsum(hits)
    fp = np.cumsum(1 - hits)
    recall = np.concatenate([[0.0], tp / positives, [1.0]])
    precision = np.concatenate([[1.0], tp / np.maximum(tp + fp, 1e-9), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum((recall[1:] - recall[:-1]) * precision[1:]))


def evaluate(model_path: Path, root: Path, conf: float = 0.35, iou: float = 0.45) -> list[ClassMetrics]:
    """Per-class precision/recall at `conf` and AP50 on root/images/val with root/labels/val."""
    model = YoloModel(model_path)
    marks: dict[str, Marks] = {c: [] for c in SCENE_CLASSES}
    counts = dict.fromkeys(SCENE_CLASSES, 0)
    for image in sorted((root / "images" / "val").glob("*.jpg")):
        frame = read_rgb(image)
        truth = read_labels(root / "labels" / "val" / f"{image.stem}.txt", frame.shape[1], frame.shape[0])
        dets = model.detect_batch([frame], conf=0.001, iou=iou, max_detections=300)[0]
        for label in SCENE_CLASSES:
            found, n = _match(dets, truth, label)
            marks[label].extend(found)
            counts[label] += n
    result = []
    for label in SCENE_CLASSES:
        kept = [m for m in marks[label] if m[0] >= conf]
        tp = sum(1 for _, hit in kept if hit)
        precision = tp / len(kept) if kept else 0.0
        recall = tp / counts[label] if counts[label] else float("nan")
        ap = average_precision(marks[label], counts[label])
        result.append(ClassMetrics(label, counts[label], precision, recall, ap))
    return result


def latency_ms(model_path: Path, frames: list[np.ndarray], threads: int = 0) -> float:
    """Median wall time in ms of one single-frame detection (letterbox, ONNX run, decode) over the frames."""
    model = YoloModel(model_path, intra_op_threads=threads)
    model.detect_batch(frames[:1])
    times = []
    for frame in frames:
        start = time.perf_counter()
        model.detect_batch([frame], conf=0.35)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def table(metrics: list[ClassMetrics], conf: float) -> str:
    """A Markdown table of the metrics with an overall row (mAP50 = mean AP over classes)."""
    rows = [f"| class | instances | precision@{conf} | recall@{conf} | AP50 |", "|---|---:|---:|---:|---:|"]
    for m in metrics:
        rows.append(f"| {m.label} | {m.instances} | {m.precision:.3f} | {m.recall:.3f} | {m.ap50:.3f} |")
    present = [m for m in metrics if m.instances]
    overall = (
        f"| **all** | {sum(m.instances for m in metrics)} | {statistics.mean(m.precision for m in present):.3f} | "
        f"{statistics.mean(m.recall for m in present):.3f} | {statistics.mean(m.ap50 for m in present):.3f} |"
    )
    return "\n".join([*rows, overall])
