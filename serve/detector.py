"""The Detector: any YOLO-format ONNX detector, in-process (YoloModel) and as a batched Ray Serve deployment."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve

from core.vision import Detection
from serve.onnx_session import create_session
from serve.yolo import anchors_first, class_names, decode, input_size, letterbox, to_tensor

MAX_FRAME_SIDE = 8192


class DetectorConfig(BaseModel):
    """The Detector's live `user_config`: thresholds and batching, applied by reconfigure()."""

    model_config = ConfigDict(extra="forbid")

    conf: float = Field(0.25, ge=0, le=1, description="Lowest class score a detection keeps.")
    iou: float = Field(0.45, gt=0, le=1, description="IoU above which NMS drops the weaker box of the same class.")
    max_detections: int = Field(100, ge=1, description="Most detections returned per frame.")
    max_batch_size: int = Field(4, ge=1, description="Most frames run as one batch.")
    batch_wait_timeout_s: float = Field(0.01, ge=0, description="Longest wait for a batch to fill.")


def check_frame(frame: object) -> np.ndarray:
    """The frame if it is an RGB uint8 HxWx3 array of sane size, else a ValueError saying what is wrong."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be RGB HxWx3, got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    h, w = frame.shape[:2]
    if not (2 <= h <= MAX_FRAME_SIDE and 2 <= w <= MAX_FRAME_SIDE):
        raise ValueError(f"frame size {w}x{h} is outside 2..{MAX_FRAME_SIDE} pixels")
    return frame


class YoloModel:
    """One YOLO-format ONNX detector loaded in this process: letterbox, one run per batch, decode and NMS."""

    def __init__(self, path: Path, intra_op_threads: int = 0, gpu: bool = False) -> None:
        self.path = path
        self.session = create_session(path, intra_op_threads, gpu)
        inp = self.session.get_inputs()[0]
        metadata = self.session.get_modelmeta().custom_metadata_map
        self.input_name: str = inp.name
        self.size = input_size(inp.shape, metadata)
        self.dtype: type[np.floating] = np.float16 if inp.type == "tensor(float16)" else np.float32
        batch = inp.shape[0]
        # Exporters write a static batch (often 1) unless asked for a dynamic one; such models run in chunks.
        self.static_batch: int | None = batch if isinstance(batch, int) and batch > 0 else None
        self.anchors_first = False
        probe = self._run(np.zeros((self.static_batch or 1, 3, *self.size), dtype=self.dtype))  # warm-up too
        if probe.ndim == 3:
            self.anchors_first = anchors_first((probe.shape[1], probe.shape[2]), metadata)
        channels = probe.shape[2 if self.anchors_first else 1] if probe.ndim == 3 else 0
        if channels < 5:
            raise ValueError(f"{path}: output shape {probe.shape} is not YOLO format [N, 4+classes, anchors]")
        self.names = class_names(metadata, channels - 4)

    def _run(self, tensor: np.ndarray) -> np.ndarray:
        out = np.asarray(self.session.run(None, {self.input_name: tensor})[0], dtype=np.float32)
        return out.transpose(0, 2, 1) if self.anchors_first else out

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Raw outputs for an [N,3,H,W] tensor: one run, or padded chunks for fixed-batch models."""
        step = self.static_batch
        if step is None:
            return self._run(tensor)
        parts = []
        for start in range(0, len(tensor), step):
            chunk = tensor[start : start + step]
            if len(chunk) < step:
                chunk = np.concatenate([chunk, np.zeros((step - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)])
            parts.append(self._run(chunk))
        return np.concatenate(parts)[: len(tensor)]

    def detect_batch(
        self, frames: list[np.ndarray], conf: float = 0.25, iou: float = 0.45, max_detections: int = 100
    ) -> list[list[Detection]]:
        """Detections for each frame, boxes in that frame's own pixels."""
        if not frames:
            return []
        boxed = [letterbox(f, self.size) for f in frames]
        outputs = self.infer(to_tensor([img for img, _ in boxed], self.dtype))
        return [
            decode(out, box, self.names, conf, iou, max_detections)
            for out, (_, box) in zip(outputs, boxed, strict=True)
        ]

    def describe(self) -> dict[str, Any]:
        """What is loaded: file, class names, input size and dtype, batch, execution providers."""
        return {
            "model": str(self.path),
            "names": list(self.names),
            "input_size": list(self.size),
            "dtype": np.dtype(self.dtype).name,
            "static_batch": self.static_batch,
            "providers": self.session.get_providers(),
            "intra_op_threads": self.session.get_session_options().intra_op_num_threads,
        }


@serve.deployment
class Detector:
    """Serve deployment of one YOLO-format detector; `detect(frame)` calls are batched into one onnxruntime run."""

    def __init__(self, model_path: str, intra_op_threads: int = 0, gpu: bool = False) -> None:
        self.model = YoloModel(Path(model_path), intra_op_threads, gpu)
        self.config = DetectorConfig()
        self.frames = self.batches = 0
        self.busy_s = 0.0

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply thresholds and batching from user_config live (serve.run / a config update calls it)."""
        try:
            config = DetectorConfig.model_validate(user_config)
        except ValidationError as exc:
            raise ValueError(f"detector {self.model.path}: invalid user_config: {exc}") from None
        self._detect_batch.set_max_batch_size(config.max_batch_size)  # type: ignore[attr-defined]
        self._detect_batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)  # type: ignore[attr-defined]
        self.config = config

    async def detect(self, frame: np.ndarray) -> list[Detection]:
        """Detections in one RGB uint8 frame (boxes in its pixels); a malformed frame fails only this call."""
        return await self._detect_batch(check_frame(frame))

    # Two batches at once: while one runs in onnxruntime the other is letterboxed, decoded and answered. Measured on
    # 2 cores (docs/benchmarks.md): a single 2-thread session leaves ~23 % of the CPU idle between runs; a second
    # batch fills it. Settings keep max_ongoing_requests >= 2 x max_batch_size, which this needs.
    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01, max_concurrent_batches=2)
    async def _detect_batch(self, frames: list[np.ndarray]) -> list[list[Detection]]:
        c = self.config
        began = time.perf_counter()
        # A worker thread keeps the replica's loop free to queue the next batch while this one runs.
        found = await asyncio.to_thread(self.model.detect_batch, frames, c.conf, c.iou, c.max_detections)
        self.busy_s += time.perf_counter() - began
        self.frames += len(frames)
        self.batches += 1
        return found

    def info(self) -> dict[str, Any]:
        """The loaded model's description, the live thresholds, the replica's process id and its work so far."""
        work = {"frames": self.frames, "batches": self.batches, "busy_s": round(self.busy_s, 3)}
        return {**self.model.describe(), "config": self.config.model_dump(), "pid": os.getpid(), **work}
