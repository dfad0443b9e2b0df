"""Quantization: INT8 (dynamic, static, quantization-aware training) and FP16 variants of a
model, with their cost measured. Quantization-aware training: :func:`prepare_qat` (fake
quantization as ONNX Runtime's static QDQ INT8 quantizes) and :func:`quantize_qat` (the job:
fine-tune, then write the QDQ INT8 file)."""

from .fake_quant import FakeQuantize, fake_quantizers, prepare_qat, set_fake_quant, strip_qat
from .qat import QatResult, generate_training_songs, quantize_qat
from .qat_onnx import INT8_KERNELS, OP_TYPES, int8_kernel_count, profiled_operators

__all__ = [
    "FakeQuantize", "fake_quantizers", "prepare_qat", "set_fake_quant", "strip_qat",
    "QatResult", "generate_training_songs", "quantize_qat", "INT8_KERNELS", "OP_TYPES",
    "int8_kernel_count", "profiled_operators",
]
