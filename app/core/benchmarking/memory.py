"""Peak resident memory of one variant, measured in a child process of its own.

In the benchmark's own process every variant is loaded side by side and the peak resident
set size only ever grows, so no per-variant peak can be read there. A child process loads
the one variant, runs it on the benchmark's input and reports its peak RSS (``ru_maxrss``)
and its RSS after importing the libraries the variant needs (the baseline), as one JSON line
(peak: VmHWM on Linux, see :func:`_peak_rss`):

    python -m app.core.benchmarking.memory FILE --shape 1,2,1025,259 [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from ..jobs import CancelToken, UserError, ensure_token

APP_ROOT = Path(__file__).resolve().parents[3]     # the folder that holds the app package


@dataclass
class MemoryFigures:
    baseline_bytes: int     # the child after importing the libraries, before loading
    loaded_bytes: int       # RSS after loading the variant
    peak_bytes: int         # peak RSS over loading and running

    @property
    def model_and_run_bytes(self) -> int:
        """What the variant adds to the libraries: its weights, session and a run's buffers."""
        return max(0, self.peak_bytes - self.baseline_bytes)


def _peak_rss() -> int:
    """This process's peak RSS. On Linux VmHWM of /proc/self/status: ``ru_maxrss`` would
    carry over the parent's peak, which survives fork and exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def _import_runtime(path: Path) -> None:
    """Import what loading this file will import, so it counts in the baseline."""
    import numpy  # noqa: F401

    if path.suffix.lower() == ".onnx":
        import onnxruntime  # noqa: F401
    else:
        import torch  # noqa: F401


def child_main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--shape", required=True)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--trust-torchscript", action="store_true")
    args = parser.parse_args(argv)
    import numpy as np

    from .variants import BenchmarkVariant, open_variant

    path = Path(args.path)
    _import_runtime(path)
    baseline = _rss()
    opened = open_variant(BenchmarkVariant(path=path, device=args.device,
                                           precision=args.precision,
                                           trust_torchscript=args.trust_torchscript),
                          args.threads)
    loaded = _rss()
    shape = tuple(int(s) for s in args.shape.split(","))
    x = np.abs(np.random.default_rng(0).standard_normal(shape)).astype(np.float32)
    for _ in range(args.runs):
        opened.backend.run(x)
    print(json.dumps({"baseline": baseline, "loaded": loaded, "peak": _peak_rss()}))
    return 0


def measure_peak_memory(path: Path, shape: Sequence[int], threads: Optional[int] = None,
                        device: str = "cpu", trust_torchscript: bool = False, runs: int = 2, *,
                        precision: str = "fp32", cancel: Optional[CancelToken] = None,
                        timeout: float = 600.0) -> MemoryFigures:
    """Run the child for one file; Cancel kills it at once."""
    cancel = ensure_token(cancel)
    cmd = [sys.executable, "-m", "app.core.benchmarking.memory", str(path),
           "--shape", ",".join(map(str, shape)), "--runs", str(runs), "--device", device,
           "--precision", precision]
    if threads:
        cmd += ["--threads", str(threads)]
    if trust_torchscript:
        cmd.append("--trust-torchscript")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(APP_ROOT), env.get("PYTHONPATH")) if p)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.1)    # keeps draining both pipes
                break
            except subprocess.TimeoutExpired:
                cancel.check()
                if time.monotonic() > deadline:
                    raise UserError(f"memory measurement took over {timeout:.0f} s", path) from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1][:300]
        raise UserError(f"memory measurement failed ({last})", path)
    data = json.loads(out.strip().splitlines()[-1])
    return MemoryFigures(int(data["baseline"]), int(data["loaded"]), int(data["peak"]))


if __name__ == "__main__":
    sys.exit(child_main())
