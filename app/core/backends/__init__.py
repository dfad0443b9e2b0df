"""One small interface over every runnable variant of a model: the PyTorch model, a
TorchScript file, an ONNX Runtime session. :func:`load_backend` picks the loader for a file
from the registry (:mod:`.registry`); the loaders register themselves there and are imported
by name when the first file is loaded. No torch is imported until a PyTorch or TorchScript
backend is built, so the ONNX path runs without it."""

from .registry import (LOADERS, Backend, BackendLoader, FunctionBackend, default_threads,
                       discover_loaders, identity_backend, load_backend, register_loader,
                       set_torch_threads, torch_threads)

__all__ = [
    "LOADERS", "Backend", "BackendLoader", "FunctionBackend", "default_threads",
    "discover_loaders", "identity_backend", "load_backend", "register_loader",
    "set_torch_threads", "torch_threads", "TorchBackend", "OnnxRuntimeBackend",
    "TorchScriptBackend", "session_options", "ArtifactInfo", "TensorInfo",
    "describe_model_file", "is_exported_model",
]


def __getattr__(name: str):
    # The concrete backends, imported when first asked for (each registers its loader).
    if name == "TorchBackend":
        from .pytorch import TorchBackend
        return TorchBackend
    if name in ("OnnxRuntimeBackend", "session_options"):
        from . import onnx_runtime
        return getattr(onnx_runtime, name)
    if name in ("ArtifactInfo", "TensorInfo", "describe_model_file", "is_exported_model"):
        from . import inspect
        return getattr(inspect, name)
    if name == "TorchScriptBackend":
        from .torchscript import TorchScriptBackend
        return TorchScriptBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
