"""The Benchmark tab: every variant timed side by side, live, with a report to share.

The user ticks variants from the workspace (or adds files), sets runs, warm-up, threads and
segment, and presses Run: :func:`app.core.benchmarking.benchmark_isolated` runs as a job (the
benchmark in a process of its own, so the UI's painting and the timing do not disturb each
other), handing each timed run to :meth:`LiveCharts.push`, whose display timer draws the live
traces and histograms. The finished run shows p50 bars with p95/p99 whiskers, the table
(speed-up against eager PyTorch, size, memory, SDR) and the operator profile; Save report
writes HTML, JSON and CSV. The parts are composed widgets: :class:`VariantList`,
:class:`SettingsPanel`, :class:`LiveCharts`, :class:`ResultCharts`.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any, Optional, Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QHBoxLayout, QLabel, QMessageBox, QPushButton,
                               QStackedWidget, QVBoxLayout, QWidget)

from ....core.benchmarking import (BenchmarkRun, BenchmarkVariant, benchmark_isolated,
                                   cuda_available, cuda_variants, reproduce_command,
                                   save_report)
from ....core.jobs import UserError
from ...jobs import Job, describe_error
from ...widgets import job_progress_bar
from ..base import SingleJobTab, TabContext
from .live import LiveCharts
from .results import ResultCharts
from .settings_panel import SettingsPanel
from .variant_list import VariantList

PLACEHOLDER = ("<b>No benchmark yet.</b><br><br>Tick the variants to compare on the left (the "
               "loaded model, its exports and quantized files, or any model file you add), "
               "choose the runs and threads, and press <b>Run</b>.<br>Every variant runs in "
               "turn, run after run, so a busy machine slows them all alike; the latency of "
               "each run appears here as it is measured.")
ALL_FORMATS = ["html", "json", "csv"]
REPORT_FILTERS = {"HTML report, with JSON and CSV beside it (*.html)": ALL_FORMATS,
                  "HTML report only (*.html)": ["html"], "JSON (*.json)": ["json"],
                  "CSV (*.csv)": ["csv"]}


class BenchmarkTab(SingleJobTab):
    title = "Benchmark"
    tooltip = "Time every variant side by side: latency, throughput, memory, a shareable report"
    cancel_text = "Cancelling after the current run…"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.run_result: Optional[BenchmarkRun] = None
        self.variant_list = VariantList()
        self.variant_list.changed.connect(self.refresh)
        self.settings_panel = SettingsPanel()
        self.settings_panel.restore(self.setting)
        self.cuda = cuda_available()
        self.cuda_check = QCheckBox("Also on the GPU (CUDA)")
        self.cuda_check.setToolTip("Add each variant's CUDA versions: a checkpoint as PyTorch "
                                   "on CUDA in FP32 and FP16, an ONNX file on ONNX Runtime's "
                                   "CUDA provider (shown where they are available)")
        self.cuda_check.setVisible(any(self.cuda.values()))
        self.live = LiveCharts()
        self.results = ResultCharts()
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(12, 10, 12, 8)
        top = QHBoxLayout()
        top.addWidget(self.variant_list, 3)
        top.addWidget(self.settings_panel, 2)
        top.addLayout(self._buttons())
        layout.addLayout(top)
        self.progress_bar = job_progress_bar()
        layout.addWidget(self.progress_bar)
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.verdict)
        layout.addWidget(self._body(), 1)
        self.variant_list.set_workspace_variants(ctx.workspace.variants)
        self.refresh()

    # ------------------------------------------------------------------ building
    def _buttons(self) -> QVBoxLayout:
        self.run_button = QPushButton("Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Time the ticked variants, interleaved")
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the current run")
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button = QPushButton("Save report…")
        self.save_button.setToolTip("HTML (charts, machine, the command to reproduce it), "
                                    "JSON and CSV")
        self.save_button.clicked.connect(self.save_report_dialog)
        column = QVBoxLayout()
        for button in (self.run_button, self.cancel_button, self.save_button):
            column.addWidget(button)
        column.addWidget(self.cuda_check)
        column.addStretch(1)
        return column

    def _body(self) -> QWidget:
        self.stack = QStackedWidget()
        self.placeholder = QLabel(PLACEHOLDER)
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color:#424949; padding:40px;")
        charts = QWidget()
        column = QVBoxLayout(charts)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.live, 2)
        column.addWidget(self.results, 3)
        self.results.hide()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(charts)
        return self.stack

    # ------------------------------------------------------------------ state
    def refresh(self) -> None:
        busy = self.running
        self.run_button.setEnabled(not busy and bool(self.variant_list.chosen()))
        self.cancel_button.setEnabled(busy)
        self.save_button.setEnabled(not busy and self.run_result is not None)
        self.variant_list.setEnabled(not busy)
        self.settings_panel.setEnabled(not busy)

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event in ("bundle", "variant", "variant-updated"):
            self.variant_list.set_workspace_variants(self.ctx.workspace.variants)

    def shutdown(self) -> None:
        self.live.timer.stop()

    # ------------------------------------------------------------------ running
    def chosen_variants(self) -> list[BenchmarkVariant]:
        out = []
        for kind, obj in self.variant_list.chosen():
            if kind == "file":
                out.append(BenchmarkVariant(path=Path(obj)))
            elif obj.path is not None and Path(obj.path).exists():
                # the workspace's files were exported or quantized by this app: trusted
                out.append(BenchmarkVariant(path=Path(obj.path), name=obj.name,
                                            figures=dict(obj.figures), trust_torchscript=True))
            else:
                ws = self.ctx.workspace
                out.append(BenchmarkVariant(name=obj.name, figures=dict(obj.figures),
                                            loader=lambda t, v=obj: ws.backend_for(v, t)))
        if any(self.cuda.values()) and self.cuda_check.isChecked():
            files = [v.path for v in out if v.path is not None]
            out += cuda_variants(files, self.cuda)
        return out

    def start(self) -> Optional[Job]:
        items = self.chosen_variants()
        if self.running or not items:
            return None
        try:
            settings = self.settings_panel.settings(self.ctx.window.threads())
        except UserError as exc:
            self.ctx.window.show_error("These benchmark settings cannot be used", str(exc))
            return None
        self.settings_panel.save(self.set_setting)
        cpu = [v for v in items if v.device == "cpu"]
        command = reproduce_command([v.path or "(the loaded model)" for v in cpu], settings,
                                    ["--cuda"] if len(cpu) < len(items) else [])
        self.run_result = None
        self.results.hide()
        self.stack.setCurrentIndex(1)
        self.live.start(settings.runs)
        self._set_verdict(f"Benchmarking {len(items)} variants…")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.job = self.ctx.jobs.run(
            f"Benchmark {len(items)} variants", benchmark_isolated,
            {"variants": items, "settings": settings, "on_sample": self.live.push,
             "command": command},
            on_result=self._finished, on_error=self._failed, on_aborted=self._aborted,
            on_finished=self._ended)
        self.job.changed.connect(self._show_progress)
        self.refresh()
        return self.job

    def _ended(self) -> None:
        self.live.stop()
        self.refresh()

    def _finished(self, run: BenchmarkRun) -> None:
        self.run_result = run
        self.live.stop()
        self.results.show_run(run)
        self.results.show()
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"Done in {run.seconds:.1f} s")
        self._set_verdict(verdict_html(run))
        self.reveal(self.results)
        self.ctx.jobs.log(f"Benchmark of {len(run.results)} variants done: " + ", ".join(
            f"{r.label} {r.latency.p50:.1f} ms" for r in run.results))

    def _failed(self, error: BaseException) -> None:
        self.progress_bar.setFormat("Failed")
        self._set_verdict("<b>✘ Benchmark failed.</b> " + escape(describe_error(error)))
        if not self.isVisible():
            self.ctx.window.show_error("Benchmark failed", describe_error(error))

    def _aborted(self) -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Cancelled")
        self._set_verdict("Benchmark cancelled: the runs so far stay on the live chart.")

    def _set_verdict(self, html: str) -> None:
        self.verdict.setText(html)

    # ------------------------------------------------------------------ report
    def save_report_dialog(self) -> Optional[Job]:
        if self.run_result is None:
            return None
        folder = Path(self.setting("report_dir", str(Path.home())))
        path, chosen = QFileDialog.getSaveFileName(self, "Save benchmark report",
                                                   str(folder / "benchmark.html"),
                                                   ";;".join(REPORT_FILTERS))
        if not path:
            return None
        self.set_setting("report_dir", str(Path(path).parent))
        formats = REPORT_FILTERS.get(chosen, ALL_FORMATS)
        others = [Path(path).with_suffix(f".{f}") for f in formats]
        existing = [p for p in others if p.exists() and p != Path(path)]   # the dialog asked for path
        if existing and not self._confirm_replace(existing):
            return None
        return self.save_report_to(Path(path), formats)

    def _confirm_replace(self, paths: Sequence[Path]) -> bool:
        answer = QMessageBox.question(
            self, "Replace existing files?", "\n".join(map(str, paths)) + "\nalready exist. "
            "Replace them?", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def save_report_to(self, path: Path, formats: Sequence[str] = ALL_FORMATS) -> Job:
        """Write the report as ``formats`` beside each other, named like ``path`` (the file
        dialog has asked about replacing files)."""
        return self.ctx.jobs.run(
            f"Save benchmark report {path.name}", save_report,
            {"run": self.run_result, "path": Path(path).with_suffix(""), "formats": list(formats),
             "overwrite": True},
            on_result=lambda written: self.ctx.jobs.log(
                "Saved " + ", ".join(str(p) for p in written)))


def verdict_html(run: BenchmarkRun) -> str:
    best = min(run.results, key=lambda r: r.latency.p50)
    text = (f"<b>Fastest: {escape(best.label)}</b>, p50 {best.latency.p50:.1f} ms per run "
            f"({best.x_realtime:.1f}x real time")
    text += f", {best.speedup:.2f}x eager PyTorch)." if best.speedup else ")."
    text += f" {escape(run.machine.summary())}."
    if run.machine.high_load:
        text += f"<br><span style='color:#b9770e'>⚠ {escape(run.machine.load_note)}</span>"
    for note in run.notes:
        text += f"<br>{escape(note)}"
    return text
