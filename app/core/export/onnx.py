"""The ONNX steps of an export: running PyTorch's ONNX exporter, then checking the graph it
wrote (dynamic axes still dynamic, static output sizes named, metadata set, ONNX checker).
:func:`app.core.export.export_to_onnx` runs them in order, with simplification and
verification.

Which ONNX exporter: both of PyTorch's exporters give a correct graph with dynamic batch and
frame axes for TFSWA-UNet. The TorchScript-based one (``dynamo=False``, "trace") is the
default: ONNX Runtime runs its graph faster (medium preset: about 20 % less time per
segment, measured side by side; the dynamo graph leaves more Add and Transpose nodes
unfused, see docs/benchmarks.md), and it exports in seconds where torch.export spends a
minute or more on symbolic shape reasoning over the padding arithmetic. The torch.export-based
one ("dynamo", needs onnxscript) stays available for when the former is retired; what it
needs beyond the other is in :mod:`app.core.export.onnx_dynamo`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Mapping, Optional

import torch
from torch import nn

from ..artifacts import INPUT_NAME, OUTPUT_NAME
from ..jobs import first_line, strip_ansi
from .errors import ExportError

# Per exporter. The dynamo exporter writes GELU as Erf arithmetic below opset 20, which
# ONNX Runtime 1.32 leaves unfused (its medium-preset session ran 20 % slower at opset 18);
# opset 20 has a Gelu operator. The trace exporter's Erf pattern is fused either way.
DEFAULT_OPSETS = {"trace": 17, "dynamo": 20}
DEFAULT_OPSET = DEFAULT_OPSETS["trace"]
ONNX_EXPORTERS = {
    "trace": "TorchScript-based ONNX exporter (dynamo=False)",
    "dynamo": "torch.export-based ONNX exporter (dynamo=True)",
}
OPSET_RANGE = {"trace": (14, 20), "dynamo": (18, 23)}


def check_onnx_choice(exporter: str, opset: Optional[int]) -> int:
    """The opset to export with (``opset``, or the exporter's default) once the exporter is
    known and supports it; :class:`ExportError` otherwise."""
    if exporter not in ONNX_EXPORTERS:
        raise ExportError(f"unknown ONNX exporter '{exporter}'; choose {' or '.join(ONNX_EXPORTERS)}")
    opset = int(opset or DEFAULT_OPSETS[exporter])
    lo, hi = OPSET_RANGE[exporter]
    if not lo <= opset <= hi:
        raise ExportError(f"opset {opset} is outside {lo}..{hi}, what the "
                          f"{ONNX_EXPORTERS[exporter]} supports")
    return opset


def normalize_dynamic_axes(dynamic_axes: Optional[Mapping[str, Mapping[int, str]]]
                           ) -> dict[str, dict[int, str]]:
    """Default: batch and frames dynamic. Accepts the original report's ``input``/``output``
    keys for the tensor names."""
    if dynamic_axes is None:
        return {INPUT_NAME: {0: "batch", 3: "frames"}, OUTPUT_NAME: {0: "batch", 4: "frames"}}
    alias = {"input": INPUT_NAME, "output": OUTPUT_NAME}
    axes = {alias.get(k, k): {int(a): str(n) for a, n in dict(v).items()}
            for k, v in dynamic_axes.items()}
    unknown = set(axes) - {INPUT_NAME, OUTPUT_NAME}
    if unknown:
        raise ExportError(f"dynamic_axes names unknown tensors {sorted(unknown)}; the tensors "
                          f"are '{INPUT_NAME}' and '{OUTPUT_NAME}'")
    if INPUT_NAME in axes and OUTPUT_NAME not in axes:  # the masks follow the input's axes
        axes[OUTPUT_NAME] = {(a + 1 if a > 0 else a): n for a, n in axes[INPUT_NAME].items()}
    return axes


def run_onnx_exporter(model: nn.Module, dummy: torch.Tensor, tmp: Path, axes, opset: int,
                      exporter: str) -> None:
    """Write ``model`` traced on ``dummy`` to ``tmp`` with the chosen exporter."""
    if exporter == "trace":
        torch.onnx.export(model, (dummy,), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True, dynamo=False)
        return
    from .onnx_dynamo import export_with_dynamo

    export_with_dynamo(model, dummy, tmp, axes, opset)


def exporter_failure(exc: Exception, exporter: str, opset: int) -> ExportError:
    """What to tell a person when the exporter raised: the operator it could not convert
    (when its message names one) and what to try instead."""
    text = strip_ansi(str(exc))
    found = (re.search(r"operator '([\w:.]+)'", text) or re.search(r"torch\.ops\.([\w.]+)", text)
             or re.search(r"\b(aten::\w+)", text))
    what = f"operator '{found.group(1)}'" if found else first_line(text)
    other = "dynamo" if exporter == "trace" else "trace"
    lo, hi = OPSET_RANGE[exporter]
    newer = f"a newer opset (up to {hi}), " if opset < hi else ""
    return ExportError(
        f"the {ONNX_EXPORTERS[exporter]} cannot convert the model at opset {opset}: {what}",
        None, f"Try {newer}the other ONNX exporter (--exporter {other}), or export to "
              "TorchScript (--format torchscript), which runs every PyTorch operator.")


def fix_io_and_metadata(proto, out_shape: list[int], axes, metadata: Mapping[str, str],
                        path: Path) -> None:
    """Name the output's static dims, check dynamic axes stayed dynamic, set metadata."""
    import onnx

    graph = proto.graph
    for value, wanted in ((graph.input[0], axes.get(INPUT_NAME, {})),
                          (graph.output[0], axes.get(OUTPUT_NAME, {}))):
        dims = value.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if i in wanted:
                if d.HasField("dim_value"):
                    raise ExportError(
                        f"the exporter fixed axis {i} ('{wanted[i]}') of '{value.name}' to "
                        f"{d.dim_value}; the file would only accept that size", path,
                        "Try the other ONNX exporter, or TorchScript.")
                d.dim_param = wanted[i]
            elif value is graph.output[0] and i < len(out_shape):
                d.dim_value = int(out_shape[i])
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, dict(metadata))


def fill_resize_roi(proto) -> int:
    """Give each Resize without a ``roi`` input an empty constant one (the same meaning: roi
    is only read by tf_crop_and_resize). ONNX Runtime's mobile usability checker counts an
    absent input as a dynamic shape and splits the NNAPI/CoreML partition at every Resize.
    Returns the number of nodes changed."""
    import onnx

    name, changed = "resize_roi_empty", 0
    for node in proto.graph.node:
        if node.op_type == "Resize" and len(node.input) > 1 and not node.input[1]:
            node.input[1] = name
            changed += 1
    if changed and name not in {i.name for i in proto.graph.initializer}:
        proto.graph.initializer.append(onnx.helper.make_tensor(name, onnx.TensorProto.FLOAT,
                                                               [0], []))
    return changed


def check_onnx_file(path: Path) -> None:
    """Run the ONNX checker on the file at ``path``; its complaint becomes an ExportError."""
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the ONNX checker rejects the exported graph: {first_line(str(exc))}",
                          None, "Try another opset or the other ONNX exporter.") from None


def onnx_operator_counts(path_or_proto) -> Counter:
    """Node count per operator type of an ONNX file or loaded model."""
    import onnx

    proto = onnx.load(str(path_or_proto)) if isinstance(path_or_proto, (str, Path)) else path_or_proto
    return Counter(node.op_type for node in proto.graph.node)
