"""What a quantization run is asked to do, checked before any work starts.

The choices are plain strings so the CLI, the GUI and JSON share them; :meth:`validate`
rejects impossible combinations with a message for a person, as ONNX Runtime's own API does
with its enums.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..jobs import UserError

MODES = ("dynamic", "static", "qat", "fp16")
METHODS = ("minmax", "entropy", "percentile")
SENSITIVITY = ("auto", "always", "never")
STRATEGIES = ("leave-one-out", "one-at-a-time")
# Dynamic INT8 touches MatMul/Gemm only: ConvInteger, what dynamic quantization makes of a
# Conv, ran several times slower than the FP32 convolution on the CPUs measured (issue 14).
DYNAMIC_OPS = ("MatMul", "Gemm")
# Static QDQ: the convolutions and matrix products carry the arithmetic. Quantizing every
# operator (the "naive" recipe) was slower than FP32 on the small preset and cost mask SNR.
STATIC_OPS = ("Conv", "MatMul", "Gemm")
# Checkpoints are exported at opset 20 before quantizing: it has a Gelu operator, which keeps
# the GELU one node between its DequantizeLinear and QuantizeLinear, where the Erf arithmetic
# of older opsets is left half unfused by ONNX Runtime once Q/DQ pairs surround it. Static INT8
# of the medium preset from opset 20 ran as fast as from 17 on an idle AMD EPYC (AVX-512 VNNI)
# and 1.02-1.23x as fast while other work loaded its cores, with the same mask SNR
# (benchmarks/quantization.py --opset-17; docs/benchmarks.md).
QUANTIZE_OPSET = 20
SUFFIX = {"dynamic": "-int8-dynamic", "static": "-int8", "qat": "-int8-qat", "fp16": "-fp16"}


@dataclass(frozen=True)
class QuantizeOptions:
    """One quantization run.

    ``calibration``: audio files and/or folders (a MUSDB-style folder of tracks, or a folder
    of audio files); empty means the bundled demo song. ``eval_data``: a song with true stems
    (``mixture.*`` beside ``vocals.*``...) or a MUSDB-style folder; None means the demo song.
    ``budget_db``: the SDR a stem may lose against FP32 before the fallback keeps layers in
    FP32 (None: no fallback). ``sensitivity``: "auto" measures per-layer sensitivity only
    when the budget is exceeded, "always" also when it is met, "never" skips it.
    """
    mode: str = "static"
    calibration: tuple[Path, ...] = ()
    method: str = "minmax"
    percentile: float = 99.999
    calibration_segments: int = 8
    segment_seconds: Optional[float] = None      # None: the model's training segment
    op_types: Optional[tuple[str, ...]] = None   # None: DYNAMIC_OPS or STATIC_OPS
    per_channel: bool = True
    # Static: quantize only MatMuls with a constant (weight) operand. The attention's
    # activation-by-activation products (Q K^T, attention x V) stay FP32: the same mask SNR
    # (35.4 dB demo, 56.1 dB medium) and faster. Speed against FP32, all MatMuls / weights
    # only, side by side on a loaded 2-core Xeon: demo model 0.83x / 0.97x (2 threads),
    # 0.98x / 1.03x (1 thread); medium 1.47x / 1.52x (see docs/benchmarks.md).
    matmul_weights_only: bool = True
    budget_db: Optional[float] = 0.2
    sensitivity: str = "auto"
    strategy: str = "leave-one-out"
    eval_data: Optional[Path] = None
    eval_songs: int = 3
    eval_seconds: Optional[float] = 10.0        # excerpt of each evaluation song; None: whole
    min_mask_snr_db: float = 10.0               # verification floor against the FP32 model
    keep_fp32: tuple[str, ...] = ()             # layer groups the user keeps in FP32
    threads: Optional[int] = None
    latency_rounds: int = 5
    qat_steps: int = 100                        # QAT: fine-tuning steps
    qat_data: Optional[Path] = None             # QAT: folder of songs with stems; None: made

    def validate(self) -> None:
        if self.mode not in MODES:
            raise UserError(f"unknown quantization mode '{self.mode}'; choose one of "
                            f"{', '.join(MODES)}")
        if self.method not in METHODS:
            raise UserError(f"unknown calibration method '{self.method}'; choose one of "
                            f"{', '.join(METHODS)}")
        if self.sensitivity not in SENSITIVITY:
            raise UserError(f"unknown sensitivity setting '{self.sensitivity}'; choose one of "
                            f"{', '.join(SENSITIVITY)}")
        if self.strategy not in STRATEGIES:
            raise UserError(f"unknown sensitivity strategy '{self.strategy}'; choose one of "
                            f"{', '.join(STRATEGIES)}")
        if not 1 <= self.calibration_segments <= 4096:
            raise UserError(f"calibration segments {self.calibration_segments} out of range "
                            "(1 .. 4096)")
        if self.budget_db is not None and not 0 <= self.budget_db <= 60:
            raise UserError(f"SDR budget {self.budget_db} dB out of range (0 .. 60)")
        if not 90.0 < self.percentile <= 100.0:
            raise UserError(f"percentile {self.percentile} out of range (90 .. 100)")
        if self.eval_seconds is not None and not 0.5 <= self.eval_seconds <= 3600:
            raise UserError(f"evaluation excerpt {self.eval_seconds} s out of range (0.5 .. 3600)")
        if not 1 <= self.qat_steps <= 1_000_000:
            raise UserError(f"QAT steps {self.qat_steps} out of range (1 .. 1000000)")
        if not 1 <= self.eval_songs <= 1000:
            raise UserError(f"evaluation songs {self.eval_songs} out of range (1 .. 1000)")
        if self.segment_seconds is not None and not 0.1 <= self.segment_seconds <= 60:
            raise UserError(f"calibration segment {self.segment_seconds} s out of range "
                            "(0.1 .. 60)")
        if self.op_types is not None and (not self.op_types or not all(
                isinstance(o, str) and o.isidentifier() for o in self.op_types)):
            raise UserError(f"operator types {list(self.op_types)} must be ONNX operator names "
                            "such as Conv,MatMul,Gemm")
        if self.mode in ("dynamic", "fp16") and self.calibration:
            raise UserError(f"{self.mode} quantization needs no calibration audio; "
                            "calibration files are used by --mode static")

    @property
    def quantized_ops(self) -> tuple[str, ...]:
        if self.op_types is not None:
            return tuple(self.op_types)
        return DYNAMIC_OPS if self.mode == "dynamic" else STATIC_OPS

    @property
    def uses_fallback(self) -> bool:
        return self.mode in ("dynamic", "static") and self.budget_db is not None

    def default_path(self, source: Path | str) -> Path:
        """Beside the source: ``model.onnx`` -> ``model-int8.onnx`` (``-fp16``, ...)."""
        source = Path(source)
        return source.with_name(source.stem + SUFFIX[self.mode] + ".onnx")


def as_paths(items: Sequence[Path | str]) -> tuple[Path, ...]:
    return tuple(Path(p).expanduser() for p in items)
