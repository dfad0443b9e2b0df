"""The text the Model tab shows for a model: shapes, the architecture in one line and the
summary rows grouped as shown. Plain functions over :class:`app.core.info.ModelInfo`; no
widgets here."""

from __future__ import annotations

from typing import Any

from ....core.backends import ArtifactInfo
from ....core.info import ModelInfo, human_bytes, human_count


def shape_text(shape: list[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape else "-"


def config_text(config: dict[str, Any]) -> str:
    channels = "·".join(str(c) for c in config.get("channels", []))
    window = "×".join(str(w) for w in config.get("window", []))
    blocks = config.get("blocks", 0)
    return (f"channels {channels}, dim {config.get('dim')}, {blocks} TFSWA block"
            f"{'s' if blocks != 1 else ''}, {config.get('heads')} heads, window {window}, "
            f"MLP ×{config.get('mlp_ratio')}")


def summary_rows(info: ModelInfo) -> dict[str, list[tuple[str, str]]]:
    """The text of the summary, grouped as shown: {group: [(label, value)]}."""
    audio = info.audio_config
    rate = audio["sample_rate"]
    hop_ms = 1000 * audio["hop_length"] / rate
    frames = info.input_shape[-1]
    return {
        "Model": [
            ("Name", info.name),
            ("File", str(info.path) if info.path else "(not saved)"),
            ("Preset", info.preset),
            ("Parameters", f"{info.parameters:,} ({human_count(info.parameters)})"),
            ("Size on disk", human_bytes(info.size_bytes)),
            ("Architecture", config_text(info.model_config)),
        ],
        "Audio": [
            ("Sources", ", ".join(info.sources)),
            ("Sample rate", f"{rate:,} Hz"),
            ("STFT", f"n_fft {audio['n_fft']}, hop {audio['hop_length']} ({hop_ms:.1f} ms), "
                     f"{audio['window']} window"),
            ("Sub-bands", str(audio["subbands"])),
            ("Segment", f"{audio['segment_seconds']:g} s = {frames} frames"),
            ("Input", shape_text(info.input_shape)),
            ("Output (masks)", shape_text(info.output_shape)),
        ],
    }


def dims_text(shape) -> str:
    """``(batch, 2, 1025, frames)``: named axes are the dynamic ones."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def artifact_rows(info: ArtifactInfo) -> dict[str, list[tuple[str, str]]]:
    """The summary of an exported file, grouped like a checkpoint's."""
    kind = "ONNX" if info.format == "onnx" else "TorchScript"
    opsets = ", ".join(f"{domain or 'ai.onnx'} {version}" for domain, version in info.opsets.items())
    model = [("File", str(info.path)), ("Format", f"{kind} {info.precision.upper()}"),
             ("Size on disk", human_bytes(info.file_size)),
             ("Parameters", f"{info.parameters:,} ({human_count(info.parameters)})"
              if info.parameters else "-"),
             ("Nodes", f"{info.nodes:,}" if info.nodes else "-")]
    config = info.model_config or {}
    if config.get("preset"):
        model.insert(2, ("Preset", str(config["preset"])))
    if isinstance(config.get("channels"), list) and isinstance(config.get("window"), list):
        model.append(("Architecture", config_text(config)))
    if opsets:
        model.append(("Opset", opsets))
    if info.producer:
        model.append(("Producer", info.producer))
    audio = info.audio_config or {}
    rows = [("Sources", ", ".join(info.sources) or "-")]
    if audio:
        rows += [("Sample rate", f"{audio.get('sample_rate', 0):,} Hz"),
                 ("STFT", f"n_fft {audio.get('n_fft')}, hop {audio.get('hop_length')}"),
                 ("Segment", f"{audio.get('segment_seconds', 0):g} s")]
    return {"Model": model, "Audio": rows}


def graph_html(info: ArtifactInfo, top: int = 12) -> str:
    """Inputs and outputs with their dynamic axes, and the most used operators: a small
    Netron-like summary of the graph."""
    def tensors(title, items):
        rows = "".join(f"<tr><td>{t.name}</td><td>{t.dtype}</td><td>{dims_text(t.shape)}</td>"
                       f"<td>{', '.join(f'{i}: {n}' for i, n in t.dynamic_axes.items()) or 'none'}"
                       f"</td></tr>" for t in items)
        return (f"<p><b>{title}</b></p><table cellspacing='0' cellpadding='3'>"
                f"<tr><th align='left'>name</th><th align='left'>type</th>"
                f"<th align='left'>shape</th><th align='left'>dynamic axes</th></tr>{rows}</table>")
    ops = list(info.operators.items())
    shown = ", ".join(f"{op} {count}" for op, count in ops[:top])
    more = f", and {len(ops) - top} more types" if len(ops) > top else ""
    notes = "".join(f"<p>{note}</p>" for note in info.notes)
    operators = f"<p><b>Operators</b> ({info.nodes:,} nodes): {shown}{more}</p>" if ops else ""
    return tensors("Inputs", info.inputs) + tensors("Outputs", info.outputs) + operators + notes
