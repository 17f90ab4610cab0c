"""The PlateReader: Chinese plates (甘P·A1234) with PP-OCR ONNX models, text normalised and validated."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve

from core.vision import PlateRead
from serve.detector import check_frame

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # I and O never appear on plates (they would read as 1 and 0)
PLATE_PATTERN = re.compile(rf"^[{PROVINCES}][A-Z]·(?:[{PLATE_LETTERS}0-9]{{5}}|[{PLATE_LETTERS}0-9]{{6}})$")
_DOTS = "·・•∙⋅‧.．-—_:：' "  # what OCR makes of the plate's middle dot (or of the gap where it is)
# Confusables fixed by position: the city code after the province is a letter, the serial never holds I or O.
_CODE_FIX = str.maketrans({"0": "O", "1": "I"})
_SERIAL_FIX = str.maketrans({"O": "0", "I": "1"})
PLATE_ASPECT = (2.0, 5.5)  # width / height of a crop that is just the plate (real plates are 440 x 140 mm)


def normalise_plate(raw: str) -> tuple[str, bool]:
    """Canonical plate text (province, letter, '·', serial) and whether it matches the plate pattern."""
    text = unicodedata.normalize("NFKC", raw).upper()  # full-width letters and digits become ASCII
    text = "".join(ch for ch in text if ch not in _DOTS and not ch.isspace())
    if len(text) >= 3 and text[0] in PROVINCES:
        code = text[1].translate(_CODE_FIX)
        serial = text[2:].translate(_SERIAL_FIX)
        text = f"{text[0]}{code}·{serial}"
    return text, bool(PLATE_PATTERN.match(text))


class PlateConfig(BaseModel):
    """The PlateReader's live `user_config`."""

    model_config = ConfigDict(extra="forbid")

    min_score: float = Field(0.5, ge=0, le=1, description="Lowest recognition confidence a read keeps.")
    max_batch_size: int = Field(8, ge=1, description="Most crops handled in one batch.")
    batch_wait_timeout_s: float = Field(0.01, ge=0, description="Longest wait for a batch to fill.")


class PlateOCR:
    """PP-OCR (det, cls, rec ONNX files given by path) through RapidOCR, in this process."""

    def __init__(
        self,
        det: Path,
        cls: Path,
        rec: Path,
        intra_op_threads: int = 0,
        gpu: bool = False,
        det_limit_side_len: int = 160,
    ) -> None:
        from rapidocr_onnxruntime import RapidOCR

        for path in (det, cls, rec):
            if not path.is_file():
                raise FileNotFoundError(f"PP-OCR model {path} does not exist; run `make models`")
        self.paths = {"det": det, "cls": cls, "rec": rec}
        self.ocr = RapidOCR(
            det_model_path=str(det), cls_model_path=str(cls), rec_model_path=str(rec),
            intra_op_num_threads=intra_op_threads if intra_op_threads > 0 else -1,
            det_use_cuda=gpu, cls_use_cuda=gpu, rec_use_cuda=gpu, det_limit_side_len=det_limit_side_len,
            print_verbose=False,
        )  # fmt: skip

    def read(self, crop: np.ndarray, min_score: float = 0.5) -> PlateRead | None:
        """The plate in an RGB crop (just the plate, or a vehicle with its plate), or None when nothing is read."""
        bgr = np.ascontiguousarray(crop[:, :, ::-1])  # RapidOCR takes arrays as OpenCV BGR
        h, w = crop.shape[:2]
        candidates: list[tuple[str, float, bool]] = []
        if PLATE_ASPECT[0] <= w / h <= PLATE_ASPECT[1]:
            # A plate-shaped crop: recognition alone (~20 ms) usually reads it; detection costs far more.
            lines, _ = self.ocr(bgr, use_det=False, use_cls=False, use_rec=True)
            candidates += self._candidates([(str(t), float(s)) for t, s in lines or []])
        if not any(valid and score >= min_score for _, score, valid in candidates):
            result, _ = self.ocr(bgr)
            candidates += self._candidates([(str(r[1]), float(r[2])) for r in result or []])
        kept = [c for c in candidates if c[1] >= min_score and c[0]]
        if not kept:
            return None
        text, score, valid = max(kept, key=lambda c: (c[2], c[1]))
        return PlateRead(text=text, score=round(score, 4), valid=valid)

    @staticmethod
    def _candidates(lines: list[tuple[str, float]]) -> list[tuple[str, float, bool]]:
        """Each text line alone, and all lines joined (a plate split in two boxes), normalised."""
        out = [(*normalise_plate(t), s) for t, s in lines]
        if len(lines) > 1:
            joined = "".join(t for t, _ in lines)
            out.append((*normalise_plate(joined), min(s for _, s in lines)))
        return [(text, score, valid) for text, valid, score in out]


@serve.deployment
class PlateReader:
    """Serve deployment reading plates from RGB crops; `read(crop)` calls are batched."""

    def __init__(
        self, det: str, cls: str, rec: str, intra_op_threads: int = 0, gpu: bool = False, det_limit_side_len: int = 160
    ) -> None:
        self.ocr = PlateOCR(Path(det), Path(cls), Path(rec), intra_op_threads, gpu, det_limit_side_len)
        self.config = PlateConfig()

    def reconfigure(self, user_config: dict[str, Any]) -> None:
        """Apply min_score and batching from user_config live."""
        try:
            config = PlateConfig.model_validate(user_config)
        except ValidationError as exc:
            raise ValueError(f"plate reader: invalid user_config: {exc}") from None
        self._read_batch.set_max_batch_size(config.max_batch_size)  # type: ignore[attr-defined]
        self._read_batch.set_batch_wait_timeout_s(config.batch_wait_timeout_s)  # type: ignore[attr-defined]
        self.config = config

    async def read(self, crop: np.ndarray) -> PlateRead | None:
        """The plate in one RGB uint8 crop, or None; a malformed crop fails only this call."""
        return await self._read_batch(check_frame(crop))

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.01)
    async def _read_batch(self, crops: list[np.ndarray]) -> list[PlateRead | None]:
        return await asyncio.to_thread(self._read_all, crops)

    def _read_all(self, crops: list[np.ndarray]) -> list[PlateRead | None]:
        return [self.ocr.read(crop, self.config.min_score) for crop in crops]

    def info(self) -> dict[str, Any]:
        """Model files and live settings."""
        return {"models": {k: str(v) for k, v in self.ocr.paths.items()}, "config": self.config.model_dump()}
