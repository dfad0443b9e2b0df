"""TFSWA-UNet: shapes, padding, the shifted-window mask, attention axes, sizes, gradients."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from app.core.config import PRESET_TARGETS, PRESETS, AudioConfig, ModelConfig
from app.core.model import build_model, count_parameters
from app.core.model.attention import MASK_VALUE
from app.core.model.tfswa import (SequenceAttention, SwinLayer, relative_position_index,
                                  shifted_window_mask, window_partition, window_reverse)


def make(config: ModelConfig, sources=("vocals", "accompaniment")):
    torch.manual_seed(0)
    return build_model(config, AudioConfig(sources=sources)).eval()


@pytest.mark.parametrize("frames", [1, 2, 7, 37, 64, 259])
@pytest.mark.parametrize("bins", [1, 33, 1025])
def test_any_frames_and_bins_give_masks_of_the_input_shape(tiny_config, frames, bins):
    model = make(tiny_config, ("a", "b", "c"))
    x = torch.rand(2, 2, bins, frames)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 3, 2, bins, frames)
    assert torch.isfinite(y).all()
    assert (y >= 0).all() and (y <= 1).all()


def test_internal_padding_equals_explicit_zero_padding():
    """A clip gives the same masks whether the model pads it or the caller pads it first."""
    model = make(PRESETS["small"])
    x = torch.rand(1, 2, 1025, 259) * 10
    fm, tm = 4 * model.multiple, model.multiple
    pad_f, pad_t = (-1025) % fm, (-259) % tm
    assert pad_f and pad_t  # the test is only meaningful if padding happens
    padded = torch.nn.functional.pad(x, (0, pad_t, 0, pad_f))
    with torch.no_grad():
        y = model(x)
        y_padded = model(padded)[..., :1025, :259]
    torch.testing.assert_close(y, y_padded, rtol=0, atol=1e-6)


def test_batch_items_are_independent(tiny_config):
    model = make(tiny_config)
    x = torch.rand(3, 2, 65, 20)
    with torch.no_grad():
        together = model(x)
        alone = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ shifted-window mask

def brute_force_mask(nf, nt, valid_f, valid_t, window, shift):
    """Reference: after rolling the map by -shift, token pairs of one window may attend iff
    their offset is the same as in the original map along both axes (no wrap between them)
    and the key is a real (unpadded) token."""
    wf, wt = window
    sf, st = shift
    n_windows = (nf // wf) * (nt // wt)
    mask = torch.zeros(n_windows, wf * wt, wf * wt)
    for w, (bf, bt) in enumerate(itertools.product(range(nf // wf), range(nt // wt))):
        tokens = [(bf * wf + i, bt * wt + j) for i in range(wf) for j in range(wt)]
        for a, (fa, ta) in enumerate(tokens):
            for b, (fb, tb) in enumerate(tokens):
                ofa, ota = (fa + sf) % nf, (ta + st) % nt
                ofb, otb = (fb + sf) % nf, (tb + st) % nt
                contiguous = (ofb - ofa == fb - fa) and (otb - ota == tb - ta)
                real_key = ofb < valid_f and otb < valid_t
                mask[w, a, b] = 0.0 if contiguous and real_key else MASK_VALUE
    return mask


@pytest.mark.parametrize("nf,nt,valid_f,valid_t,window,shift", [
    (8, 8, 8, 8, (4, 4), (2, 2)),
    (8, 12, 8, 12, (4, 4), (0, 0)),
    (6, 9, 6, 9, (3, 3), (1, 1)),
    (8, 8, 6, 7, (4, 4), (2, 2)),     # padded map
    (4, 8, 3, 5, (2, 4), (1, 2)),
    (4, 4, 4, 4, (4, 4), (2, 2)),     # a single window: wrapped quarters stay apart
])
def test_shifted_window_mask_matches_brute_force(nf, nt, valid_f, valid_t, window, shift):
    got = shifted_window_mask(nf, nt, valid_f, valid_t, window, shift, torch.device("cpu"))
    torch.testing.assert_close(got, brute_force_mask(nf, nt, valid_f, valid_t, window, shift))


def test_shifted_attention_never_crosses_a_wrapped_boundary():
    """End to end through SwinLayer: a token's output never depends on tokens that are only
    its window-neighbours because of the cyclic shift."""
    torch.manual_seed(0)
    layer = SwinLayer(dim=8, heads=2, window=(4, 4), shifted=True, mlp_ratio=1.0, dropout=0.0).eval()
    nf = nt = 8
    x = torch.randn(1, 8, nf, nt)
    # After the shift, the last window holds original rows 6,7 and the wrapped rows 0,1.
    # Perturb original (f=0, t=3): in the shifted map it sits next to rows 6,7 of the same
    # time column but must not influence them.
    x2 = x.clone()
    x2[0, :, 0, 3] += 5.0 * torch.randn(8)  # not constant: LayerNorm would remove that
    with torch.no_grad():
        d = (layer(x2) - layer(x)).abs().amax(dim=1)[0]     # (f, t)
    assert d[6:8, :].max() < 1e-6, "a wrapped token leaked into the far side of the map"
    assert d[1, 2] > 1e-4 and d[0, 2] > 1e-4, "the perturbation should reach its real neighbours"


def test_window_partition_round_trip():
    x = torch.randn(2, 8, 12, 5)
    w = window_partition(x, 4, 3)
    assert w.shape == (2 * 2 * 4, 12, 5)
    torch.testing.assert_close(window_reverse(w, 4, 3, 2, 8, 12), x)


def test_relative_position_index_is_translation_invariant():
    idx = relative_position_index(3, 4)
    assert idx.shape == (12, 12)
    assert idx.min() == 0 and idx.max() == (2 * 3 - 1) * (2 * 4 - 1) - 1
    # tokens (0,0)->(1,1) and (1,2)->(2,3) have the same offset, hence the same bias entry
    assert idx[0 * 4 + 0, 1 * 4 + 1] == idx[1 * 4 + 2, 2 * 4 + 3]


# ------------------------------------------------------------------ attention axes

@pytest.mark.parametrize("along", ["time", "freq"])
def test_sequence_attention_stays_on_its_axis(along):
    torch.manual_seed(0)
    layer = SequenceAttention(dim=8, heads=2, along=along, mlp_ratio=2.0, dropout=0.0).eval()
    x = torch.randn(1, 8, 6, 7)
    f0, t0 = 2, 4
    x2 = x.clone()
    x2[0, :, f0, t0] += 3.0 * torch.randn(8)  # not constant: LayerNorm would remove that
    with torch.no_grad():
        d = (layer(x2) - layer(x)).abs().amax(dim=1)[0]     # (f, t)
    changed = d > 1e-6
    if along == "time":   # TSA: only the perturbed frequency row changes, all along time
        assert changed[f0].all()
        assert not changed[torch.arange(6) != f0].any()
    else:                 # FSA: only the perturbed frame column changes, all along frequency
        assert changed[:, t0].all()
        assert not changed[:, torch.arange(7) != t0].any()


# ------------------------------------------------------------------ sizes and gradients

@pytest.mark.parametrize("name", ["small", "medium", "large"])
def test_preset_parameter_counts_are_within_10_percent(name):
    n = count_parameters(build_model(PRESETS[name], AudioConfig()))
    target = PRESET_TARGETS[name]
    assert abs(n - target) / target <= 0.10, f"{name}: {n:,} parameters vs target {target:,.0f}"


def test_explicit_sizes_are_accepted():
    cfg = ModelConfig(channels=(8, 16, 32), dim=48, blocks=2, heads=3, window=(2, 4))
    model = make(cfg)
    assert model(torch.rand(1, 2, 100, 30)).shape == (1, 2, 2, 100, 30)
    bigger = make(ModelConfig(channels=(8, 16, 32), dim=48, blocks=3, heads=3, window=(2, 4)))
    assert count_parameters(bigger) > count_parameters(model)


def test_gradients_reach_every_parameter():
    cfg = ModelConfig(channels=(8, 16), dim=16, blocks=1, heads=2, window=(2, 2), dropout=0.1)
    torch.manual_seed(0)
    model = build_model(cfg, AudioConfig()).train()
    x = torch.rand(2, 2, 64, 24)
    out = model(x)
    (out * torch.randn_like(out)).sum().backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not missing, f"no gradient for: {missing}"


def test_trace_accepts_other_batch_and_frame_counts(tiny_config):
    model = make(tiny_config)
    traced = torch.jit.trace(model, torch.rand(1, 2, 65, 40), check_trace=False)
    for shape in [(2, 2, 65, 13), (1, 2, 65, 101)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            torch.testing.assert_close(traced(x), model(x), rtol=1e-5, atol=1e-6)


def test_the_model_splits_sub_bands_like_the_spectral_module(tiny_config):
    from app.core.audio.spectral import to_subbands

    model = make(tiny_config)
    x = torch.rand(2, 2, 64, 9)
    np.testing.assert_array_equal(model.split_subbands(x).numpy(),
                                  to_subbands(x.numpy(), model.subbands))


def test_the_model_can_be_scripted(tiny_config):
    model = make(tiny_config)
    scripted = torch.jit.script(model)
    x = torch.rand(2, 2, 70, 23)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=1e-5, atol=1e-6)
