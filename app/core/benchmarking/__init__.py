"""Benchmarking every variant of a model side by side: :func:`benchmark_model` times them
interleaved (latency percentiles, throughput, x real time, load time, peak memory) on a
segment or a whole song, records the machine and library versions, profiles ONNX variants
per operator, and :func:`save_report` writes JSON, CSV and a self-contained HTML report.
Nothing here imports torch until a PyTorch variant is loaded."""

from .cuda import cuda_available, why_no_cuda
from .isolated import benchmark_isolated
from .machine import MachineInfo, describe_machine, library_versions, read_cpuinfo
from .memory import MemoryFigures, measure_peak_memory
from .profile import OperatorProfile, OperatorTime, onnx_operator_profile, parse_profile
from .report import p50_interval, reproduce_command, save_report
from .runner import (MAX_RUNS, BenchmarkRun, BenchmarkSettings, Sample, VariantResult,
                     add_speedups, benchmark_model, figures_sdr, precision_notes,
                     test_input)
from .stats import SETTLED_PCT, LatencyStats, latency_stats, median_rank_interval
from .svg import PALETTE
from .variants import (CONTRACT, BenchmarkVariant, OnnxContract, as_variant,
                       check_onnx_contract, cuda_variants, why_no_cuda_variants)

__all__ = [
    "cuda_available", "cuda_variants", "why_no_cuda", "why_no_cuda_variants",
    "benchmark_isolated", "MachineInfo", "describe_machine", "library_versions",
    "read_cpuinfo", "MemoryFigures", "measure_peak_memory", "OperatorProfile", "OperatorTime",
    "onnx_operator_profile", "parse_profile", "reproduce_command", "save_report",
    "BenchmarkRun", "BenchmarkSettings", "Sample", "VariantResult", "add_speedups",
    "benchmark_model", "test_input", "LatencyStats", "latency_stats", "CONTRACT",
    "BenchmarkVariant", "OnnxContract", "as_variant", "check_onnx_contract",
    "PALETTE", "MAX_RUNS", "SETTLED_PCT", "median_rank_interval", "p50_interval",
    "precision_notes", "figures_sdr",
]
