"""The `serve` section: Ray Serve model deployments."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, model_validator

from core.settings.section import Section

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_DETECTOR_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


class DeploymentSettings(Section):
    """Replica, batching and placement options shared by every Serve model deployment."""

    replicas: int = Field(1, ge=1, description="Replicas of this deployment.")
    num_cpus: float = Field(
        0.0, ge=0, description="CPUs Ray reserves per replica (scheduling only; onnxruntime threads are separate)."
    )
    num_gpus: float = Field(0.0, ge=0, description="GPUs per replica; > 0 runs onnxruntime's CUDA provider there.")
    intra_op_threads: int = Field(
        0, ge=0, description="onnxruntime intra-op threads per replica; 0 means every core the replica may use."
    )
    max_batch_size: int = Field(
        4, ge=1, description="Most requests @serve.batch runs as one batch (two batches run at once); raise it on GPUs."
    )
    batch_wait_timeout_s: float = Field(
        0.01, ge=0, le=5, description="Longest wait for a batch to fill before a partial batch runs."
    )
    max_ongoing_requests: int = Field(
        128, ge=1, description="Requests one replica accepts at once; must be at least 2 x max_batch_size."
    )
    max_queued_requests: int = Field(
        1024, ge=-1, description="Requests a caller queues when all replicas are full (-1: unbounded); then it fails."
    )


class DetectorSettings(DeploymentSettings):
    """One Detector deployment: a YOLO-format ONNX detector and its thresholds."""

    model_path: Path | None = Field(
        None, description="ONNX file; unset means <serve.models_dir>/<name>/model.onnx (relative to the project)."
    )
    conf: float = Field(0.25, ge=0, le=1, description="Lowest class score a detection keeps.")
    iou: float = Field(0.45, gt=0, le=1, description="IoU above which NMS drops the weaker box of the same class.")
    max_detections: int = Field(100, ge=1, description="Most detections returned per frame.")


class PlateReaderSettings(DeploymentSettings):
    """The PlateReader deployment: PP-OCR det/cls/rec ONNX models and plate validation."""

    det_model: Path | None = Field(None, description="Text detection ONNX; unset means <models_dir>/ppocr/det.onnx.")
    cls_model: Path | None = Field(None, description="Text direction ONNX; unset means <models_dir>/ppocr/cls.onnx.")
    rec_model: Path | None = Field(None, description="Text recognition ONNX; unset means <models_dir>/ppocr/rec.onnx.")
    min_score: float = Field(0.5, ge=0, le=1, description="Lowest recognition confidence a plate read keeps.")
    det_limit_side_len: int = Field(
        160, ge=32, le=2048, description="Text detection scales a crop's short side up to this many pixels."
    )


def _default_detectors() -> dict[str, DetectorSettings]:
    return {"scene": DetectorSettings(), "fall": DetectorSettings(conf=0.4)}


class ServeSettings(Section):
    """Ray Serve model deployments: one Detector application per model and the PlateReader."""

    enabled: bool = Field(
        True, description="Run the model deployments, and with them the camera and station hosts, on platform start."
    )
    models_dir: Path = Field(
        Path("serve/models"), description="Directory of model folders; a relative path is taken from the project root."
    )
    detectors: dict[str, DetectorSettings] = Field(
        default_factory=_default_detectors,
        description="Detector deployments by name (application detector-<name>); the keys are model names.",
    )
    plate_reader: PlateReaderSettings = Field(
        default_factory=PlateReaderSettings, description="PlateReader deployment settings."
    )

    @model_validator(mode="after")
    def _names_and_batching(self) -> ServeSettings:
        for name in self.detectors:
            if not _DETECTOR_NAME.match(name):
                raise ValueError(f"serve.detectors.{name}: name must be lowercase letters, digits, '-' or '_'")
        sections: dict[str, DeploymentSettings] = {f"serve.detectors.{n}": d for n, d in self.detectors.items()}
        sections["serve.plate_reader"] = self.plate_reader
        for where, dep in sections.items():
            if dep.max_ongoing_requests < 2 * dep.max_batch_size:
                raise ValueError(
                    f"{where}: max_ongoing_requests ({dep.max_ongoing_requests}) must be at least "
                    f"2 x max_batch_size ({dep.max_batch_size}) or batches never fill"
                )
        return self

    def resolve(self, path: Path) -> Path:
        """An absolute path: relative ones are taken from the project root, not the working directory."""
        return path if path.is_absolute() else _PROJECT_ROOT / path

    def detector_model(self, name: str) -> Path:
        """The ONNX file of detector `name`."""
        det = self.detectors[name]
        return self.resolve(det.model_path or self.models_dir / name / "model.onnx")

    def plate_models(self) -> dict[str, Path]:
        """The PP-OCR det/cls/rec ONNX files of the plate reader."""
        pr, base = self.plate_reader, self.models_dir / "ppocr"
        return {
            "det": self.resolve(pr.det_model or base / "det.onnx"),
            "cls": self.resolve(pr.cls_model or base / "cls.onnx"),
            "rec": self.resolve(pr.rec_model or base / "rec.onnx"),
        }
