"""Train the project's own scene detector on rendered village scenes and export it as YOLO-format ONNX.

    python -m sim.train_scene [--images N --epochs E --imgsz S --out serve/models/scene]

Renders a deterministic dataset with sim.scene (training seeds 0..N-1, held-out seeds from 1,000,000), trains
an ultralytics YOLOv8 (depth 0.33, width 0.125: half of YOLOv8n) from its yaml with no pretrained weights and
nothing downloaded, for a wall-time budget (--hours), exports ONNX (input `images`
[N,3,S,S] float32 with a dynamic batch, output [N, 4+7, anchors], class names in the metadata `names`), then
evaluates the ONNX on the held-out scenes through the Serve detector code and prints a Markdown metrics table.
Needs the `train` extra (ultralytics, torch); ultralytics is AGPL-3.0.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from core.vision import SCENE_CLASSES
from sim.train.dataset import HELD_OUT_SEED, write_dataset
from sim.train.evaluate import evaluate, latency_ms, read_rgb, table

DEFAULT_OUT = Path("serve/models/scene")
DEFAULT_WORK = Path("var/train_scene")
CONF = 0.35


def _offline_ultralytics(work: Path) -> None:
    """Keep ultralytics from reaching the network or writing outside the work directory."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_CONFIG_DIR", str((work / "ultralytics").resolve()))
    (work / "ultralytics").mkdir(parents=True, exist_ok=True)


def architecture(work: Path, width: float) -> Path:
    """A YOLOv8 model yaml at the given width multiple (0.25 is YOLOv8n) and depth 0.33, written under work."""
    import yaml
    from ultralytics.utils import ROOT

    cfg = yaml.safe_load((ROOT / "cfg" / "models" / "v8" / "yolov8.yaml").read_text())
    scale = "n" if width == 0.25 else "p"  # ultralytics reads the scale key from the file name (yolov8<scale>.yaml)
    cfg["scales"] = {scale: [0.33, width, 1024]}
    cfg["nc"] = len(SCENE_CLASSES)
    path = work / f"yolov8{scale}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def train(data: Path, work: Path, args: argparse.Namespace) -> Path:
    """Train the YOLOv8 detector from scratch (no pretrained weights) on the rendered dataset; returns its weights."""
    from ultralytics import YOLO

    model = YOLO(str(architecture(work, args.width)))
    model.train(
        data=str(data), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, nbs=args.batch, device="cpu",
        workers=args.workers, optimizer="AdamW", lr0=args.lr, cos_lr=True,
        project=str((work / "runs").resolve()), name="scene", exist_ok=True, pretrained=False, amp=False,
        plots=False, seed=0, deterministic=True, val=False, verbose=False, patience=0, cache="ram",
        warmup_epochs=1, close_mosaic=max(1, args.epochs // 6), fliplr=0.5, mosaic=1.0, scale=0.4, translate=0.1,
        hsv_h=0.01, hsv_s=0.5, hsv_v=0.4, time=args.hours or None,
    )  # fmt: skip
    weights = work / "runs" / "scene" / "weights"
    best = weights / "best.pt"
    return best if best.exists() else weights / "last.pt"


def fix_shapes(model: Any, imgsz: int, classes: int) -> None:
    """Declare input [batch,3,S,S] and output [batch,4+C,anchors] (ultralytics leaves H, W and anchors symbolic)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = imgsz
    dims[3].dim_value = imgsz
    out = model.graph.output[0].type.tensor_type.shape.dim
    out[1].dim_value = 4 + classes
    out[2].dim_value = sum((imgsz // stride) ** 2 for stride in (8, 16, 32))


def export(weights: Path, imgsz: int, out: Path) -> Path:
    """Export to ONNX (dynamic batch, fixed SxS input, ultralytics metadata) and place it at out/model.onnx."""
    import onnx
    from ultralytics import YOLO

    exported = Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, dynamic=True, simplify=False))
    model = onnx.load(str(exported))
    fix_shapes(model, imgsz, len(SCENE_CLASSES))
    onnx.checker.check_model(model)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "model.onnx"
    onnx.save(model, str(target))
    return target


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Train the scene detector on rendered village scenes; export ONNX.")
    p.add_argument("--images", type=int, default=1500, help="training scenes to render")
    p.add_argument("--held-out", type=int, default=300, help="held-out scenes to render and evaluate on")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (ultralytics refits them to --hours)")
    p.add_argument("--hours", type=float, default=0.45, help="wall-time budget for training (hours); 0 = no cap")
    p.add_argument("--imgsz", type=int, default=320, help="square model input size (multiple of 32)")
    p.add_argument("--batch", type=int, default=16, help="training batch size")
    p.add_argument("--workers", type=int, default=2, help="data-loader worker processes")
    p.add_argument("--width", type=float, default=0.125, help="YOLOv8 width multiple (0.25 = YOLOv8n)")
    p.add_argument("--lr", type=float, default=0.003, help="initial AdamW learning rate")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where model.onnx is written")
    p.add_argument("--work", type=Path, default=DEFAULT_WORK, help="dataset and training runs directory")
    p.add_argument("--eval-only", action="store_true", help="skip training; evaluate out/model.onnx")
    return p


def main(argv: list[str] | None = None) -> int:
    """Render, train, export and evaluate; prints timings and the held-out metrics table."""
    args = _parser().parse_args(argv)
    if args.imgsz % 32:
        print(f"--imgsz {args.imgsz} must be a multiple of 32", file=sys.stderr)
        return 2
    work: Path = args.work
    _offline_ultralytics(work)
    started = time.perf_counter()
    data = write_dataset(work / "data", args.images, args.held_out)
    rendered = time.perf_counter()
    print(f"dataset: {args.images} training + {args.held_out} held-out scenes in {rendered - started:.0f} s")
    target = args.out / "model.onnx"
    if not args.eval_only:
        weights = train(data, work, args)
        trained = time.perf_counter()
        print(f"training: {trained - rendered:.0f} s")
        target = export(weights, args.imgsz, args.out)
        shutil.copy2(weights, work / "scene.pt")
    metrics = evaluate(target, work / "data", conf=CONF)
    val_images = sorted((work / "data" / "images" / "val").glob("*.jpg"))[:60]
    frames = [read_rgb(p) for p in val_images]
    ms = latency_ms(target, frames)
    size_mb = target.stat().st_size / 1e6
    report = {
        "images": args.images, "held_out": args.held_out, "held_out_first_seed": HELD_OUT_SEED,
        "epochs": args.epochs, "imgsz": args.imgsz, "onnx_mb": round(size_mb, 2), "latency_ms": round(ms, 1),
        "wall_s": round(time.perf_counter() - started), "metrics": [m.__dict__ for m in metrics],
    }  # fmt: skip
    (work / "metrics.json").write_text(json.dumps(report, indent=2))
    print(table(metrics, CONF))
    print(f"onnx: {target} {size_mb:.1f} MB; median latency {ms:.1f} ms per 640x360 frame; total {report['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
