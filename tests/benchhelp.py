"""Benchmark test helpers: backends with known run times, and ONNX files built with the
``onnx`` helper API (a third-party model with the TFSWA-UNet contract, and one without)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from app.core.backends import FunctionBackend
from app.core.config import AudioConfig


def sleeping_backend(ms: float, name: str, log: list | None = None) -> FunctionBackend:
    """A backend whose every run takes ``ms`` milliseconds (at least) and returns masks of
    the right shape; each call is appended to ``log``."""
    def run(mag: np.ndarray) -> np.ndarray:
        if log is not None:
            log.append(name)
        time.sleep(ms / 1000.0)
        return np.ones((mag.shape[0], 2) + mag.shape[1:], dtype=np.float32)

    return FunctionBackend(run, AudioConfig(), name)


def contract_onnx(path: Path, fixed_frames: int | None = None) -> Path:
    """A third-party model with the contract: masks = sigmoid(magnitude) for two sources."""
    import onnx
    from onnx import TensorProto, helper

    frames = fixed_frames if fixed_frames else "T"
    x = helper.make_tensor_value_info("magnitude", TensorProto.FLOAT, ["B", 2, 1025, frames])
    y = helper.make_tensor_value_info("masks", TensorProto.FLOAT, ["B", 2, 2, 1025, frames])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    nodes = [helper.make_node("Sigmoid", ["magnitude"], ["s"]),
             helper.make_node("Unsqueeze", ["s", "axes"], ["u"]),
             helper.make_node("Concat", ["u", "u"], ["masks"], axis=1)]
    graph = helper.make_graph(nodes, "third_party", [x], [y], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def image_classifier_onnx(path: Path) -> Path:
    """An ONNX file with another contract: x (1, 3, 224, 224) -> y (1, 1000)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 224, 224])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])
    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, -1])
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["flat"]),
             helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["y"])]
    inits = [shape, helper.make_tensor("starts", TensorProto.INT64, [1], [0]),
             helper.make_tensor("ends", TensorProto.INT64, [1], [1000]),
             helper.make_tensor("axes", TensorProto.INT64, [1], [1])]
    graph = helper.make_graph(nodes, "classifier", [x], [y], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
