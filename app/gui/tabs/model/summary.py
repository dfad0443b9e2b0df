"""The text the Model tab shows for a model: shapes, the architecture in one line and the
summary rows grouped as shown. Plain functions over :class:`app.core.info.ModelInfo`; no
widgets here."""

from __future__ import annotations

from typing import Any

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
