"""The Qt-free core of TFSWA Studio: model, audio, checkpoints, separation and tools.

Nothing below this package may import Qt (PySide6, shiboken6) or pyqtgraph; a test enforces it.

Tensor and array shapes in docstrings and comments use one set of letters: ``B`` batch,
``S`` sources, ``C`` channels (audio channels, or a feature map's channels), ``F`` frequency
bins (or rows of a feature map), ``T`` frames, ``L`` samples; ``K`` sub-bands, ``N`` tokens,
``D`` a token's width; ``...`` any leading axes. Audio is stereo: ``C = 2``. A mixture
segment is ``(B, C, L)``, its magnitude ``(B, C, F, T)``, a model's masks ``(B, S, C, F, T)``.
"""
