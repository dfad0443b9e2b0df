"""The machine a benchmark ran on: CPU model and the instruction-set flags that decide
speed, cores, load average, library versions. Read from /proc/cpuinfo and package metadata:
nothing here imports torch."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from importlib import metadata, util
from pathlib import Path
from typing import Optional

# Instruction-set extensions that change how fast the kernels of PyTorch and ONNX Runtime
# run: 256/512-bit vectors, the int8 dot-product (VNNI) used by quantized models, and the
# AMX tile units for int8 / bf16 matrix products.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8",
               "amx_bf16")
LIBRARIES = ("numpy", "onnxruntime", "torch", "onnx", "scipy")
CPUINFO = Path("/proc/cpuinfo")


def read_cpuinfo(path: Path = CPUINFO) -> tuple[str, set[str]]:
    """(CPU model name, the set of all CPU flags) from /proc/cpuinfo; the platform's
    processor string and no flags where the file does not exist."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and value.strip():
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def load_average() -> Optional[float]:
    """The 1-minute load average, None where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that run the variants, read from package
    metadata (no import: torch is only named when it is installed)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        if util.find_spec(name) is None:
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class MachineInfo:
    cpu: str
    flags: list[str]                      # the SPEED_FLAGS this CPU has
    cores: int
    system: str
    versions: dict[str, str]
    load_before: Optional[float] = None   # 1-minute load average as the benchmark started
    load_during: list[float] = field(default_factory=list)   # sampled between rounds
    high_load: bool = False
    load_note: str = ""

    def summary(self) -> str:
        flags = ", ".join(self.flags) or "no AVX2"
        return f"{self.cpu} ({flags}), {self.cores} cores"

    def judge_load(self, threads: int) -> None:
        """Flag a machine too busy for clean figures: more work queued than cores, beyond
        the benchmark's own ``threads``."""
        notes = []
        if self.load_before is not None and self.load_before > 0.5 * self.cores:
            notes.append(f"load average {self.load_before:.2f} before the start on "
                         f"{self.cores} cores: other work was running")
        peak = max(self.load_during, default=None)
        if peak is not None and peak > self.cores + 0.5 and peak - threads > 0.5 * self.cores:
            notes.append(f"load average up to {peak:.2f} during the runs with "
                         f"{threads} benchmark threads on {self.cores} cores")
        self.high_load = bool(notes)
        self.load_note = ("; ".join(notes) + ": compare ratios measured in this run, not "
                          "absolute times") if notes else ""


def describe_machine() -> MachineInfo:
    model, flags = read_cpuinfo()
    return MachineInfo(cpu=model, flags=[f for f in SPEED_FLAGS if f in flags],
                       cores=cpu_count(), system=f"{platform.system()} {platform.release()}",
                       versions=library_versions(), load_before=load_average())
