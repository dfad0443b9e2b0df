"""A full disk, for every writer: stems (WAV, FLAC), exports (ONNX, TorchScript), checkpoints
(init, training), saved copies. Each ends in "the disk is full", leaves no partial file and
keeps the process alive.

As root the tests mount a small tmpfs and let the real writers fail on it (the space check
before writing is switched off for that, so the writers' own failures are what is tested),
and separately check that the space check refuses first. Without root the full disk is
simulated: free space reported as none, or the write raising ENOSPC.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.core import files
from app.core.checkpoint import init_bundle, save_bundle
from app.core.config import AudioConfig
from app.core.jobs import UserError

pytestmark = pytest.mark.usefixtures("torch_one_thread")

AUDIO = AudioConfig(segment_seconds=1.0)


def everything_in(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).rglob("*"))


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(kib)``: a folder on a tmpfs of that size (root only, else skipped)."""
    mounted: list[Path] = []

    def make(kib: int) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small file system needs root; the simulated tests cover it")
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs",
                               str(folder)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()})")
        mounted.append(folder)
        return folder

    yield make
    for folder in mounted:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def no_space_check(monkeypatch):
    """Switch off the check before writing, so that the writer itself meets the full disk."""
    import app.core.checkpoint as checkpoint
    import app.core.export.pipeline as pipeline
    import app.core.separation.separate as separate

    for module in (checkpoint, pipeline, separate, files):
        monkeypatch.setattr(module, "check_free_space", lambda *a, **k: None)


@pytest.fixture
def tiny_bundle(tiny_config):
    sizes = {k: getattr(tiny_config, k) for k in ("channels", "dim", "blocks", "heads", "window")}
    return init_bundle("small", audio=AUDIO, **sizes)


@pytest.fixture
def song(tmp_path):
    x = np.random.default_rng(0).uniform(-0.3, 0.3, (3 * 44100, 2)).astype(np.float32)
    sf.write(str(tmp_path / "song.wav"), x, 44100)
    return tmp_path / "song.wav"


# ----------------------------------------------------------------------------- real tmpfs

@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_checkpoint_writer_on_a_full_disk(small_disk, no_space_check, suffix):
    disk = small_disk(16)
    bundle = init_bundle("small", audio=AUDIO)          # ~4 MiB of weights
    with pytest.raises(UserError, match="the disk is full"):
        save_bundle(bundle, disk / f"m{suffix}")
    assert everything_in(disk) == []


def test_checkpoint_space_is_checked_before_writing(small_disk):
    disk = small_disk(64)
    with pytest.raises(UserError, match=r"disk is full: the checkpoint needs about 3\.\d MiB"):
        save_bundle(init_bundle("small", audio=AUDIO), disk / "m.pt")
    assert everything_in(disk) == []


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_separating_onto_a_full_disk(small_disk, no_space_check, song, fmt):
    from app.core.backends import identity_backend
    from app.core.separation import separate_file

    disk = small_disk(128)
    with pytest.raises(UserError, match="the disk is full"):
        separate_file(song, identity_backend(AUDIO), disk, fmt=fmt)
    assert everything_in(disk) == []         # no stem, no partial, no empty song/ folder


def test_separation_space_is_checked_before_writing(small_disk, song):
    from app.core.backends import identity_backend
    from app.core.separation import separate_file

    disk = small_disk(128)
    with pytest.raises(UserError, match="disk is full: 2 stems need"):
        separate_file(song, identity_backend(AUDIO), disk)
    assert everything_in(disk) == []


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_onto_a_full_disk(small_disk, no_space_check, tiny_bundle, fmt):
    """The TorchScript writer used to abort the process: now the test process survives."""
    from app.core.export import ExportOptions, export_bundle

    disk = small_disk(16)
    bundle = init_bundle("small", audio=AUDIO)
    out = disk / ("m.onnx" if fmt == "onnx" else "m-torchscript.pt")
    with pytest.raises(UserError, match="the disk is full"):
        export_bundle(bundle, out, ExportOptions(format=fmt, verify_frames=(5,)))
    assert everything_in(disk) == []


def test_export_space_is_checked_before_writing(small_disk):
    from app.core.export import ExportOptions, export_bundle

    disk = small_disk(64)
    with pytest.raises(UserError, match="disk is full: the exported model needs"):
        export_bundle(init_bundle("small", audio=AUDIO), disk / "m-torchscript.pt",
                      ExportOptions(format="torchscript", verify_frames=(5,)))
    assert everything_in(disk) == []


def test_saving_copies_onto_a_full_disk(small_disk, no_space_check, tmp_path):
    disk = small_disk(64)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(256 * 1024))
    with pytest.raises(UserError, match="the disk is full"):
        files.copy_files({big: disk / "copy.bin"})
    assert everything_in(disk) == []


def test_saving_copies_checks_space_first(small_disk, tmp_path):
    disk = small_disk(64)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(256 * 1024))
    with pytest.raises(UserError, match="disk is full: the copies need"):
        files.copy_files({big: disk / "copy.bin"})
    assert everything_in(disk) == []


@pytest.mark.slow
def test_training_checkpoints_onto_a_full_disk(small_disk, tmp_path, tiny_config):
    from app.core.training.trainer import TrainOptions, train
    from stemdata import make_dataset

    data = make_dataset(tmp_path / "songs", tracks=2, seconds=1.0, seed=0)
    disk = small_disk(24)
    options = TrainOptions(data=data, out=disk / "run", model_config=tiny_config, batch_size=1,
                           segment_seconds=0.5, epochs=1, steps_per_epoch=2,
                           valid_seconds=0.5, log_every=1, seed=1, threads=1)
    with pytest.raises(UserError, match="the disk is full"):
        train(options)
    assert not [n for n in everything_in(disk) if n.endswith(files.PARTIAL_SUFFIX)]


# ----------------------------------------------------------------------------- simulated

def test_simulated_full_disk_is_refused_before_writing(monkeypatch, tmp_path, song):
    from app.core.backends import identity_backend
    from app.core.separation import separate_file

    monkeypatch.setattr(files, "free_bytes", lambda folder: 1000)
    with pytest.raises(UserError, match="disk is full: the checkpoint"):
        save_bundle(init_bundle("small", audio=AUDIO), tmp_path / "m.pt")
    with pytest.raises(UserError, match="disk is full: 2 stems"):
        separate_file(song, identity_backend(AUDIO), tmp_path / "out")
    assert everything_in(tmp_path) == ["song.wav"]


def test_simulated_enospc_while_writing(monkeypatch, tmp_path, tiny_bundle):
    """A writer raising ENOSPC mid-way: the message says so and the partial file goes."""
    import torch

    def full(obj, f, *a, **k):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(UserError, match="the disk is full"):
        save_bundle(tiny_bundle, tmp_path / "m.pt")
    assert everything_in(tmp_path) == []
