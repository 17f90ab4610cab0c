#!/usr/bin/env bash
# One prepared GPU check (run from the repository root on a GPU node): the detectors' frames/s with
# onnxruntime-gpu, batch 1 and batched. Needs python3 with numpy and onnxruntime-gpu; prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3 )}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
timeout 300 "$PY" sim/gpu_check.py --seconds "${SECONDS_PER_BATCH:-5}" --json
