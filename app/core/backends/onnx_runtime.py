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
from ..jobs import UserError, first_line
from .registry import Backend, BackendLoader, default_threads, register_loader

ONNX_SUFFIX = ".onnx"


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


def read_metadata(session) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


class OnnxRuntimeBackend(Backend):
    """An ONNX file run by ONNX Runtime; audio config from the file's metadata, or ``audio``
    for a file that carries none (a third-party model with the TFSWA-UNet input contract)."""

    kind = "onnx"

    def __init__(self, path: Path | str, threads: Optional[int] = None, name: str = "",
                 providers=None, audio: Optional[AudioConfig] = None):
        path = Path(path)
        session = open_session(path, threads, providers)
        meta = read_metadata(session)
        if AUDIO_KEY in meta or audio is None:
            audio = audio_config_from(meta, path)
        self.precision = meta.get("precision", "fp32")
        super().__init__(audio, path, name or f"ONNX {self.precision.upper()}")
        self.session = session
        self.metadata = meta
        self.threads = session.get_session_options().intra_op_num_threads
        self.provider = session.get_providers()[0]
        inp = session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        self._check_input_shape(inp.shape)

    def _check_input_shape(self, shape) -> None:
        if len(shape) != 4:
            raise UserError(f"expects a {len(shape)}-D input; a TFSWA-UNet takes "
                            "(batch, channels, bins, frames)", self.path)
        bins = shape[2]
        if isinstance(bins, int) and bins != self.audio.n_bins:
            raise UserError(f"expects {bins} frequency bins but its audio config "
                            f"(n_fft {self.audio.n_fft}) gives {self.audio.n_bins}", self.path)

    def run(self, mag: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(mag, dtype=self.input_dtype)
        out = self.session.run(None, {self.input_name: x})[0]
        return out.astype(np.float32, copy=False)

    def describe(self) -> dict:
        return {**super().describe(), "threads": self.threads}

    def close(self) -> None:
        self.session = None


def _is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ONNX_SUFFIX


def _load_onnx(path: Path, threads: Optional[int]) -> Backend:
    return OnnxRuntimeBackend(path, threads)


register_loader(BackendLoader("onnx", _is_onnx, _load_onnx))
