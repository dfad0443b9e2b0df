"""The Qt-free core of TFSWA Studio: model, audio, checkpoints, separation and tools.

Nothing below this package may import Qt (PySide6, shiboken6) or pyqtgraph; a test enforces it.
"""
