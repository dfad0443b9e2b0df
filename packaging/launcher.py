"""The bundled app's entry point (PyInstaller freezes this file): the same ``main`` as
``python -m app`` and ``tfswa-studio``."""

import sys

from app.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
