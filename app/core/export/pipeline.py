"""Export a model to ONNX or TorchScript, verified against PyTorch before it is kept.

An export runs in stages (prepare, export, simplify or freeze, verify) reported through the
job contract's ``progress(fraction, "stage: detail")``. The artifact is written under a
temporary name beside the target and renamed only after it passed verification: the
artifact (an ONNX Runtime session, or the TorchScript file loaded back) is run on several
input shapes, including batch sizes and frame counts other than the export's, and compared
with the PyTorch model; an MSE above :data:`MSE_LIMIT` or any non-finite output fails the
export and leaves no file. Every artifact carries the audio config (and model config,
preset, sources, precision, producer) so it can be used without the checkpoint.

This module is the export API that the CLI, the Export tab and the benchmarks use (every
name they import from it stays importable here). The steps live beside it:
:mod:`app.core.model.optimize` (batch norms folded into convolutions),
:mod:`app.core.export.onnx` (PyTorch's ONNX exporters, which one is the default and why, and
the checks on the graph), :mod:`app.core.export.onnx_dynamo` (what the torch.export-based exporter
needs), :mod:`app.core.export.torchscript`, :mod:`app.core.export.verify` (the comparison with
PyTorch) and :mod:`app.core.export.errors`.
"""

from __future__ import annotations

import contextlib
import copy
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import torch
from torch import nn

from ..artifacts import INPUT_NAME, OUTPUT_NAME, artifact_metadata
from ..checkpoint import ModelBundle
from ..config import AudioConfig, default_audio
from ..files import atomic_path, check_free_space, check_writable, describe_os_error
from ..jobs import CancelToken, ProgressFn, UserError, ensure_token, first_line, no_progress
from ..model import count_parameters, use_fixed_shapes
from ..model.optimize import (FOLDABLE, fold_batchnorms, optimize_for_inference,
                              prepare_for_mobile)
from ..userdata import record_export
from .errors import ExportError, VerificationFailed
from .onnx import (DEFAULT_OPSET, DEFAULT_OPSETS, ONNX_EXPORTERS, OPSET_RANGE, check_onnx_choice,
                   check_onnx_file, exporter_failure, fill_resize_roi, fix_io_and_metadata,
                   normalize_dynamic_axes, onnx_operator_counts, run_onnx_exporter)
from .stages import ExportRun, StageTime
from .torchscript import (TORCHSCRIPT_METHODS, compile_torchscript, freeze_and_save,
                          torchscript_operator_counts)
from .verify import (MSE_LIMIT, VERIFY_FRAMES, ShapeCheck, VerificationReport, compare_outputs,
                     test_magnitudes, verification_shapes, verify_artifact, verify_onnx,
                     verify_torchscript)

__all__ = [
    # export
    "ExportOptions", "ExportResult", "StageTime", "STAGES", "export_bundle", "export_to_onnx",
    "export_to_torchscript", "variant_figures", "variant_name",
    # errors
    "ExportError", "VerificationFailed",
    # ONNX and TorchScript steps
    "DEFAULT_OPSET", "DEFAULT_OPSETS", "INPUT_NAME", "ONNX_EXPORTERS", "OPSET_RANGE",
    "OUTPUT_NAME", "TORCHSCRIPT_METHODS", "normalize_dynamic_axes", "onnx_operator_counts",
    "torchscript_operator_counts",
    # folding
    "FOLDABLE", "fold_batchnorms", "optimize_for_inference",
    # verification
    "MSE_LIMIT", "VERIFY_FRAMES", "ShapeCheck", "VerificationReport", "compare_outputs",
    "test_magnitudes", "verification_shapes", "verify_artifact", "verify_onnx",
    "verify_torchscript",
]

STAGES = {"onnx": ("prepare", "export", "simplify", "verify"),
          "torchscript": ("prepare", "export", "freeze", "verify")}


# ----------------------------------------------------------------------------- results

@dataclass
class ExportResult:
    path: Path
    format: str                       # "onnx" | "torchscript"
    method: str                       # ONNX exporter ("trace"/"dynamo") or TorchScript method
    opset: Optional[int]
    simplified: bool
    file_size: int
    nodes: int                        # graph nodes (ONNX) / graph operations (TorchScript)
    operators: dict[str, int]         # node count per operator type
    dynamic_axes: dict[str, dict[int, str]]
    input_shape: list[int]            # the example input the export traced
    folded_batchnorms: list[str]      # BN layers folded into the preceding conv
    export_seconds: float
    stages: list[StageTime]
    metadata: dict[str, str]
    verification: Optional[VerificationReport]
    warnings: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verification is None or self.verification.passed

    @property
    def precision(self) -> str:
        return self.metadata.get("precision", "fp32")

    def top_operators(self, n: int = 6) -> list[tuple[str, int]]:
        """The ``n`` most used operator types with their counts, most used first."""
        return sorted(self.operators.items(), key=lambda kv: -kv[1])[:n]

    def time_text(self) -> str:
        """The total and each stage's time: "6.1 s (prepare 0.2 s, export 0.7 s, ...)"."""
        return (f"{self.export_seconds:.1f} s ("
                + ", ".join(f"{s.name} {s.seconds:.1f} s" for s in self.stages) + ")")


# ----------------------------------------------------------------------------- preparing

class _Prepared(NamedTuple):
    reference: nn.Module              # the model as given, in eval mode: what verify compares to
    model: nn.Module                  # the copy to export (batch norms folded, frozen)
    audio: AudioConfig
    out_shape: list[int]              # the model's output for the example input
    folded: list[str]
    dummy: torch.Tensor               # the example input, float32 on the CPU


def _prepare(model: nn.Module, dummy_input: torch.Tensor, audio: Optional[AudioConfig],
             fold: bool) -> _Prepared:
    """Check the model against the example input and make the copy to export."""
    if not isinstance(dummy_input, torch.Tensor) or dummy_input.dim() != 4:
        raise ExportError("the example input must be a 4-D tensor (batch, channels, bins, "
                          f"frames), got {getattr(dummy_input, 'shape', type(dummy_input))}")
    dummy_input = dummy_input.detach().float().cpu()
    reference = model.eval().float().cpu()
    audio = audio or default_audio(model)
    if dummy_input.shape[2] != audio.n_bins:
        raise ExportError(f"the example input has {dummy_input.shape[2]} bins but the audio "
                          f"config (n_fft {audio.n_fft}) gives {audio.n_bins}")
    with torch.inference_mode():
        out = reference(dummy_input)
    if out.dim() != 5 or out.shape[1] != len(audio.sources):
        raise ExportError(f"the model returns shape {list(out.shape)}; expected (batch, "
                          f"{len(audio.sources)} sources, channels, bins, frames)")
    export_model = copy.deepcopy(reference)
    folded = fold_batchnorms(export_model) if fold else []
    for p in export_model.parameters():
        p.requires_grad_(False)
    return _Prepared(reference, export_model, audio, list(out.shape), folded, dummy_input)


def _prepare_stage(run: ExportRun, model: nn.Module, dummy_input: torch.Tensor,
                   audio: Optional[AudioConfig], fold: bool) -> _Prepared:
    with run.stage("prepare", 0.0, 0.05) as (sub, rec):
        sub(0.0, "prepare: checking the model and folding batch norms")
        prepared = _prepare(model, dummy_input, audio, fold)
        rec.note = f"{len(prepared.folded)} batch norms folded"
    return prepared


@contextlib.contextmanager
def _writing(path: Path):
    """Turn OSErrors while writing the artifact into messages that say what to do."""
    try:
        yield
    except OSError as exc:
        raise describe_os_error(exc, path) from exc


def _check_space(model: nn.Module, output_path: Path) -> None:
    """The artifact holds every weight as float32 plus the graph: refuse before writing
    when that will not fit (a TorchScript writer hitting a full disk aborts the process)."""
    weights = sum(t.numel() * 4 for t in model.state_dict().values())
    check_free_space(output_path, int(weights * 1.1) + (1 << 20), "the exported model")


def _simplify(proto):
    """onnxslim's simplified graph, its console output dropped."""
    import onnxslim

    with contextlib.redirect_stdout(io.StringIO()):
        return onnxslim.slim(proto)


# ----------------------------------------------------------------------------- ONNX

def export_to_onnx(model: nn.Module, dummy_input: torch.Tensor, output_path: Path | str,
                   dynamic_axes: Optional[Mapping[str, Mapping[int, str]]] = None,
                   opset_version: Optional[int] = None, simplify: bool = True,
                   verify: bool = True, *, exporter: str = "trace",
                   audio: Optional[AudioConfig] = None,
                   metadata: Optional[Mapping[str, Any]] = None, fold_batchnorm: bool = True,
                   overwrite: bool = False, verify_frames: Sequence[int] = VERIFY_FRAMES,
                   threads: Optional[int] = None, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None, fixed_shapes: bool = False,
                   mobile: Optional[str] = None) -> ExportResult:
    """Export ``model`` to an ONNX file (batch and frames dynamic by default), simplify it
    with onnxslim, check it, verify it with ONNX Runtime against PyTorch, then keep it.

    ``fixed_shapes``: every axis fixed to the example input's (one segment length, batch 1);
    the Swin masks, position bias and padding become constants and no shape arithmetic is
    left (what NNAPI and CoreML need); verified at that shape only. ``mobile`` ("coreml" or
    "nnapi", implies ``fixed_shapes``) also swaps the modules whose operators that runtime
    lacks (:func:`app.core.model.optimize.prepare_for_mobile`).

    ``audio`` is the config stored in the file (the bundle's; a default otherwise);
    ``metadata`` adds key/value pairs. Raises :class:`ExportError` (a :class:`UserError`)
    with what to try, or :class:`VerificationFailed`; either way no file is left.
    """
    cancel = ensure_token(cancel)
    opset_version = check_onnx_choice(exporter, opset_version)
    output_path = Path(output_path)
    check_writable(output_path, overwrite)
    if mobile not in (None, "coreml", "nnapi"):
        raise ExportError(f"unknown mobile target '{mobile}'; choose coreml or nnapi")
    fixed_shapes = fixed_shapes or mobile is not None
    axes = {} if fixed_shapes else normalize_dynamic_axes(dynamic_axes)
    run = ExportRun(progress or no_progress)
    prep = _prepare_stage(run, model, dummy_input, audio, fold_batchnorm)
    extra = dict(metadata or {})
    if fixed_shapes:
        use_fixed_shapes(prep.model)
        verify_frames = ()                       # the file accepts the example's shape only
        extra.update(fixed_shape="x".join(str(n) for n in prep.dummy.shape))
    if mobile:
        prepare_for_mobile(prep.model, nnapi=mobile == "nnapi")
        extra.update(mobile=mobile)
    meta = artifact_metadata(prep.audio, getattr(model, "config", None), "fp32",
                             exporter=exporter, opset=str(opset_version),
                             parameters=str(count_parameters(model)), **extra)
    cancel.check()
    _check_space(prep.model, output_path)

    import onnx

    with atomic_path(output_path, overwrite) as tmp, _writing(output_path):
        with run.stage("export", 0.05, 0.45) as (sub, rec):
            sub(0.0, f"export: {ONNX_EXPORTERS[exporter]}, opset {opset_version}")
            try:
                with run.collect_warnings(), torch.no_grad():
                    run_onnx_exporter(prep.model, prep.dummy, tmp, axes, opset_version, exporter)
            except (OSError, UserError):
                raise
            except Exception as exc:
                raise exporter_failure(exc, exporter, opset_version) from None
            proto = onnx.load(str(tmp))
            fix_io_and_metadata(proto, prep.out_shape, axes, meta, output_path)
            onnx.save(proto, str(tmp))
            check_onnx_file(tmp)
            rec.note = f"{len(proto.graph.node)} nodes"
        cancel.check()
        proto, simplified = _simplify_stage(run, simplify, proto, tmp, prep, axes, meta,
                                            output_path)
        if fixed_shapes and fill_resize_roi(proto):
            onnx.save(proto, str(tmp))
        cancel.check()
        report = run.verify(0.6, verify, prep.dummy, verify_frames, output_path,
                            lambda shapes, sub: verify_onnx(tmp, prep.reference, shapes, threads,
                                                            progress=sub, cancel=cancel))

    ops = onnx_operator_counts(proto)
    return ExportResult(
        path=output_path, format="onnx", method=exporter, opset=int(opset_version),
        simplified=simplified, file_size=output_path.stat().st_size,
        nodes=sum(ops.values()), operators=dict(ops.most_common()), dynamic_axes=axes,
        input_shape=list(prep.dummy.shape), folded_batchnorms=prep.folded,
        export_seconds=run.seconds, stages=run.stages, metadata=meta,
        verification=report, warnings=run.notes)


def _simplify_stage(run: ExportRun, enabled: bool, proto, tmp: Path, prep: _Prepared, axes,
                    meta: dict[str, str], output_path: Path):
    """(graph, simplified): onnxslim's graph, checked and written to ``tmp``; or, when it is
    disabled or fails (said in the warnings), the graph as exported."""
    import onnx

    simplified = False
    with run.stage("simplify", 0.45, 0.6) as (sub, rec):
        if enabled:
            sub(0.0, "simplify: onnxslim")
            before = len(proto.graph.node)
            try:
                slim = _simplify(proto)
            except Exception as exc:  # keep the checked, unsimplified graph
                run.notes.append(f"simplification failed ({first_line(str(exc))}); "
                                 "the unsimplified graph was kept")
            else:
                fix_io_and_metadata(slim, prep.out_shape, axes, meta, output_path)
                onnx.save(slim, str(tmp))
                check_onnx_file(tmp)
                proto, simplified = slim, True
                rec.note = f"{before} -> {len(proto.graph.node)} nodes"
        else:
            rec.note = "skipped"
    return proto, simplified


# ----------------------------------------------------------------------------- TorchScript

def export_to_torchscript(model: nn.Module, dummy_input: torch.Tensor, output_path: Path | str,
                          method: str = "trace", verify: bool = True, *,
                          audio: Optional[AudioConfig] = None,
                          metadata: Optional[Mapping[str, Any]] = None,
                          fold_batchnorm: bool = True, overwrite: bool = False,
                          verify_frames: Sequence[int] = VERIFY_FRAMES,
                          progress: Optional[ProgressFn] = None,
                          cancel: Optional[CancelToken] = None) -> ExportResult:
    """Trace (or script) ``model``, freeze it and save it with its description among the
    archive's extra files; verify the file loaded back against PyTorch on several shapes
    (a trace must still accept other batch sizes and lengths), then keep it."""
    cancel = ensure_token(cancel)
    if method not in TORCHSCRIPT_METHODS:
        raise ExportError(f"unknown TorchScript method '{method}'; choose trace or script")
    output_path = Path(output_path)
    check_writable(output_path, overwrite)
    run = ExportRun(progress or no_progress)
    prep = _prepare_stage(run, model, dummy_input, audio, fold_batchnorm)
    meta = artifact_metadata(prep.audio, getattr(model, "config", None), "fp32",
                             method=method, parameters=str(count_parameters(model)),
                             **dict(metadata or {}))
    cancel.check()
    _check_space(prep.model, output_path)

    with atomic_path(output_path, overwrite) as tmp, _writing(output_path):
        with run.stage("export", 0.05, 0.35) as (sub, rec):
            sub(0.0, f"export: torch.jit.{method}")
            with run.collect_warnings():
                compiled = compile_torchscript(prep.model, prep.dummy, method)
        cancel.check()
        with run.stage("freeze", 0.35, 0.45) as (sub, rec):
            sub(0.0, "freeze: inlining weights")
            frozen = freeze_and_save(compiled, tmp, meta)
            ops = torchscript_operator_counts(frozen)
            rec.note = f"{sum(ops.values())} graph operations"
        cancel.check()
        report = run.verify(0.45, verify, prep.dummy, verify_frames, output_path,
                            lambda shapes, sub: verify_torchscript(tmp, prep.reference, shapes,
                                                                   progress=sub, cancel=cancel))
    record_export(output_path)   # this very file may be loaded later without asking

    return ExportResult(
        path=output_path, format="torchscript", method=method, opset=None, simplified=False,
        file_size=output_path.stat().st_size, nodes=sum(ops.values()),
        operators=dict(ops.most_common()), dynamic_axes={INPUT_NAME: {0: "batch", 3: "frames"}},
        input_shape=list(prep.dummy.shape), folded_batchnorms=prep.folded,
        export_seconds=run.seconds, stages=run.stages, metadata=meta,
        verification=report, warnings=run.notes)


# ----------------------------------------------------------------------------- bundles

@dataclass(frozen=True)
class ExportOptions:
    """What the CLI and the Export tab ask for."""
    format: str = "onnx"              # "onnx" | "torchscript"
    opset: Optional[int] = None       # ONNX: None = DEFAULT_OPSETS[exporter]
    exporter: str = "trace"           # ONNX: "trace" (dynamo=False) | "dynamo"
    simplify: bool = True             # ONNX: onnxslim
    method: str = "trace"             # TorchScript: "trace" | "script"
    fold_batchnorm: bool = True
    frames: Optional[int] = None      # example input length; default: one training segment
    verify_frames: tuple[int, ...] = VERIFY_FRAMES
    fixed_shapes: bool = False        # ONNX: all axes fixed to the example input's
    mobile: Optional[str] = None      # ONNX: "coreml" | "nnapi" (fixed shapes, module swaps)

    def validate(self) -> None:
        if self.format not in STAGES:
            raise ExportError(f"unknown export format '{self.format}'; choose onnx or torchscript")
        if self.format == "onnx":
            check_onnx_choice(self.exporter, self.opset)
        elif self.method not in TORCHSCRIPT_METHODS:
            raise ExportError(f"unknown TorchScript method '{self.method}'; choose trace or script")
        if self.frames is not None and self.frames < 1:
            raise ExportError("the example input needs at least one frame")
        if self.mobile not in (None, "coreml", "nnapi"):
            raise ExportError(f"unknown mobile target '{self.mobile}'; choose coreml or nnapi")
        if (self.fixed_shapes or self.mobile) and (self.format != "onnx"
                                                   or self.exporter != "trace"):
            raise ExportError("fixed-shape and mobile exports are made by the ONNX 'trace' "
                              "exporter only (--format onnx --exporter trace)")

    @property
    def onnx_opset(self) -> int:
        return int(self.opset or DEFAULT_OPSETS.get(self.exporter, DEFAULT_OPSET))

    @property
    def suffix(self) -> str:
        if self.format != "onnx":
            return "-torchscript.pt"
        if self.mobile:
            return f"-{self.mobile}.onnx"
        return "-fixed.onnx" if self.fixed_shapes else ".onnx"

    def default_path(self, source: Path | str) -> Path:
        """Beside the checkpoint: ``model.onnx`` (``model-fixed.onnx``, ``model-coreml.onnx``,
        ``model-nnapi.onnx``) / ``model-torchscript.pt``."""
        source = Path(source)
        return source.with_name(source.stem + self.suffix)


def export_bundle(bundle: ModelBundle, output_path: Path | str,
                  options: ExportOptions = ExportOptions(), *, overwrite: bool = False,
                  threads: Optional[int] = None, progress: Optional[ProgressFn] = None,
                  cancel: Optional[CancelToken] = None) -> ExportResult:
    """Export a model bundle with ``options``; the artifact carries the bundle's configs."""
    options.validate()
    audio = bundle.audio
    frames = options.frames or audio.segment_frames
    dummy = torch.from_numpy(test_magnitudes((1, audio.channels, audio.n_bins, frames)))
    extra = {"source_checkpoint": bundle.path.name if bundle.path else None,
             "trained": bundle.metadata.get("trained")}
    model = bundle.build()
    if options.format == "onnx":
        return export_to_onnx(model, dummy, output_path, opset_version=options.onnx_opset,
                              simplify=options.simplify, exporter=options.exporter, audio=audio,
                              metadata=extra, fold_batchnorm=options.fold_batchnorm,
                              overwrite=overwrite, verify_frames=options.verify_frames,
                              threads=threads, progress=progress, cancel=cancel,
                              fixed_shapes=options.fixed_shapes, mobile=options.mobile)
    return export_to_torchscript(model, dummy, output_path, method=options.method, audio=audio,
                                 metadata=extra, fold_batchnorm=options.fold_batchnorm,
                                 overwrite=overwrite, verify_frames=options.verify_frames,
                                 progress=progress, cancel=cancel)


def variant_name(result: ExportResult) -> str:
    """How the workspace lists an export, e.g. "ONNX FP32 (opset 17)"."""
    if result.format == "onnx":
        return f"ONNX {result.precision.upper()} (opset {result.opset}) - {result.path.name}"
    return f"TorchScript {result.precision.upper()} ({result.method}) - {result.path.name}"


def variant_figures(result: ExportResult) -> dict[str, Any]:
    """The figures an export contributes to its workspace variant."""
    v = result.verification
    return {"file_size": result.file_size, "nodes": result.nodes,
            "export_seconds": result.export_seconds,
            "verified": v.passed if v else None,
            "worst_mse": v.worst_mse if v else None,
            "min_snr_db": v.min_snr_db if v else None}
