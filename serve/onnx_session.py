"""onnxruntime sessions: the CUDA provider on replicas that hold a GPU (with onnxruntime-gpu), else CPU."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and Ray may narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def providers(gpu: bool) -> list[str]:
    """Execution providers to ask for: CUDA first when a GPU is wanted and onnxruntime-gpu offers it."""
    if gpu and CUDA in ort.get_available_providers():
        return [CUDA, CPU]
    if gpu:
        log.warning("GPU requested but onnxruntime has no CUDA provider (install the gpu extra); running on CPU")
    return [CPU]


def session_options(intra_op_threads: int) -> ort.SessionOptions:
    """Options shared by every session here and by the bare-onnxruntime benchmark: full graph optimisation."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = intra_op_threads if intra_op_threads > 0 else usable_cores()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only
    # Idle intra-op threads sleep instead of spin-waiting: replicas share cores with the device hosts, Redis and
    # the rest of the platform, and measured here under load a spinning 2-thread session ran at ~0.6x the speed.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def create_session(path: Path, intra_op_threads: int = 0, gpu: bool = False) -> ort.InferenceSession:
    """Load an ONNX model; a missing or unreadable file raises an error that names it."""
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist; run `make models` (python -m serve.fetch_models)")
    try:
        return ort.InferenceSession(str(path), sess_options=session_options(intra_op_threads), providers=providers(gpu))
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ValueError(f"cannot load ONNX model {path}: {exc}") from exc
