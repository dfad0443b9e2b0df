"""The torch.export-based ONNX exporter (``dynamo=True``): what it needs beyond the
TorchScript-based one (why the latter is the default: :mod:`app.core.export.onnx`).

It needs the onnxscript package, prints progress to stdout and logs at INFO level (both
silenced here), and its op library lacks ``aten.remainder`` by a symbolic divisor, which the
model's padding arithmetic becomes under torch.export: a custom translation supplies it.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path

import torch
from torch import nn

from ..artifacts import INPUT_NAME, OUTPUT_NAME
from .errors import ExportError


def _remainder_by_symbolic_scalar(self, other):
    """aten.remainder.Scalar where the divisor is a symbolic size (torch_lib expects a
    Python number there): integer Mod with the divisor cast to the dividend's type."""
    from onnxscript import opset18 as op

    return op.Mod(self, op.CastLike(other, self))


def export_with_dynamo(model: nn.Module, dummy: torch.Tensor, tmp: Path, axes,
                       opset: int) -> None:
    """Write ``model`` to ``tmp`` with torch.onnx.export(dynamo=True), quietly."""
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("the dynamo exporter needs the 'onnxscript' package, which is not "
                          "installed", None, "Install onnxscript, or use the default "
                          "exporter (--exporter trace).") from None
    quiet = io.StringIO()
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(quiet):
            program = torch.onnx.export(
                model, (dummy,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes=axes, opset_version=opset, dynamo=True, verbose=False,
                optimize=True, custom_translation_table={
                    torch.ops.aten.remainder.Scalar: _remainder_by_symbolic_scalar})
    finally:
        log.setLevel(level)
    program.save(str(tmp))
