"""Model bundles: round trips in both formats, refusal of code, clear errors."""

from __future__ import annotations

import os
import zipfile

import pytest
import torch

from app.core.checkpoint import (CheckpointError, bundle_to_dict, init_bundle,
                                 load_bundle, save_bundle)
from app.core.jobs import UserError


@pytest.fixture
def bundle(tiny_config):
    return init_bundle("small", ["vocals", "drums", "bass", "other"], seed=3,
                       **{k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")})


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".safetensors"])
def test_round_trip_keeps_weights_configs_and_metadata(tmp_path, bundle, suffix):
    bundle.metadata["steps"] = 1234
    path = save_bundle(bundle, tmp_path / f"model{suffix}")
    loaded = load_bundle(path)
    assert loaded.model_config == bundle.model_config
    assert loaded.audio == bundle.audio
    assert loaded.audio.sources == ("vocals", "drums", "bass", "other")
    assert loaded.metadata["steps"] == 1234 and loaded.metadata["seed"] == 3
    assert loaded.state_dict.keys() == bundle.state_dict.keys()
    for k, v in bundle.state_dict.items():
        torch.testing.assert_close(loaded.state_dict[k], v, rtol=0, atol=0)
    x = torch.rand(1, 2, 100, 20)
    with torch.no_grad():
        torch.testing.assert_close(loaded.build()(x), bundle.build()(x))
    # a saved model is an ordinary file of the user's (safetensors alone would make it 0600)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_init_is_deterministic_by_seed():
    a, b, c = init_bundle("small", seed=1), init_bundle("small", seed=1), init_bundle("small", seed=2)
    key = "stem.conv1.weight"
    assert torch.equal(a.state_dict[key], b.state_dict[key])
    assert not torch.equal(a.state_dict[key], c.state_dict[key])


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "tfswa-studio-bundle", "state_dict": {}, "model_config": Exploit()}, path)
    with pytest.raises(CheckpointError) as err:
        load_bundle(path)
    text = str(err.value)
    assert "evil.pt" in text and "refused" in text and "run code" in text and "system" in text
    assert not marker.exists(), "loading executed code from the file"


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello, this is a text file\n" * 5)
    with pytest.raises(CheckpointError, match="notes.pt.*unknown format"):
        load_bundle(path)


def test_other_pickled_objects_are_not_checkpoints(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match="not a TFSWA Studio checkpoint"):
        load_bundle(path)
    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.zeros(3)}, bare)
    with pytest.raises(CheckpointError, match="bare weights"):
        load_bundle(bare)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("keep", [0.01, 0.5, 0.99])
def test_truncated_file(tmp_path, bundle, suffix, keep):
    path = save_bundle(bundle, tmp_path / f"m{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated"):
        load_bundle(path)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_bundle(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_bundle(tmp_path / "nothing.pt")


def test_missing_and_unexpected_keys_are_listed_by_name(tmp_path, bundle):
    raw = bundle_to_dict(bundle)
    del raw["state_dict"]["head.weight"]
    raw["state_dict"]["extra.layer"] = torch.zeros(2)
    torch.save(raw, tmp_path / "keys.pt")
    with pytest.raises(CheckpointError) as err:
        load_bundle(tmp_path / "keys.pt")
    text = str(err.value)
    assert "1 missing (head.weight)" in text and "1 unexpected (extra.layer)" in text


def test_shape_mismatch_is_listed_by_name(tmp_path, bundle):
    raw = bundle_to_dict(bundle)
    raw["state_dict"]["head.bias"] = torch.zeros(5)
    torch.save(raw, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"head\.bias \(file \(5,\), model \(32,\)\)"):
        load_bundle(tmp_path / "shape.pt")


def test_config_that_does_not_match_the_weights(tmp_path):
    small = init_bundle("small")
    raw = bundle_to_dict(small)
    raw["model_config"]["preset"] = "medium"
    raw["model_config"]["dim"] = 256
    torch.save(raw, tmp_path / "liar.pt")
    with pytest.raises(CheckpointError) as err:
        load_bundle(tmp_path / "liar.pt")
    text = str(err.value)
    assert "does not match the weights" in text and "'small' preset" in text


def test_malformed_config_is_reported(tmp_path, bundle):
    raw = bundle_to_dict(bundle)
    raw["audio_config"]["n_fft"] = 1001
    raw["audio_config"]["bogus"] = 1
    torch.save(raw, tmp_path / "cfg.pt")
    with pytest.raises(CheckpointError, match="unknown fields: bogus"):
        load_bundle(tmp_path / "cfg.pt")


def test_safetensors_without_our_metadata(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="without TFSWA Studio metadata"):
        load_bundle(tmp_path / "other.safetensors")


def test_torchscript_file_is_recognised(tmp_path, tiny_config):
    model = init_bundle("small", **{k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}).build()
    traced = torch.jit.trace(model, torch.rand(1, 2, 33, 8), check_trace=False)
    traced.save(str(tmp_path / "ts.pt"))
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_bundle(tmp_path / "ts.pt")


def test_save_never_overwrites_without_permission(tmp_path, bundle):
    path = save_bundle(bundle, tmp_path / "m.pt")
    stamp = path.stat().st_mtime_ns
    with pytest.raises(UserError, match="already exists"):
        save_bundle(bundle, path)
    assert path.stat().st_mtime_ns == stamp
    save_bundle(bundle, path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary leftovers


def test_unknown_suffix_is_refused(tmp_path, bundle):
    with pytest.raises(CheckpointError, match="suffix"):
        save_bundle(bundle, tmp_path / "m.ckpt")


def test_pt_files_are_plain_zip_archives(tmp_path, bundle):
    """The .pt layout is torch.save's zip; tools outside TFSWA Studio can read it."""
    path = save_bundle(bundle, tmp_path / "m.pt")
    assert zipfile.is_zipfile(path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "tfswa-studio-bundle" and raw["audio_config"]["sample_rate"] == 44100



def test_loading_a_checkpoint_does_not_pull_in_torch_dynamo():
    """Integer arithmetic on the meta device (counting a network's size before building it)
    imported torch._dynamo and 300 other modules: 2 s of every checkpoint's loading, and of
    the app's start with the demo model."""
    import subprocess
    import sys

    code = ("import sys, torch; from app.core.checkpoint import load_bundle; "
            "from app.core.resources import demo_model; load_bundle(demo_model()); "
            "print(sorted(m for m in sys.modules if m.startswith('torch._dynamo'))[:3])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
