"""The loaded model and the variants made from it.

One :class:`Workspace` holds the bundle the user opened and every variant derived from it
(exports, quantized files), each with its file and measured figures. Tabs read and add to it
instead of passing files to each other; listeners (plain callables) hear about changes.

Variants outlive the session: they are kept in the user's data folder (``variants.json``,
see :mod:`app.core.userdata`) under the SHA-256 of the checkpoint they were made from, so
reopening that checkpoint (after a reload or a restart) brings them back, as long as their
files still exist. A changed checkpoint has another hash and starts with none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from .backends.registry import Backend, load_backend
from .backends.inspect import ArtifactInfo
from .backends.pytorch import TorchBackend
from .checkpoint import ModelBundle
from .jobs import to_jsonable
from .userdata import is_app_export, read_json, sha256_file, write_json

VARIANTS_FILE = "variants.json"


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
    def __init__(self, remember: bool = True) -> None:
        self.bundle: Optional[ModelBundle] = None
        self.variants: list[Variant] = []
        self._listeners: list[Listener] = []
        self.remember = remember          # keep variants in the user's data folder
        self._key: Optional[str] = None   # SHA-256 of the bundle's file
        # An exported file opened as the model (no checkpoint behind it): it separates and
        # benchmarks; exporting and measuring training memory need a checkpoint.
        self.artifact: Optional[ArtifactInfo] = None
        self.trusted: set[Path] = set()   # TorchScript files the user said to run

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
    @property
    def has_model(self) -> bool:
        return self.bundle is not None or self.artifact is not None

    @property
    def model_name(self) -> str:
        if self.bundle is not None:
            return self.bundle.name
        return self.artifact.path.stem if self.artifact is not None else ""

    def set_artifact(self, info: ArtifactInfo, trusted: bool = False) -> ArtifactInfo:
        """Make an exported file the model: its one variant is itself. ``trusted``: the
        user agreed to run this TorchScript file."""
        self.bundle, self.artifact, self._key = None, info, None
        if trusted:
            self.trusted.add(info.path.resolve())
        label = "ONNX" if info.format == "onnx" else "TorchScript"
        self.variants = [Variant(f"{label} {info.precision.upper()} ({info.path.name})",
                                 info.format, info.path, info.precision)]
        self._emit("bundle", None)
        self._emit("artifact", info)
        return info

    def set_bundle(self, bundle: ModelBundle) -> ModelBundle:
        self.bundle, self.artifact = bundle, None
        self._key = self._bundle_key(bundle)
        self.variants = [Variant(f"PyTorch FP32 ({bundle.name})", "pytorch", bundle.path)]
        self.variants += self._remembered()
        self._emit("bundle", bundle)
        return bundle

    # -- memory between sessions
    def _bundle_key(self, bundle: ModelBundle) -> Optional[str]:
        if not self.remember or bundle.path is None:
            return None
        try:
            return sha256_file(bundle.path)
        except OSError:
            return None

    def _remembered(self) -> list[Variant]:
        """The variants stored for this bundle whose files still exist."""
        if self._key is None:
            return []
        found = []
        for entry in read_json(VARIANTS_FILE, {}).get(self._key, []):
            try:
                variant = Variant(str(entry["name"]), str(entry["kind"]), Path(entry["path"]),
                                  str(entry.get("precision", "fp32")),
                                  dict(entry.get("figures") or {}))
            except (KeyError, TypeError, ValueError):
                continue
            if variant.path.is_file():
                found.append(variant)
        return found

    def _store(self) -> None:
        if self._key is None:
            return
        stored = read_json(VARIANTS_FILE, {})
        stored[self._key] = [
            {"name": v.name, "kind": v.kind, "path": str(v.path.resolve()),
             "precision": v.precision, "figures": to_jsonable(v.figures)}
            for v in self.variants if v.kind != "pytorch" and v.path is not None]
        write_json(VARIANTS_FILE, stored)

    # -- variants
    def add_variant(self, variant: Variant) -> Variant:
        self.variants = [v for v in self.variants if v.path is None or v.path != variant.path]
        self.variants.append(variant)
        self._store()
        self._emit("variant", variant)
        return variant

    def update_figures(self, variant: Variant, **figures: Any) -> None:
        variant.figures.update(figures)
        self._store()
        self._emit("variant-updated", variant)

    def needs_trust(self, variant: Optional[Variant]) -> bool:
        """True for a TorchScript variant whose file this app did not export as it is now:
        running it means running its code, so the user must say so first."""
        return (variant is not None and variant.kind == "torchscript" and variant.path is not None
                and variant.path.is_file() and variant.path.resolve() not in self.trusted
                and not is_app_export(variant.path))

    def backend_for(self, variant: Optional[Variant] = None, threads: Optional[int] = None,
                    trust_torchscript: bool = False, device: Optional[str] = "cpu") -> Backend:
        """A runnable backend for a variant (the PyTorch model when ``variant`` is None) on
        ``device`` (see :mod:`app.core.devices`); a TorchScript file loads only when trusted
        (see :func:`load_backend`)."""
        if variant is None or variant.kind == "pytorch":
            if self.bundle is None:
                raise LookupError("no model is loaded")
            return TorchBackend(self.bundle.build(), self.bundle.audio, self.bundle.path, threads,
                                device=device)
        if variant.path is None:
            raise LookupError(f"variant {variant.name} has no file")
        trusted = trust_torchscript or variant.path.resolve() in self.trusted
        return load_backend(variant.path, threads, trust_torchscript=trusted, device=device)
