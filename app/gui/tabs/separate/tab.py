"""The Separate tab: choose a song, separate it with any variant, look, listen, save.

Reading the song (its display data), separating it into the session cache and drawing data
for each stem all run in workers (:mod:`app.gui.tasks`); this widget only shows results.
Stems live in a per-session cache folder until "Save stems…" copies them, through
temporary names, to ``{folder}/{track}/{stem}.wav``, asking before replacing a file.
The tab assembles the panels of :mod:`app.gui.tabs.separate.panels` and the player, and
keeps the song, the separation and the jobs.
"""

from __future__ import annotations

import dataclasses

import shutil
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox, QVBoxLayout, QWidget

from ....core.artifacts import audio_config_from
from ....core.audio import TrackDisplay
from ....core.evaluation import quality_summary
from ....core.jobs import UserError, format_seconds
from ....core.separation import SeparationOptions
from ...jobs import Job, describe_error
from ...playback import Playback
from ...tasks import SeparationView, inspect_audio, save_stems, separate_for_view, stem_targets
from ...trust import confirm_torchscript
from ...widgets import NoModelNotice
from ..base import SingleJobTab, TabContext
from .panels import PlotArea, SongForm, Transport


class SeparateTab(SingleJobTab):
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
        self.notice = NoModelNotice(
            "<b>No model loaded.</b> Open a checkpoint with File ▸ Open checkpoint… (Ctrl+O) "
            "or drop one here. To make an untrained one: "
            "<code>tfswa-studio init --out model.pt</code>", ctx.window.open_checkpoint_dialog)
        self.untrained_note = QLabel(
            "<b>⚠ This model was never trained</b> (made by <code>tfswa-studio init</code>): "
            "its stems will sound like the mixture or like noise. Open a trained model, such "
            "as the bundled demo (File ▸ Open checkpoint…), to hear a real separation.")
        self.untrained_note.setWordWrap(True)
        self.untrained_note.setStyleSheet("QLabel { background:#fff1e0; border:1px solid "
                                          "#e0a050; color:#6a3a00; border-radius:4px; "
                                          "padding:5px 9px; }")
        self.untrained_note.hide()
        self.form = SongForm()
        self.plots = PlotArea()
        self.transport = Transport()
        self.progress_bar = self.form.progress_bar
        self.stem_view = self.plots.stem_view
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(8)
        layout.addWidget(self.notice)
        layout.addWidget(self.untrained_note)
        layout.addWidget(self.form)
        layout.addWidget(self.plots, 1)
        layout.addWidget(self.transport)
        self._connect()
        self._actions()
        if not self.player.available:
            self.transport.show_problem(f"Playback unavailable: {self.player.reason}")
        self._fill_variants()
        self._model_changed()

    def _connect(self) -> None:
        form, transport = self.form, self.transport
        form.choose_requested.connect(self.choose_audio)
        form.recent_requested.connect(
            lambda: form.set_recent(self.ctx.settings.recent("audio")))
        form.audio_chosen.connect(self.open_audio)
        form.separate_requested.connect(self.separate)
        form.cancel_requested.connect(self.cancel)
        form.save_requested.connect(lambda: self.save_stems())
        self.plots.choose_requested.connect(self.choose_audio)
        transport.play_requested.connect(self.toggle_playback)
        transport.track_chosen.connect(self.player.set_source)
        transport.mode_chosen.connect(self.stem_view.set_mode)
        self.player.playing_changed.connect(transport.set_playing)
        self.player.position_changed.connect(self._position_changed)
        self.player.failed.connect(lambda text: transport.show_problem(
            f"Playback failed: {text}"))
        self.stem_view.seek_requested.connect(self._seek)

    def _actions(self) -> None:
        """Shortcuts that work while this tab is shown."""
        specs = [("Separate", [QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")],
                  self.separate),
                 ("Cancel separation", [QKeySequence("Esc")], self.cancel),
                 ("Play / pause", [QKeySequence("Space")], self.toggle_playback),
                 ("Save stems…", [QKeySequence.StandardKey.Save], lambda: self.save_stems())]
        self.shortcut_actions: dict[str, QAction] = {}
        for text, keys, slot in specs:
            action = QAction(text, self)
            action.setShortcuts(keys)
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.triggered.connect(slot)
            self.addAction(action)
            self.shortcut_actions[text] = action

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
        has_model = self.ctx.workspace.has_model
        has_audio = self.mixture is not None
        busy = self.separating
        self.notice.setVisible(not has_model)
        saving = self.save_job is not None and self.save_job.running
        self.form.set_state(has_model=has_model, has_audio=has_audio, separating=busy,
                            reading=self.reading,
                            can_save=self.view is not None and not busy and not saving)
        self.transport.play_button.setEnabled(self.player.available and has_audio)
        self.transport.track_combo.setEnabled(has_audio)
        self.plots.show_plots(has_audio)

    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle":
            self._model_changed()
        if event in ("bundle", "variant", "variant-updated"):
            self._fill_variants()

    def model_segment(self) -> Optional[float]:
        """The loaded model's own segment (seconds): a checkpoint's training segment, or what
        an opened export says (for a fixed-shape file, its one length)."""
        ws = self.ctx.workspace
        if ws.bundle is not None:
            return ws.bundle.audio.segment_seconds
        if ws.artifact is not None:
            try:
                return audio_config_from(ws.artifact.metadata, ws.artifact.path).segment_seconds
            except UserError:
                return None
        return None

    def _segment_untouched(self) -> bool:
        """The segment box still shows the model's own segment (as the box can show it)."""
        own, spin = self.model_segment(), self.form.segment_spin
        if own is None:
            return False
        shown = min(max(round(own, spin.decimals()), spin.minimum()), spin.maximum())
        return abs(spin.value() - shown) < 10 ** -spin.decimals() / 2

    def _model_changed(self) -> None:
        bundle = self.ctx.workspace.bundle
        own = self.model_segment()
        if own is not None:
            self.form.segment_spin.setValue(own)
        if self.separating:
            self.cancel()
        if self.view is not None:
            # The stems, their SDR and "Done" belong to the model that made them.
            self._clear_stems()
            if self.run_dir is not None:
                shutil.rmtree(self.run_dir, ignore_errors=True)
                self.run_dir = None
            if self.mixture is not None:
                self.stem_view.set_tracks({"mixture": self.mixture})
            self._fill_tracks()
            self.progress_bar.setFormat("Another model was loaded: press Separate")
        untrained = bundle is not None and quality_summary(
            bundle.metadata, bundle.audio.sources).trained is False
        self.untrained_note.setVisible(untrained)
        self.refresh()

    def _fill_variants(self) -> None:
        self.form.set_variants(self.ctx.workspace.variants)

    def options(self) -> SeparationOptions:
        return self.form.options()

    # ------------------------------------------------------------------ audio
    def choose_audio(self) -> None:
        self.ctx.window.open_audio_dialog()

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
        self.form.audio_edit.setText(str(path))
        self.form.audio_info.setText("reading…")
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
        self.form.audio_info.setText(f"{format_seconds(display.duration, 1)} · "
                                     f"{display.sample_rate:,} Hz")
        self.stem_view.set_tracks({"mixture": display})
        self._fill_tracks()
        self._show_time(0.0)
        self.refresh()

    def _audio_failed(self, path: Path, error: BaseException) -> None:
        if path == self.audio_path:
            self.audio_path = None
            self.form.audio_edit.clear()
            self.form.audio_info.setText("")
        self.ctx.window.show_error(f"Could not open the audio file “{path.name}”",
                                   describe_error(error))
        self.refresh()

    # ------------------------------------------------------------------ separation
    def separate(self) -> None:
        if not self.form.separate_button.isEnabled():
            return
        variant = self.form.variant()
        if self.untrained_note.isVisible():
            self.ctx.jobs.log("Separating with a model that was never trained: expect stems "
                              "that sound like the mixture or like noise", "warning")
        trust = self.ctx.workspace.needs_trust(variant)
        if trust and not confirm_torchscript(self, variant.path):
            return
        self._runs += 1
        run_dir = self.ctx.window.cache_dir("separate") / f"run-{self._runs:03d}"
        options = self.options()
        if self._segment_untouched():
            # left at the model's own: each file's own then, which for an export made for one
            # fixed segment length is that length (another one would be refused)
            options = dataclasses.replace(options, segment=None)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Starting…")
        self.job = self.ctx.jobs.run(
            f"Separate {self.audio_path.name}", separate_for_view,
            {"workspace": self.ctx.workspace, "variant": variant,
             "threads": self.ctx.window.threads(), "device": self.ctx.window.device(),
             "input_path": self.audio_path,
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
        self.transport.set_tracks([])

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
        tracks = [("mixture", self.audio_path)] if self.audio_path is not None else []
        if self.view is not None:
            tracks += list(self.view.result.outputs.items())
        self.transport.set_tracks(tracks)

    def toggle_playback(self) -> None:
        if not self.player.available:
            self.ctx.window.show_message(f"Playback unavailable: {self.player.reason}")
            return
        self.player.toggle()

    def _position_changed(self, seconds: float) -> None:
        self.stem_view.set_position(seconds)
        self._show_time(seconds)

    def _seek(self, seconds: float) -> None:
        self.player.seek(seconds)
        self._show_time(seconds)

    def _show_time(self, seconds: float) -> None:
        self.transport.show_time(seconds, self.stem_view.duration)

    def shutdown(self) -> None:
        self.player.stop()
