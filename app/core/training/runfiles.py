"""The files of a run's folder that the trainer appends to and rewrites: the JSON-lines log,
and tensors brought to the CPU for ``checkpoint.pt`` (so a run resumes on any device)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..files import atomic_path
from ..jobs import to_jsonable


def append_log(path: Path, record: dict[str, Any]) -> None:
    """Add one record to ``log.jsonl``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(to_jsonable(record)) + "\n")


def trim_log(path: Path, step: int) -> None:
    """Drop the records of ``log.jsonl`` written after ``step`` (an interrupted run's tail)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("step", 0) <= step:
            keep.append(line)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text("".join(k + "\n" for k in keep))


def on_cpu(value: Any) -> Any:
    """``value`` (nested dicts, lists, tuples) with every tensor copied to the CPU."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(on_cpu(v) for v in value)
    return value
