"""The records a quantization returns (the CLI prints them, the GUI charts them).

Field-by-field documentation of :class:`QuantizeResult` is in the package docstring
(:mod:`app.core.quantization`), since QAT returns the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..jobs import UserError
from .calibration import CalibrationSummary


@dataclass
class LayerSensitivity:
    """How much quantizing one layer group costs.

    ``sdr_cost_db``: per stem, the SDR the group loses when it is INT8. With the
    leave-one-out strategy that is the SDR of the model with only this group in FP32 minus
    the SDR of the fully quantized model; one at a time, the FP32 model's SDR minus that of a
    model with only this group quantized. ``mask_snr_db``: that step's model against FP32.
    """
    group: str
    nodes: int
    sdr_cost_db: dict[str, float]
    mask_snr_db: float
    rank: int = 0                    # 1 = most sensitive (set once all are measured)
    kept_fp32: bool = False          # the fallback kept it in FP32

    @property
    def cost_db(self) -> float:
        """The worst stem's cost: what the ranking and the chart use."""
        return max(self.sdr_cost_db.values()) if self.sdr_cost_db else 0.0


@dataclass
class VariantFigures:
    """One model measured: size, latency, masks against FP32, SDR per stem."""
    name: str
    path: Optional[Path]
    precision: str
    file_size: Optional[int]
    latency_ms: Optional[float] = None          # median, one training segment, batch 1
    mask_snr_db: Optional[float] = None         # lowest over the test segments vs FP32
    sdr: dict[str, float] = field(default_factory=dict)            # vs true stems, median dB
    sdr_delta: dict[str, float] = field(default_factory=dict)      # minus the reference's
    sdr_vs_reference: dict[str, float] = field(default_factory=dict)  # reference's stems as truth
    fp32_layers: list[str] = field(default_factory=list)


@dataclass
class QuantCheck:
    """The quantized file against FP32 on one input shape ``(batch, channels, bins, frames)``."""
    shape: list[int]
    mask_snr_db: float
    finite: bool
    passed: bool


@dataclass
class QuantizeResult:
    path: Path
    mode: str
    precision: str
    source: Path
    fp32_path: Optional[Path]
    quantized: Optional[VariantFigures]
    fp32: Optional[VariantFigures]
    full_int8: Optional[VariantFigures] = None
    calibration: Optional[CalibrationSummary] = None
    op_types: list[str] = field(default_factory=list)
    budget_db: Optional[float] = None
    within_budget: Optional[bool] = None
    sensitivity: list[LayerSensitivity] = field(default_factory=list)
    fp32_layers: list[str] = field(default_factory=list)
    checks: list[QuantCheck] = field(default_factory=list)
    eval_songs: list[str] = field(default_factory=list)
    eval_seconds: Optional[float] = None
    threads: Optional[int] = None
    seconds: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def file_size(self) -> Optional[int]:
        return self.quantized.file_size if self.quantized else None

    @property
    def size_ratio(self) -> Optional[float]:
        """FP32 size over quantized size (4.0 = four times smaller)."""
        if self.quantized and self.fp32 and self.quantized.file_size and self.fp32.file_size:
            return self.fp32.file_size / self.quantized.file_size
        return None

    @property
    def speedup(self) -> Optional[float]:
        """FP32 latency over quantized latency (above 1: faster)."""
        if self.quantized and self.fp32 and self.quantized.latency_ms and self.fp32.latency_ms:
            return self.fp32.latency_ms / self.quantized.latency_ms
        return None

    @property
    def faster(self) -> Optional[bool]:
        s = self.speedup
        return None if s is None else s > 1.0

    @property
    def sdr_loss(self) -> dict[str, float]:
        """SDR lost per stem against the FP32 model (positive = worse)."""
        return {k: -v for k, v in (self.quantized.sdr_delta if self.quantized else {}).items()}


class QuantizationFailed(UserError):
    """The quantized model failed its check against FP32; no file was kept."""

    def __init__(self, message: str, path: Optional[Path], checks: list[QuantCheck]):
        super().__init__(message, path,
                         "Try static quantization with another calibration method or more "
                         "calibration songs, keep sensitive layers in FP32 (lower "
                         "--budget-db), or use FP16.")
        self.checks = checks
