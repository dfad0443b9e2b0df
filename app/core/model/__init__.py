"""TFSWA-UNet (Yao et al., EURASIP J. Adv. Signal Process. 2025:39)."""

from __future__ import annotations

from ..config import PRESETS, AudioConfig, ModelConfig, preset
from .unet import TFSWAUNet


def build_model(config: ModelConfig, audio: AudioConfig) -> TFSWAUNet:
    """The network for a model config and the audio config it runs on."""
    return TFSWAUNet(config, n_sources=len(audio.sources), subbands=audio.subbands,
                     in_channels=audio.channels)


def use_fixed_shapes(model, on: bool = True):
    """Make ``model`` read input sizes as Python integers (``on``) or as traced sizes (the
    default): a trace with fixed shapes has the Swin masks, position bias and padding as
    constants, for an export at one segment length (mobile runtimes). Returns ``model``."""
    for module in model.modules():
        if hasattr(module, "fixed_shapes"):
            module.fixed_shapes = bool(on)
    return model


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["TFSWAUNet", "build_model", "count_parameters", "use_fixed_shapes", "PRESETS", "preset",
           "ModelConfig"]
