"""A summary of a model bundle: what ``tfswa-studio info`` prints and the Model tab shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from .checkpoint import ModelBundle
from .config import AudioConfig, ModelConfig
from .files import format_bytes


@dataclass
class StageInfo:
    name: str
    kind: str
    parameters: int
    output_shape: list[int]


@dataclass
class ModelInfo:
    name: str
    path: Optional[Path]
    preset: str
    parameters: int
    size_bytes: Optional[int]
    model_config: dict[str, Any]
    audio_config: dict[str, Any]
    sources: list[str]
    input_shape: list[int]
    output_shape: list[int]
    stages: list[StageInfo] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def stage_table(model, input_shape: tuple[int, ...]) -> tuple[list[StageInfo], list[int]]:
    """Run one forward pass on zeros of ``input_shape``, recording each stage's output."""
    import torch     # here, not at the top: the Model tab imports this module without torch

    shapes: dict[str, list[int]] = {}
    hooks = []
    for name, module in model.stages():
        def hook(_mod, _inp, out, name=name):
            shapes[name] = list(out.shape)
        hooks.append(module.register_forward_hook(hook))
    try:
        with torch.inference_mode():
            out = model(torch.zeros(input_shape))
    finally:
        for h in hooks:
            h.remove()
    rows = [StageInfo(name, type(module).__name__,
                      sum(p.numel() for p in module.parameters()), shapes.get(name, []))
            for name, module in model.stages()]
    return rows, list(out.shape)


def model_info(bundle: ModelBundle) -> ModelInfo:
    model = bundle.build()
    audio: AudioConfig = bundle.audio
    config: ModelConfig = bundle.model_config
    input_shape = (1, audio.channels, audio.n_bins, audio.segment_frames)
    stages, out_shape = stage_table(model, input_shape)
    size = bundle.path.stat().st_size if bundle.path and bundle.path.exists() else None
    return ModelInfo(
        name=bundle.name, path=bundle.path, preset=config.preset,
        parameters=sum(p.numel() for p in model.parameters()), size_bytes=size,
        model_config=config.to_dict(), audio_config=audio.to_dict(),
        sources=list(audio.sources), input_shape=list(input_shape), output_shape=out_shape,
        stages=stages, metadata=dict(bundle.metadata),
    )


def format_value(value: Any, max_items: int = 4) -> str:
    """One metadata value for a person: yes/no, 4 significant digits, short lists."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(format_value(v) for v in value[:max_items])
        more = len(value) - max_items
        return f"{shown}, … ({len(value)} in all)" if more > 0 else shown
    return str(value)


def metadata_entries(metadata: dict[str, Any],
                     path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """A bundle's metadata as ``(key path, readable value)`` leaves in sorted order: nested
    dicts become longer paths, values are formatted by :func:`format_value`."""
    entries: list[tuple[tuple[str, ...], str]] = []
    for key in sorted(metadata, key=str):
        value, key_path = metadata[key], path + (str(key),)
        if isinstance(value, dict) and value:
            entries.extend(metadata_entries(value, key_path))
        else:
            entries.append((key_path, format_value(value)))
    return entries


def metadata_rows(metadata: dict[str, Any]) -> list[tuple[str, str]]:
    """The same leaves with dotted keys ("evaluation.median_sdr_db.model.vocals"), for
    plain text."""
    return [(".".join(key_path), value) for key_path, value in metadata_entries(metadata)]


def human_bytes(n: Optional[int]) -> str:
    """A file or memory size in binary units (KiB, MiB, GiB), the app's one unit system."""
    return format_bytes(n)


def human_count(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.2f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} k"
    return str(n)
