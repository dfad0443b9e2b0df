"""Start-up on a machine that lacks a system library Qt's X11 plugin needs: the app names the
packages to install instead of Qt's "Reinstalling the application may fix this problem"."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.gui.platform_check import install_hint, package_for, unresolved_libraries, uses_xcb


def test_known_and_guessed_package_names():
    assert package_for("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert package_for("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert package_for("libfoo.so.3") == "libfoo3"
    assert package_for("libbar2.so.1") == "libbar2-1"


def test_only_xcb_starts_are_checked():
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen"})
    assert not uses_xcb({"QT_QPA_PLATFORM": "wayland"})


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ldd") is None,
                    reason="needs gcc and ldd to build a library with a missing dependency")
def test_the_dynamic_linker_reports_a_library_that_is_gone(tmp_path):
    (tmp_path / "dep.c").write_text("int dep(void) { return 1; }\n")
    (tmp_path / "use.c").write_text("int dep(void);\nint use(void) { return dep(); }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libtfswadep.so.7"),
                    "-Wl,-soname,libtfswadep.so.7", str(tmp_path / "dep.c")], check=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(tmp_path / "libuse.so"),
                    str(tmp_path / "use.c"), str(tmp_path / "libtfswadep.so.7")], check=True)
    (tmp_path / "libtfswadep.so.7").unlink()
    assert unresolved_libraries(tmp_path / "libuse.so") == ["libtfswadep.so.7"]


def test_the_app_prints_the_install_command_and_exits(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    ldd = fake / "ldd"
    ldd.write_text("#!/bin/sh\necho '\tlibxcb-icccm.so.4 => not found'\n"
                   "echo '\tlibxcb-keysyms.so.1 => not found'\n"
                   "echo '\tlibc.so.6 => /lib/libc.so.6 (0x0)'\n")
    ldd.chmod(ldd.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ.get('PATH', '')}",
           "QT_QPA_PLATFORM": "xcb", "HOME": str(tmp_path)}
    run = subprocess.run([sys.executable, "-m", "app", "--no-demo"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in run.stderr
    assert "Traceback" not in run.stderr and "Reinstalling" not in run.stderr


def test_the_hint_names_every_package():
    text = install_hint(["libxcb-icccm4", "libegl1"])
    assert "apt-get install libxcb-icccm4 libegl1" in text


def test_the_readme_names_every_system_package_in_one_command():
    from app.gui.platform_check import ALL_PACKAGES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    line = readme.split("<!-- system-packages -->", 1)[1].split("```bash\n", 1)[1].split("\n")[0]
    assert line.startswith("sudo apt-get install ")
    assert line.split()[3:] == ALL_PACKAGES.split()
    named = set(ALL_PACKAGES.split())
    from app.gui.platform_check import PACKAGES

    xcb = {p for p in PACKAGES.values() if p.startswith(("libxcb-", "libxkbcommon"))}
    needed = {"libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0"}
    assert needed <= named and needed <= xcb
