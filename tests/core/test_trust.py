"""A TorchScript file is a program: it runs only when the user trusts it or this app
exported that very file; a checkpoint name never makes it run."""

from __future__ import annotations

import pytest
from pathlib import Path

import hostile
from app.core.backends import load_backend
from app.core.checkpoint import CheckpointError, init_bundle, load_bundle, save_bundle
from app.core.config import AudioConfig
from app.core.export import ExportOptions, export_bundle
from app.core.jobs import UserError
from app.core.userdata import data_dir, is_app_export

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NAMES = ("model.safetensors", "model.pt", "model-torchscript.pt", "model.ts")


@pytest.mark.parametrize("name", NAMES)
def test_untrusted_torchscript_never_runs_whatever_its_name(tmp_path, name):
    victim = hostile.victim_file(tmp_path)
    path = hostile.hostile_torchscript(tmp_path / name, victim)
    with pytest.raises(UserError, match="TorchScript program, not loaded"):
        backend = load_backend(path)
        backend.run(hostile.np.zeros((1, 2, 1025, 4), hostile.np.float32))
    with pytest.raises(CheckpointError, match="TorchScript program"):
        load_bundle(path)
    assert victim.read_bytes() == hostile.VICTIM_BYTES


def test_trusting_a_torchscript_file_runs_it(tmp_path):
    """The flag is the gate: with it the same file is loaded (and its code runs)."""
    victim = hostile.victim_file(tmp_path)
    path = hostile.hostile_torchscript(tmp_path / "model.pt", victim)
    backend = load_backend(path, trust_torchscript=True)
    backend.run(hostile.np.zeros((1, 2, 1025, 4), hostile.np.float32))
    assert victim.read_bytes() != hostile.VICTIM_BYTES


def test_a_safetensors_name_is_never_run_even_when_trusted(tmp_path):
    victim = hostile.victim_file(tmp_path)
    path = hostile.hostile_torchscript(tmp_path / "model.safetensors", victim)
    with pytest.raises(UserError, match="TorchScript program"):
        load_backend(path, trust_torchscript=True)
    assert victim.read_bytes() == hostile.VICTIM_BYTES


@pytest.mark.slow
def test_this_apps_own_export_loads_and_a_changed_copy_does_not(tmp_path, tiny_config):
    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    bundle = init_bundle("small", audio=AudioConfig(segment_seconds=1.0), **sizes)
    save_bundle(bundle, tmp_path / "m.pt")
    out = tmp_path / "m-torchscript.pt"
    export_bundle(bundle, out, ExportOptions(format="torchscript", verify_frames=(5,)))
    assert Path.home() not in data_dir().parents      # the tests keep their own memory
    assert is_app_export(out)
    assert load_backend(out).kind == "torchscript"
    changed = tmp_path / "changed.pt"
    data = bytearray(out.read_bytes())
    data[-30] ^= 1          # in the zip's trailer comment area: still a readable archive
    changed.write_bytes(bytes(data))
    assert not is_app_export(changed)
    with pytest.raises(UserError, match="TorchScript program"):
        load_backend(changed)
