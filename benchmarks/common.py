"""Helpers shared by the benchmark scripts: test signals, timing, machine description."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}")


def music_like(seconds: float, sr: int = 44100, seed: int = 0) -> np.ndarray:
    """A stereo test signal with tones, a beat and noise: content does not change the
    network's cost, but a realistic level keeps codecs and clipping honest."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    x = np.zeros((2, n), dtype=np.float32)
    for f, pan in [(110.0, 0.3), (220.0, 0.7), (330.0, 0.5), (523.25, 0.4)]:
        tone = 0.08 * np.sin(2 * np.pi * f * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
        x[0] += (1 - pan) * tone
        x[1] += pan * tone
    beat = (np.mod(t, 0.5) < 0.02) * rng.normal(0, 0.2, n)
    x += beat.astype(np.float32)
    x += rng.normal(0, 0.01, (2, n)).astype(np.float32)
    return x


def timed(fn: Callable[[], object], warmup: int = 1, runs: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def load_average() -> float:
    """The 1-minute load average (NaN where the OS has none): how busy the machine was."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def median(values: list[float]) -> float:
    return statistics.median(values)
