"""The loaded model and the variants made from it.

One :class:`Workspace` holds the bundle the user opened and every variant derived from it
(exports, quantized files), each with its file and measured figures. Tabs read and add to it
instead of passing files to each other; listeners (plain callables) hear about changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .backends.registry import Backend, load_backend
from .backends.pytorch import TorchBackend
from .checkpoint import ModelBundle


@dataclass
class Variant:
    name: str                  # shown to the user, e.g. "ONNX FP32"
    kind: str                  # "pytorch", "onnx", "torchscript", ...
    path: Optional[Path]
    precision: str = "fp32"
    figures: dict[str, Any] = field(default_factory=dict)   # measured: size, latency, SDR...

    @property
    def file_size(self) -> Optional[int]:
        return self.path.stat().st_size if self.path and self.path.exists() else None


Listener = Callable[[str, Any], None]   # (event, payload): "bundle", "variant", "variant-updated"


class Workspace:
    def __init__(self) -> None:
        self.bundle: Optional[ModelBundle] = None
        self.variants: list[Variant] = []
        self._listeners: list[Listener] = []

    # -- listening
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: str, payload: Any) -> None:
        for listener in list(self._listeners):
            listener(event, payload)

    # -- the bundle
    def set_bundle(self, bundle: ModelBundle) -> ModelBundle:
        self.bundle = bundle
        self.variants = [Variant(f"PyTorch FP32 ({bundle.name})", "pytorch", bundle.path)]
        self._emit("bundle", bundle)
        return bundle

    # -- variants
    def add_variant(self, variant: Variant) -> Variant:
        self.variants = [v for v in self.variants if v.path is None or v.path != variant.path]
        self.variants.append(variant)
        self._emit("variant", variant)
        return variant

    def update_figures(self, variant: Variant, **figures: Any) -> None:
        variant.figures.update(figures)
        self._emit("variant-updated", variant)

    def backend_for(self, variant: Optional[Variant] = None, threads: Optional[int] = None) -> Backend:
        """A runnable backend for a variant (the PyTorch model when ``variant`` is None)."""
        if variant is None or variant.kind == "pytorch":
            if self.bundle is None:
                raise LookupError("no model is loaded")
            return TorchBackend(self.bundle.build(), self.bundle.audio, self.bundle.path, threads)
        if variant.path is None:
            raise LookupError(f"variant {variant.name} has no file")
        return load_backend(variant.path, threads)
