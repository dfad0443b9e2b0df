"""Build TFSWA Studio's Linux bundles and installers with one command:

    python packaging/build.py                 # full and slim: bundles, .tar.gz, .deb
    python packaging/build.py --variant full  # only the full app (with PyTorch)

For each variant it creates a clean virtual environment (nothing from the developer's
site-packages leaks in), installs exactly the variant's dependencies (the full one with
``torch==2.13.0``), freezes the app with PyInstaller (packaging/tfswa-studio.spec) into a
one-folder bundle, then packs it as ``.tar.gz`` and as a Debian package (dpkg-deb) that
installs under /opt/tfswa-studio with a menu entry, icons and /usr/bin/tfswa-studio.
The slim variant has no PyTorch: its demo model is the full model exported to ONNX (by the
app's own verified export, run in the full environment). Everything lands in dist/; the
sizes are printed and written to dist/sizes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "packaging"
DIST = ROOT / "dist"
SPEC = ROOT / "packaging" / "tfswa-studio.spec"
TORCH = "torch==2.13.0"
PYINSTALLER = "pyinstaller==6.22.3"
# The slim runtime: what separation with ONNX Runtime and the GUI import, nothing else.
SLIM = ("numpy", "scipy", "soundfile", "soxr", "onnxruntime", "PySide6-Essentials",
        "PySide6-Addons", "pyqtgraph", "psutil", "safetensors")
APP_ID = "org.tfswa.Studio"
INSTALL_DIR = "/opt/tfswa-studio"
# Shared libraries Qt's xcb platform plugin and QtMultimedia load from the system
# (app.gui.platform_check.ALL_PACKAGES, the README's apt-get line).
DEB_DEPENDS = ("libegl1, libgl1, libglib2.0-0, libfontconfig1, libfreetype6, libdbus-1-3, "
               "libxkbcommon0, libxkbcommon-x11-0, libx11-xcb1, libxcb-cursor0, libxcb-icccm4, "
               "libxcb-image0, libxcb-keysyms1, libxcb-randr0, libxcb-render-util0, "
               "libxcb-shape0, libxcb-xfixes0, libxcb-xkb1")


def log(message: str) -> None:
    print(f"[build {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(cmd: list, **kwargs) -> None:
    log(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(variant: str) -> list[str]:
    """The pip requirements of a variant, with the version bounds of pyproject.toml."""
    deps = project()["dependencies"]
    name = lambda spec: spec.split(">")[0].split("=")[0].split("<")[0].split("!")[0].strip()
    if variant == "slim":
        deps = [d for d in deps if name(d) in SLIM]
    else:
        deps = [TORCH] + [d for d in deps if name(d) != "torch"]
    return deps + [PYINSTALLER]


def make_venv(variant: str, reuse: bool) -> Path:
    """A clean virtual environment with only the variant's requirements; its python."""
    venv = BUILD / f"venv-{variant}"
    python = venv / "bin" / "python"
    if reuse and python.exists():
        log(f"reusing {venv}")
        return python
    run([sys.executable, "-m", "venv", "--clear", venv])
    # TFSWA_TORCH_PIP_ARGS: extra pip options for PyTorch's CPU-only index (CI); here the
    # pip configuration already finds the local CPU wheel of torch 2.13.0.
    extra = os.environ.get("TFSWA_TORCH_PIP_ARGS", "").split()
    run([python, "-m", "pip", "install", "--quiet", *requirements(variant), *extra])
    return python


def slim_demo(full_python: Path) -> Path:
    """The demo folder of the slim runtime: the demo model exported to ONNX (and verified
    against PyTorch by the export itself), its card and the demo song."""
    source = ROOT / "app" / "resources" / "demo"
    demo = BUILD / "demo-slim"
    shutil.rmtree(demo, ignore_errors=True)
    shutil.copytree(source, demo, ignore=shutil.ignore_patterns("demo-model.*"))
    run([full_python, "-m", "app", "export", source / "demo-model.safetensors", "--out",
         demo / "demo-model.onnx"], cwd=ROOT, env=clean_env())
    return demo


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PYTHONPATH=str(ROOT), PYTHONNOUSERSITE="1", QT_QPA_PLATFORM="offscreen", **extra)
    return env


def freeze(python: Path, variant: str, demo: Path) -> Path:
    """Run PyInstaller on the spec; the one-folder bundle."""
    dist = BUILD / "dist"
    run([python, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", dist, "--workpath", BUILD / f"work-{variant}", SPEC], cwd=ROOT,
        env=clean_env(TFSWA_VARIANT=variant, TFSWA_DEMO_DIR=str(demo)))
    return dist / ("tfswa-studio" if variant == "full" else "tfswa-studio-slim")


CUDA_LIBRARIES = ("libcudart", "libcublas", "libcudnn", "libcufft", "libcusparse", "libnccl",
                  "libnvrtc", "libcuda.")


def check_no_cuda(bundle: Path) -> None:
    """The app runs on the CPU: a bundle with CUDA inside was built from a CUDA wheel."""
    found = [f.name for f in bundle.rglob("*") if f.name.startswith(CUDA_LIBRARIES)]
    if found:
        raise SystemExit(f"{bundle}: CUDA libraries inside ({', '.join(found[:5])}): install "
                         "the CPU build of torch (TFSWA_TORCH_PIP_ARGS)")


def check_no_test_programs(bundle: Path) -> None:
    """PyTorch's C++ test programs are left out by the spec (TORCH_DROP): 133 MB if not."""
    found = [str(f.relative_to(bundle)) for pattern in ("**/torch/test/*", "**/torch/bin/test_*")
             for f in bundle.glob(pattern)]
    if found:
        raise SystemExit(f"{bundle}: PyTorch's test programs inside ({', '.join(found[:3])}): "
                         "the spec's TORCH_DROP no longer matches them")


def is_binary(path: Path) -> bool:
    return path.name == "tfswa-studio" or ".so" in path.suffixes or path.suffix == ".so"


def strip_debug(bundle: Path) -> None:
    """Drop the debug symbols of the bundle's executable and shared libraries (``strip -S``;
    23 MB of the slim bundle, most of it libpython's). Libraries under ``*.libs/`` are left
    alone: auditwheel vendored them with program headers patchelf rewrote, and stripping
    breaks them ("ELF load command address/offset not page-aligned")."""
    strip = shutil.which("strip")
    if strip is None:
        log("strip (binutils) not found: the debug symbols stay in")
        return
    files = [str(f) for f in bundle.rglob("*")
             if f.is_file() and not f.is_symlink() and is_binary(f)
             and not any(part.endswith(".libs") for part in f.relative_to(bundle).parts)]
    log(f"strip -S: {len(files)} binaries")
    for start in range(0, len(files), 100):
        subprocess.run([strip, "-S", *files[start:start + 100]], check=True)


def make_tarball(bundle: Path, out: Path) -> Path:
    log(f"packing {out.name}")
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        tar.add(bundle, arcname=bundle.name)
    partial.replace(out)
    return out


def deb_tree(bundle: Path, stage: Path) -> None:
    """The installed file tree: /opt/tfswa-studio, /usr/bin link, menu entry, icons."""
    shutil.rmtree(stage, ignore_errors=True)
    opt = stage / INSTALL_DIR.lstrip("/")
    shutil.copytree(bundle, opt, symlinks=True)
    (stage / "usr" / "bin").mkdir(parents=True)
    (stage / "usr" / "bin" / "tfswa-studio").symlink_to(f"{INSTALL_DIR}/tfswa-studio")
    share = stage / "usr" / "share"
    resources = ROOT / "resources"
    (share / "applications").mkdir(parents=True)
    shutil.copy(resources / f"{APP_ID}.desktop", share / "applications")
    (share / "metainfo").mkdir()
    shutil.copy(resources / f"{APP_ID}.metainfo.xml", share / "metainfo")
    shutil.copytree(resources / "icons" / "hicolor", share / "icons" / "hicolor")


def make_deb(bundle: Path, variant: str, out: Path) -> Path:
    stage = BUILD / f"deb-{variant}"
    deb_tree(bundle, stage)
    package = "tfswa-studio" if variant == "full" else "tfswa-studio-slim"
    other = "tfswa-studio-slim" if variant == "full" else "tfswa-studio"
    size_kb = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file()) // 1024
    control = stage / "DEBIAN"
    control.mkdir()
    what = (", and exports, measures and benchmarks TFSWA-UNet models" if variant == "full"
            else " (slim runtime: ONNX Runtime only, no PyTorch)")
    (control / "control").write_text(
        f"Package: {package}\nVersion: {project()['version']}\nArchitecture: amd64\n"
        f"Maintainer: TFSWA Studio <tfswa-studio@localhost>\nSection: sound\n"
        f"Priority: optional\nInstalled-Size: {size_kb}\nDepends: {DEB_DEPENDS}\n"
        f"Recommends: libpulse0\nConflicts: {other}\nReplaces: {other}\n"
        f"Description: separate music into stems with TFSWA-UNet models\n"
        f" TFSWA Studio splits songs into vocals and accompaniment with a bundled demo\n"
        f" model{what}.\n")
    # the desktop's menu and icon caches, when the tools are installed
    refresh = ("#!/bin/sh\nset -e\n"
               "if command -v update-desktop-database >/dev/null; then\n"
               "  update-desktop-database -q /usr/share/applications || true\nfi\n"
               "if command -v gtk-update-icon-cache >/dev/null; then\n"
               "  gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true\nfi\n")
    for script in ("postinst", "postrm"):
        (control / script).write_text(refresh)
        (control / script).chmod(0o755)
    log(f"packing {out.name}")
    partial = out.with_name(out.name + ".partial")     # an interrupted build leaves no .deb
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", stage, partial])
    partial.replace(out)
    return out


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build(variant: str, python: Path, with_deb: bool, full_python: Path | None) -> dict:
    start = time.monotonic()
    demo = ROOT / "app" / "resources" / "demo" if variant == "full" else slim_demo(full_python)
    bundle = freeze(python, variant, demo)
    name = bundle.name
    version = project()["version"]
    DIST.mkdir(exist_ok=True)
    target = DIST / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.move(str(bundle), target)
    check_no_cuda(target)
    check_no_test_programs(target)
    if variant == "slim":           # the full bundle was not rebuilt and tested stripped
        strip_debug(target)
    sizes = {"bundle": str(target.relative_to(ROOT)), "unpacked_bytes": tree_size(target)}
    tar = make_tarball(target, DIST / f"{name}-{version}-linux-x86_64.tar.gz")
    sizes["tar_gz_bytes"] = tar.stat().st_size
    if with_deb:
        deb = make_deb(target, variant, DIST / f"{name}_{version}_amd64.deb")
        sizes["deb_bytes"] = deb.stat().st_size
    sizes["build_seconds"] = round(time.monotonic() - start)
    log(f"{variant}: {json.dumps(sizes)}")
    return sizes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=("full", "slim", "all"), default="all")
    parser.add_argument("--reuse-venv", action="store_true",
                        help="keep build/packaging/venv-* from an earlier run (faster rebuilds)")
    parser.add_argument("--no-deb", action="store_true", help="skip the Debian package")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        parser.error("this script builds the Linux bundle; see packaging/README.md for "
                     "Windows and macOS")
    with_deb = not args.no_deb and shutil.which("dpkg-deb") is not None
    variants = ("full", "slim") if args.variant == "all" else (args.variant,)
    results, venvs = {}, {}

    def venv(variant: str) -> Path:
        if variant not in venvs:
            venvs[variant] = make_venv(variant, args.reuse_venv)
        return venvs[variant]

    for variant in variants:
        # the slim demo model is exported (and verified) in the full environment
        full_python = venv("full") if variant == "slim" else None
        results[variant] = build(variant, venv(variant), with_deb, full_python)
    DIST.mkdir(exist_ok=True)
    sizes = DIST / "sizes.json"
    old = json.loads(sizes.read_text()) if sizes.exists() else {}
    sizes.write_text(json.dumps({**old, **results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
