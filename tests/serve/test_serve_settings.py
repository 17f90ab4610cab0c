"""The serve section of settings: model paths, validation that names the section at fault, missing models."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from serve_testkit import REPO

from core.settings import ServeSettings, Settings
from serve.app import build_targets, detector_user_config


def test_defaults_resolve_model_files_from_the_project_root() -> None:
    cfg = ServeSettings()
    assert set(cfg.detectors) == {"scene", "fall"}
    assert cfg.detector_model("fall") == REPO / "serve" / "models" / "fall" / "model.onnx"
    assert cfg.plate_models()["rec"] == REPO / "serve" / "models" / "ppocr" / "rec.onnx"
    custom = ServeSettings(detectors={"x": {"model_path": "/opt/models/x.onnx"}})  # type: ignore[dict-item]
    assert custom.detector_model("x") == Path("/opt/models/x.onnx")


def test_batching_starved_by_max_ongoing_requests_is_refused_with_its_section() -> None:
    with pytest.raises(ValidationError, match=r"serve\.detectors\.scene: max_ongoing_requests \(8\)"):
        ServeSettings(detectors={"scene": {"max_batch_size": 8, "max_ongoing_requests": 8}})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match=r"serve\.plate_reader"):
        ServeSettings(plate_reader={"max_batch_size": 16, "max_ongoing_requests": 20})  # type: ignore[arg-type]


def test_unknown_keys_and_bad_names_are_errors() -> None:
    with pytest.raises(ValidationError, match="conf_threshold"):
        ServeSettings(detectors={"scene": {"conf_threshold": 0.5}})  # type: ignore[dict-item]
    with pytest.raises(ValidationError, match=r"serve\.detectors\.Bad Name"):
        ServeSettings(detectors={"Bad Name": {}})  # type: ignore[dict-item]


def test_user_config_carries_only_the_live_knobs() -> None:
    det = ServeSettings().detectors["fall"]
    assert detector_user_config(det) == {
        "conf": 0.4, "iou": 0.45, "max_detections": 100, "max_batch_size": 4, "batch_wait_timeout_s": 0.01,
    }  # fmt: skip


def test_deploy_refuses_missing_model_files_before_starting_anything(tmp_path: Path) -> None:
    settings = Settings(serve={"models_dir": tmp_path})  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError) as err:
        build_targets(settings)
    message = str(err.value)
    assert str(tmp_path / "scene" / "model.onnx") in message and "ppocr det" in message and "make models" in message
