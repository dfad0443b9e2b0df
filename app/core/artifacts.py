"""What an exported or quantized file says about itself.

Every artifact carries the same description as string key/value pairs: ONNX metadata
properties, or one JSON file among a TorchScript archive's extra files. The audio config is
what separation needs; the rest (model config, preset, sources, precision, producer) lets the
file be benchmarked and shown without the original checkpoint. Torch-free, so the ONNX path
and the quantizer can use it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Optional

from .config import AudioConfig, ModelConfig
from .jobs import UserError

PRODUCER = "TFSWA Studio"
AUDIO_KEY = "audio_config"
MODEL_KEY = "model_config"
# The names of an exported network's input (magnitudes) and output (masks).
INPUT_NAME = "magnitude"
OUTPUT_NAME = "masks"
# The TorchScript extra file that holds the same key/value pairs as ONNX metadata.
TORCHSCRIPT_EXTRA_FILE = "tfswa_studio.json"


def artifact_metadata(audio: AudioConfig, model_config: Optional[ModelConfig] = None,
                      precision: str = "fp32", **extra: Any) -> dict[str, str]:
    """The string key/value description of an artifact (all values are strings)."""
    from .. import __version__

    meta = {
        "producer": PRODUCER,
        "producer_version": __version__,
        AUDIO_KEY: json.dumps(audio.to_dict(), sort_keys=True),
        "sources": ",".join(audio.sources),
        "precision": precision,
    }
    if model_config is not None:
        meta[MODEL_KEY] = json.dumps(model_config.to_dict(), sort_keys=True)
        meta["preset"] = model_config.preset
    for key, value in extra.items():
        if value is not None:
            meta[key] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return meta


def fixed_shape_from(meta: Mapping[str, str]) -> Optional[tuple[int, ...]]:
    """The one input shape a fixed-shape export takes (``export --fixed``: its metadata
    ``fixed_shape``, e.g. ``1x2x1025x259``), or None for a file that takes any batch and length."""
    raw = meta.get("fixed_shape", "")
    try:
        shape = tuple(int(n) for n in raw.split("x")) if raw else ()
    except ValueError:
        return None
    return shape if len(shape) == 4 and all(0 < n <= 1 << 20 for n in shape) else None


def audio_config_from(meta: Mapping[str, str], path: Path | str) -> AudioConfig:
    """The audio config stored in an artifact's metadata; :class:`UserError` if absent.

    A fixed-shape export runs on one segment length only: its segment is that length (what
    separation, calibration and checks then cut), whatever the model was trained on."""
    audio = _stored_audio_config(meta, path)
    fixed = fixed_shape_from(meta)
    if fixed is not None and fixed[3] != audio.segment_frames and fixed[3] > 1:
        try:
            audio = dataclasses.replace(audio, segment_seconds=audio.seconds_for(fixed[3]))
        except UserError as exc:       # a fixed length no segment may have
            raise UserError(f"has a fixed input of {fixed[3]} frames: {exc.message}",
                            path) from None
    return audio


def _stored_audio_config(meta: Mapping[str, str], path: Path | str) -> AudioConfig:
    raw = meta.get(AUDIO_KEY)
    if raw is None:
        raise UserError("carries no TFSWA Studio audio config (sample rate, STFT, sources)",
                        path, "Export the model with TFSWA Studio (Export tab, or "
                              "'tfswa-studio export'), which records it in the file.")
    try:
        return AudioConfig.from_dict(json.loads(raw))
    except ValueError as exc:
        raise UserError(f"has a malformed audio config in its metadata ({exc})", path) from None
    except UserError as exc:
        raise UserError(exc.message, path) from None
