"""Quantization: INT8 (dynamic, static with audio calibration), FP16, per-layer sensitivity
with an automatic FP32 fallback, and the cost measured as SDR per stem.

Entry points (job contract: ``progress``, ``cancel`` keywords, a dataclass result):

- :func:`quantize_model` (``options.mode`` picks), and the report's names
  :func:`quantize_dynamic`, :func:`quantize_static`, :func:`quantize_fp16`. The source is a
  checkpoint (exported to a verified FP32 ONNX first) or an FP32 ``.onnx``; the output is an
  ONNX file that describes itself (the source's audio config and sources, plus ``precision``,
  ``quantization`` = mode, ``quantized_ops``, ``calibration_method/_files/_segments``,
  ``fp32_layers``, ``sdr_delta_db``), so ``separate --model model-int8.onnx`` uses it like any
  export. It is written under a temporary name and renamed only after it passed verification
  against FP32 on several batch sizes and lengths.
- :func:`compare_models` (size, latency, mask SNR, SDR per stem vs the reference and vs the
  true stems) and :func:`benchmark_quantized_model` (latency side by side).
- ``mode="qat"``: quantization-aware training: :func:`prepare_qat` places fake quantization
  where ONNX Runtime's static QDQ INT8 quantizes, :func:`quantize_qat` fine-tunes from a
  checkpoint and writes the QDQ INT8 file; :func:`quantize_model` runs it and measures the
  result like the other modes.

:class:`QuantizeResult`, what every mode returns (QAT too):

==================  ==============================================================================
``path``            the quantized file that was kept
``mode``            "dynamic" | "static" | "qat" | "fp16"
``precision``       "int8" | "fp16"
``source``          what the user gave (checkpoint or ``.onnx``)
``fp32_path``       the FP32 ONNX measured against (None when exported to a temporary file)
``quantized``       :class:`VariantFigures` of the kept file: size, latency (ms), lowest mask
                    SNR vs FP32, median SDR per stem vs the true stems, ``sdr_delta`` vs
                    FP32 (negative = worse), SDR vs the FP32 stems, the groups kept FP32
``fp32``            the same figures for the FP32 ONNX model
``full_int8``       figures of the fully quantized model when the fallback changed it
``calibration``     :class:`CalibrationSummary` (files, method, segments) for static / QAT
``op_types``        the operator types quantized
``budget_db``       the SDR budget per stem of the fallback (None: no fallback)
``within_budget``   whether every stem's SDR loss is within it
``sensitivity``     :class:`LayerSensitivity` per layer group, ranked (empty if not measured)
``fp32_layers``     layer groups left in FP32
``checks``          :class:`QuantCheck` per verified input shape
``eval_songs``      the songs the SDR was measured on; ``eval_seconds`` their excerpt
``threads``         CPU threads of the latency measurement; ``seconds`` the run's duration
``metadata``        what was written into the file; ``notes`` lines for the user (e.g. "not
                    faster than FP32 on this CPU", where FP16 is fast)
==================  ==============================================================================

Derived: ``file_size``, ``size_ratio`` (FP32 / quantized), ``speedup`` (FP32 / quantized
latency), ``faster``, ``sdr_loss`` (per stem, positive = worse).
"""

from .calibration import CalibrationReader, CalibrationSummary, load_calibration
from .compare import LatencyComparison, ModelComparison, benchmark_quantized_model, compare_models
from .fake_quant import FakeQuantize, fake_quantizers, prepare_qat, set_fake_quant, strip_qat
from .measure import EvalSong, load_eval_songs
from .options import (DYNAMIC_OPS, METHODS, MODES, QUANTIZE_OPSET, SENSITIVITY, STATIC_OPS,
                      STRATEGIES, QuantizeOptions)
from .pipeline import (FP16_NOTE, qat_available, quantize_dynamic, quantize_fp16,
                       quantize_model, quantize_static)
from .qat import QatResult, generate_training_songs, quantize_qat
from .qat_onnx import INT8_KERNELS, OP_TYPES, int8_kernel_count, profiled_operators
from .result import (LayerSensitivity, QuantCheck, QuantizationFailed, QuantizeResult,
                     VariantFigures)
from .source import group_of, layer_groups

__all__ = [
    "CalibrationReader", "CalibrationSummary", "load_calibration", "LatencyComparison",
    "ModelComparison", "benchmark_quantized_model", "compare_models", "EvalSong",
    "load_eval_songs", "DYNAMIC_OPS", "METHODS", "MODES", "QUANTIZE_OPSET", "SENSITIVITY",
    "STATIC_OPS", "STRATEGIES", "QuantizeOptions", "FP16_NOTE", "qat_available",
    "quantize_dynamic", "quantize_fp16", "quantize_model", "quantize_static", "LayerSensitivity",
    "QuantCheck",
    "QuantizationFailed", "QuantizeResult", "VariantFigures", "group_of", "layer_groups",
    "FakeQuantize", "fake_quantizers", "prepare_qat", "set_fake_quant", "strip_qat",
    "QatResult", "generate_training_songs", "quantize_qat", "INT8_KERNELS", "OP_TYPES",
    "int8_kernel_count", "profiled_operators",
]
