"""Model bundles: weights plus everything needed to use them, saved safely.

A bundle holds the model config (preset or explicit sizes), the audio config and free-form
metadata next to the weights. On disk it is either a ``.pt``/``.pth`` file (a plain dict
written by ``torch.save``) or a ``.safetensors`` file (configs in its string metadata).
Loading never executes code from the file: ``.pt`` files are read with weights-only
unpickling, and anything that asks for other Python objects is refused with the reason.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from .config import PRESETS, AudioConfig, ModelConfig, preset
from .devices import TORCH_INSTALL, torch_available
from .files import atomic_path, check_free_space, check_writable, format_bytes
from .jobs import UserError, first_line
from .userdata import untrusted_torchscript

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .model import TFSWAUNet

# PyTorch and the network (app.core.model) are imported inside the functions that use them:
# importing this module (the suffixes, ModelBundle for annotations) costs no torch import, so
# the slim runtime without PyTorch can import the modules that name it.

BUNDLE_FORMAT = "tfswa-studio-bundle"
BUNDLE_VERSION = 1
TORCH_SUFFIXES = (".pt", ".pth")
SAFETENSORS_SUFFIX = ".safetensors"
CHECKPOINT_SUFFIXES = TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,)


class CheckpointError(UserError):
    """A checkpoint that cannot be used; the message says which file and why."""


@dataclass
class ModelBundle:
    model_config: ModelConfig
    audio: AudioConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Optional[Path] = None

    @property
    def n_parameters(self) -> int:
        return sum(int(t.numel()) for k, t in self.state_dict.items() if not _is_buffer(k))

    @property
    def sources(self) -> tuple[str, ...]:
        return self.audio.sources

    @property
    def name(self) -> str:
        return self.path.stem if self.path else f"untitled-{self.model_config.preset}"

    def build(self) -> TFSWAUNet:
        """The network with these weights loaded, in eval mode."""
        from .model import build_model

        model = build_model(self.model_config, self.audio)
        model.load_state_dict(self.state_dict, strict=True)
        return model.eval()

    @classmethod
    def from_model(cls, model: TFSWAUNet, audio: AudioConfig,
                   metadata: Optional[Mapping[str, Any]] = None) -> "ModelBundle":
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        return cls(model.config, audio, state, dict(metadata or {}))


def _is_buffer(key: str) -> bool:
    return key.endswith(("running_mean", "running_var", "num_batches_tracked"))


# ----------------------------------------------------------------------------- saving

def save_bundle(bundle: ModelBundle, path: Path | str, overwrite: bool = False) -> Path:
    """Write ``bundle`` as ``.pt``/``.pth`` or ``.safetensors`` (by suffix), atomically."""
    import torch

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(f"unknown checkpoint suffix '{path.suffix}'", path,
                              "Use .pt, .pth or .safetensors.")
    needed = sum(t.numel() * t.element_size() for t in bundle.state_dict.values()) + (64 << 10)
    check_writable(path, overwrite)
    check_free_space(path, needed, "the checkpoint")
    with atomic_path(path, overwrite) as tmp:
        if suffix == SAFETENSORS_SUFFIX:
            _save_safetensors(bundle, tmp)
        else:
            torch.save(bundle_to_dict(bundle), tmp)
    bundle.path = path
    return path


def bundle_to_dict(bundle: ModelBundle) -> dict[str, Any]:
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "model_config": bundle.model_config.to_dict(),
        "audio_config": bundle.audio.to_dict(),
        "metadata": _jsonable(bundle.metadata),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in bundle.state_dict.items()},
    }


def _save_safetensors(bundle: ModelBundle, tmp: Path) -> None:
    from safetensors.torch import save_file

    meta = {
        "format": BUNDLE_FORMAT,
        "version": str(BUNDLE_VERSION),
        "model_config": json.dumps(bundle.model_config.to_dict()),
        "audio_config": json.dumps(bundle.audio.to_dict()),
        "metadata": json.dumps(_jsonable(bundle.metadata)),
    }
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in bundle.state_dict.items()}
    save_file(tensors, str(tmp), metadata=meta)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# ----------------------------------------------------------------------------- loading

def sniff_format(path: Path) -> str:
    """'torch-zip', 'torchscript', 'torch-legacy', 'safetensors' or 'unknown', from content."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "torch-zip"  # damaged: torch.load's error is turned into a message
        if any(n.endswith("/constants.pkl") or "/code/" in n for n in names):
            return "torchscript"
        return "torch-zip"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "torch-legacy"
    if len(head) >= 9:
        size = int.from_bytes(head[:8], "little")
        if 2 <= size < 100_000_000 and head[8:9] == b"{":
            return "safetensors"
    return "unknown"


def load_bundle(path: Path | str) -> ModelBundle:
    """Load and validate a bundle; every failure raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError("does not exist", path)
    if path.is_dir():
        raise CheckpointError("is a folder, not a checkpoint file", path)
    if path.stat().st_size == 0:
        raise CheckpointError("is empty (0 bytes)", path)
    kind = sniff_format(path)
    if kind == "unknown":
        raise CheckpointError("is not a checkpoint: unknown format", path,
                              "TFSWA Studio reads .pt/.pth files written by torch.save and "
                              ".safetensors files.")
    if kind == "torchscript":
        # Recognised only to refuse it by name: it is never loaded as a checkpoint.
        refusal = untrusted_torchscript(path)
        raise CheckpointError(refusal.message, path, refusal.hint)
    if not torch_available():
        raise CheckpointError(
            "is a checkpoint: opening one needs PyTorch, which this install (the slim "
            "runtime) does not have", path,
            f"Open a model exported to ONNX (.onnx) instead, or {TORCH_INSTALL}.")
    raw = _read_safetensors(path) if kind == "safetensors" else _read_torch(path)
    bundle = _bundle_from_dict(raw, path)
    check_model_memory(bundle.model_config, bundle.audio, path)
    check_finite(bundle.state_dict, path)
    validate_weights(bundle)
    bundle.path = path
    return bundle


_GLOBAL_RE = re.compile(r"GLOBAL\s+([\w.]+)")


def _read_torch(path: Path) -> Any:
    import pickle

    import torch

    try:
        # A file object, not the name: torch.load hands a name ending in .safetensors to
        # the safetensors reader, whatever the bytes are.
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)   # torch's notes on pickle protocols
            return torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Weights only load failed" in text or "Unsupported" in text:
            found = _GLOBAL_RE.search(text)
            what = f" (it asks for '{found.group(1)}')" if found else ""
            raise CheckpointError(
                f"refused: loading it would run code from the file{what}", path,
                "TFSWA Studio only loads weights, configs and plain values. A genuine "
                "checkpoint can be re-saved as a bundle by the code that trained it.") from None
        raise CheckpointError(f"is corrupt or truncated ({first_line(exc)})", path) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        text = first_line(exc)
        broken_zip = sniff_format(path) == "torch-zip" and not zipfile.is_zipfile(path)
        if broken_zip or "central directory" in text or "zip archive" in text \
                or isinstance(exc, EOFError):
            raise CheckpointError("is truncated or corrupt: the archive is incomplete", path,
                                  "The download or copy was probably cut short.") from None
        raise CheckpointError(f"cannot be read as a PyTorch checkpoint ({text})", path) from None


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"is truncated or corrupt ({first_line(str(exc))})", path) from None
    if meta.get("format") != BUNDLE_FORMAT:
        raise CheckpointError("is a safetensors file without TFSWA Studio metadata", path,
                              "It holds tensors but no model or audio config, so the network "
                              "cannot be rebuilt from it.")
    try:
        return {
            "format": BUNDLE_FORMAT,
            "version": int(meta.get("version", BUNDLE_VERSION)),
            "model_config": json.loads(meta["model_config"]),
            "audio_config": json.loads(meta["audio_config"]),
            "metadata": json.loads(meta.get("metadata", "{}")),
            "state_dict": state,
        }
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"has malformed metadata ({exc})", path) from None


def _bundle_from_dict(raw: Any, path: Path) -> ModelBundle:
    import torch

    if isinstance(raw, Mapping) and raw and all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError("holds bare weights (a state_dict) without a model config", path,
                              "Save a bundle instead (tfswa-studio init, or the trainer), so "
                              "the network can be rebuilt from the file alone.")
    if not isinstance(raw, Mapping) or "state_dict" not in raw or "model_config" not in raw:
        what = type(raw).__name__
        keys = f" with keys {sorted(map(str, raw))[:8]}" if isinstance(raw, Mapping) else ""
        raise CheckpointError(f"is not a TFSWA Studio checkpoint (found a {what}{keys})", path)
    version = raw.get("version", BUNDLE_VERSION)
    if isinstance(version, int) and version > BUNDLE_VERSION:
        raise CheckpointError(f"was written by a newer TFSWA Studio (bundle version {version})",
                              path, "Update TFSWA Studio to open it.")
    try:
        model_config = ModelConfig.from_dict(raw["model_config"])
        audio = AudioConfig.from_dict(raw.get("audio_config", {}))
    except UserError as exc:
        raise CheckpointError(exc.message, path) from None
    state = raw["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError("has a state_dict that is not a mapping of tensors", path)
    metadata = raw.get("metadata") or {}
    return ModelBundle(model_config, audio, dict(state), dict(metadata), path)


def _listing(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def compare_state(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]):
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    mismatched = [f"{k} (file {tuple(found[k].shape)}, model {tuple(expected[k].shape)})"
                  for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k].shape)]
    return missing, unexpected, mismatched


def guess_preset(state: Mapping[str, torch.Tensor], audio: AudioConfig) -> Optional[str]:
    """The preset whose shapes match ``state`` exactly, if any."""
    from .model import build_model

    for name, cfg in PRESETS.items():
        expected = build_model(cfg, audio).state_dict()
        if not any(compare_state(expected, state)):
            return name
    return None


def check_finite(state: Mapping[str, torch.Tensor], path: Optional[Path] = None) -> None:
    """Refuse weights that are NaN or infinite, naming the tensors: such a model turns every
    song into full-scale noise or silence."""
    import torch

    bad = [name for name, t in state.items()
           if t.is_floating_point() and not bool(torch.isfinite(t).all())]
    if bad:
        raise CheckpointError(f"has weights that are NaN or infinite in {len(bad)} tensor"
                              f"{'s' if len(bad) > 1 else ''} ({_listing(sorted(bad), 4)})",
                              path, "The training diverged or the file was damaged; use an "
                                    "earlier checkpoint.")


def parameter_count(config: ModelConfig, audio: AudioConfig) -> int:
    """Parameters and buffers of the network ``config`` describes, counted without
    allocating them (the network is built on PyTorch's meta device)."""
    import torch

    from .model import build_model

    with torch.device("meta"):
        model = build_model(config, audio)
    return sum(t.numel() for t in model.state_dict().values())


def check_model_memory(config: ModelConfig, audio: AudioConfig,
                       path: Optional[Path] = None) -> int:
    """Refuse a network whose weights would not fit the memory this machine has free
    (a loaded bundle holds them twice: the file's tensors and the built network). Returns
    the bytes needed."""
    import psutil

    needed = 2 * 4 * parameter_count(config, audio)
    available = psutil.virtual_memory().available
    if needed > available:
        raise CheckpointError(
            f"describes a network whose weights need about {format_bytes(needed)}, more than "
            f"the {format_bytes(available)} of memory this machine has free", path,
            "The config was probably damaged or crafted; it was not built.")
    return needed


def validate_weights(bundle: ModelBundle) -> None:
    """Check the weights against the network the config describes; report by name."""
    from .model import build_model

    expected = build_model(bundle.model_config, bundle.audio).state_dict()
    missing, unexpected, mismatched = compare_state(expected, bundle.state_dict)
    if not (missing or unexpected or mismatched):
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_listing(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_listing(unexpected)})")
    if mismatched:
        parts.append(f"{len(mismatched)} with other shapes ({_listing(mismatched, 4)})")
    cfg = bundle.model_config
    desc = (f"preset '{cfg.preset}', channels {list(cfg.channels)}, dim {cfg.dim}, "
            f"blocks {cfg.blocks}, {len(bundle.audio.sources)} sources")
    hint = ""
    if len(parts) > 1 or mismatched:
        guess = guess_preset(bundle.state_dict, bundle.audio)
        hint = f"The weights look like the '{guess}' preset." if guess else ""
    raise CheckpointError(f"the model config ({desc}) does not match the weights: "
                          + "; ".join(parts), bundle.path, hint)


# ----------------------------------------------------------------------------- creating

def init_bundle(preset_name: str = "small", sources: Optional[list[str]] = None,
                seed: int = 0, audio: Optional[AudioConfig] = None,
                **model_overrides: Any) -> ModelBundle:
    """An untrained bundle: to try the whole pipeline, or to start training from."""
    import torch

    from .model import build_model

    audio = audio or AudioConfig()
    if sources:
        audio = AudioConfig.from_dict({**audio.to_dict(), "sources": list(sources)})
    config = preset(preset_name, **model_overrides)
    check_model_memory(config, audio)
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = build_model(config, audio)
    finally:
        torch.random.set_rng_state(gen_state)
    meta = {"created_by": "tfswa-studio init", "seed": seed, "trained": False,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    return ModelBundle.from_model(model, audio, meta)
