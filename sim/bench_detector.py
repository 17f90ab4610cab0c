"""`python -m sim.bench detector --json`: one detector bare in this process vs through Serve, batched and unbatched.

The same model file, frames, thresholds and onnxruntime session options run three ways:
- bare: YoloModel in this process, one frame per run (the fastest a single caller can go);
- serve: the Detector deployment with @serve.batch, driven by `cameras` concurrent clients each awaiting its frames;
- unbatched serve: the same deployment reconfigured live to max_batch_size 1, the same clients.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import Settings
from serve.detector import YoloModel

log = logging.getLogger(__name__)


def bench_frames(count: int, seed: int = 0) -> list[np.ndarray]:
    """Distinct 640x360 village frames with people, vehicles and hazards (noise only if sim.scene is missing)."""
    try:
        from sim import scene
    except ImportError:
        rng = np.random.default_rng(seed)
        return [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(count)]
    pick = random.Random(seed)
    frames = []
    for i in range(count):
        lay = scene.layout(seed + i % 8, "village")
        things = []
        for _ in range(pick.randint(2, 7)):
            label = pick.choice(scene.SCENE_CLASSES)
            y = pick.uniform(lay.horizon_y + 40, lay.height - 5)
            things.append(scene.Thing(label, pick.uniform(40, lay.width - 40), y, scale=scene.scale_at(lay, y)))
        frames.append(scene.render(lay, things, t=i * 0.5, night=i % 5 == 4)[0])
    return frames


class _BareRunner:
    """YoloModel in a Ray worker process of its own, timed inside it: no Serve, no Ray call in the loop.

    It runs as a Ray worker so it has the same process priority as a Serve replica (Ray starts workers at nice 15);
    on a shared machine a nice-0 loop would otherwise get more CPU than the replicas it is compared with."""

    def __init__(self, path: str, threads: int, frames: list[np.ndarray], thresholds: dict[str, Any]) -> None:
        self.model, self.frames, self.thresholds = YoloModel(Path(path), threads), frames, thresholds
        self.model.detect_batch(frames[:2], **thresholds)  # warm-up

    def seconds(self, start: int, count: int) -> float:
        """Wall time of `count` batch-1 runs over the frames."""
        began = time.perf_counter()
        for i in range(start, start + count):
            self.model.detect_batch([self.frames[i % len(self.frames)]], **self.thresholds)
        return time.perf_counter() - began


async def _drive(handle: Any, frames: list[np.ndarray], start: int, total: int, cameras: int) -> float:
    """Seconds for `cameras` clients to get through `total` frames, each awaiting one call at a time."""

    async def camera(index: int, count: int) -> None:
        for k in range(count):
            await handle.detect.remote(frames[(start + index * 7 + k) % len(frames)])

    shares = [total // cameras + (1 if c < total % cameras else 0) for c in range(cameras)]
    began = time.perf_counter()
    await asyncio.gather(*(camera(c, n) for c, n in enumerate(shares)))
    return time.perf_counter() - began


def detector(
    model: str | None = None, frames: int = 96, cameras: int = 8, batch_size: int = 8, threads: int = 0, rounds: int = 4
) -> dict[str, Any]:
    """Measure bare vs Serve (batched and unbatched) throughput of one detector on rendered village frames."""
    import ray
    from ray import serve

    from serve.app import detector_handle, detector_target

    var = Path(tempfile.mkdtemp(prefix="zq-bench-detector-"))
    base = Settings(var_dir=var)
    name = model or ("scene" if base.serve.detector_model("scene").is_file() else "fall")
    det = base.serve.detectors.get(name)
    if det is None:
        raise SystemExit(f"no detector named {name!r} in settings serve.detectors")
    ongoing = max(det.max_ongoing_requests, 2 * batch_size)
    det = det.model_copy(
        update={"intra_op_threads": threads, "max_batch_size": batch_size, "max_ongoing_requests": ongoing}
    )
    settings = Settings(var_dir=var, serve=base.serve.model_copy(update={"detectors": {name: det}}))
    path = settings.serve.detector_model(name)
    thresholds = {"conf": det.conf, "iou": det.iou, "max_detections": det.max_detections}
    images = bench_frames(min(frames, 32))

    unbatched_name = f"{name}-unbatched"
    one = det.model_copy(update={"max_batch_size": 1, "model_path": path})
    cfg = settings.serve.model_copy(update={"detectors": {name: det, unbatched_name: one}})
    per_round = max(cameras, frames // rounds)
    spent = {"bare": 0.0, "serve": 0.0, "unbatched": 0.0}
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        serve.start(proxy_location="Disabled")
        serve.run_many([detector_target(cfg, name), detector_target(cfg, unbatched_name)])
        batched_handle, unbatched_handle = detector_handle(name), detector_handle(unbatched_name)
        bare: Any = ray.remote(num_cpus=0)(_BareRunner).remote(str(path), threads, images, thresholds)

        async def rounds_of_all() -> None:
            for handle in (batched_handle, unbatched_handle):  # warm-up: routing, replica loops, threads
                await _drive(handle, images, 0, 2 * cameras, cameras)
            # Modes take turns round by round, so load from anything else on the machine hits them alike.
            for r in range(rounds):
                spent["bare"] += await bare.seconds.remote(r * per_round, per_round)
                spent["serve"] += await _drive(batched_handle, images, r * per_round, per_round, cameras)
                spent["unbatched"] += await _drive(unbatched_handle, images, r * per_round, per_round, cameras)

        asyncio.run(rounds_of_all())
        info = batched_handle.info.remote().result()
    finally:
        serve.shutdown()
        ray.shutdown()
    total = per_round * rounds
    bare_fps, serve_fps, unbatched_fps = (total / spent[k] for k in ("bare", "serve", "unbatched"))
    return {
        "bare_fps": round(bare_fps, 2),
        "serve_fps": round(serve_fps, 2),
        "overhead_pct": round(100 * (bare_fps - serve_fps) / bare_fps, 1),
        "batch_size": batch_size,
        "unbatched_serve_fps": round(unbatched_fps, 2),
        "batching_gain": round(serve_fps / unbatched_fps, 3),
        "model": name,
        "frames": total,
        "cameras": cameras,
        "rounds": rounds,
        "threads": info["intra_op_threads"],
        "static_batch": info["static_batch"],
        "input_size": info["input_size"],
    }
