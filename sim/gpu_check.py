"""GPU check: the detectors' frames/s with onnxruntime-gpu (CUDA provider), batch 1 and batched; prints JSON.

Runs on a GPU node with only numpy and onnxruntime-gpu installed (no Ray, no project settings), so it can be
copied to a fresh machine: `python sim/gpu_check.py --json`. Inputs are fixed random tensors of each model's own
input shape and dtype; preprocessing is not timed (it runs on the camera host's CPU, not on the GPU).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

MODELS = {"scene": Path("serve/models/scene/model.onnx"), "fall": Path("serve/models/fall/model.onnx")}


def _fps(session: ort.InferenceSession, batch: int, seconds: float) -> float:
    """Frames per second of back-to-back runs at one batch size (after warm-up)."""
    inp = session.get_inputs()[0]
    h, w = (d if isinstance(d, int) else 640 for d in inp.shape[2:4])
    dtype = np.float16 if "float16" in inp.type else np.float32
    x = np.random.default_rng(0).random((batch, 3, h, w)).astype(dtype)
    for _ in range(5):
        session.run(None, {inp.name: x})
    runs, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        session.run(None, {inp.name: x})
        runs += 1
    return runs * batch / (time.perf_counter() - t0)


def check(seconds: float, batches: list[int]) -> dict[str, Any]:
    """Measure every present model with the CUDA provider, batch 1 and each batch size."""
    available = ort.get_available_providers()
    out: dict[str, Any] = {"onnxruntime": ort.__version__, "providers": available, "models": {}}
    if "CUDAExecutionProvider" not in available:
        out["error"] = "onnxruntime has no CUDAExecutionProvider: install onnxruntime-gpu (pip install '.[gpu]')"
        return out
    for name, path in MODELS.items():
        if not path.is_file():
            out["models"][name] = {"error": f"{path} missing (run make models)"}
            continue
        session = ort.InferenceSession(str(path), providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
        fps = {str(b): round(_fps(session, b, seconds), 1) for b in [1, *batches]}
        out["models"][name] = {"providers": session.get_providers(), "fps_by_batch": fps}
    return out


def main() -> None:
    """Command line: python sim/gpu_check.py [--seconds S] [--batches 8 16 32] --json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="timed seconds per batch size")
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 16, 32], help="batched sizes to measure")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    print(json.dumps(check(args.seconds, args.batches), ensure_ascii=False))


if __name__ == "__main__":
    main()
