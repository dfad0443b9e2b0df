"""Gradient checkpointing that changes nothing but memory, and measured memory estimates."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from app.core.checkpoint import init_bundle
from app.core.config import AudioConfig, ModelConfig
from app.core.jobs import CancelToken, Cancelled, UserError
from app.core.memory import (
    GiB, GradientCheckpointWrapper, SavedTensorTracker, TrainingConfig, checkpoint_sequential,
    checkpoint_targets, disable_gradient_checkpointing, enable_gradient_checkpointing,
    estimate_memory, estimate_memory_savings, is_checkpointed, load_training_config,
    max_batch_size, measure_activations, parse_batches, plan_memory, profile_activations,
    save_training_config, static_memory)
from app.core.model import build_model
from app.core.model.blocks import Down, ResBlock, Up
from app.core.model.tfswa import TFSWABlock

# A short STFT keeps every forward/backward here in milliseconds.
AUDIO = AudioConfig(n_fft=256, hop_length=64, segment_seconds=0.5)
FLAGS = [(True, True), (True, False), (False, True)]


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def config(tiny_config):
    return ModelConfig.from_dict({**tiny_config.to_dict(), "dropout": 0.2})


def _model(config, seed=0):
    torch.manual_seed(seed)
    return build_model(config, AUDIO).train()


def _step(model, x, seed=7):
    torch.manual_seed(seed)           # same dropout draws for every model
    masks = model(x)
    loss = (masks * x[:, None] - 0.3).abs().mean()
    loss.backward()
    return loss.detach()


# ---------------------------------------------------------------------------- checkpointing


@pytest.mark.parametrize("blocks,attention", FLAGS)
def test_checkpointing_keeps_loss_gradients_and_batchnorm_statistics(config, blocks, attention):
    plain = _model(config)
    wrapped = enable_gradient_checkpointing(plain, blocks, attention)
    assert is_checkpointed(wrapped) and not is_checkpointed(plain)
    x = torch.rand(2, 2, AUDIO.n_bins, 21)
    for _ in range(2):   # the second step starts from updated running statistics
        loss_plain = _step(plain, x)
        loss_wrapped = _step(wrapped, x)
        torch.testing.assert_close(loss_wrapped, loss_plain, rtol=1e-5, atol=0)
    for name, p in plain.named_parameters():
        q = wrapped.get_parameter(_wrapped_name(wrapped, name))
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-8, msg=name)
    # running mean/var and num_batches_tracked: updated once per step, not again by recompute
    ref, got = plain.state_dict(), wrapped.state_dict()
    assert list(got) == list(ref)
    for key in ref:
        if "running" in key or "num_batches" in key:
            torch.testing.assert_close(got[key], ref[key], rtol=1e-6, atol=0, msg=key)
    assert int(got["stem.norm1.num_batches_tracked"]) == 2


def _wrapped_name(model, plain_name):
    """The module path of a parameter once wrappers add their ``module.`` level."""
    parts, module, out = plain_name.split("."), model, []
    for part in parts[:-1]:
        module = getattr(module, part)
        out.append(part)
        while isinstance(module, GradientCheckpointWrapper):
            module = module.module
            out.append("module")
    return ".".join(out + parts[-1:])


def test_plain_checkpoint_would_update_batchnorm_twice(config):
    """The pitfall the wrapper avoids: recomputation runs BatchNorm in train mode again."""
    block = ResBlock(4, 4).train()
    x = torch.rand(2, 4, 8, 8, requires_grad=True)
    checkpoint(block, x, use_reentrant=False).sum().backward()
    assert int(block.norm1.num_batches_tracked) == 2
    block2 = ResBlock(4, 4).train()
    GradientCheckpointWrapper(block2)(x).sum().backward()
    assert int(block2.norm1.num_batches_tracked) == 1


def test_which_modules_are_wrapped(config):
    model = build_model(config, AUDIO)
    blocks = checkpoint_targets(model, True, False)
    assert [type(m) for m in blocks] == [ResBlock] + [Down] * len(model.downs) + [Up] * len(model.ups)
    assert all(isinstance(m, TFSWABlock) for m in checkpoint_targets(model, False, True))
    assert checkpoint_targets(model, False, False) == []
    wrapped = enable_gradient_checkpointing(model)
    n = sum(isinstance(m, GradientCheckpointWrapper) for m in wrapped.modules())
    assert n == 1 + len(model.downs) + len(model.ups) + len(model.blocks)
    again = enable_gradient_checkpointing(wrapped, inplace=True)    # nothing wrapped twice
    assert sum(isinstance(m, GradientCheckpointWrapper) for m in again.modules()) == n
    assert not any(isinstance(m.module, GradientCheckpointWrapper)
                   for m in again.modules() if isinstance(m, GradientCheckpointWrapper))


def test_state_dict_is_unchanged_and_loads_both_ways(config):
    model = _model(config)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped = enable_gradient_checkpointing(model)
    assert model.state_dict().keys() == original.keys()   # inplace=False left it alone
    assert not is_checkpointed(model)
    state = wrapped.state_dict()
    assert list(state) == list(original)
    for key, value in original.items():
        assert torch.equal(state[key], value), key
    # a plain checkpoint loads into the wrapped model and the other way round, strictly
    other = enable_gradient_checkpointing(_model(config, seed=1))
    other.load_state_dict(original, strict=True)
    assert all(torch.equal(other.state_dict()[k], v) for k, v in original.items())
    plain = _model(config, seed=2)
    plain.load_state_dict(wrapped.state_dict(), strict=True)
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in original.items())


@pytest.mark.slow
def test_eval_mode_and_disable_give_the_plain_exportable_network(config, tmp_path):
    model = _model(config).eval()
    wrapped = enable_gradient_checkpointing(model).eval()
    x = torch.rand(1, 2, AUDIO.n_bins, 16)
    with torch.no_grad():
        torch.testing.assert_close(wrapped(x), model(x), rtol=0, atol=0)
    traced = torch.jit.trace(wrapped, x, check_trace=False)       # eval mode: no checkpoint ops
    torch.testing.assert_close(traced(x), model(x), rtol=1e-6, atol=1e-6)
    restored = disable_gradient_checkpointing(wrapped)
    assert restored is wrapped and not is_checkpointed(restored)
    assert type(restored.stem) is ResBlock and type(restored.blocks[0]) is TFSWABlock
    assert list(restored.state_dict()) == list(model.state_dict())
    path = tmp_path / "m.onnx"
    torch.onnx.export(restored, (x,), str(path), input_names=["magnitude"], dynamo=False)
    assert path.stat().st_size > 0


def test_checkpoint_sequential_matches_plain_layers():
    torch.manual_seed(0)
    layers = nn.Sequential(nn.Linear(6, 8), nn.GELU(), nn.Dropout(0.3), nn.Linear(8, 8),
                           nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 2)).train()
    twin = copy.deepcopy(layers)
    x = torch.rand(5, 6)
    torch.manual_seed(3)
    layers(x).square().sum().backward()
    torch.manual_seed(3)
    checkpoint_sequential(twin, 3, x).square().sum().backward()
    for (name, p), q in zip(layers.named_parameters(), twin.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-5, atol=1e-7, msg=name)
    assert int(twin[4].num_batches_tracked) == 1
    torch.testing.assert_close(twin[4].running_mean, layers[4].running_mean)


# ---------------------------------------------------------------------------- measuring


def test_tracker_counts_a_storage_once_and_never_parameters():
    w = nn.Parameter(torch.rand(64, 64))
    x = torch.rand(32, 64, requires_grad=True)
    tracker = SavedTensorTracker(exclude=[w])
    with tracker:
        h = x @ w                               # saves x (and w: a parameter, skipped)
        y = (h.view(2, 16, 64) * h.view(2, 16, 64)).sum()   # saves two views of h
        tracker.mark_forward_end()
        assert tracker.live == x.numel() * 4 + h.numel() * 4
        y.backward()
    assert tracker.peak == x.numel() * 4 + h.numel() * 4 == tracker.forward_bytes
    del h, y
    assert tracker.live == 0                    # everything released after backward


def test_checkpointing_shrinks_activations_and_its_recomputation_is_counted(config):
    model = _model(config)
    base = measure_activations(model, AUDIO, 2, 32)
    with_backward = measure_activations(model, AUDIO, 2, 32, backward=True)
    assert base.peak_bytes == base.forward_bytes == with_backward.peak_bytes   # shortcut is exact
    ckpt = measure_activations(enable_gradient_checkpointing(model), AUDIO, 2, 32)
    assert ckpt.recomputed_bytes > 0
    wrappers = len(checkpoint_targets(model))
    assert len(ckpt.phase_bytes) == 1 + wrappers            # forward end + each recomputation
    assert ckpt.peak_bytes == max(ckpt.phase_bytes) and ckpt.phase_bytes[0] == ckpt.forward_bytes
    assert ckpt.forward_bytes < ckpt.peak_bytes < base.peak_bytes
    assert ckpt.peak_bytes < 0.8 * base.peak_bytes


def test_measuring_leaves_the_model_as_it_was(config):
    model = _model(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    measure_activations(enable_gradient_checkpointing(model, inplace=True), AUDIO, 1, 16)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_fp16_is_measured_as_bf16_on_cpu_with_the_same_bytes(config):
    model = _model(config)
    bf16 = measure_activations(model, AUDIO, 1, 16, "bf16")
    fp16 = measure_activations(model, AUDIO, 1, 16, "fp16")
    fp32 = measure_activations(model, AUDIO, 1, 16, "fp32")
    assert bf16.peak_bytes == fp16.peak_bytes < fp32.peak_bytes


@pytest.mark.parametrize("precision,checkpointing", [("fp32", False), ("fp32", True),
                                                     ("bf16", True)])
@pytest.mark.slow
def test_fit_extrapolates_to_a_direct_measurement(tiny_config, precision, checkpointing):
    """Measured at <= 2 x 36 frames, predicted at 3 x 259 frames, checked directly."""
    bundle = init_bundle("small", audio=AUDIO, **{
        k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")})
    seconds = 258 * AUDIO.hop_length / AUDIO.sample_rate
    profile = profile_activations(bundle, precision, checkpointing)
    assert profile.fit_error < 1e-6                      # the 7th point is predicted too
    assert max(s.frames for s in profile.samples) < 64
    fitted = estimate_memory(bundle, 3, seconds, precision, checkpointing=checkpointing,
                             profile=profile)
    direct = estimate_memory(bundle, 3, seconds, precision, checkpointing=checkpointing,
                             direct=True)
    assert fitted.method == "fit" and direct.method == "measured"
    assert fitted.frames == direct.frames == 259
    assert abs(fitted.activations / direct.activations - 1) < 0.10
    assert abs(fitted.total / direct.total - 1) < 0.10


# ---------------------------------------------------------------------------- estimates


def test_estimate_breakdown_counts_optimizer_state(config):
    model = _model(config)
    n = sum(p.numel() for p in model.parameters())
    profile = profile_activations(model, audio=AUDIO)
    est = {o: estimate_memory(model, 2, 0.5, optimizer=o, audio=AUDIO, profile=profile)
           for o in ("adam", "sgd", "none")}
    a = est["adam"]
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    assert a.parameters == 4 * n + buffers and a.gradients == 4 * n
    assert (a.optimizer_state, est["sgd"].optimizer_state, est["none"].optimizer_state) == \
        (8 * n, 4 * n, 0)
    assert a.total == a.parameters + a.gradients + a.optimizer_state + a.activations
    assert a.activations == est["none"].activations > 0
    with pytest.raises(UserError, match="optimizer"):
        static_memory(model, "lion")
    with pytest.raises(UserError, match="precision"):
        estimate_memory(model, 1, precision="int8", audio=AUDIO)


def test_savings_and_mixed_precision(config):
    savings = estimate_memory_savings(_model(config), 4, 0.5, audio=AUDIO)
    assert savings.checkpointed.checkpointing and not savings.baseline.checkpointing
    assert 0 < savings.activation_reduction < 1
    assert savings.activation_bytes_saved == \
        savings.baseline.activations - savings.checkpointed.activations
    assert savings.checkpointed.total < savings.baseline.total
    mixed = estimate_memory(_model(config), 4, 0.5, "bf16", audio=AUDIO)
    assert mixed.activations < savings.baseline.activations


def test_max_batch_size_is_the_largest_that_fits(config):
    model = _model(config)
    profile = profile_activations(model, audio=AUDIO)
    budget = 0.05
    best = max_batch_size(budget, model, 0.5, audio=AUDIO, profile=profile)
    assert best >= 1
    fits = estimate_memory(model, best, 0.5, audio=AUDIO, profile=profile)
    over = estimate_memory(model, best + 1, 0.5, audio=AUDIO, profile=profile)
    assert fits.total <= budget * GiB < over.total
    assert max_batch_size(2 * budget, model, 0.5, audio=AUDIO, profile=profile) > best
    assert max_batch_size(1e-6, model, 0.5, audio=AUDIO, profile=profile) == 0


@pytest.mark.slow
def test_plan_reports_each_mode_as_it_is_ready_and_cancels(config):
    seen = []
    plan = plan_memory(_model(config), [1, 2, 8], 0.5, "bf16", "adam", 0.5, audio=AUDIO,
                       on_mode=lambda r: seen.append(r.mode))
    assert seen == ["baseline", "checkpointing", "mixed", "both"]
    assert [len(m.estimates) for m in plan.modes] == [3] * 4
    assert [m.max_batch == m.max_batch_for(0.5) >= 8 for m in plan.modes] == [True] * 4
    base, ckpt, both = plan.mode("baseline"), plan.mode("checkpointing"), plan.mode("both")
    assert base.total(8) == base.estimates[2].total
    budget = base.total(8) / GiB                       # exactly batch 8 fits the baseline
    assert base.max_batch_for(budget) == 8
    assert both.max_batch_for(budget) > ckpt.max_batch_for(budget) > 8
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        plan_memory(_model(config), [1], 0.5, audio=AUDIO, cancel=token)


def test_parse_batches():
    assert parse_batches("1,2,4,8,16") == [1, 2, 4, 8, 16]
    assert parse_batches("1-16") == [1, 2, 4, 8, 16]
    assert parse_batches("3-12") == [3, 4, 8, 12]
    assert parse_batches("2:8:2, 1") == [1, 2, 4, 6, 8]
    for bad in ("", "a,b", "0,1", "4-x"):
        with pytest.raises(UserError):
            parse_batches(bad)


# ---------------------------------------------------------------------------- training config


def test_training_config_round_trip_and_the_trainer_reads_it(tmp_path):
    config = TrainingConfig(True, False, 12, "bf16", 3)
    path = save_training_config(config, tmp_path)
    assert path.name == "training-config.json"
    data = json.loads(path.read_text())
    assert data == {"gradient_checkpointing": True, "checkpoint_attention": False,
                    "batch_size": 12, "precision": "bf16", "segment_seconds": 3.0,
                    "sample_rate": 44100, "n_fft": 2048, "hop_length": 512, "subbands": 4}
    assert load_training_config(path) == config
    with pytest.raises(UserError, match="already exists"):
        save_training_config(config, path)
    save_training_config(TrainingConfig(True, True, 2, "bf16", 1.5), path, overwrite=True)
    assert load_training_config(path).batch_size == 2
    from app.core.training.trainer import TrainOptions, apply_training_config

    options = TrainOptions(data=tmp_path, out=tmp_path / "run")   # the trainer applies it
    apply_training_config(options, load_training_config(path), explicit={"precision"})
    assert (options.batch_size, options.gradient_checkpointing, options.segment_seconds,
            options.precision) == (2, True, 1.5, "fp32")      # the command line's precision won


@pytest.mark.parametrize("text,problem", [
    ("{", "not valid JSON"),
    ("[1]", "JSON object"),
    ('{"batch_size": 4}', "missing"),
    ('{"gradient_checkpointing": true, "checkpoint_attention": true, "batch_size": 0, '
     '"precision": "fp32", "segment_seconds": 3}', "batch_size must be >= 1"),
    ('{"gradient_checkpointing": 1, "checkpoint_attention": true, "batch_size": 2, '
     '"precision": "fp32", "segment_seconds": 3}', "must be a bool"),
    ('{"gradient_checkpointing": true, "checkpoint_attention": true, "batch_size": 2, '
     '"precision": "int4", "segment_seconds": 3, "x": 1}', "unknown x"),
])
def test_bad_training_configs_are_refused_by_name(tmp_path, text, problem):
    path = tmp_path / "training-config.json"
    path.write_text(text)
    with pytest.raises(UserError, match=problem) as err:
        load_training_config(path)
    assert "training-config.json" in str(err.value)
