"""ONNX Runtime's own per-operator profile of an ONNX variant: where the time goes.

A session with ``enable_profiling`` writes a Chrome-trace JSON file; every kernel
execution is an event of category ``Node`` named ``<node>_kernel_time`` with its operator
type in ``args.op_name`` and its duration in microseconds. Summed per operator type and per
node and divided by the number of runs, they give milliseconds per inference.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from ..jobs import CancelToken, ensure_token

KERNEL_SUFFIX = "_kernel_time"


@dataclass
class OperatorTime:
    name: str            # operator type (Conv, MatMul...) or node name
    op_type: str
    ms: float            # per inference
    share: float         # of all kernel time
    calls: int = 0       # kernel executions per inference


@dataclass
class OperatorProfile:
    runs: int
    total_ms: float                       # kernel time per inference
    by_type: list[OperatorTime] = field(default_factory=list)    # slowest first
    top_nodes: list[OperatorTime] = field(default_factory=list)  # slowest first


def parse_profile(events: list[dict], runs: int, top: int = 15) -> OperatorProfile:
    """Per operator type and per node, from the events of ORT's profile JSON."""
    by_type: dict[str, float] = defaultdict(float)
    type_calls: dict[str, int] = defaultdict(int)
    by_node: dict[str, float] = defaultdict(float)
    node_type: dict[str, str] = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX):
            continue
        op = event.get("args", {}).get("op_name", "?")
        us = float(event.get("dur", 0))
        node = name[: -len(KERNEL_SUFFIX)]
        by_type[op] += us
        type_calls[op] += 1
        by_node[node] += us
        node_type[node] = op
    runs = max(1, runs)
    total = sum(by_type.values())

    def rows(table: dict[str, float], kind) -> list[OperatorTime]:
        ordered = sorted(table.items(), key=lambda kv: -kv[1])
        return [OperatorTime(name, kind(name), us / 1000.0 / runs, us / total if total else 0.0,
                             type_calls.get(name, 0) // runs)
                for name, us in ordered]

    return OperatorProfile(runs, total / 1000.0 / runs, rows(by_type, lambda n: n),
                           rows(by_node, node_type.get)[:top])


def timed_events(events: list[dict], skip_runs: int) -> list[dict]:
    """The events after the first ``skip_runs`` runs (each run is one ``model_run`` event of
    category ``Session``): warm-up runs are profiled too, and are left out this way."""
    starts = sorted(e["ts"] for e in events
                    if e.get("cat") == "Session" and e.get("name") == "model_run")
    if skip_runs <= 0 or len(starts) <= skip_runs:
        return events
    cut = starts[skip_runs]
    return [e for e in events if e.get("ts", 0) >= cut]


def onnx_operator_profile(path: Path | str, magnitude: np.ndarray, threads: Optional[int] = None,
                          runs: int = 5, warmup: int = 1, *,
                          cancel: Optional[CancelToken] = None) -> OperatorProfile:
    """Run an ONNX file ``warmup + runs`` times with ONNX Runtime's profiler on (the app's
    session options otherwise) and parse the timed runs' part of the profile."""
    import onnxruntime as ort

    from ..backends.onnx_runtime import session_options

    cancel = ensure_token(cancel)
    with tempfile.TemporaryDirectory(prefix="tfswa-profile-") as tmp:
        so = session_options(threads)
        so.enable_profiling = True
        so.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        inp = session.get_inputs()[0]
        dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        feed = {inp.name: np.ascontiguousarray(magnitude, dtype=dtype)}
        try:
            for _ in range(warmup + runs):
                cancel.check()
                session.run(None, feed)
        finally:
            trace = Path(session.end_profiling())
        events = json.loads(trace.read_text())
    return parse_profile(timed_events(events, warmup), runs)
