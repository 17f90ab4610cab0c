"""`python -m runtime.bench detector --json`: one detector bare in this process vs through Serve, batched and unbatched.

The same model file, frames, thresholds and onnxruntime session options run four ways:
- bare: YoloModel in a process of its own, one frame per run (`bare_fps`, the issue's baseline);
- bare batched: the same, `batch_size` frames per run (`bare_batched_fps`, onnxruntime's own batching gain);
- serve: the Detector deployment with @serve.batch, driven by `cameras` concurrent clients each awaiting its frames
  through serve.client.DetectorClient, as the video hosts call it;
- unbatched serve: the same deployment with max_batch_size 1, the same clients.
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
from serve.client import DetectorClient, detector_handle
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

    def seconds(self, start: int, count: int, batch: int = 1) -> float:
        """Wall time of running `count` frames through the model `batch` frames per run."""
        began = time.perf_counter()
        for i in range(start, start + count, batch):
            picked = [self.frames[k % len(self.frames)] for k in range(i, min(i + batch, start + count))]
            self.model.detect_batch(picked, **self.thresholds)
        return time.perf_counter() - began


async def _drive(client: DetectorClient, frames: list[np.ndarray], start: int, total: int, cameras: int) -> float:
    """Seconds for `cameras` clients to get through `total` frames, each awaiting one call at a time."""

    async def camera(index: int, count: int) -> None:
        for k in range(count):
            await client.detect(frames[(start + index * 7 + k) % len(frames)])

    shares = [total // cameras + (1 if c < total % cameras else 0) for c in range(cameras)]
    began = time.perf_counter()
    await asyncio.gather(*(camera(c, n) for c, n in enumerate(shares)))
    return time.perf_counter() - began


def detector(
    model: str | None = None,
    frames: int = 1200,
    cameras: int = 8,
    batch_size: int = 4,
    threads: int = 0,
    rounds: int = 6,
) -> dict[str, Any]:
    """Measure bare vs Serve (batched and unbatched) throughput of one detector on rendered village frames."""
    import ray
    from ray import serve

    from serve.app import detector_target

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
    spent = {"bare": 0.0, "bare_batched": 0.0, "serve": 0.0, "unbatched": 0.0}
    work: dict[str, dict[str, Any]] = {}
    ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        serve.start(proxy_location="Disabled")
        serve.run_many([detector_target(cfg, name), detector_target(cfg, unbatched_name)])
        batched, unbatched = DetectorClient(detector_handle(name)), DetectorClient(detector_handle(unbatched_name))
        bare: Any = ray.remote(num_cpus=0)(_BareRunner).remote(str(path), threads, images, thresholds)

        async def rounds_of_all() -> None:
            for client in (batched, unbatched):  # warm-up: routing, replica loops, threads
                await _drive(client, images, 0, 2 * cameras, cameras)
            work["before"] = await batched.handle.info.remote()
            # Modes take turns round by round, so load from anything else on the machine hits them alike.
            for r in range(rounds):
                spent["bare"] += await bare.seconds.remote(r * per_round, per_round)
                spent["bare_batched"] += await bare.seconds.remote(r * per_round, per_round, batch_size)
                spent["serve"] += await _drive(batched, images, r * per_round, per_round, cameras)
                spent["unbatched"] += await _drive(unbatched, images, r * per_round, per_round, cameras)

            work["after"] = await batched.handle.info.remote()

        asyncio.run(rounds_of_all())
    finally:
        serve.shutdown()
        ray.shutdown()
    total = per_round * rounds
    bare_fps, serve_fps, unbatched_fps = (total / spent[k] for k in ("bare", "serve", "unbatched"))
    bare_batched_fps = total / spent["bare_batched"]
    info = work["after"]
    batches = max(1, info["batches"] - work["before"]["batches"])
    busy = info["busy_s"] - work["before"]["busy_s"]
    return {
        "bare_fps": round(bare_fps, 2),
        "serve_fps": round(serve_fps, 2),
        "overhead_pct": round(100 * (bare_fps - serve_fps) / bare_fps, 1),
        "batch_size": batch_size,
        "unbatched_serve_fps": round(unbatched_fps, 2),
        "bare_batched_fps": round(bare_batched_fps, 2),
        "overhead_vs_bare_batched_pct": round(100 * (bare_batched_fps - serve_fps) / bare_batched_fps, 1),
        "batching_gain": round(serve_fps / unbatched_fps, 3),
        "model": name,
        "frames": total,
        "cameras": cameras,
        "rounds": rounds,
        "mean_batch": round((info["frames"] - work["before"]["frames"]) / batches, 2),
        "replica_busy_pct": round(100 * busy / spent["serve"], 1),
        "threads": info["intra_op_threads"],
        "static_batch": info["static_batch"],
        "input_size": info["input_size"],
    }
