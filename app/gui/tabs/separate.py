"""The Separate tab: choose a song, separate it with any variant, look, listen, save.

Reading the song (its display data), separating it into the session cache and drawing data
for each stem all run in workers (:mod:`app.gui.tasks`); this widget only shows results.
Stems live in a per-session cache folder until "Save stems…" copies them, through
temporary names, to ``{folder}/{track}/{stem}.wav``, asking before replacing a file.
The widgets themselves are built in :mod:`app.gui.tabs.separate_panels`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QVBoxLayout, QWidget

from ...core.audio import TrackDisplay
from ...core.separation import SeparationOptions
from ..jobs import Job, describe_error
from ..playback import Playback
from ..tasks import SeparationView, inspect_audio, save_stems, separate_for_view, stem_targets
from ..trust import confirm_torchscript
from .base import SingleJobTab, TabContext
from .separate_panels import SeparatePanels, clock


class SeparateTab(SeparatePanels, SingleJobTab):
    title = "Separate"
    tooltip = "Split a song into stems, look at them, listen to them, save them"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.audio_path: Optional[Path] = None
        self.mixture: Optional[TrackDisplay] = None
        self.view: Optional[SeparationView] = None
        self.run_dir: Optional[Path] = None
        self.read_job: Optional[Job] = None
        self.save_job: Optional[Job] = None
        self._runs = 0
        self.player = Playback(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self._no_model_notice())
        layout.addWidget(self._controls())
        layout.addWidget(self._plots(), 1)
        layout.addLayout(self._transport())
        self._actions()
        self.player.playing_changed.connect(self._playing_changed)
        self.player.position_changed.connect(self._position_changed)
        self.player.failed.connect(lambda text: self.playback_label.setText(
            f"Playback failed: {text}"))
        self.stem_view.seek_requested.connect(self._seek)
        self._fill_variants()
        self._model_changed()

    # ------------------------------------------------------------------ state
    @property
    def separating(self) -> bool:
        return self.running

    @property
    def separate_job(self) -> Optional[Job]:
        """The separation job (the tab's one job; reading and scoring run beside it)."""
        return self.job

    @property
    def reading(self) -> bool:
        return self.read_job is not None and self.read_job.running

    def refresh(self) -> None:
        has_model = self.ctx.workspace.bundle is not None
        has_audio = self.mixture is not None
        busy = self.separating
        self.notice.setVisible(not has_model)
        for w in (self.variant_combo, self.segment_spin, self.overlap_spin, self.exact_sum_check):
            w.setEnabled(has_model and not busy)
        self.choose_button.setEnabled(not busy)
        self.recent_button.setEnabled(not busy)
        self.separate_button.setEnabled(has_model and has_audio and not busy and not self.reading)
        why = ("Open a model first (Ctrl+O)" if not has_model else
               "Choose an audio file first (Ctrl+Shift+O)" if not has_audio else
               "Separate the song into stems (Ctrl+Enter)")
        self.separate_button.setToolTip(why)
        self.cancel_button.setEnabled(busy)
        saving = self.save_job is not None and self.save_job.running
        self.save_button.setEnabled(self.view is not None and not busy and not saving)
        self.play_button.setEnabled(self.player.available and has_audio)
        self.track_combo.setEnabled(has_audio)
        self.plot_stack.setCurrentIndex(1 if has_audio else 0)

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self._model_changed()
        if event in ("bundle", "variant", "variant-updated"):
            self._fill_variants()

    def _model_changed(self) -> None:
        bundle = self.ctx.workspace.bundle
        if bundle is not None:
            self.segment_spin.setValue(bundle.audio.segment_seconds)
        self.refresh()

    def _fill_variants(self) -> None:
        """List the workspace's variants, keeping the current choice when it still exists."""
        current = self.variant_combo.currentData()
        key = (current.kind, str(current.path)) if current is not None else None
        self.variant_combo.blockSignals(True)
        self.variant_combo.clear()
        for variant in self.ctx.workspace.variants:
            self.variant_combo.addItem(variant.name, variant)
            self.variant_combo.setItemData(self.variant_combo.count() - 1,
                                           str(variant.path or ""), Qt.ItemDataRole.ToolTipRole)
            if key == (variant.kind, str(variant.path)):
                self.variant_combo.setCurrentIndex(self.variant_combo.count() - 1)
        if not self.ctx.workspace.variants:
            self.variant_combo.addItem("(no model loaded)", None)
        self.variant_combo.blockSignals(False)

    def options(self) -> SeparationOptions:
        return SeparationOptions(segment=self.segment_spin.value(),
                                 overlap=self.overlap_spin.value() / 100.0,
                                 exact_sum=self.exact_sum_check.isChecked())

    # ------------------------------------------------------------------ audio
    def choose_audio(self) -> None:
        self.ctx.window.open_audio_dialog()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.ctx.settings.recent("audio")
        for path in recent:
            action = self.recent_menu.addAction(path.name)
            action.setToolTip(str(path))
            action.triggered.connect(lambda _=False, p=path: self.open_audio(p))
        if not recent:
            self.recent_menu.addAction("(no recent audio files)").setEnabled(False)

    def open_audio(self, path: Path | str) -> None:
        """Read ``path`` in a worker; on success it becomes the song to separate."""
        if self.separating:
            self.ctx.window.show_error("A separation is running",
                                       "Cancel it or wait for it before opening another song.")
            return
        path = Path(path)
        if self.read_job is not None and self.read_job.running:
            self.read_job.cancel()
        self.player.stop()
        self.audio_path, self.mixture = path, None
        self._clear_stems()
        self.audio_edit.setText(str(path))
        self.audio_info.setText("reading…")
        self.read_job = self.ctx.jobs.run(
            f"Read {path.name}", inspect_audio, {"path": path},
            on_result=lambda display, p=path: self._audio_read(p, display),
            on_error=lambda exc, p=path: self._audio_failed(p, exc), log_done=False)
        self.refresh()

    def _audio_read(self, path: Path, display: TrackDisplay) -> None:
        if path != self.audio_path:
            return
        self.mixture = display
        self.ctx.settings.add_recent("audio", path)
        self.ctx.jobs.log(f"Opened {path.name}: {display.duration:.1f} s at "
                          f"{display.sample_rate:,} Hz")
        self.audio_info.setText(f"{clock(display.duration)} · {display.sample_rate:,} Hz")
        self.stem_view.set_tracks({"mixture": display})
        self._fill_tracks()
        self._show_time(0.0)
        self.refresh()

    def _audio_failed(self, path: Path, error: BaseException) -> None:
        if path == self.audio_path:
            self.audio_path = None
            self.audio_edit.clear()
            self.audio_info.setText("")
        self.ctx.window.show_error(f"Could not open the audio file “{path.name}”",
                                   describe_error(error))
        self.refresh()

    # ------------------------------------------------------------------ separation
    def separate(self) -> None:
        if not self.separate_button.isEnabled():
            return
        variant = self.variant_combo.currentData()
        trust = self.ctx.workspace.needs_trust(variant)
        if trust and not confirm_torchscript(self, variant.path):
            return
        self._runs += 1
        run_dir = self.ctx.window.cache_dir("separate") / f"run-{self._runs:03d}"
        options = self.options()
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.job = self.ctx.jobs.run(
            f"Separate {self.audio_path.name}", separate_for_view,
            {"workspace": self.ctx.workspace, "variant": variant,
             "threads": self.ctx.window.threads(), "input_path": self.audio_path,
             "out_dir": run_dir, "options": options, "trust_torchscript": trust},
            on_result=lambda view, d=run_dir: self._separated(d, view),
            on_error=lambda exc, d=run_dir: self._separation_failed(d, exc),
            on_aborted=lambda d=run_dir: self._separation_aborted(d),
            on_finished=self.refresh)
        self.job.changed.connect(self._show_progress)
        self.refresh()

    def _separated(self, run_dir: Path, view: SeparationView) -> None:
        old = self.run_dir
        self.view, self.run_dir = view, run_dir
        result = view.result
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat(f"Done · {result.duration_s:.1f} s of audio in "
                                    f"{result.elapsed_s:.1f} s ({result.speed:.1f}× real time, "
                                    f"{result.backend})")
        self.ctx.jobs.log(f"Separated {result.input.name}: {result.duration_s:.1f} s in "
                          f"{result.elapsed_s:.1f} s ({result.speed:.1f}× real time) with "
                          f"{result.backend}")
        for warning in result.warnings:
            self.ctx.jobs.log(warning, "warning")
        notes = {name: f"SDR {value:.1f} dB" for name, value in view.sdr.items()}
        if view.sdr:
            self.ctx.jobs.log("Against the true stems beside the mixture: " + ", ".join(
                f"{name} {value:.1f} dB SDR" for name, value in view.sdr.items()))
        tracks = {"mixture": self.mixture} if self.mixture is not None else {}
        tracks.update(view.stems)
        self.stem_view.set_tracks(tracks, notes)
        self._fill_tracks()
        self._show_time(self.stem_view.position)
        if old is not None and old != run_dir:
            shutil.rmtree(old, ignore_errors=True)

    def _separation_failed(self, run_dir: Path, error: BaseException) -> None:
        shutil.rmtree(run_dir, ignore_errors=True)
        self.progress_bar.setFormat("Failed")
        self.ctx.window.show_error(
            f"Could not separate “{self.audio_path.name if self.audio_path else ''}”",
            describe_error(error))

    def _separation_aborted(self, run_dir: Path) -> None:
        shutil.rmtree(run_dir, ignore_errors=True)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Cancelled: nothing was written")

    def _clear_stems(self) -> None:
        self.view = None
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Idle")
        self.stem_view.set_tracks({})
        self.track_combo.clear()

    # ------------------------------------------------------------------ saving
    def save_stems(self, folder: Optional[Path | str] = None) -> Optional[Job]:
        """Copy the stems to ``folder`` (asks for one if None); asks before replacing files."""
        if self.view is None or self.separating:
            return None
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Save stems to folder",
                                                      self.ctx.settings.last_dir("stems"))
            if not folder:
                return None
        folder = Path(folder)
        track = self.view.result.input.stem
        targets = stem_targets(self.view.result.outputs, folder, track)
        existing = [t for t in targets.values() if t.exists()]
        if existing and not self.confirm_overwrite(existing):
            self.ctx.jobs.log(f"Save cancelled: {len(existing)} file(s) already exist in "
                              f"{folder / track}")
            return None
        self.ctx.settings.set_value("paths/stems", str(folder))
        self.save_job = self.ctx.jobs.run(
            f"Save stems of {track}", save_stems,
            {"stems": self.view.result.outputs, "folder": folder, "track": track,
             "overwrite": bool(existing)},
            on_result=lambda paths: self.ctx.window.show_message(
                f"Saved {len(paths)} stems to {folder / track}"),
            on_finished=self.refresh)
        self.refresh()
        return self.save_job

    def confirm_overwrite(self, existing: list[Path]) -> bool:
        names = "\n".join(f"  {p}" for p in existing[:8])
        more = f"\n  and {len(existing) - 8} more" if len(existing) > 8 else ""
        answer = QMessageBox.question(
            self, "Replace existing files?",
            f"These files already exist:\n{names}{more}\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ playback
    def _fill_tracks(self) -> None:
        self.track_combo.blockSignals(True)
        current = self.track_combo.currentText()
        self.track_combo.clear()
        if self.audio_path is not None:
            self.track_combo.addItem("mixture", str(self.audio_path))
        if self.view is not None:
            for name, path in self.view.result.outputs.items():
                self.track_combo.addItem(name, str(path))
        index = self.track_combo.findText(current)
        self.track_combo.setCurrentIndex(max(index, 0))
        self.track_combo.blockSignals(False)
        self._track_chosen()

    def _track_chosen(self) -> None:
        path = self.track_combo.currentData()
        self.player.set_source(Path(path) if path else None)

    def toggle_playback(self) -> None:
        if not self.player.available:
            self.ctx.window.show_message(f"Playback unavailable: {self.player.reason}")
            return
        self.player.toggle()

    def _playing_changed(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")

    def _position_changed(self, seconds: float) -> None:
        self.stem_view.set_position(seconds)
        self._show_time(seconds)

    def _seek(self, seconds: float) -> None:
        self.player.seek(seconds)
        self._show_time(seconds)

    def _show_time(self, seconds: float) -> None:
        self.time_label.setText(f"{clock(seconds)} / {clock(self.stem_view.duration)}")

    def _set_mode(self, mode: str) -> None:
        self.stem_view.set_mode(mode)

    def shutdown(self) -> None:
        self.player.stop()
