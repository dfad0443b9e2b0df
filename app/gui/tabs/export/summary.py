"""The text the Export tab shows for an export: the result's details as (label, text) rows
(file, format and exporter, size, graph, most used operators, folded batch norms, dynamic axes,
time per stage, runtime used to verify, warnings), an SNR in words and plain text made safe for a
rich-text label. Plain functions over :class:`app.core.export.ExportResult`; no widgets here.
"""

from __future__ import annotations

from ....core.export import ONNX_EXPORTERS, ExportResult
from ....core.info import human_bytes


def format_snr(value: float) -> str:
    return "∞ dB (identical)" if value == float("inf") else f"{value:.1f} dB"


def html_escape(text: str) -> str:
    import html

    return html.escape(text).replace("\n", "<br>")


def result_rows(result: ExportResult) -> list[tuple[str, str]]:
    """The result's details as (label, text) rows."""
    if result.format == "onnx":
        how = f"ONNX opset {result.opset}, {ONNX_EXPORTERS[result.method]}" + \
              (", simplified by onnxslim" if result.simplified else "")
    else:
        how = f"TorchScript, torch.jit.{result.method}, frozen"
    axes = ", ".join(sorted({n for a in result.dynamic_axes.values() for n in a.values()}))
    rows = [
        ("File", str(result.path)),
        ("Format", how),
        ("Size", human_bytes(result.file_size)),
        ("Graph", f"{result.nodes:,} nodes, {len(result.operators)} operator types"),
        ("Most used", ", ".join(f"{k} {v}" for k, v in result.top_operators())),
        ("Folded", f"{len(result.folded_batchnorms)} batch norms into convolutions"),
        ("Dynamic axes", axes or "none: one input shape, "
         + " x ".join(str(n) for n in result.input_shape)),
        ("Export time", result.time_text()),
    ]
    if result.verification is not None:
        rows.append(("Verified with", result.verification.runtime))
    rows += [("Warning", w) for w in result.warnings]
    return rows
