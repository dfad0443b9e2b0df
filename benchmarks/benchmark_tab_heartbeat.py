"""How responsive the app stays while the Benchmark tab runs: a 10 ms QTimer heartbeat in the
UI thread, its gaps measured first with no job (the machine's own baseline) and then while
the tab times the demo model against its ONNX export; plus the time each chart repaint takes.

    QT_QPA_PLATFORM=offscreen python benchmarks/benchmark_tab_heartbeat.py [--runs 30] [--idle 2]

The tests hold the p99 under 50 ms (tests/gui/test_benchmark_tab.py); this script prints the
p50, p99 and max of both phases, so the two can be compared on the same machine and load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def summary(gaps: list[float]) -> str:
    import numpy as np

    ms = np.asarray(gaps) * 1000
    return (f"{len(ms)} ticks, p50 {np.median(ms):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
            f"max {ms.max():.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds of baseline")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import pyqtgraph as pg
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.core.checkpoint import load_bundle
    from app.core.export import ExportOptions, export_bundle
    from app.core.resources import demo_model
    from app.core.workspace import Variant

    app = QApplication([])
    from app.gui.main_window import MainWindow

    paints: list[float] = []
    original = pg.GraphicsView.paintEvent

    def timed_paint(view, event):
        start = time.perf_counter()
        original(view, event)
        paints.append(time.perf_counter() - start)

    pg.GraphicsView.paintEvent = timed_paint
    gaps: list[float] = []
    last = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    def spin(seconds: float, until=None) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.001)

    with tempfile.TemporaryDirectory() as tmp:
        onnx = export_bundle(load_bundle(demo_model()), Path(tmp) / "demo.onnx",
                             ExportOptions(frames=87, verify_frames=(37,)), threads=1).path
        window = MainWindow(settings=QSettings(str(Path(tmp) / "s.ini"),
                                               QSettings.Format.IniFormat))
        window.show()
        job = window.open_checkpoint(demo_model())
        spin(120, lambda: not job.running)
        window.workspace.add_variant(Variant("ONNX FP32 (demo)", "onnx", onnx))
        tab = window.tab("Benchmark")
        window.tabs.setCurrentWidget(tab)
        panel = tab.settings_panel
        panel.threads_edit.setText("1")
        panel.segment_spin.setValue(1.0)
        panel.warmup_spin.setValue(1)
        panel.runs_spin.setValue(args.runs)
        panel.memory_check.setChecked(False)
        heartbeat = QTimer()
        heartbeat.setInterval(10)
        heartbeat.timeout.connect(beat)
        last[0] = time.perf_counter()
        heartbeat.start()
        spin(args.idle)
        idle, gaps[:] = list(gaps), []
        paints.clear()
        job = tab.start()
        spin(600, lambda: not job.running)
        heartbeat.stop()
        print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        print(f"no job:        {summary(idle)}")
        print(f"benchmarking:  {summary(gaps)} ({job.state.value})")
        if paints:
            print(f"chart repaints: {len(paints)}, {summary(paints).split(', ', 1)[1]}")
        window.close()


if __name__ == "__main__":
    main()
