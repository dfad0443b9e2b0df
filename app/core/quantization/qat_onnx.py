"""The ONNX half of quantization-aware training: the trained model becomes a QDQ INT8 file by
ONNX Runtime's own ``quantize_static`` (so ORT picks exactly the tensors and layouts it
always does, and its CPU kernels fuse the QDQ groups into integer ones), with each activation
range taken from the fake-quantizer that trained against it instead of from calibration.

Which fake-quantizer belongs to which ONNX tensor is found by value, not by name: one input
goes through the trained network (quantization off) and through the FP32 ONNX file with its
activation tensors exposed, and equal tensors of equal shape are paired. Tensors left unpaired
(none for TFSWA-UNet) keep ONNX Runtime's MinMax calibration.
"""

from __future__ import annotations

import collections
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..artifacts import INPUT_NAME
from .fake_quant import fake_quantizers, set_fake_quant

# What ONNX Runtime quantizes, as its static QDQ recipe asks for.
OP_TYPES = ("Conv", "MatMul", "Gemm")
# Kernels that run integer arithmetic on the CPU (QDQ groups fused by ORT's optimizer).
INT8_KERNELS = ("QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger",
                "MatMulIntegerToFloat", "QGemm", "DynamicQuantizeMatMul", "QLinearAdd",
                "QLinearConcat", "QLinearAveragePool", "QLinearSigmoid", "QLinearSoftmax")
MATCH_RTOL = 1e-3


def activation_tensors(proto, op_types: Sequence[str] = OP_TYPES) -> list[str]:
    """Names of the activation tensors (not weights) that are inputs or outputs of the nodes
    ONNX Runtime quantizes, in graph order."""
    weights = {i.name for i in proto.graph.initializer}
    weights |= {n.output[0] for n in proto.graph.node if n.op_type == "Constant"}
    seen: dict[str, None] = {}
    for node in proto.graph.node:
        if node.op_type not in op_types:
            continue
        for name in list(node.input) + list(node.output):
            if name and name not in weights:
                seen.setdefault(name, None)
    return list(seen)


def onnx_activations(path: Path | str, names: Sequence[str], magnitude: np.ndarray,
                     threads: Optional[int] = None) -> dict[str, np.ndarray]:
    """The values of ``names`` in the FP32 file at ``path`` for one input."""
    import onnx
    import onnxruntime as ort

    from ..backends import session_options

    proto = onnx.load(str(path))
    present = {o.name for o in proto.graph.output}
    for name in names:
        if name not in present:
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    so = session_options(threads)
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(proto.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    values = sess.run(list(names), {INPUT_NAME: magnitude.astype(np.float32)})
    return dict(zip(names, values))


def torch_activations(model: nn.Module, magnitude: np.ndarray) -> dict[str, np.ndarray]:
    """The value each fake-quantizer of a prepared model sees for one input, quantization
    off (so the values are the FP32 network's, as in the ONNX file)."""
    states = {name: (fq.enabled, fq.observer) for name, fq in fake_quantizers(model)}
    set_fake_quant(model, enabled=False, observer="off", record=True)
    try:
        with torch.no_grad():
            model(torch.from_numpy(magnitude))
        return {name: fq.last.numpy() for name, fq in fake_quantizers(model)
                if fq.last is not None}
    finally:
        set_fake_quant(model, record=False, enabled=all(e for e, _ in states.values()))
        for name, fq in fake_quantizers(model):
            fq.observer = states[name][1]


def pair_tensors(onnx_values: dict[str, np.ndarray], torch_values: dict[str, np.ndarray]
                 ) -> tuple[dict[str, str], list[str]]:
    """``({onnx tensor: fake-quantizer}, unpaired onnx tensors)``: equal shape and values."""
    by_shape = collections.defaultdict(list)
    for name, value in torch_values.items():
        by_shape[tuple(value.shape)].append(name)
    pairs, unpaired = {}, []
    for name, value in onnx_values.items():
        tol = MATCH_RTOL * float(np.max(np.abs(value))) + 1e-6 if value.size else 1e-6
        best = None
        for cand in by_shape.get(tuple(value.shape), []):
            if float(np.max(np.abs(torch_values[cand] - value))) <= tol:
                best = cand
                break
        if best is None:
            unpaired.append(name)
        else:
            pairs[name] = best
    return pairs, unpaired


def learned_ranges(model: nn.Module, fp32_path: Path | str, magnitude: np.ndarray,
                   op_types: Sequence[str] = OP_TYPES
                   ) -> tuple[dict[str, tuple[float, float]], list[str], int]:
    """``({onnx tensor: (rmin, rmax)}, unpaired tensors, fake-quantizers used)``: the
    trained ranges of a prepared model for the FP32 file exported from it."""
    import onnx

    names = activation_tensors(onnx.load(str(fp32_path)), op_types)
    pairs, unpaired = pair_tensors(onnx_activations(fp32_path, names, magnitude),
                                   torch_activations(model, magnitude))
    fqs = dict(fake_quantizers(model))
    ranges = {}
    for tensor, fq_name in pairs.items():
        fq = fqs[fq_name]
        if fq.calibrated:
            ranges[tensor] = fq.range()
        else:
            unpaired.append(tensor)
    return ranges, unpaired, len(set(pairs.values()))


class SegmentReader:
    """An ONNX Runtime calibration reader over magnitude segments ``(1, C, F, T)``."""

    def __init__(self, segments: Iterable[np.ndarray]):
        self.segments = [np.ascontiguousarray(s, dtype=np.float32) for s in segments]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.segments):
            return None
        self.i += 1
        return {INPUT_NAME: self.segments[self.i - 1]}

    def rewind(self) -> None:
        self.i = 0

    def __len__(self) -> int:
        return len(self.segments)


def quantize_qdq(model: nn.Module, fp32_path: Path, out_path: Path,
                 segments: Sequence[np.ndarray], op_types: Sequence[str] = OP_TYPES
                 ) -> tuple[int, list[str], int]:
    """ONNX Runtime's static QDQ INT8 of ``fp32_path`` (exported from the prepared
    ``model``): ORT's pre-processing, per-channel int8 weights, uint8 activations, with the
    ranges ``model`` trained with; tensors without one are calibrated (MinMax) on
    ``segments``. Returns ``(ranges taken from training, unpaired tensors, fake-quantizers
    used)``."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(SegmentReader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory(prefix="tfswa-qat-") as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(str(fp32_path), pre, skip_symbolic_shape=True)
        ranges, unpaired, used = learned_ranges(model, pre, segments[0], op_types)
        overrides = {name: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                     for name, (lo, hi) in ranges.items()}
        quantize_static(pre, str(out_path), Reader(segments), quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=list(op_types), per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"TensorQuantOverrides": overrides})
    return len(ranges), unpaired, used


def set_metadata(path: Path, metadata: dict[str, str]) -> None:
    import onnx

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, dict(metadata))
    onnx.save(proto, str(path))


def profiled_operators(path: Path | str, magnitude: np.ndarray, threads: Optional[int] = 1,
                       runs: int = 1) -> collections.Counter:
    """How many times each operator type ran in ONNX Runtime's own profile of ``runs``
    inferences of the file (after its graph optimizations: fused QDQ groups show up as the
    integer kernels that run, e.g. QLinearConv, MatMulIntegerToFloat)."""
    import onnxruntime as ort

    from ..backends import session_options

    with tempfile.TemporaryDirectory(prefix="tfswa-profile-") as tmp:
        so = session_options(threads)
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, "profile")
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        for _ in range(runs):
            sess.run(None, {INPUT_NAME: magnitude.astype(np.float32)})
        events = json.loads(Path(sess.end_profiling()).read_text())
    return collections.Counter(e["args"].get("op_name", "?") for e in events
                               if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"))


def int8_kernel_count(operators: collections.Counter) -> int:
    return sum(n for op, n in operators.items() if op in INT8_KERNELS)
