"""INT8 and FP16 conversion of one ONNX file, path in, path out, by the libraries made for it.

- Dynamic INT8: ``onnxruntime.quantization.quantize_dynamic`` on MatMul/Gemm (weights INT8,
  activations quantized at run time).
- Static INT8: ONNX Runtime's pre-processing (``quant_pre_process``: shape inference and graph
  optimisation) first, then ``quantize_static`` in QDQ format, per-channel INT8 weights,
  per-tensor UINT8 activations, with MinMax, Entropy or Percentile calibration over a
  :class:`~app.core.quantization.calibration.CalibrationReader`. The activation ranges are
  kept in a JSON cache so that the sensitivity analysis and the fallback re-quantize with other
  nodes excluded without calibrating again.
- FP16: ONNX Runtime's float16 converter (``onnxruntime.transformers.float16``) with the
  inputs and outputs kept FP32 (callers feed and get float32, as from every other variant).
  onnxconverter-common 1.16's converter of the same name was tried first: its output for the
  TFSWA-UNet does not load (a Cast in the Swin mask is left declaring float32 while producing
  float16), ONNX Runtime's handles that Cast.

These functions know nothing of audio or of the job contract; :mod:`.pipeline` drives them.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Optional, Sequence

CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


@contextlib.contextmanager
def _quiet():
    """ONNX Runtime's quantizer logs advice and prints progress; the job reports its own."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def preprocess(fp32: Path, out: Path) -> None:
    """ONNX Runtime's quantization pre-processing: ONNX shape inference and the runtime's
    basic graph optimisations (constant folding, fusions), written to ``out``. Symbolic shape
    inference is skipped: with dynamic batch and frame axes it cannot resolve every shape
    of the attention reshapes, and quantization does not need it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with _quiet():
        quant_pre_process(str(fp32), str(out), skip_symbolic_shape=True)


def quantize_dynamic_file(fp32: Path, out: Path, op_types: Sequence[str] = ("MatMul", "Gemm"),
                          per_channel: bool = False, exclude: Sequence[str] = ()) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        quantize_dynamic(str(fp32), str(out), op_types_to_quantize=list(op_types),
                         per_channel=per_channel, weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(exclude) or None)


def static_extra_options(method: str, percentile: float, matmul_weights_only: bool) -> dict:
    """ONNX Runtime's ``extra_options`` for static quantization."""
    extra = {"MatMulConstBOnly": bool(matmul_weights_only)}
    if method == "percentile":
        extra["CalibPercentile"] = float(percentile)
    return extra


def quantize_static_file(pre: Path, out: Path, reader, cache: Path, *, method: str = "minmax",
                         percentile: float = 99.999,
                         op_types: Sequence[str] = ("Conv", "MatMul", "Gemm"),
                         per_channel: bool = True, matmul_weights_only: bool = True,
                         exclude: Sequence[str] = (),
                         include: Optional[Sequence[str]] = None) -> None:
    """Static QDQ INT8 of the pre-processed model ``pre``. ``reader`` is pulled only when
    ``cache`` does not exist yet (the first call calibrates and writes the cache)."""
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    with _quiet():
        quantize_static(
            str(pre), str(out), reader if not Path(cache).exists() else None,
            quant_format=QuantFormat.QDQ, op_types_to_quantize=list(op_types),
            per_channel=per_channel, activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8, nodes_to_exclude=list(exclude) or None,
            nodes_to_quantize=list(include) if include is not None else None,
            calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
            extra_options=static_extra_options(method, percentile, matmul_weights_only),
            calibration_cache_path=str(cache))


def convert_fp16_file(fp32: Path, out: Path, exclude: Sequence[str] = ()) -> None:
    """Weights and arithmetic in float16, inputs and outputs float32."""
    import onnx
    from onnxruntime.transformers import float16

    proto = onnx.load(str(fp32))
    with _quiet():
        half = float16.convert_float_to_float16(proto, keep_io_types=True,
                                                node_block_list=list(exclude) or None)
    onnx.save(half, str(out))
