"""Validation during training: the median over the validation tracks of each source's
utterance SDR, with the model run in float32 as it is used after training."""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

from ..config import AudioConfig
from ..evaluation.metrics import median, sdr
from ..jobs import CancelToken
from ..model.waveform import separate_waveforms
from .data import ValidationSegments


def validation_sdr(model: torch.nn.Module, validation: ValidationSegments, audio: AudioConfig,
                   sources: Sequence[str], device: torch.device, channels_last: bool,
                   cancel: Optional[CancelToken] = None) -> dict[str, float]:
    """``{source: median SDR in dB}``; the model is back in training mode afterwards."""
    model.eval()
    per_source: dict[str, list[float]] = {s: [] for s in sources}
    try:
        with torch.inference_mode():
            for i in range(len(validation)):
                if cancel is not None:
                    cancel.check()
                mixture, truth = validation.track(i)          # (W,2,L), (W,S,2,L)
                est = separate_waveforms(model, torch.from_numpy(mixture).to(device), audio,
                                         "fp32", channels_last)
                # one utterance per track: the windows side by side
                ref = np.moveaxis(truth, 0, 1).reshape(truth.shape[1], -1, truth.shape[-1])
                got = np.moveaxis(est.cpu().numpy(), 0, 1).reshape(ref.shape)
                for name, value in zip(sources, sdr(ref, got)):
                    per_source[name].append(float(value))
    finally:
        model.train()
    return {name: median(values) for name, values in per_source.items()}
