"""Quantize a model end to end: source, calibration, INT8/FP16, measurement, fallback, file.

Stages (progress ``"stage: detail"``): export (a checkpoint only), prepare (ONNX Runtime
pre-processing, evaluation songs, the FP32 answers), calibrate (static), quantize, measure,
sensitivity and fallback (when asked for or needed), verify, save. All intermediate files
live in a temporary folder; the result is written under a temporary name beside the target
and renamed only once it passed verification, so Cancel or a failure leaves no file.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from ..files import atomic_path, check_writable, describe_os_error
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress, scaled_progress
from .calibration import CalibrationReader, CalibrationSummary, load_calibration
from .evaluator import Evaluator
from .int8 import convert_fp16_file, preprocess, quantize_dynamic_file, quantize_static_file
from .measure import load_eval_songs
from .options import QuantizeOptions
from .result import QuantizationFailed, QuantizeResult, VariantFigures
from .sensitivity import SensitivityFn, fallback, measure_sensitivity, within_budget
from .source import SourceModel, layer_groups, load_source, quantization_metadata, write_metadata

FP16_NOTE = ("FP16 halves the file. It is fast where the hardware computes in half precision "
             "(GPUs, Apple silicon, browsers through WebGPU/WebNN, x86 CPUs with AVX-512 FP16); "
             "on most CPUs it is slower than FP32, since the arithmetic falls back to FP32 "
             "with conversions around it.")


def qat_available() -> bool:
    """Whether quantization-aware training can run here (it needs PyTorch)."""
    return importlib.util.find_spec("torch") is not None


class _Maker:
    """Makes quantized variants of the source in the work folder (see :data:`MakeFn`)."""

    def __init__(self, source: SourceModel, options: QuantizeOptions, work: Path,
                 reader: Optional[CalibrationReader]):
        self.options, self.work, self.reader = options, work, reader
        self.input = source.path
        self.cache = work / "calibration.json"
        if options.mode == "static":
            self.input = work / "preprocessed.onnx"
            preprocess(source.path, self.input)

    def __call__(self, name: str, exclude: Sequence[str], include=None) -> Path:
        out = self.work / f"{name}.onnx"
        o = self.options
        if o.mode == "dynamic":
            quantize_dynamic_file(self.input, out, o.quantized_ops, False, exclude)
        elif o.mode == "static":
            quantize_static_file(self.input, out, self.reader, self.cache, method=o.method,
                                 percentile=o.percentile, op_types=o.quantized_ops,
                                 per_channel=o.per_channel,
                                 matmul_weights_only=o.matmul_weights_only, exclude=exclude,
                                 include=include)
        else:
            convert_fp16_file(self.input, out, exclude)
        return out


def _resolve_keep(groups: dict[str, list[str]], keep: Sequence[str]) -> list[str]:
    unknown = [g for g in keep if g not in groups]
    if unknown:
        raise UserError(f"unknown layer group(s) to keep in FP32: {', '.join(unknown)}; the "
                        f"model has {', '.join(groups)}")
    return [n for g in keep for n in groups[g]]


def _calibrate(source: SourceModel, options: QuantizeOptions, progress: ProgressFn,
               cancel: CancelToken) -> tuple[Optional[CalibrationReader], Optional[CalibrationSummary]]:
    if options.mode != "static":
        return None, None
    progress(0.0, "calibrate: reading the calibration audio")
    segments, summary = load_calibration(options.calibration, source.audio,
                                         options.calibration_segments, options.segment_seconds,
                                         options.method, cancel=cancel)
    return CalibrationReader(segments, source.audio, progress=progress, cancel=cancel), summary


def _precision(mode: str) -> str:
    return "fp16" if mode == "fp16" else "int8"


def _name(mode: str) -> str:
    return {"dynamic": "INT8 dynamic", "static": "INT8 static", "fp16": "FP16"}.get(mode, mode)


def quantize_model(model: Path | str, output_path: Optional[Path | str] = None,
                   options: QuantizeOptions = QuantizeOptions(), *, overwrite: bool = False,
                   on_sensitivity: Optional[SensitivityFn] = None,
                   progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> QuantizeResult:
    """Quantize ``model`` (a checkpoint or an FP32 ``.onnx``) as ``options`` say and keep the
    result at ``output_path`` (default beside the model: ``-int8``, ``-fp16``, ...)."""
    options.validate()
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    if options.mode == "qat":
        return _run_qat(model, output_path, options, overwrite, progress, cancel)
    start = time.perf_counter()
    model = Path(model).expanduser()
    out = Path(output_path).expanduser() if output_path else options.default_path(model)
    check_writable(out, overwrite)
    with tempfile.TemporaryDirectory(prefix="tfswa-quantize-") as tmp:
        work = Path(tmp)
        source = load_source(model, work, options.threads, scaled_progress(progress, 0, 0.15),
                             cancel)
        result = _quantize_source(source, out, options, work, on_sensitivity,
                                  scaled_progress(progress, 0.15, 0.97), cancel)
        progress(0.97, "save: writing the file")
        _save(result, work, out, overwrite)
    result.seconds = time.perf_counter() - start
    progress(1.0, f"save: {out.name}")
    return result


def _quantize_source(source: SourceModel, out: Path, options: QuantizeOptions, work: Path,
                     on_sensitivity: Optional[SensitivityFn], progress: ProgressFn,
                     cancel: CancelToken) -> QuantizeResult:
    progress(0.0, "prepare: evaluation songs and the FP32 answers")
    songs = load_eval_songs(options.eval_data, source.audio, options.eval_songs,
                            options.eval_seconds)
    evaluator = Evaluator(source.path, songs, options.threads, cancel)
    reader, calibration = _calibrate(source, options, scaled_progress(progress, 0.05, 0.25),
                                     cancel)
    maker = _Maker(source, options, work, reader)
    groups = layer_groups(maker.input, options.quantized_ops)
    if not groups:
        raise UserError(f"has no {'/'.join(options.quantized_ops)} operators to quantize",
                        source.origin)
    base_exclude = _resolve_keep(groups, options.keep_fp32)
    progress(0.25, f"quantize: {_name(options.mode)}")
    full_path = maker("full", base_exclude, None)
    cancel.check()
    progress(0.3, "measure: masks and SDR against FP32")
    full = evaluator.measure(full_path, _name(options.mode), _precision(options.mode),
                             list(options.keep_fp32))
    result = QuantizeResult(
        path=out, mode=options.mode, precision=_precision(options.mode), source=source.origin,
        fp32_path=source.path if not source.exported else None, quantized=full,
        fp32=evaluator.fp32_figures(source.exported), calibration=calibration,
        op_types=list(options.quantized_ops) if options.mode != "fp16" else [],
        budget_db=options.budget_db if options.uses_fallback else None,
        fp32_layers=list(options.keep_fp32), eval_songs=[s.name for s in songs],
        eval_seconds=options.eval_seconds, threads=evaluator.fp32.threads)
    final_path = _sensitivity_and_fallback(result, options, groups, maker, evaluator, full,
                                           full_path, base_exclude, on_sensitivity,
                                           scaled_progress(progress, 0.35, 0.85), cancel)
    progress(0.85, "measure: latency side by side with FP32")
    _latency(result, evaluator, full_path, final_path, options.latency_rounds)
    progress(0.92, "verify: batch sizes and lengths against FP32")
    _verify(result, evaluator, final_path, options.min_mask_snr_db, out)
    result.metadata = _metadata(result, source, options)
    result.quantized.path = final_path       # replaced by the kept file in _save
    result.notes += _notes(result, options)
    return result


def _sensitivity_and_fallback(result: QuantizeResult, options: QuantizeOptions, groups,
                              maker: _Maker, evaluator: Evaluator, full: VariantFigures,
                              full_path: Path, base_exclude, on_sensitivity, progress,
                              cancel) -> Path:
    if not options.uses_fallback:
        return full_path
    met = within_budget(full, options.budget_db)
    result.within_budget = met
    wanted = options.sensitivity == "always" or (options.sensitivity == "auto" and not met)
    if not wanted:
        return full_path
    free = {g: n for g, n in groups.items() if g not in options.keep_fp32}
    ranked = measure_sensitivity(free, maker, evaluator, full, options.strategy, base_exclude,
                                 on_sensitivity=on_sensitivity,
                                 progress=scaled_progress(progress, 0.0, 0.7), cancel=cancel)
    result.sensitivity = ranked
    if met:
        return full_path
    outcome = fallback(ranked, free, maker, evaluator, options.budget_db, full, full_path,
                       base_exclude, on_sensitivity=on_sensitivity,
                       progress=scaled_progress(progress, 0.7, 1.0), cancel=cancel)
    result.full_int8 = full
    result.quantized = outcome.figures
    result.fp32_layers = list(options.keep_fp32) + outcome.kept
    result.quantized.fp32_layers = list(result.fp32_layers)
    result.within_budget = outcome.met
    return outcome.path


def _latency(result: QuantizeResult, evaluator: Evaluator, full_path: Path, final_path: Path,
             rounds: int) -> None:
    paths = {"quantized": final_path}
    if final_path != full_path:
        paths["full"] = full_path
    ms = evaluator.latencies(paths, rounds)
    result.fp32.latency_ms = ms["fp32"]
    result.quantized.latency_ms = ms["quantized"]
    if result.full_int8 is not None:
        result.full_int8.latency_ms = ms.get("full")


def _verify(result: QuantizeResult, evaluator: Evaluator, path: Path, floor: float,
            out: Path) -> None:
    result.checks = evaluator.verify(path, floor)
    bad = [c for c in result.checks if not c.passed]
    if bad:
        worst = min(bad, key=lambda c: c.mask_snr_db)
        what = ("produced non-finite masks" if not worst.finite else
                f"masks differ from FP32: SNR {worst.mask_snr_db:.1f} dB < {floor:g} dB")
        raise QuantizationFailed(
            f"verification failed on input {'x'.join(map(str, worst.shape))}: the quantized "
            f"model {what}; no file was written", out, result.checks)


def _metadata(result: QuantizeResult, source: SourceModel, options: QuantizeOptions) -> dict:
    cal = result.calibration
    extra = {
        "quantized_ops": ",".join(result.op_types) or None,
        "per_channel": str(options.per_channel).lower() if options.mode == "static" else None,
        "matmul_weights_only": (str(options.matmul_weights_only).lower()
                                if options.mode == "static" else None),
        "calibration_method": cal.method if cal else None,
        "calibration_files": cal.files if cal else None,
        "calibration_segments": str(cal.segments) if cal else None,
        "calibration_segment_seconds": f"{cal.segment_seconds:g}" if cal else None,
        "fp32_layers": result.fp32_layers,
        "sdr_budget_db": f"{options.budget_db:g}" if result.budget_db is not None else None,
        "sdr_delta_db": {k: round(v, 4) for k, v in result.quantized.sdr_delta.items()},
        "eval_songs": result.eval_songs,
    }
    return quantization_metadata(source, result.precision, options.mode, extra)


def _notes(result: QuantizeResult, options: QuantizeOptions) -> list[str]:
    notes = []
    if result.faster is False:
        notes.append(f"{_name(options.mode)} is not faster than FP32 on this CPU "
                     f"({result.quantized.latency_ms:.1f} ms vs {result.fp32.latency_ms:.1f} ms "
                     "per segment); it is still smaller")
    if options.mode == "fp16":
        notes.append(FP16_NOTE)
    if result.calibration and result.calibration.resampled:
        notes.append("resampled to the model's rate for calibration: "
                     + ", ".join(result.calibration.resampled))
    if result.within_budget is False:
        notes.append(f"the SDR loss stays above the {options.budget_db:g} dB budget even with "
                     f"{len(result.fp32_layers)} layer groups in FP32")
    if result.full_int8 is not None and result.full_int8.latency_ms and result.quantized.latency_ms:
        notes.append(f"keeping {', '.join(result.fp32_layers)} in FP32 costs "
                     f"{result.quantized.latency_ms - result.full_int8.latency_ms:+.1f} ms per "
                     "segment against the fully quantized model")
    return notes


def _save(result: QuantizeResult, work: Path, out: Path, overwrite: bool) -> None:
    """Write the verified file with its metadata under a temporary name, then rename."""
    final = result.quantized.path
    try:
        with atomic_path(out, overwrite) as tmp:
            write_metadata(final, result.metadata)
            tmp.write_bytes(final.read_bytes())
    except OSError as exc:
        raise describe_os_error(exc, out) from exc
    result.quantized.path = out
    result.quantized.file_size = out.stat().st_size


def _run_qat(model, output_path, options: QuantizeOptions, overwrite: bool,
             progress: ProgressFn, cancel: CancelToken) -> QuantizeResult:
    """Quantization-aware training (:func:`app.core.quantization.qat.quantize_qat`), then the
    same measurements and checks as the other modes, against the checkpoint's FP32 export."""
    if not qat_available():
        raise UserError("quantization-aware training needs PyTorch, which is not installed "
                        "here", hint="Install the full app (with PyTorch), or use --mode "
                        "static with the FP32 fallback.")
    from .qat import quantize_qat

    start = time.perf_counter()
    model = Path(model).expanduser()
    if model.suffix.lower() == ".onnx":
        raise UserError("is an ONNX file: quantization-aware training fine-tunes the PyTorch "
                        "weights", model, "Give the checkpoint it was exported from.")
    out = Path(output_path).expanduser() if output_path else options.default_path(model)
    check_writable(out, overwrite)
    with tempfile.TemporaryDirectory(prefix="tfswa-quantize-") as tmp:
        work = Path(tmp)
        source = load_source(model, work, options.threads, scaled_progress(progress, 0, 0.1),
                             cancel)
        trained = quantize_qat(model, work / "qat-int8.onnx", data=options.qat_data,
                               steps=options.qat_steps, threads=options.threads,
                               progress=scaled_progress(progress, 0.1, 0.7), cancel=cancel)
        progress(0.7, "measure: masks and SDR against FP32")
        songs = load_eval_songs(options.eval_data, source.audio, options.eval_songs,
                                options.eval_seconds)
        evaluator = Evaluator(source.path, songs, options.threads, cancel)
        figures = evaluator.measure(trained.path, "INT8 QAT", "int8", [])
        result = QuantizeResult(
            path=out, mode="qat", precision="int8", source=source.origin, fp32_path=None,
            quantized=figures, fp32=evaluator.fp32_figures(source.exported),
            op_types=[t for t in trained.metadata.get("op_types", "").split(",") if t],
            budget_db=None, fp32_layers=[], eval_songs=[song.name for song in songs],
            eval_seconds=options.eval_seconds, threads=evaluator.fp32.threads)
        progress(0.85, "measure: latency side by side with FP32")
        _latency(result, evaluator, trained.path, trained.path, options.latency_rounds)
        progress(0.92, "verify: batch sizes and lengths against FP32")
        _verify(result, evaluator, trained.path, options.min_mask_snr_db, out)
        result.metadata = {**trained.metadata, **_metadata(result, source, options)}
        result.quantized.path = trained.path
        result.notes += _notes(result, options) + trained.warnings + [
            f"QAT: {trained.steps} steps on {trained.data} in {trained.train_seconds:.0f} s, "
            f"loss {trained.initial_loss:.4f} -> {trained.final_loss:.4f}"]
        progress(0.97, "save: writing the file")
        _save(result, work, out, overwrite)
    result.seconds = time.perf_counter() - start
    progress(1.0, f"save: {out.name}")
    return result


# ----------------------------------------------------------------------------- the report's names

def quantize_dynamic(model: Path | str, output_path: Optional[Path | str] = None, *,
                     progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                     overwrite: bool = False, on_sensitivity: Optional[SensitivityFn] = None,
                     **options) -> QuantizeResult:
    """Dynamic INT8 (MatMul/Gemm by default); ``options`` are :class:`QuantizeOptions` fields."""
    return quantize_model(model, output_path, QuantizeOptions(mode="dynamic", **options),
                          overwrite=overwrite, on_sensitivity=on_sensitivity,
                          progress=progress, cancel=cancel)


def quantize_static(model: Path | str, output_path: Optional[Path | str] = None, *,
                    progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                    overwrite: bool = False, on_sensitivity: Optional[SensitivityFn] = None,
                    **options) -> QuantizeResult:
    """Static QDQ INT8 calibrated on audio, with the FP32 fallback within ``budget_db``."""
    return quantize_model(model, output_path, QuantizeOptions(mode="static", **options),
                          overwrite=overwrite, on_sensitivity=on_sensitivity,
                          progress=progress, cancel=cancel)


def quantize_fp16(model: Path | str, output_path: Optional[Path | str] = None, *,
                  progress: Optional[ProgressFn] = None, cancel: Optional[CancelToken] = None,
                  overwrite: bool = False, **options) -> QuantizeResult:
    """FP16 weights and arithmetic, FP32 inputs and outputs."""
    return quantize_model(model, output_path, QuantizeOptions(mode="fp16", **options),
                          overwrite=overwrite, progress=progress, cancel=cancel)
