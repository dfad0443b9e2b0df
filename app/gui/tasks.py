"""The GUI's job functions: plain, Qt-free compositions of core calls in the job contract
(keyword ``progress`` and ``cancel``, a dataclass result, UserError for the user).

They run in :class:`~app.gui.worker.Worker` threads; nothing here touches a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..core.audio import TrackDisplay, track_display, track_displays
from ..core.evaluation import find_reference_stems, score_stems
from ..core.files import copy_files
from ..core.jobs import CancelToken, ProgressFn, ensure_token, no_progress, scaled_progress
from ..core.separation import SeparationOptions, SeparationResult, separate_file
from ..core.workspace import Variant, Workspace

if TYPE_CHECKING:  # pragma: no cover
    from ..core.memory import MemoryPlan, ModeResult


@dataclass
class SeparationView:
    """Stems written to the session cache, with the data to draw each of them, and their SDR
    in dB when the song came with its true stems (a ``mixture.*`` beside ``{stem}.*``)."""
    result: SeparationResult
    stems: dict[str, TrackDisplay]
    sdr: dict[str, float] = field(default_factory=dict)


def inspect_audio(path: Path | str, *, progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> TrackDisplay:
    """Read an audio file once: checks it can be decoded and computes its display data."""
    return track_display(path, progress=progress, cancel=cancel)


def separate_for_view(*, workspace: Workspace, variant: Optional[Variant], threads: Optional[int],
                      input_path: Path, out_dir: Path, options: SeparationOptions,
                      trust_torchscript: bool = False, device: str = "cpu", progress: Optional[ProgressFn] = None,
                      cancel: Optional[CancelToken] = None) -> SeparationView:
    """Build the variant's backend on ``device``, separate ``input_path`` into ``out_dir``
    (WAV, 24-bit), then compute the display data of every stem from the written files."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    progress(0.0, "preparing the model")
    backend = workspace.backend_for(variant, threads, trust_torchscript, device=device)
    try:
        cancel.check()
        result = separate_file(input_path, backend, out_dir, options, fmt="wav", subtype="24",
                               progress=scaled_progress(progress, 0.02, 0.9), cancel=cancel)
    finally:
        backend.close()
    stems = track_displays(result.outputs, progress=scaled_progress(progress, 0.9, 0.97),
                           cancel=cancel)
    scores: dict[str, float] = {}
    references = find_reference_stems(input_path, result.outputs)
    if references:
        scores = score_stems(result.outputs, references, result.sample_rate,
                             progress=scaled_progress(progress, 0.97, 1.0), cancel=cancel)
    return SeparationView(result, stems, scores)


def plan_memory_live(*, yielded: Callable[[ModeResult], None],
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                     **options: Any) -> MemoryPlan:
    """:func:`~app.core.memory.plan_memory` handing each measured mode over as a partial
    result (the worker's ``yielded``), so the chart draws it before the others are done."""
    from ..core.memory import plan_memory     # PyTorch: the Separate tab imports this module

    return plan_memory(on_mode=yielded, progress=progress, cancel=cancel, **options)


def stem_targets(stems: dict[str, Path], folder: Path | str, track: str) -> dict[Path, Path]:
    """``{cached stem: folder/track/stem.ext}``."""
    return {Path(p): Path(folder) / track / f"{name}{Path(p).suffix}" for name, p in stems.items()}


def save_stems(*, stems: dict[str, Path], folder: Path | str, track: str, overwrite: bool = False,
               progress: Optional[ProgressFn] = None,
               cancel: Optional[CancelToken] = None) -> list[Path]:
    """Copy cached stems to ``folder/track/stem.ext`` (temporary names, then rename)."""
    return copy_files(stem_targets(stems, folder, track), overwrite, progress=progress,
                      cancel=cancel)
