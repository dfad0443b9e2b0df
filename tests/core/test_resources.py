"""The desktop resources (icon, launcher, metainfo) are found and agree with each other and
with the installed command; the self-test's checks fail on broken stems."""

from __future__ import annotations

import configparser
import shutil
import struct
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from app.core import resources
from app.core.separation import check_stems

ROOT = Path(__file__).resolve().parents[2]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_every_icon_size_is_a_png_of_that_size():
    files = resources.icon_files()
    assert files[0].suffix == ".svg" and files[0].is_file()
    assert sorted(k for k in files if k) == list(resources.ICON_SIZES)
    for size, path in files.items():
        if size:
            assert png_size(path) == (size, size), path


def test_desktop_entry_starts_the_installed_command_with_the_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(resources.desktop_entry())
    fields = entry["Desktop Entry"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert fields["Exec"].split()[0] in scripts
    assert fields["Icon"] == resources.ICON_NAME and fields["Terminal"] == "false"
    assert fields["Type"] == "Application"


def test_metainfo_names_the_launcher_and_the_version():
    root = ET.parse(resources.metainfo()).getroot()
    assert root.findtext("id") == resources.APP_ID
    assert root.findtext("launchable") == resources.desktop_entry().name
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert root.find("releases/release").get("version") == version


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_metainfo_passes_appstream_validation():
    proc = subprocess.run(["appstreamcli", "validate", "--no-net", str(resources.metainfo())],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_packaged_copy_is_preferred(tmp_path, monkeypatch):
    """A wheel or bundle carries the folder as app/resources/desktop: that copy is used."""
    packaged = tmp_path / "desktop"
    shutil.copytree(ROOT / "resources", packaged)
    monkeypatch.setattr(resources, "PACKAGED_DESKTOP_DIR", packaged)
    assert resources.desktop_dir() == packaged
    assert resources.icon_files()[256].is_relative_to(packaged)
    monkeypatch.setattr(resources, "PACKAGED_DESKTOP_DIR", tmp_path / "missing")
    monkeypatch.setattr(resources, "SOURCE_DESKTOP_DIR", tmp_path / "missing too")
    assert resources.desktop_dir() is None and resources.icon_files() == {}


def test_self_test_checks_catch_broken_stems():
    rng = np.random.default_rng(0)
    mix = rng.uniform(-0.5, 0.5, (2, 1000)).astype(np.float32)
    good = np.stack([mix * 0.3, mix * 0.7])
    assert all(ok for _, ok, _ in check_stems(good, mix, ("a", "b"), [mix * 0.3, mix * 0.7]))
    nan = good.copy()
    nan[0, 0, 5] = np.nan
    failed = {name for name, ok, _ in check_stems(nan, mix, ("a", "b")) if not ok}
    assert failed == {"finite"}
    assert {n for n, ok, _ in check_stems(good[:, :, :900], mix, ("a", "b")) if not ok} == {"shape"}
    assert {n for n, ok, _ in check_stems(good * 0.5, mix, ("a", "b")) if not ok} == {"sum"}
    swapped = check_stems(good, mix, ("a", "b"), [mix * 0.7 * -1, None])
    assert [ok for n, ok, _ in swapped if n == "a"] == [False]


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate (desktop-file-utils) not installed")
def test_desktop_entry_passes_desktop_file_validate():
    proc = subprocess.run(["desktop-file-validate", str(resources.desktop_entry())],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_without_torch_the_demo_model_is_its_onnx_export(tmp_path, monkeypatch):
    """The slim runtime cannot load the checkpoint: its demo is the ONNX file, and an
    install with only the checkpoint has no demo it can run."""
    from notorch import block_modules

    for name in ("demo-model.safetensors", "demo-model.onnx"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setattr(resources, "DEMO_DIR", tmp_path)
    assert resources.demo_model() == tmp_path / "demo-model.safetensors"
    block_modules(monkeypatch, ["torch"])
    assert resources.demo_model() == tmp_path / "demo-model.onnx"
    (tmp_path / "demo-model.onnx").unlink()
    assert resources.demo_model() is None
