"""Overlap-add separation: seamless, exact with an identity model, streamed, safe on disk."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.audio import io as audio
from app.core.backends.registry import FunctionBackend, identity_backend
from app.core.backends.pytorch import TorchBackend
from app.core.checkpoint import init_bundle
from app.core.config import AudioConfig
from app.core.jobs import CancelToken, Cancelled, UserError
from app.core.separation.separate import (OverlapAdd, SeparationOptions, crossfade_weight,
                                          separate_array, separate_file)

AUDIO = AudioConfig(segment_seconds=1.0)
SEG = AUDIO.segment_samples


def error_db(estimate, reference):
    return 10 * np.log10(np.sum((estimate - reference) ** 2) / np.sum(reference ** 2) + 1e-30)


@pytest.mark.parametrize("length", [1000, SEG - 1, SEG, SEG + 1, 7 * SEG + 1234])
@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5])
def test_identity_model_reproduces_the_input(rng, length, overlap):
    x = rng.uniform(-0.5, 0.5, (2, length)).astype(np.float32)
    stems = separate_array(x, identity_backend(AUDIO), SeparationOptions(overlap=overlap))
    assert stems.shape == (2, 2, length)
    for stem in stems:
        assert error_db(stem, x) < -80


def test_no_seams_with_a_model_that_varies_by_segment(rng):
    """A model whose gain changes from call to call still gives a continuous output: the
    crossfade blends neighbouring segments instead of jumping at their borders."""
    calls = {"n": 0}

    def varying(mag):
        calls["n"] += 1
        gain = 0.5 + 0.4 * (-1) ** calls["n"]
        return np.full((mag.shape[0], 2) + mag.shape[1:], gain, dtype=np.float32)

    t = np.arange(6 * SEG) / AUDIO.sample_rate
    x = np.stack([np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32)
    stems = separate_array(x, FunctionBackend(varying, AUDIO), SeparationOptions(overlap=0.25))
    ratio = stems[0, 0, 2000:-2000] / np.where(np.abs(x[0, 2000:-2000]) > 0.2, x[0, 2000:-2000], np.nan)
    steps = np.abs(np.diff(ratio[~np.isnan(ratio)]))
    # gains alternate between 0.1 and 0.9; a hard cut would jump by 0.8 between samples
    assert np.nanmax(steps) < 0.01


def test_exact_sum_makes_stems_add_up_to_the_mixture(rng):
    half = FunctionBackend(lambda m: np.full((m.shape[0], 2) + m.shape[1:], 0.3, np.float32), AUDIO)
    x = rng.uniform(-0.5, 0.5, (2, 3 * SEG + 77)).astype(np.float32)
    plain = separate_array(x, half, SeparationOptions())
    assert error_db(plain.sum(axis=0), x) > -20        # masks of 0.3 + 0.3 do not add up
    exact = separate_array(x, half, SeparationOptions(exact_sum=True))
    np.testing.assert_allclose(exact.sum(axis=0), x, atol=1e-6)
    np.testing.assert_allclose(exact[0], plain[0], atol=1e-6)  # only the last stem changes


def test_crossfade_weights_are_positive_and_symmetric():
    w = crossfade_weight(100, 25)
    assert w.min() > 0 and w.max() == 1.0
    np.testing.assert_allclose(w, w[::-1])
    assert np.all(crossfade_weight(10, 0) == 1.0)


def test_segment_count_matches_what_is_processed(rng):
    engine = OverlapAdd(identity_backend(AUDIO), SeparationOptions(overlap=0.25))
    n = 5 * SEG + 10
    x = rng.uniform(-0.1, 0.1, (2, n)).astype(np.float32)
    out = [s for _, s in engine.feed(x)] + [s for _, s in engine.finish()]
    assert sum(s.shape[2] for s in out) == n
    hop = SEG - int(round(0.25 * SEG))            # consecutive segments start a hop apart
    assert engine.segments_done == 1 + -(-(n - SEG) // hop)


def test_options_are_validated():
    with pytest.raises(UserError, match="overlap"):
        SeparationOptions(overlap=1.0).validate()
    with pytest.raises(UserError, match="segment"):
        SeparationOptions(segment=0.0).validate()


# ------------------------------------------------------------------ files

@pytest.fixture
def song(tmp_path, rng):
    x = rng.uniform(-0.4, 0.4, (2, int(2.5 * 44100))).astype(np.float32)
    return audio.write(tmp_path / "song.wav", x, 44100, subtype="float"), x


@pytest.fixture
def tiny_backend(tiny_config):
    b = init_bundle("small", **{k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")},
                    audio=AUDIO)
    return TorchBackend(b.build(), b.audio)


def complementary_backend(audio):
    """Masks that change with every bin and frame (so each segment is different) and add up to
    one: with the default options, stems add up to the mixture only if the overlap-add weights
    are right everywhere (segment borders, the padded last segment)."""
    def masks(mag):
        first = mag / (mag + np.median(mag) + 1e-6)
        return np.stack([first, 1.0 - first], axis=1).astype(np.float32)
    return FunctionBackend(masks, audio)


def test_separate_file_writes_every_stem_and_they_sum_to_the_input(tmp_path, song):
    path, x = song
    backend = complementary_backend(AUDIO)
    result = separate_file(path, backend, tmp_path / "out", subtype="float")
    assert set(result.outputs) == {"vocals", "accompaniment"}
    assert result.outputs["vocals"] == tmp_path / "out" / "song" / "vocals.wav"
    stems = [audio.load(p)[0] for p in result.outputs.values()]
    assert all(s.shape == x.shape for s in stems)
    assert error_db(stems[0], x) > -20                 # each stem is a real part, not the mix
    # the default options: no residual trick, the sum is what the overlap-add produced
    assert error_db(stems[0] + stems[1], x) < -100
    assert result.duration_s == pytest.approx(2.5, abs=1e-3) and result.speed > 0


def test_the_streamed_file_result_equals_the_in_memory_result(tmp_path, song, tiny_backend):
    path, x = song
    result = separate_file(path, tiny_backend, tmp_path / "out", subtype="float")
    in_memory = separate_array(x, tiny_backend)
    for stem, name in zip(in_memory, result.outputs):
        np.testing.assert_allclose(audio.load(result.outputs[name])[0], stem, atol=1e-5)


def test_separate_file_reports_progress_to_the_end(tmp_path, song, tiny_backend):
    path, _ = song
    seen = []
    separate_file(path, tiny_backend, tmp_path / "out", progress=lambda f, m: seen.append(f))
    assert seen[-1] == 1.0 and all(b >= a for a, b in zip(seen, seen[1:]))


def test_a_48k_song_gives_48k_stems_of_its_length_or_model_rate_on_request(tmp_path, tiny_backend):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (2, 48000 + 17)).astype(np.float32)
    path = audio.write(tmp_path / "48k.flac", x, 48000)
    result = separate_file(path, tiny_backend, tmp_path / "out", fmt="flac")
    info = audio.probe(result.outputs["vocals"])
    assert (info.sample_rate, info.frames, info.format) == (48000, 48000 + 17, "FLAC")
    assert result.sample_rate == 48000
    model_rate = separate_file(path, tiny_backend, tmp_path / "model-rate", fmt="flac",
                               output_rate="model")
    info = audio.probe(model_rate.outputs["vocals"])
    assert info.sample_rate == 44100 and abs(info.frames - (48000 + 17) * 44100 / 48000) <= 2
    with pytest.raises(UserError, match="output rate"):
        separate_file(path, tiny_backend, tmp_path / "x", output_rate="96k")


def test_stems_back_at_the_input_rate_still_match_the_input(tmp_path):
    """Identity masks on a 48 kHz song: resampled to the model's rate and back, each stem
    is the input within -60 dB (band-limited content, soxr HQ both ways)."""
    t = np.arange(3 * 48000) / 48000
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 5000 * t),
                  0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    path = audio.write(tmp_path / "48k.wav", x, 48000, subtype="float")
    result = separate_file(path, identity_backend(AUDIO), tmp_path / "out", subtype="float")
    stem, rate = audio.load(result.outputs["vocals"])
    assert rate == 48000 and stem.shape == x.shape
    core = slice(2000, -2000)                   # away from the resamplers' edge transients
    assert error_db(stem[:, core], x[:, core]) < -60


def test_never_overwrites_existing_stems(tmp_path, song, tiny_backend):
    path, _ = song
    first = separate_file(path, tiny_backend, tmp_path / "out")
    stamp = first.outputs["vocals"].read_bytes()
    with pytest.raises(UserError, match="already exists"):
        separate_file(path, tiny_backend, tmp_path / "out")
    assert first.outputs["vocals"].read_bytes() == stamp
    separate_file(path, tiny_backend, tmp_path / "out", overwrite=True)


@pytest.mark.parametrize("stop", ["cancel", "interrupt"])
def test_stopping_mid_run_leaves_no_file(tmp_path, song, stop):
    path, _ = song
    calls = {"n": 0}
    token = CancelToken()

    def slow_identity(mag):
        calls["n"] += 1
        if calls["n"] == 2:
            if stop == "cancel":
                token.cancel()
            else:
                raise KeyboardInterrupt
        return np.ones((mag.shape[0], 2) + mag.shape[1:], np.float32)

    backend = FunctionBackend(slow_identity, AUDIO)
    expected = Cancelled if stop == "cancel" else KeyboardInterrupt
    with pytest.raises(expected):
        separate_file(path, backend, tmp_path / "out", cancel=token)
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert leftovers == []


def test_corrupt_audio_names_the_file(tmp_path, tiny_backend):
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    with pytest.raises(UserError, match="broken.mp3.*cannot be read as audio"):
        separate_file(bad, tiny_backend, tmp_path / "out")
    assert not (tmp_path / "out").exists()         # refused before any folder is made


def test_torch_backend_folds_batch_norms_without_changing_the_masks(tiny_config):
    """The backend folds batch norms into convolutions for speed: with trained-looking
    statistics the masks are those of the unfolded network."""
    import copy

    import torch

    from app.core.checkpoint import init_bundle

    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    bundle = init_bundle("small", **sizes)
    model = bundle.build().eval()
    gen = torch.Generator().manual_seed(0)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen))
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=gen))
            module.bias.data.copy_(torch.randn(n, generator=gen))
    reference = copy.deepcopy(model)
    backend = TorchBackend(model, bundle.audio)
    def norms(m):
        return sum(isinstance(x, torch.nn.BatchNorm2d) for x in m.modules())

    assert norms(backend.model) < norms(reference)                 # some were folded
    mag = np.random.default_rng(0).random((2, 2, 1025, 40), dtype=np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(mag)).numpy()
    np.testing.assert_allclose(backend.run(mag), expected, atol=2e-5)
