"""Export a model to ONNX or TorchScript, verified against PyTorch before it is kept.

An export runs in stages (prepare, export, simplify or freeze, verify) reported through the
job contract's ``progress(fraction, "stage: detail")``. The artifact is written under a
temporary name beside the target and renamed only after it passed verification: the
artifact (an ONNX Runtime session, or the TorchScript file loaded back) is run on several
input shapes, including batch sizes and frame counts other than the export's, and compared
with the PyTorch model; an MSE above :data:`MSE_LIMIT` or any non-finite output fails the
export and leaves no file. Every artifact carries the audio config (and model config,
preset, sources, precision, producer) so it can be used without the checkpoint.

Which ONNX exporter: both of PyTorch's exporters give a correct graph with dynamic batch and
frame axes for TFSWA-UNet. The TorchScript-based one (``dynamo=False``, "trace") is the
default: ONNX Runtime runs its graph faster (medium preset: about 20 % less time per
segment, measured side by side; the dynamo graph leaves more Add and Transpose nodes
unfused, see docs/benchmarks.md), and it exports in seconds where torch.export spends a
minute or more on symbolic shape reasoning over the padding arithmetic. The torch.export-based
one ("dynamo", needs onnxscript) stays available for when the former is retired; it gets a
translation for ``aten.remainder`` by a symbolic divisor, which its op library lacks.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import re
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .artifacts import TORCHSCRIPT_EXTRA_FILE, artifact_metadata
from .checkpoint import ModelBundle
from .config import AudioConfig
from .files import atomic_path, check_writable, describe_os_error
from .jobs import CancelToken, ProgressFn, UserError, ensure_token, no_progress, scaled_progress
from .model.blocks import ResBlock

INPUT_NAME = "magnitude"
OUTPUT_NAME = "masks"
# Per exporter. The dynamo exporter writes GELU as Erf arithmetic below opset 20, which
# ONNX Runtime 1.32 leaves unfused (its medium-preset session ran 20 % slower at opset 18);
# opset 20 has a Gelu operator. The trace exporter's Erf pattern is fused either way.
DEFAULT_OPSETS = {"trace": 17, "dynamo": 20}
DEFAULT_OPSET = DEFAULT_OPSETS["trace"]
ONNX_EXPORTERS = {
    "trace": "TorchScript-based ONNX exporter (dynamo=False)",
    "dynamo": "torch.export-based ONNX exporter (dynamo=True)",
}
OPSET_RANGE = {"trace": (14, 20), "dynamo": (18, 23)}
TORCHSCRIPT_METHODS = ("trace", "script")
MSE_LIMIT = 1e-5
VERIFY_FRAMES = (1, 37, 259, 1000)
STAGES = {"onnx": ("prepare", "export", "simplify", "verify"),
          "torchscript": ("prepare", "export", "freeze", "verify")}
# conv -> batch norm pairs that are adjacent in a module's forward, foldable into the conv.
FOLDABLE: dict[type, tuple[tuple[str, str], ...]] = {ResBlock: (("conv1", "norm2"),)}


class ExportError(UserError):
    """An export that could not be completed; the message says what to try."""


class VerificationFailed(ExportError):
    """The artifact's outputs differ from PyTorch's; ``report`` holds the measurements."""

    def __init__(self, message: str, path, hint: str, report: "VerificationReport"):
        super().__init__(message, path, hint)
        self.report = report


# ----------------------------------------------------------------------------- results

@dataclass
class ShapeCheck:
    """The artifact against PyTorch on one input shape ``(batch, channels, bins, frames)``."""
    shape: list[int]
    max_abs_error: float
    mse: float
    snr_db: float            # mask energy over error energy; inf when identical
    finite: bool
    seconds: float           # time the artifact took for this input
    passed: bool

    @property
    def label(self) -> str:
        return f"{self.shape[0]}x{self.shape[3]}"   # batch x frames: what varies


@dataclass
class VerificationReport:
    runtime: str             # what ran the artifact, e.g. "onnxruntime 1.20 (CPUExecutionProvider)"
    mse_limit: float
    checks: list[ShapeCheck] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def worst_mse(self) -> float:
        return max((c.mse for c in self.checks), default=float("nan"))

    @property
    def worst_max_abs_error(self) -> float:
        return max((c.max_abs_error for c in self.checks), default=float("nan"))

    @property
    def min_snr_db(self) -> float:
        return min((c.snr_db for c in self.checks), default=float("nan"))


@dataclass
class StageTime:
    name: str
    seconds: float
    note: str = ""


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


# ----------------------------------------------------------------------------- inference copy

def fold_batchnorms(model: nn.Module) -> list[str]:
    """Fold each batch norm that directly follows a convolution into that convolution, in
    place (eval mode only); returns the names of the folded norms.

    In TFSWA-UNet's pre-activation residual blocks (BN, GELU, conv; BN, GELU, conv) only the
    second BN follows a conv directly; the first sits on the block's input ahead of a GELU,
    and a BN cannot move through a nonlinearity.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise ValueError("batch norms can only be folded in eval mode")
    folded = []
    for name, module in model.named_modules():
        for conv_name, bn_name in FOLDABLE.get(type(module), ()):
            conv, bn = getattr(module, conv_name), getattr(module, bn_name)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, nn.Identity())
                folded.append(f"{name}.{bn_name}" if name else bn_name)
    return folded


def optimize_for_inference(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Eval mode, batch norms folded into convolutions, parameters frozen (no gradients).

    Returns a copy unless ``inplace``; its outputs match the original's (to float rounding).
    The names of the folded norms are in ``model.folded_batchnorms``.
    """
    out = model if inplace else copy.deepcopy(model)
    out.eval()
    folded = fold_batchnorms(out)
    for p in out.parameters():
        p.requires_grad_(False)
    out.folded_batchnorms = folded
    return out


# ----------------------------------------------------------------------------- verification

def verification_shapes(channels: int, bins: int, export_frames: int,
                        frames: Sequence[int] = VERIFY_FRAMES) -> list[tuple[int, int, int, int]]:
    """Input shapes to verify on: every frame count in ``frames`` plus the export's, at
    batch 1, and batch 2 for two of them, so both dynamic axes move away from the export's
    values."""
    counts = list(dict.fromkeys([*frames, export_frames]))
    shapes = [(1, channels, bins, t) for t in counts]
    shapes += [(2, channels, bins, t) for t in counts[1:3]]
    return shapes


def test_magnitudes(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """Nonnegative, heavy-tailed values like a magnitude spectrogram (deterministic)."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(tuple(shape)) ** 2 * 4.0).astype(np.float32)


def compare_outputs(ref: np.ndarray, out: np.ndarray, shape, seconds: float,
                    mse_limit: float = MSE_LIMIT) -> ShapeCheck:
    finite = bool(np.isfinite(out).all())
    if out.shape != ref.shape:
        return ShapeCheck(list(shape), float("inf"), float("inf"), float("-inf"), finite,
                          seconds, False)
    err = out.astype(np.float64) - ref.astype(np.float64)
    if finite:
        max_abs = float(np.abs(err).max()) if err.size else 0.0
        mse = float(np.mean(err ** 2)) if err.size else 0.0
        noise = float(np.sum(err ** 2))
        signal = float(np.sum(ref.astype(np.float64) ** 2))
        snr = float("inf") if noise == 0 else 10.0 * np.log10(max(signal, 1e-30) / noise)
    else:
        max_abs, mse, snr = float("inf"), float("inf"), float("-inf")
    return ShapeCheck(list(shape), max_abs, mse, float(snr), finite, seconds,
                      finite and mse <= mse_limit)


def verify_artifact(run: Callable[[np.ndarray], np.ndarray], reference: nn.Module,
                    shapes: Iterable[Sequence[int]], runtime: str, *,
                    mse_limit: float = MSE_LIMIT, progress: Optional[ProgressFn] = None,
                    cancel: Optional[CancelToken] = None) -> VerificationReport:
    """Run ``run`` (the artifact) and ``reference`` (PyTorch) on each shape and compare."""
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    shapes = [tuple(int(s) for s in shape) for shape in shapes]
    report = VerificationReport(runtime, mse_limit)
    reference = reference.eval()
    for i, shape in enumerate(shapes):
        cancel.check()
        progress(i / len(shapes), f"verify: input {'x'.join(map(str, shape))}")
        x = test_magnitudes(shape, seed=i)
        with torch.inference_mode():
            ref = reference(torch.from_numpy(x)).numpy()
        start = time.perf_counter()
        try:
            out = np.asarray(run(x))
        except Exception as exc:  # the runtime rejected this shape: a fixed axis, usually
            raise ExportError(
                f"the exported model fails on input shape {list(shape)}: "
                f"{_first_line(str(exc))}", None,
                "An axis that should be dynamic was probably fixed during export. Try the "
                "other exporter or method, or report the model config.") from None
        report.checks.append(compare_outputs(ref, out, shape, time.perf_counter() - start,
                                             mse_limit))
    progress(1.0, "verify: done")
    return report


def _ort_runtime_label(session) -> str:
    import onnxruntime as ort

    return f"onnxruntime {ort.__version__} ({session.get_providers()[0]})"


def verify_onnx(path: Path, reference: nn.Module, shapes, threads: Optional[int] = None, *,
                progress: Optional[ProgressFn] = None,
                cancel: Optional[CancelToken] = None) -> VerificationReport:
    """Verify an ONNX file with the same session options separation uses."""
    from .onnx_backend import open_session

    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    return verify_artifact(lambda x: session.run(None, {name: x})[0], reference, shapes,
                           _ort_runtime_label(session), progress=progress, cancel=cancel)


def verify_torchscript(path: Path, reference: nn.Module, shapes, *,
                       progress: Optional[ProgressFn] = None,
                       cancel: Optional[CancelToken] = None) -> VerificationReport:
    """Verify a TorchScript file loaded back from disk."""
    from .torchscript_backend import load_torchscript

    module = load_torchscript(path)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(x)).numpy()

    return verify_artifact(run, reference, shapes, f"TorchScript (torch {torch.__version__})",
                           progress=progress, cancel=cancel)


def _check_verification(report: VerificationReport, path: Path) -> None:
    if report.passed:
        return
    bad = [c for c in report.checks if not c.passed]
    worst = max(bad, key=lambda c: c.mse)
    what = ("produced non-finite values (NaN or inf)" if not worst.finite else
            f"differs from PyTorch: MSE {worst.mse:.3g} > {report.mse_limit:g}, "
            f"max abs error {worst.max_abs_error:.3g}, SNR {worst.snr_db:.1f} dB")
    shapes = (f"all {len(bad)} input shapes tested" if len(bad) == len(report.checks) else
              "input " + ", ".join("x".join(map(str, c.shape)) for c in bad))
    raise VerificationFailed(
        f"verification failed: on {shapes} the exported model {what}; "
        "no file was written", path,
        "Try exporting without simplification, another opset or exporter, or TorchScript; "
        "if the PyTorch model itself gives NaN, check the checkpoint.", report)


# ----------------------------------------------------------------------------- helpers

def _first_line(text: str) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
    return text.splitlines()[0][:300] if text else "no details"


def _prepare(model: nn.Module, dummy_input: torch.Tensor, audio: Optional[AudioConfig],
             fold: bool) -> tuple[nn.Module, nn.Module, AudioConfig, list[int], list[str]]:
    """(reference, model to export, audio config, output shape, folded norm names)."""
    if not isinstance(dummy_input, torch.Tensor) or dummy_input.dim() != 4:
        raise ExportError("the example input must be a 4-D tensor (batch, channels, bins, "
                          f"frames), got {getattr(dummy_input, 'shape', type(dummy_input))}")
    dummy_input = dummy_input.detach().float().cpu()
    reference = model.eval().float().cpu()
    audio = audio or _default_audio(model)
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
    return reference, export_model, audio, list(out.shape), folded


def _default_audio(model: nn.Module) -> AudioConfig:
    n = int(getattr(model, "n_sources", 2))
    base = AudioConfig()
    sources = base.sources if n == len(base.sources) else tuple(f"source{i + 1}" for i in range(n))
    return AudioConfig(subbands=int(getattr(model, "subbands", base.subbands)), sources=sources)


def _stage(progress: ProgressFn, stages: list[StageTime], name: str, start: float, end: float):
    """A context manager timing one stage and giving it a slice of the progress bar."""

    @contextlib.contextmanager
    def run():
        sub = scaled_progress(progress, start, end)
        t0 = time.perf_counter()
        record = StageTime(name, 0.0)
        yield sub, record
        record.seconds = time.perf_counter() - t0
        stages.append(record)
        sub(1.0, f"{name}: done")

    return run()


@contextlib.contextmanager
def _collect_warnings(into: list[str]):
    """Keep tracer warnings (they flag shape-dependent code); drop deprecation notices."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, FutureWarning, UserWarning)) and \
                not issubclass(w.category, torch.jit.TracerWarning):
            continue
        text = _first_line(str(w.message))
        if text not in into:
            into.append(text)


def _writing(path: Path):
    """Turn OSErrors while writing the artifact into messages that say what to do."""

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except OSError as exc:
            raise describe_os_error(exc, path) from exc

    return guard()


# ----------------------------------------------------------------------------- ONNX

def normalize_dynamic_axes(dynamic_axes: Optional[Mapping[str, Mapping[int, str]]]
                           ) -> dict[str, dict[int, str]]:
    """Default: batch and frames dynamic. Accepts the original report's ``input``/``output``
    keys for the tensor names."""
    if dynamic_axes is None:
        return {INPUT_NAME: {0: "batch", 3: "frames"}, OUTPUT_NAME: {0: "batch", 4: "frames"}}
    alias = {"input": INPUT_NAME, "output": OUTPUT_NAME}
    axes = {alias.get(k, k): {int(a): str(n) for a, n in dict(v).items()}
            for k, v in dynamic_axes.items()}
    unknown = set(axes) - {INPUT_NAME, OUTPUT_NAME}
    if unknown:
        raise ExportError(f"dynamic_axes names unknown tensors {sorted(unknown)}; the tensors "
                          f"are '{INPUT_NAME}' and '{OUTPUT_NAME}'")
    if INPUT_NAME in axes and OUTPUT_NAME not in axes:  # the masks follow the input's axes
        axes[OUTPUT_NAME] = {(a + 1 if a > 0 else a): n for a, n in axes[INPUT_NAME].items()}
    return axes


def _remainder_by_symbolic_scalar(self, other):
    """aten.remainder.Scalar where the divisor is a symbolic size (torch_lib expects a
    Python number there): integer Mod with the divisor cast to the dividend's type."""
    from onnxscript import opset18 as op

    return op.Mod(self, op.CastLike(other, self))


def _run_onnx_exporter(model: nn.Module, dummy: torch.Tensor, tmp: Path, axes, opset: int,
                       exporter: str) -> None:
    if exporter == "trace":
        torch.onnx.export(model, (dummy,), str(tmp), input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True, dynamo=False)
        return
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("the dynamo exporter needs the 'onnxscript' package, which is not "
                          "installed", None, "Install onnxscript, or use the default "
                          "exporter (--exporter trace).") from None
    quiet = io.StringIO()
    log = logging.getLogger("torch.onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(quiet):
            program = torch.onnx.export(
                model, (dummy,), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                dynamic_axes=axes, opset_version=opset, dynamo=True, verbose=False,
                optimize=True, custom_translation_table={
                    torch.ops.aten.remainder.Scalar: _remainder_by_symbolic_scalar})
    finally:
        log.setLevel(level)
    program.save(str(tmp))


def _exporter_failure(exc: Exception, exporter: str, opset: int) -> ExportError:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = (re.search(r"operator '([\w:.]+)'", text) or re.search(r"torch\.ops\.([\w.]+)", text)
             or re.search(r"\b(aten::\w+)", text))
    what = f"operator '{found.group(1)}'" if found else _first_line(text)
    other = "dynamo" if exporter == "trace" else "trace"
    lo, hi = OPSET_RANGE[exporter]
    newer = f"a newer opset (up to {hi}), " if opset < hi else ""
    return ExportError(
        f"the {ONNX_EXPORTERS[exporter]} cannot convert the model at opset {opset}: {what}",
        None, f"Try {newer}the other ONNX exporter (--exporter {other}), or export to "
              "TorchScript (--format torchscript), which runs every PyTorch operator.")


def _onnx_fix_and_check(proto, out_shape: list[int], axes, metadata: Mapping[str, str],
                        path: Path) -> None:
    """Name the output's static dims, check dynamic axes stayed dynamic, set metadata."""
    import onnx

    graph = proto.graph
    for value, wanted in ((graph.input[0], axes.get(INPUT_NAME, {})),
                          (graph.output[0], axes.get(OUTPUT_NAME, {}))):
        dims = value.type.tensor_type.shape.dim
        for i, d in enumerate(dims):
            if i in wanted:
                if d.HasField("dim_value"):
                    raise ExportError(
                        f"the exporter fixed axis {i} ('{wanted[i]}') of '{value.name}' to "
                        f"{d.dim_value}; the file would only accept that size", path,
                        "Try the other ONNX exporter, or TorchScript.")
                d.dim_param = wanted[i]
            elif value is graph.output[0] and i < len(out_shape):
                d.dim_value = int(out_shape[i])
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, dict(metadata))


def _onnx_check(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"the ONNX checker rejects the exported graph: {_first_line(str(exc))}",
                          None, "Try another opset or the other ONNX exporter.") from None


def _simplify(proto):
    import onnxslim

    with contextlib.redirect_stdout(io.StringIO()):
        return onnxslim.slim(proto)


def onnx_operator_counts(path_or_proto) -> Counter:
    import onnx

    proto = onnx.load(str(path_or_proto)) if isinstance(path_or_proto, (str, Path)) else path_or_proto
    return Counter(node.op_type for node in proto.graph.node)


def export_to_onnx(model: nn.Module, dummy_input: torch.Tensor, output_path: Path | str,
                   dynamic_axes: Optional[Mapping[str, Mapping[int, str]]] = None,
                   opset_version: Optional[int] = None, simplify: bool = True,
                   verify: bool = True, *, exporter: str = "trace",
                   audio: Optional[AudioConfig] = None,
                   metadata: Optional[Mapping[str, Any]] = None, fold_batchnorm: bool = True,
                   overwrite: bool = False, verify_frames: Sequence[int] = VERIFY_FRAMES,
                   threads: Optional[int] = None, progress: Optional[ProgressFn] = None,
                   cancel: Optional[CancelToken] = None) -> ExportResult:
    """Export ``model`` to an ONNX file (batch and frames dynamic by default), simplify it
    with onnxslim, check it, verify it with ONNX Runtime against PyTorch, then keep it.

    ``audio`` is the config stored in the file (the bundle's; a default otherwise);
    ``metadata`` adds key/value pairs. Raises :class:`ExportError` (a :class:`UserError`)
    with what to try, or :class:`VerificationFailed`; either way no file is left.
    """
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    if exporter not in ONNX_EXPORTERS:
        raise ExportError(f"unknown ONNX exporter '{exporter}'; choose {' or '.join(ONNX_EXPORTERS)}")
    opset_version = int(opset_version or DEFAULT_OPSETS[exporter])
    lo, hi = OPSET_RANGE[exporter]
    if not lo <= opset_version <= hi:
        raise ExportError(f"opset {opset_version} is outside {lo}..{hi}, what the "
                          f"{ONNX_EXPORTERS[exporter]} supports")
    output_path = Path(output_path)
    check_writable(output_path, overwrite)
    axes = normalize_dynamic_axes(dynamic_axes)
    stages: list[StageTime] = []
    notes: list[str] = []
    t_start = time.perf_counter()

    with _stage(progress, stages, "prepare", 0.0, 0.05) as (sub, rec):
        sub(0.0, "prepare: checking the model and folding batch norms")
        reference, export_model, audio, out_shape, folded = _prepare(
            model, dummy_input, audio, fold_batchnorm)
        rec.note = f"{len(folded)} batch norms folded"
    meta = artifact_metadata(audio, getattr(model, "config", None), "fp32",
                             exporter=exporter, opset=str(opset_version), **dict(metadata or {}))
    dummy = dummy_input.detach().float().cpu()
    cancel.check()

    import onnx

    with atomic_path(output_path, overwrite) as tmp, _writing(output_path):
        with _stage(progress, stages, "export", 0.05, 0.45) as (sub, rec):
            sub(0.0, f"export: {ONNX_EXPORTERS[exporter]}, opset {opset_version}")
            try:
                with _collect_warnings(notes), torch.no_grad():
                    _run_onnx_exporter(export_model, dummy, tmp, axes, opset_version, exporter)
            except (OSError, UserError):
                raise
            except Exception as exc:
                raise _exporter_failure(exc, exporter, opset_version) from None
            proto = onnx.load(str(tmp))
            _onnx_fix_and_check(proto, out_shape, axes, meta, output_path)
            onnx.save(proto, str(tmp))
            _onnx_check(tmp)
            rec.note = f"{len(proto.graph.node)} nodes"
        cancel.check()

        simplified = False
        with _stage(progress, stages, "simplify", 0.45, 0.6) as (sub, rec):
            if simplify:
                sub(0.0, "simplify: onnxslim")
                before = len(proto.graph.node)
                try:
                    slim = _simplify(proto)
                except Exception as exc:  # keep the checked, unsimplified graph
                    notes.append(f"simplification failed ({_first_line(str(exc))}); "
                                 "the unsimplified graph was kept")
                else:
                    _onnx_fix_and_check(slim, out_shape, axes, meta, output_path)
                    onnx.save(slim, str(tmp))
                    _onnx_check(tmp)
                    proto, simplified = slim, True
                    rec.note = f"{before} -> {len(proto.graph.node)} nodes"
            else:
                rec.note = "skipped"
        cancel.check()

        report = None
        with _stage(progress, stages, "verify", 0.6, 1.0) as (sub, rec):
            if verify:
                shapes = verification_shapes(dummy.shape[1], dummy.shape[2], dummy.shape[3],
                                             verify_frames)
                report = verify_onnx(tmp, reference, shapes, threads, progress=sub,
                                     cancel=cancel)
                _check_verification(report, output_path)
                rec.note = f"{len(report.checks)} shapes, worst MSE {report.worst_mse:.2g}"
            else:
                rec.note = "skipped"

    ops = onnx_operator_counts(proto)
    return ExportResult(
        path=output_path, format="onnx", method=exporter, opset=int(opset_version),
        simplified=simplified, file_size=output_path.stat().st_size,
        nodes=sum(ops.values()), operators=dict(ops.most_common()), dynamic_axes=axes,
        input_shape=list(dummy.shape), folded_batchnorms=folded,
        export_seconds=time.perf_counter() - t_start, stages=stages, metadata=meta,
        verification=report, warnings=notes)


# ----------------------------------------------------------------------------- TorchScript

def _torchscript_failure(exc: Exception, method: str) -> ExportError:
    text = str(exc)
    where = re.findall(r'File "([^"]+)", line (\d+)', text)
    at = f" (at {Path(where[0][0]).name}:{where[0][1]})" if where else ""
    if method == "script":
        return ExportError(
            f"TorchScript scripting cannot compile the model{at}: "
            f"{_first_line(text).rstrip(':')}", None,
            "Use method 'trace' (the default): tracing records the model's shape arithmetic, "
            "so the traced file still accepts any batch size and length (verified).")
    return ExportError(f"TorchScript tracing failed: {_first_line(str(exc))}", None,
                       "Try method 'script', or export to ONNX.")


def torchscript_operator_counts(module) -> Counter:
    graph = module.graph if hasattr(module, "graph") else module.forward.graph
    return Counter(node.kind() for node in graph.nodes()
                   if node.kind() not in ("prim::Constant", "prim::GetAttr"))


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
    progress = progress or no_progress
    cancel = ensure_token(cancel)
    if method not in TORCHSCRIPT_METHODS:
        raise ExportError(f"unknown TorchScript method '{method}'; choose trace or script")
    output_path = Path(output_path)
    check_writable(output_path, overwrite)
    stages: list[StageTime] = []
    notes: list[str] = []
    t_start = time.perf_counter()

    with _stage(progress, stages, "prepare", 0.0, 0.05) as (sub, rec):
        sub(0.0, "prepare: checking the model and folding batch norms")
        reference, export_model, audio, _, folded = _prepare(model, dummy_input, audio,
                                                             fold_batchnorm)
        rec.note = f"{len(folded)} batch norms folded"
    meta = artifact_metadata(audio, getattr(model, "config", None), "fp32",
                             method=method, **dict(metadata or {}))
    dummy = dummy_input.detach().float().cpu()
    cancel.check()

    with atomic_path(output_path, overwrite) as tmp, _writing(output_path):
        with _stage(progress, stages, "export", 0.05, 0.35) as (sub, rec):
            sub(0.0, f"export: torch.jit.{method}")
            try:
                with _collect_warnings(notes), torch.no_grad():
                    if method == "trace":
                        compiled = torch.jit.trace(export_model, (dummy,), check_trace=False)
                    else:
                        compiled = torch.jit.script(export_model)
            except Exception as exc:
                raise _torchscript_failure(exc, method) from None
        cancel.check()
        with _stage(progress, stages, "freeze", 0.35, 0.45) as (sub, rec):
            sub(0.0, "freeze: inlining weights")
            frozen = torch.jit.freeze(compiled.eval())
            torch.jit.save(frozen, str(tmp), _extra_files={TORCHSCRIPT_EXTRA_FILE: json.dumps(meta)})
            ops = torchscript_operator_counts(frozen)
            rec.note = f"{sum(ops.values())} graph operations"
        cancel.check()

        report = None
        with _stage(progress, stages, "verify", 0.45, 1.0) as (sub, rec):
            if verify:
                shapes = verification_shapes(dummy.shape[1], dummy.shape[2], dummy.shape[3],
                                             verify_frames)
                report = verify_torchscript(tmp, reference, shapes, progress=sub, cancel=cancel)
                _check_verification(report, output_path)
                rec.note = f"{len(report.checks)} shapes, worst MSE {report.worst_mse:.2g}"
            else:
                rec.note = "skipped"

    return ExportResult(
        path=output_path, format="torchscript", method=method, opset=None, simplified=False,
        file_size=output_path.stat().st_size, nodes=sum(ops.values()),
        operators=dict(ops.most_common()), dynamic_axes={INPUT_NAME: {0: "batch", 3: "frames"}},
        input_shape=list(dummy.shape), folded_batchnorms=folded,
        export_seconds=time.perf_counter() - t_start, stages=stages, metadata=meta,
        verification=report, warnings=notes)


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

    def validate(self) -> None:
        if self.format not in STAGES:
            raise ExportError(f"unknown export format '{self.format}'; choose onnx or torchscript")
        if self.format == "onnx":
            if self.exporter not in ONNX_EXPORTERS:
                raise ExportError(f"unknown ONNX exporter '{self.exporter}'; choose trace or dynamo")
            lo, hi = OPSET_RANGE[self.exporter]
            if not lo <= self.onnx_opset <= hi:
                raise ExportError(f"opset {self.onnx_opset} is outside {lo}..{hi}, what the "
                                  f"{ONNX_EXPORTERS[self.exporter]} supports")
        elif self.method not in TORCHSCRIPT_METHODS:
            raise ExportError(f"unknown TorchScript method '{self.method}'; choose trace or script")
        if self.frames is not None and self.frames < 1:
            raise ExportError("the example input needs at least one frame")

    @property
    def onnx_opset(self) -> int:
        return int(self.opset or DEFAULT_OPSETS.get(self.exporter, DEFAULT_OPSET))

    @property
    def suffix(self) -> str:
        return ".onnx" if self.format == "onnx" else "-torchscript.pt"

    def default_path(self, source: Path | str) -> Path:
        """Beside the checkpoint: ``model.onnx`` / ``model-torchscript.pt``."""
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
    extra = {"source_checkpoint": bundle.path.name if bundle.path else None}
    model = bundle.build()
    if options.format == "onnx":
        return export_to_onnx(model, dummy, output_path, opset_version=options.onnx_opset,
                              simplify=options.simplify, exporter=options.exporter, audio=audio,
                              metadata=extra, fold_batchnorm=options.fold_batchnorm,
                              overwrite=overwrite, verify_frames=options.verify_frames,
                              threads=threads, progress=progress, cancel=cancel)
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
