"""Tiny generated YOLO-format ONNX models whose outputs are known, so decoding can be checked exactly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "serve" / "models"


def yolo_onnx(
    path: Path,
    boxes: Sequence[tuple[float, float, float, float]],
    weights: Sequence[Sequence[float]],
    names: str | None = "{0: 'Normal', 1: 'Fall'}",
    size: int = 64,
    fp16: bool = False,
    static_batch: int | None = None,
    static_size: bool = True,
    imgsz: str | None = None,
    anchors_first: bool = False,
) -> Path:
    """A model with output [N, 4+C, A]: rows 0-3 are the constant anchor boxes (cx, cy, w, h in input pixels),
    class row c at anchor a is mean(image) * weights[c][a]; so a white frame scores exactly `weights`."""
    box_arr = np.asarray(boxes, dtype=np.float32).T[None]  # [1, 4, A]
    w_arr = np.asarray(weights, dtype=np.float32)[None]  # [1, C, A]
    elem = TensorProto.FLOAT16 if fp16 else TensorProto.FLOAT
    side: int | str = size if static_size else "S"
    batch: int | str = static_batch if static_batch else "N"
    inp = helper.make_tensor_value_info("images", elem, [batch, 3, side, side])
    rows, anchors = 4 + w_arr.shape[1], w_arr.shape[2]
    out = helper.make_tensor_value_info(
        "output0", TensorProto.FLOAT, [batch, *((anchors, rows) if anchors_first else (rows, anchors))]
    )
    nodes = [
        helper.make_node("Cast", ["images"], ["x32"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["x32"], ["mean4"], axes=[1, 2, 3], keepdims=1),  # [N,1,1,1]
        helper.make_node("Squeeze", ["mean4", "ax3"], ["mean"]),  # [N,1,1]
        helper.make_node("Mul", ["mean", "weights"], ["scores"]),  # [N,C,A]
        helper.make_node("Mul", ["mean", "zero"], ["nil"]),  # [N,1,1], keeps the batch dimension
        helper.make_node("Add", ["nil", "boxes"], ["xywh"]),  # [N,4,A]
        helper.make_node("Concat", ["xywh", "scores"], ["cat" if anchors_first else "output0"], axis=1),
    ]
    if anchors_first:  # the [N, anchors, 4+C] layout some exporters write
        nodes.append(helper.make_node("Transpose", ["cat"], ["output0"], perm=[0, 2, 1]))
    inits = [
        numpy_helper.from_array(box_arr, "boxes"),
        numpy_helper.from_array(w_arr, "weights"),
        numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "zero"),
        numpy_helper.from_array(np.asarray([3], np.int64), "ax3"),
    ]
    graph = helper.make_graph(nodes, "tiny_yolo", [inp], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"names": names, "imgsz": imgsz}
    for key, value in meta.items():
        if value is not None:
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def white(h: int, w: int, level: int = 255) -> np.ndarray:
    """A uniform RGB frame (its mean pixel value drives the generated models' scores)."""
    return np.full((h, w, 3), level, dtype=np.uint8)
