"""The TorchScript steps of an export: trace or script the model, freeze it, save it with
its description among the archive's extra files. :func:`app.core.export.export_to_torchscript`
runs them, then verifies the file loaded back (:mod:`app.core.export.verify`)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from ..artifacts import TORCHSCRIPT_EXTRA_FILE
from ..backends.torchscript import torchscript_operator_counts  # noqa: F401 - re-exported
from ..jobs import first_line
from .errors import ExportError

TORCHSCRIPT_METHODS = ("trace", "script")


def _torchscript_failure(exc: Exception, method: str) -> ExportError:
    text = str(exc)
    where = re.findall(r'File "([^"]+)", line (\d+)', text)
    at = f" (at {Path(where[0][0]).name}:{where[0][1]})" if where else ""
    if method == "script":
        return ExportError(
            f"TorchScript scripting cannot compile the model{at}: "
            f"{first_line(text).rstrip(':')}", None,
            "Use method 'trace' (the default): tracing records the model's shape arithmetic, "
            "so the traced file still accepts any batch size and length (verified).")
    return ExportError(f"TorchScript tracing failed: {first_line(str(exc))}", None,
                       "Try method 'script', or export to ONNX.")


def compile_torchscript(model: nn.Module, dummy: torch.Tensor, method: str):
    """``torch.jit.trace`` the model on ``dummy`` (method "trace") or ``torch.jit.script``
    it; a failure becomes an ExportError that says what to try."""
    try:
        with torch.no_grad():
            if method == "trace":
                return torch.jit.trace(model, (dummy,), check_trace=False)
            return torch.jit.script(model)
    except Exception as exc:
        raise _torchscript_failure(exc, method) from None


def freeze_and_save(compiled, path: Path, metadata: Mapping[str, str]):
    """Inline the weights, save to ``path`` with ``metadata`` as the description; returns
    the frozen module.

    The archive is built in memory and written by Python: TorchScript's own file writer
    aborts the whole process when the disk fills up, where Python raises an error that
    becomes "the disk is full" and leaves no partial file."""
    frozen = torch.jit.freeze(compiled.eval())
    buffer = io.BytesIO()
    torch.jit.save(frozen, buffer, _extra_files={TORCHSCRIPT_EXTRA_FILE: json.dumps(metadata)})
    with open(path, "wb") as fh:
        fh.write(buffer.getbuffer())
    return frozen
