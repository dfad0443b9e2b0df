"""Everything is declared in pyproject.toml; this only copies the top-level ``resources/``
(icons, desktop entry, AppStream metainfo) into the wheel as ``app/resources/desktop``, where
app.core.resources finds it (a source checkout reads ``resources/`` directly)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithDesktopResources(build_py):
    def run(self):
        super().run()
        source = ROOT / "resources"
        if source.is_dir():
            target = Path(self.build_lib) / "app" / "resources" / "desktop"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(source, target)


setup(cmdclass={"build_py": BuildWithDesktopResources})
