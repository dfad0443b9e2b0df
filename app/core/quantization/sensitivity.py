"""Per-layer sensitivity and the automatic FP32 fallback.

Sensitivity: for every layer group (:func:`~app.core.quantization.source.layer_groups`), a
model is quantized with that group treated differently and measured on the evaluation songs:

- ``leave-one-out`` (default): everything quantized except this group; the SDR it wins back
  over the fully quantized model is what quantizing it costs (captures interactions);
- ``one-at-a-time``: only this group quantized; its SDR below FP32 is the cost.

Groups are ranked by the worst stem's cost. The fallback then keeps groups in FP32 in rank
order, re-quantizing (the calibration is cached, never repeated) and measuring after each,
until every stem's SDR loss against FP32 is within the budget. Cancel is checked between
steps; ``on_sensitivity`` hears each group as soon as it is measured (the GUI draws its bar).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from ..jobs import CancelToken, ProgressFn, ensure_token, no_progress
from .evaluator import Evaluator
from .result import LayerSensitivity, VariantFigures

# make(name, exclude, include) -> path of a quantized file with ``exclude`` left in FP32
# (``include``: quantize only these nodes, None = all of the chosen operator types).
MakeFn = Callable[[str, Sequence[str], Optional[Sequence[str]]], Path]
SensitivityFn = Callable[[LayerSensitivity], None]


def within_budget(figures: VariantFigures, budget_db: float) -> bool:
    """True when no stem lost more than ``budget_db`` of SDR against FP32."""
    return all(-d <= budget_db + 1e-9 for d in figures.sdr_delta.values())


def measure_sensitivity(groups: Mapping[str, list[str]], make: MakeFn, evaluator: Evaluator,
                        full: VariantFigures, strategy: str = "leave-one-out",
                        base_exclude: Sequence[str] = (), *,
                        on_sensitivity: Optional[SensitivityFn] = None,
                        progress: Optional[ProgressFn] = None,
                        cancel: Optional[CancelToken] = None) -> list[LayerSensitivity]:
    """Measure every group; returns them ranked (most sensitive first)."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    measured: list[LayerSensitivity] = []
    names = list(groups)
    for i, group in enumerate(names):
        cancel.check()
        progress(i / len(names), f"sensitivity: {group} ({i + 1} of {len(names)})")
        if strategy == "leave-one-out":
            path = make(f"loo-{i}", [*base_exclude, *groups[group]], None)
        else:
            path = make(f"one-{i}", list(base_exclude), groups[group])
        figures = evaluator.measure(path, group, "int8")
        path.unlink(missing_ok=True)
        if strategy == "leave-one-out":
            cost = {s: figures.sdr[s] - full.sdr[s] for s in figures.sdr}
        else:
            cost = {s: -d for s, d in figures.sdr_delta.items()}
        item = LayerSensitivity(group, len(groups[group]), cost, figures.mask_snr_db)
        measured.append(item)
        if on_sensitivity is not None:
            on_sensitivity(item)
    progress(1.0, "sensitivity: ranked")
    ranked = sorted(measured, key=lambda s: (-s.cost_db, s.mask_snr_db))
    for rank, item in enumerate(ranked, 1):
        item.rank = rank
    return ranked


@dataclass
class FallbackOutcome:
    path: Path
    figures: VariantFigures
    kept: list[str]                  # groups left in FP32, most sensitive first
    met: bool


def fallback(ranked: Sequence[LayerSensitivity], groups: Mapping[str, list[str]], make: MakeFn,
             evaluator: Evaluator, budget_db: float, start: VariantFigures, start_path: Path,
             base_exclude: Sequence[str] = (), *,
             on_sensitivity: Optional[SensitivityFn] = None,
             progress: Optional[ProgressFn] = None,
             cancel: Optional[CancelToken] = None) -> FallbackOutcome:
    """Keep the most sensitive groups in FP32, one more per step, until within budget."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    if within_budget(start, budget_db):
        return FallbackOutcome(start_path, start, [], True)
    kept: list[str] = []
    path, figures = start_path, start
    for i, item in enumerate(ranked):
        cancel.check()
        kept.append(item.group)
        progress(i / len(ranked), f"fallback: {item.group} kept in FP32 "
                                  f"({len(kept)} of {len(ranked)} groups)")
        exclude = [*base_exclude, *(n for g in kept for n in groups[g])]
        path = make(f"fallback-{i}", exclude, None)
        figures = evaluator.measure(path, "INT8 with FP32 fallback", "int8", kept)
        item.kept_fp32 = True
        if on_sensitivity is not None:
            on_sensitivity(item)
        if within_budget(figures, budget_db):
            progress(1.0, f"fallback: within {budget_db:g} dB with {len(kept)} groups in FP32")
            return FallbackOutcome(path, figures, kept, True)
    return FallbackOutcome(path, figures, kept, False)
