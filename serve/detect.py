"""`python -m serve.detect IMAGE --model NAME [--json]`: one image through the Detector's own code path."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from core.settings import load_settings
from core.vision import Detection
from serve.detector import YoloModel, check_frame


def load_rgb(path: Path) -> np.ndarray:
    """An image file as an RGB uint8 array; a missing or unreadable file raises ValueError naming it."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from None


def detect_file(path: Path, model_name: str, conf: float | None = None) -> tuple[list[Detection], YoloModel]:
    """Detections in one image with detector `model_name` as configured in settings (model file and thresholds)."""
    serve_cfg = load_settings().serve
    if model_name not in serve_cfg.detectors:
        raise ValueError(
            f"no detector named {model_name!r} in settings serve.detectors ({sorted(serve_cfg.detectors)})"
        )
    det = serve_cfg.detectors[model_name]
    model = YoloModel(serve_cfg.detector_model(model_name), det.intra_op_threads)
    frame = check_frame(load_rgb(path))
    found = model.detect_batch([frame], det.conf if conf is None else conf, det.iou, det.max_detections)[0]
    return found, model


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m serve.detect", description=__doc__)
    parser.add_argument("image", type=Path)
    parser.add_argument("--model", default="scene", help="detector name in settings serve.detectors (default scene)")
    parser.add_argument("--conf", type=float, help="override the configured confidence threshold")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        found, model = detect_file(args.image, args.model, args.conf)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [
        {"label": d.label, "score": round(d.score, 4), "box": [round(v, 1) for v in (d.x1, d.y1, d.x2, d.y2)]}
        for d in found
    ]
    if args.json:
        print(json.dumps({"image": str(args.image), "model": str(model.path), "detections": rows}, ensure_ascii=False))
    else:
        for r in rows:
            print(f"{r['label']:<12} {r['score']:.3f}  {r['box']}")
        print(f"{len(rows)} detections ({model.path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
