"""Builds and runs the Serve applications: `detector-<name>` per configured detector and `plate-reader`."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from ray import serve
from ray.serve import Deployment
from ray.serve.api import RunTarget

from core.settings import DeploymentSettings, DetectorSettings, ServeSettings, Settings
from serve.client import PLATE_APP, detector_app_name
from serve.detector import Detector
from serve.plate_reader import PlateReader

log = logging.getLogger(__name__)

# No per-request access log: 400 cameras at 1 fps would write 400 lines/s, streamed to the driver too.
APP_LOGGING = {"enable_access_log": False}
# User code runs on the replica's own event loop rather than a second thread with its own loop: each request then
# skips two cross-thread hand-offs. Safe here because every deployment sends its model work to a worker thread.
# Measured (docs/benchmarks.md): 8 cameras on the scene model went from ~105 to ~112 frames/s.
REPLICA_ENV = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}


def _deployment_options(dep: DeploymentSettings) -> dict[str, Any]:
    """Replica options from settings.

    max_ongoing_requests is set on purpose: Serve's default (5) caps each replica at 5 requests in flight, so
    @serve.batch never sees more than 5 frames and callers queue at the router instead. Measured here: 2,000
    concurrent calls to a batched no-op deployment finished ~4/s with the default and ~450/s with 256. Settings
    require it to be at least 2 x max_batch_size (one batch running, the next one filling); max_queued_requests
    bounds what waits at the callers beyond that, so an overloaded model fails fast instead of growing latency.
    """
    return {
        "num_replicas": dep.replicas,
        "max_ongoing_requests": dep.max_ongoing_requests,
        "max_queued_requests": dep.max_queued_requests,
        "ray_actor_options": {
            "num_cpus": dep.num_cpus,
            "num_gpus": dep.num_gpus,
            "runtime_env": {"env_vars": REPLICA_ENV},
        },
    }


def _version(init_args: Sequence[Any], files: Sequence[Path]) -> dict[str, Any]:
    """Options pinning a deployment's version to what its replicas load: init arguments and model files.

    Serve's Python API gives every serve.run a random version, which restarts replicas even when only user_config
    changed. With a stable version Serve instead calls reconfigure() on the running replicas (the lightweight update
    its config-file deploys get), so threshold changes apply live; a new model file or argument still restarts them.
    `version` is internal in Ray 2.60 (hence `_internal`); ray is pinned, and tests/serve/test_serve_app.py checks
    that a replica survives a threshold change.
    """
    digest = hashlib.sha256(repr(tuple(init_args)).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return {"version": digest.hexdigest()[:16], "_internal": True}


def detector_user_config(det: DetectorSettings) -> dict[str, Any]:
    """The live part of a detector's settings (thresholds, batching), as its user_config."""
    return det.model_dump(include={"conf", "iou", "max_detections", "max_batch_size", "batch_wait_timeout_s"})


def check_models(cfg: ServeSettings) -> None:
    """Fail before starting anything when a configured model file is missing, naming it and the fix."""
    missing = [
        f"{name}: {cfg.detector_model(name)}" for name in cfg.detectors if not cfg.detector_model(name).is_file()
    ]
    missing += [f"ppocr {part}: {path}" for part, path in cfg.plate_models().items() if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            "model files missing (run `make models`, i.e. python -m serve.fetch_models; the scene model is trained "
            "by python -m sim.train_scene):\n  " + "\n  ".join(missing)
        )


def detector_target(cfg: ServeSettings, name: str) -> RunTarget:
    """The `detector-<name>` application (one Detector deployment) as configured."""
    det, model = cfg.detectors[name], cfg.detector_model(name)
    args = (str(model), det.intra_op_threads, det.num_gpus > 0)
    options = {**_deployment_options(det), **_version(args, [model])}
    app = (
        cast(Deployment, Detector)
        .options(name=f"Detector-{name}", user_config=detector_user_config(det), **options)
        .bind(*args)
    )
    return RunTarget(app, name=detector_app_name(name), route_prefix=None, logging_config=APP_LOGGING)


def build_targets(settings: Settings) -> list[RunTarget]:
    """One Serve application per model, not exposed over HTTP."""
    cfg = settings.serve
    check_models(cfg)
    targets = [detector_target(cfg, name) for name in cfg.detectors]
    targets.append(plate_reader_target(cfg))
    return targets


def plate_reader_target(cfg: ServeSettings) -> RunTarget:
    """The `plate-reader` application as configured."""
    pr, paths = cfg.plate_reader, cfg.plate_models()
    args = (str(paths["det"]), str(paths["cls"]), str(paths["rec"]), pr.intra_op_threads, pr.num_gpus > 0,
            pr.det_limit_side_len)  # fmt: skip
    options = {**_deployment_options(pr), **_version(args, list(paths.values()))}
    plate_app = (
        cast(Deployment, PlateReader)
        .options(user_config=pr.model_dump(include={"min_score", "max_batch_size", "batch_wait_timeout_s"}), **options)
        .bind(*args)
    )
    return RunTarget(plate_app, name=PLATE_APP, route_prefix=None, logging_config=APP_LOGGING)


def deploy(settings: Settings) -> None:
    """Start Serve without HTTP proxies (handles only) if needed and run every model application; waits until ready."""
    targets = build_targets(settings)
    serve.start(proxy_location="Disabled")
    serve.run_many(targets)
    log.info("model deployments ready: %s", ", ".join(t.name for t in targets))


def shutdown_serve() -> None:
    """Tear down every Serve application and the Serve controller."""
    serve.shutdown()
