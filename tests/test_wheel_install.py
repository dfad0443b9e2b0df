"""A wheel built from this tree, installed into a fresh virtual environment, finds its icon,
desktop entry, metainfo, demo model and demo song (top-level resources/ travels in the wheel
as app/resources/desktop). Slow: builds a wheel and a venv."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, app
from app.core import resources as r
print(json.dumps({"app": app.__file__, "desktop": str(r.desktop_dir()),
                  "icons": {k: str(v) for k, v in r.icon_files().items()},
                  "entry": str(r.desktop_entry()), "metainfo": str(r.metainfo()),
                  "model": str(r.demo_model()), "song": str(r.demo_song())}))
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("setuptools") is None,
                    reason="building the wheel without isolation needs setuptools installed")
def test_wheel_in_a_fresh_venv_finds_every_resource(tmp_path):
    source = tmp_path / "src"       # a copy, so the build leaves nothing in the work tree
    source.mkdir()
    for name in ("app", "resources"):
        shutil.copytree(ROOT / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "desktop"))
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "wheels"), str(source)],
                   check=True, env=env, timeout=300)
    wheel = next((tmp_path / "wheels").glob("tfswa_studio-*.whl"))
    venv = tmp_path / "venv"
    # system site-packages provide the dependencies (torch, Qt); the app comes from the wheel
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    str(wheel)], check=True, env=env, timeout=300)
    out = subprocess.run([python, "-c", PROBE], check=True, capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120).stdout
    found = json.loads(out)
    site = venv / "lib"
    assert Path(found["app"]).is_relative_to(site), found["app"]
    desktop = Path(found["desktop"])
    assert desktop.is_relative_to(site) and desktop.name == "desktop"
    assert len(found["icons"]) == 9
    for key in ("entry", "metainfo", "model", "song"):
        assert Path(found[key]).is_file() and Path(found[key]).is_relative_to(site), key
