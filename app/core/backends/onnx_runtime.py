"""ONNX Runtime as a separation backend: any exported ONNX file, no torch needed.

The file's metadata properties carry the audio config (see :mod:`app.core.artifacts`), so
the file alone is enough to separate audio: STFT and inverse STFT run in numpy. The session
is tuned for a CPU laptop: all graph optimizations, the requested number of intra-op
threads (which sleep rather than spin when idle), sequential execution (one inference at a
time; inter-op parallelism only adds thread contention on a few cores).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..artifacts import AUDIO_KEY, audio_config_from
from ..config import AudioConfig
from ..devices import check_device_spec
from ..jobs import UserError, first_line
from .registry import Backend, BackendLoader, default_threads, register_loader

ONNX_SUFFIX = ".onnx"
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def session_options(threads: Optional[int] = None):
    """Session options used for separation, benchmarks and export verification alike."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = int(threads) if threads else default_threads()
    so.inter_op_num_threads = 1
    # Idle pool threads sleep instead of spinning: with another busy process on one of two
    # cores, spinning made a medium-preset segment 37 % slower (695 vs 507 ms median,
    # benchmarks/export_latency.py --spinning); sleeping also leaves the CPU to the GUI and
    # audio playback between segments.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3  # errors only: warnings about unused initializers are noise
    return so


def open_session(path: Path | str, threads: Optional[int] = None, providers=None):
    """An ONNX Runtime session for ``path``; unreadable files raise :class:`UserError`."""
    import onnxruntime as ort

    path = Path(path)
    if not path.exists():
        raise UserError("does not exist", path)
    if path.stat().st_size == 0:
        raise UserError("is empty (0 bytes)", path)
    try:
        return ort.InferenceSession(str(path), session_options(threads),
                                    providers=providers or ["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types (Fail, InvalidProtobuf, ...)
        raise UserError(f"cannot be opened by ONNX Runtime ({first_line(exc)})", path,
                        "The file may be truncated or not an ONNX model; export it again."
                        ) from None


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def providers_for(device: Optional[str], path: Optional[Path] = None) -> list:
    """ONNX Runtime's execution providers for a device name of :mod:`app.core.devices`: the
    CPU provider for ``cpu``; the CUDA provider (``cuda:N`` -> GPU N) for ``cuda``, which needs
    ``onnxruntime-gpu``; ``auto`` takes CUDA when this ONNX Runtime has it, else the CPU. A
    device asked for by name that ONNX Runtime cannot use is a :class:`UserError` naming what
    it can use."""
    spec = check_device_spec(device)
    if spec == "cpu":
        return [CPU_PROVIDER]
    here = available_providers()
    has_cuda = CUDA_PROVIDER in here
    if spec == "auto":
        return [CUDA_PROVIDER, CPU_PROVIDER] if has_cuda else [CPU_PROVIDER]
    if spec == "mps":
        raise UserError("an ONNX model cannot run on Apple's MPS device (ONNX Runtime has no "
                        "MPS provider)", path,
                        "Use --device cpu (or auto) for ONNX files; a checkpoint runs on MPS.")
    if not has_cuda:
        raise UserError(f"cannot run on {spec}: this ONNX Runtime has no CUDA provider "
                        f"(it has {', '.join(here)})", path,
                        "Install onnxruntime-gpu in place of onnxruntime (with an NVIDIA "
                        "driver and CUDA), or use --device cpu.")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    return [(CUDA_PROVIDER, {"device_id": index}), CPU_PROVIDER]


def provider_name(provider) -> str:
    return provider[0] if isinstance(provider, tuple) else str(provider)


def read_metadata(session) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


class OnnxRuntimeBackend(Backend):
    """An ONNX file run by ONNX Runtime; audio config from the file's metadata, or ``audio``
    for a file that carries none (a third-party model with the TFSWA-UNet input contract)."""

    kind = "onnx"

    def __init__(self, path: Path | str, threads: Optional[int] = None, name: str = "",
                 providers=None, audio: Optional[AudioConfig] = None,
                 device: Optional[str] = None):
        path = Path(path)
        if providers is None:
            providers = providers_for(device or "cpu", path)
        session = open_session(path, threads, providers)
        wanted = provider_name(providers[0])
        auto = device is not None and check_device_spec(device) == "auto"
        if wanted != CPU_PROVIDER and wanted not in session.get_providers() and not auto:
            # ONNX Runtime falls back to the CPU on its own: fine for auto, not for a GPU
            # the user asked for by name.
            raise UserError(f"ONNX Runtime could not start its {wanted} (it ran "
                            f"{', '.join(session.get_providers())} instead)", path,
                            "Check the NVIDIA driver, the CUDA and cuDNN libraries "
                            "onnxruntime-gpu needs and CUDA_VISIBLE_DEVICES, or use "
                            "--device cpu.")
        meta = read_metadata(session)
        if AUDIO_KEY in meta or audio is None:
            audio = audio_config_from(meta, path)
        self.precision = meta.get("precision", "fp32")
        super().__init__(audio, path, name or f"ONNX {self.precision.upper()}")
        self.session = session
        self.metadata = meta
        self.threads = session.get_session_options().intra_op_num_threads
        self.provider = session.get_providers()[0]
        self.device = "cuda:{}".format(_cuda_index(providers)) \
            if self.provider == CUDA_PROVIDER else "cpu"
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self._check_input_shape(inp.shape)
        self.fixed_dims = {axis: size for axis, size in enumerate(inp.shape)
                           if axis in (0, 3) and isinstance(size, int) and size > 0}

    def _check_input_shape(self, shape) -> None:
        if len(shape) != 4:
            raise UserError(f"expects a {len(shape)}-D input; a TFSWA-UNet takes "
                            "(batch, channels, bins, frames)", self.path)
        bins = shape[2]
        if isinstance(bins, int) and bins != self.audio.n_bins:
            raise UserError(f"expects {bins} frequency bins but its audio config "
                            f"(n_fft {self.audio.n_fft}) gives {self.audio.n_bins}", self.path)

    def run(self, mag: np.ndarray) -> np.ndarray:
        if self.fixed_dims:
            self.check_input(mag.shape)
        x = np.ascontiguousarray(mag, dtype=self.input_dtype)
        out = self.session.run(None, {self.input_name: x})[0]
        return out.astype(np.float32, copy=False)

    def describe(self) -> dict:
        return {**super().describe(), "threads": self.threads}

    def close(self) -> None:
        self.session = None


def _cuda_index(providers) -> int:
    for provider in providers:
        if isinstance(provider, tuple) and provider[0] == CUDA_PROVIDER:
            return int(provider[1].get("device_id", 0))
    return 0


def _is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ONNX_SUFFIX


def _load_onnx(path: Path, threads: Optional[int], device: str = "cpu") -> Backend:
    return OnnxRuntimeBackend(path, threads, device=device)


register_loader(BackendLoader("onnx", _is_onnx, _load_onnx))
