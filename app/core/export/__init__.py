"""Export a bundle to ONNX or TorchScript, optimise the graph, and verify the file against
PyTorch; the file carries its audio config (:mod:`app.core.artifacts`)."""

from .errors import ExportError, VerificationFailed
from .onnx import DEFAULT_OPSET, DEFAULT_OPSETS, ONNX_EXPORTERS, OPSET_RANGE, onnx_operator_counts
from .pipeline import (STAGES, ExportOptions, ExportResult, export_bundle, export_to_onnx,
                       export_to_torchscript, variant_figures, variant_name)
from .torchscript import TORCHSCRIPT_METHODS
from .verify import (MSE_LIMIT, VERIFY_FRAMES, ShapeCheck, VerificationReport, compare_outputs,
                     verify_artifact)

__all__ = [
    "ExportError", "VerificationFailed", "DEFAULT_OPSET", "DEFAULT_OPSETS", "ONNX_EXPORTERS",
    "OPSET_RANGE", "onnx_operator_counts", "STAGES", "ExportOptions", "ExportResult",
    "export_bundle", "export_to_onnx", "export_to_torchscript", "variant_figures",
    "variant_name", "TORCHSCRIPT_METHODS", "MSE_LIMIT", "VERIFY_FRAMES", "ShapeCheck",
    "VerificationReport", "compare_outputs", "verify_artifact",
]
