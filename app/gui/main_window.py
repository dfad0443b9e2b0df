"""The main window: tabs from the registry, menus, the Jobs dock, status bar, drag and drop,
persistent settings, and a message banner for errors that never blocks the app."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence

from PySide6.QtCore import QSettings, QSize, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QFileDialog, QLabel, QMainWindow, QMessageBox, QSpinBox, QTabWidget,
                               QVBoxLayout, QWidget)

from .. import __version__
from ..core.audio import READ_FORMATS
from ..core.backends import (ArtifactInfo, default_threads, describe_model_file,
                             is_exported_model)
from ..core.checkpoint import CHECKPOINT_SUFFIXES, ModelBundle, load_bundle
from ..core.info import human_count
from ..core.userdata import is_app_export
from ..core.workspace import Workspace
from ..core.devices import torch_available
from .branding import app_icon
from .device_choice import DeviceBox
from .events import WorkspaceEvents
from .jobs import Job, JobDock, JobManager, describe_error
from .settings import Settings
from .trust import confirm_torchscript
from .tabs import DeferredTab, Tab, TabContext, load_tabs
from .widgets import MessageBanner

APP_NAME = "TFSWA Studio"
DEFAULT_SIZE = (1280, 820)
AUDIO_SUFFIXES = tuple(f".{ext}" for ext in READ_FORMATS)
CHECKPOINT_FILTER = ("Models (*.pt *.pth *.safetensors *.onnx);;Checkpoints (*.pt *.pth "
                     "*.safetensors);;Exported ONNX models (*.onnx);;All files (*)")
MODEL_SUFFIXES = CHECKPOINT_SUFFIXES + (".onnx",)
AUDIO_FILTER = ("Audio files (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ");;All files (*)")
LICENCE_URL = "https://creativecommons.org/licenses/by-nc-nd/4.0/"
CITATION = ("Yao et al., “TFSWA-ResUNet: music source separation with time-frequency sequence "
            "and shifted window attention-based ResUNet”, EURASIP Journal on Advances in "
            "Signal Processing 2025:39")


def first_size(available: Optional[QSize]) -> QSize:
    """The first window's size: DEFAULT_SIZE, shrunk to fit the screen's free area (a 1366x768
    laptop has about 1366x730 once its panel is drawn)."""
    width, height = DEFAULT_SIZE
    if available is not None and available.isValid():
        width = min(width, int(available.width() * 0.96))
        height = min(height, int(available.height() * 0.94))
    return QSize(width, height)


def classify(paths: Iterable[Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """Split dropped or given files into (checkpoints, audio files, others), by suffix."""
    checkpoints, audio, other = [], [], []
    for path in paths:
        suffix = Path(path).suffix.lower()
        if suffix in MODEL_SUFFIXES:
            checkpoints.append(Path(path))
        elif suffix in AUDIO_SUFFIXES:
            audio.append(Path(path))
        else:
            other.append(Path(path))
    return checkpoints, audio, other


def about_text() -> str:
    return (f"<h3>{APP_NAME} {__version__}</h3>"
            "<p>Take a TFSWA-UNet music source separation model from a training checkpoint to a "
            "laptop: inspect it, export and quantize it, benchmark every variant and separate "
            "songs into stems.</p>"
            f"<p><b>Model:</b> {CITATION}.</p>"
            "<p><b>Licence:</b> Creative Commons Attribution-NonCommercial-NoDerivatives 4.0 "
            f"International (CC BY-NC-ND 4.0), <a href='{LICENCE_URL}'>{LICENCE_URL}</a></p>")


class MainWindow(QMainWindow):
    """``MainWindow(settings=QSettings(...))``: pass the settings store explicitly in tests."""

    def __init__(self, settings: Optional[QSettings] = None, workspace: Optional[Workspace] = None,
                 tabs: Optional[Sequence[type[Tab]]] = None, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.setObjectName("MainWindow")
        self.setAcceptDrops(True)
        self.settings = Settings(settings)
        self.workspace = workspace or Workspace()
        self.events = WorkspaceEvents(self.workspace, self)
        self.jobs = JobManager(self)
        self.jobs.error_handler = self._job_failed
        self.events.changed.connect(self._workspace_changed)     # before the tabs hear it
        self.session_dir: Optional[Path] = None
        self.banner = MessageBanner()
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tab_context = TabContext(self.workspace, self.events, self.jobs, self.settings, self)
        self.tab_widgets: list[Tab] = []
        for cls in (load_tabs() if tabs is None else tabs):
            tab = cls(self.tab_context)
            self.tabs.addTab(tab, tab.title)
            self.tabs.setTabToolTip(self.tabs.count() - 1, tab.tooltip)
            self.tab_widgets.append(tab)
        self.tabs.currentChanged.connect(self._build_deferred)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.setSpacing(6)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.dock = JobDock(self.jobs, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
        self._status_bar()
        self._menus()
        self._show_model(self.workspace.bundle)
        self._restore()

    # ------------------------------------------------------------------ building
    def _status_bar(self) -> None:
        self.model_label = QLabel("No model loaded")
        self.model_label.setToolTip("The loaded model: name, preset, parameters")
        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(1, max(default_threads(), 1) * 2)
        self.threads_spin.setValue(self.settings.threads or default_threads())
        self.threads_spin.setToolTip("CPU threads used for inference")
        self.threads_spin.valueChanged.connect(self._threads_changed)
        self.device_box = DeviceBox(self.settings)
        bar = self.statusBar()
        bar.addWidget(self.model_label, 1)
        bar.addPermanentWidget(QLabel("Device:"))
        bar.addPermanentWidget(self.device_box)
        bar.addPermanentWidget(QLabel("Threads:"))
        bar.addPermanentWidget(self.threads_spin)
        if self.device_box.note:
            self.jobs.log(self.device_box.note, "warning")
            bar.showMessage(self.device_box.note, 15000)

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(slot)
        return action

    def _menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self.open_checkpoint_action = self._action(
            "Open &checkpoint…", self.open_checkpoint_dialog, "Ctrl+O",
            "Open a model checkpoint (.pt, .pth, .safetensors)")
        self.open_audio_action = self._action(
            "Open &audio…", self.open_audio_dialog, "Ctrl+Shift+O",
            "Open a song to separate (WAV, FLAC, OGG, MP3)")
        file_menu.addAction(self.open_checkpoint_action)
        file_menu.addAction(self.open_audio_action)
        self.recent_menu = file_menu.addMenu("&Recent files")
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        file_menu.addSeparator()
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        # The platform's Quit keys plus Ctrl+Q where the platform has none (Windows), each
        # once: the same key registered twice is an "ambiguous shortcut" that does nothing.
        keys = QKeySequence.keyBindings(QKeySequence.StandardKey.Quit)
        if QKeySequence("Ctrl+Q") not in keys:
            keys.append(QKeySequence("Ctrl+Q"))
        self.quit_action.setShortcuts(keys)
        file_menu.addAction(self.quit_action)

        view_menu = bar.addMenu("&View")
        self.tab_actions: list[QAction] = []
        for i, tab in enumerate(self.tab_widgets):
            action = self._action(f"&{tab.title}", lambda _=False, i=i: self.tabs.setCurrentIndex(i),
                                  f"Ctrl+{i + 1}" if i < 9 else None, tab.tooltip)
            view_menu.addAction(action)
            self.tab_actions.append(action)
        view_menu.addSeparator()
        view_menu.addAction(self._action("&Next tab", lambda: self._step_tab(1), "Ctrl+PgDown"))
        view_menu.addAction(self._action("&Previous tab", lambda: self._step_tab(-1), "Ctrl+PgUp"))
        view_menu.addSeparator()
        toggle = self.dock.toggleViewAction()
        toggle.setShortcut(QKeySequence("Ctrl+J"))
        view_menu.addAction(toggle)

        help_menu = bar.addMenu("&Help")
        self.about_action = self._action("&About TFSWA Studio", self.show_about)
        help_menu.addAction(self.about_action)

    def _restore(self) -> None:
        geometry, state = self.settings.window_state()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(first_size(self.screen().availableGeometry().size()
                                   if self.screen() else None))
        if state is not None:
            self.restoreState(state)
        else:
            self.resizeDocks([self.dock], [170], Qt.Orientation.Vertical)

    # ------------------------------------------------------------------ hooks for tabs
    def threads(self) -> int:
        return self.threads_spin.value()

    def device(self) -> str:
        """The device chosen in the status bar: "auto", "cpu", "cuda:N" or "mps"."""
        return self.device_box.device

    def cache_dir(self, name: str) -> Path:
        if self.session_dir is None:
            self.session_dir = Path(tempfile.mkdtemp(prefix="tfswa-studio-"))
        folder = self.session_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def show_error(self, title: str, detail: str = "") -> None:
        self.banner.show_message("error", title, detail)

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)
        self.jobs.log(text)

    def _job_failed(self, job: Job, error: BaseException) -> None:
        self.show_error(f"{job.title} failed", describe_error(error))

    # ------------------------------------------------------------------ opening files
    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint",
                                              self.settings.last_dir("checkpoint"),
                                              CHECKPOINT_FILTER)
        if path:
            self.open_checkpoint(path)

    def open_audio_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open audio", self.settings.last_dir("audio"),
                                              AUDIO_FILTER)
        if path:
            self.open_audio(path)

    def open_checkpoint(self, path: Path | str) -> Optional[Job]:
        """Load a checkpoint in a worker; on success it becomes the workspace's model. An
        exported ONNX or TorchScript file opens as the model too (TorchScript only once the
        user agrees to run it, unless this app exported that very file)."""
        path = Path(path)
        if path.is_file() and is_exported_model(path):
            return self.open_exported(path)
        self.model_label.setText(f"Loading {path.name}…")
        return self.jobs.run(f"Load model {path.name}", load_bundle, {"path": path},
                             on_result=lambda bundle: self._model_loaded(path, bundle),
                             on_error=lambda exc: self._model_failed(path, exc))

    def open_exported(self, path: Path, trusted: bool = False) -> Optional[Job]:
        if path.suffix.lower() != ".onnx" and not trusted and not is_app_export(path):
            if not confirm_torchscript(self, path):
                self.jobs.log(f"Not opened: {path.name} is a TorchScript program you did not "
                              f"choose to trust")
                return None
            trusted = True
        self.model_label.setText(f"Loading {path.name}…")
        return self.jobs.run(f"Open model {path.name}", describe_model_file,
                             {"path": path, "trust_torchscript": trusted},
                             on_result=lambda info: self._exported_loaded(path, info, trusted),
                             on_error=lambda exc: self._model_failed(path, exc))

    def _exported_loaded(self, path: Path, info: ArtifactInfo, trusted: bool) -> None:
        self.settings.add_recent("checkpoint", path)
        self.workspace.set_artifact(info, trusted=trusted)

    def _model_loaded(self, path: Path, bundle: ModelBundle) -> None:
        self.settings.add_recent("checkpoint", path)
        self.workspace.set_bundle(bundle)

    def _model_failed(self, path: Path, error: BaseException) -> None:
        self._show_model(self.workspace.bundle)
        self.show_error(f"Could not open the checkpoint “{path.name}”", describe_error(error))

    def open_audio(self, path: Path | str) -> None:
        for i, tab in enumerate(self.tab_widgets):
            if hasattr(tab, "open_audio"):
                self.tabs.setCurrentIndex(i)
                tab.open_audio(Path(path))
                return
        self.show_error("No tab can open audio files", str(path))

    def open_paths(self, paths: Iterable[Path | str]) -> None:
        """Open checkpoints and audio files (dropped, or given on the command line)."""
        checkpoints, audio, other = classify(Path(p) for p in paths)
        for path in checkpoints[-1:]:
            self.open_checkpoint(path)
        for path in audio[-1:]:
            self.open_audio(path)
        if other:
            names = ", ".join(p.name for p in other)
            self.show_error(f"Cannot open {names}",
                            "Not a checkpoint (.pt, .pth, .safetensors) or an audio file "
                            f"({', '.join(AUDIO_SUFFIXES)}).")

    def fill_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for kind, label, opener in (("checkpoint", "Checkpoints", self.open_checkpoint),
                                    ("audio", "Audio", self.open_audio)):
            items = self.settings.recent(kind)
            menu.addSection(label)
            for path in items:
                action = menu.addAction(path.name)
                action.setToolTip(str(path))
                action.setStatusTip(str(path))
                action.triggered.connect(lambda _=False, p=path, o=opener: o(p))
            if not items:
                menu.addAction("(none)").setEnabled(False)
        menu.addSeparator()
        menu.addAction("Clear recent files", self._clear_recent)

    def _clear_recent(self) -> None:
        self.settings.clear_recent()

    # ------------------------------------------------------------------ drag and drop
    @staticmethod
    def _dropped_paths(event) -> list[Path]:
        mime = event.mimeData()
        if not mime.hasUrls():
            return []
        return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        checkpoints, audio, _ = classify(self._dropped_paths(event))
        if checkpoints or audio:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._dropped_paths(event)
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # ------------------------------------------------------------------ status, tabs, about
    def _workspace_changed(self, event: str, payload) -> None:
        if event == "bundle" and payload is not None:
            self._show_model(payload)
            self.jobs.log(f"Model {payload.name}: {payload.model_config.preset} preset, "
                          f"{human_count(payload.n_parameters)} parameters, sources "
                          f"{', '.join(payload.sources)}")
        elif event == "artifact":
            kind = "ONNX" if payload.format == "onnx" else "TorchScript"
            self.model_label.setText(f"Model: {payload.path.name} · exported {kind} "
                                     f"{payload.precision.upper()} · {', '.join(payload.sources)}"
                                     f" · {self._artifact_limits()}")
            self.model_label.setToolTip(str(payload.path))
            self.setWindowTitle(f"{payload.path.name} — {APP_NAME}")
            nodes = f", {payload.nodes} nodes" if payload.nodes else ""
            self.jobs.log(f"Model {payload.path.name}: exported {kind}{nodes}, sources "
                          f"{', '.join(payload.sources)}")

    @staticmethod
    def _artifact_limits() -> str:
        """What an exported file cannot do that its checkpoint could, in the words that fit
        this installation: the slim runtime has no PyTorch at all, so there a checkpoint would
        not help either."""
        if torch_available():
            return "export and memory need its checkpoint"
        return "export, memory and quantization need the full installer (PyTorch)"

    def _show_model(self, bundle: Optional[ModelBundle]) -> None:
        if bundle is None:
            self.model_label.setText("No model loaded · File ▸ Open checkpoint… (Ctrl+O)")
            self.setWindowTitle(APP_NAME)
            return
        self.model_label.setText(f"Model: {bundle.name} · {bundle.model_config.preset} · "
                                 f"{human_count(bundle.n_parameters)} parameters · "
                                 f"{', '.join(bundle.sources)}")
        self.model_label.setToolTip(str(bundle.path or ""))
        self.setWindowTitle(f"{bundle.name} — {APP_NAME}")

    def _threads_changed(self, value: int) -> None:
        self.settings.threads = value

    def _step_tab(self, step: int) -> None:
        self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % max(self.tabs.count(), 1))

    def tab(self, title: str) -> Tab:
        """The tab called ``title``, built now if it was deferred."""
        index = next(i for i, t in enumerate(self.tab_widgets) if t.title == title)
        self._build_deferred(index)
        return self.tab_widgets[index]

    def _build_deferred(self, index: int) -> None:
        """Replace the stand-in of a tab that needs PyTorch by the real tab (importing it),
        at the same place, keeping which tab is current."""
        deferred = self.tab_widgets[index] if 0 <= index < len(self.tab_widgets) else None
        if not isinstance(deferred, DeferredTab):
            return
        tab = deferred.load()(self.tab_context)
        self.tab_widgets[index] = tab
        current = self.tabs.currentIndex()
        self.tabs.blockSignals(True)
        try:
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, tab, tab.title)
            self.tabs.setTabToolTip(index, tab.tooltip)
            self.tabs.setCurrentIndex(current)
        finally:
            self.tabs.blockSignals(False)
        self.tab_actions[index].setToolTip(tab.tooltip)
        self.tab_actions[index].setStatusTip(tab.tooltip)
        deferred.deleteLater()

    def show_about(self) -> QMessageBox:
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_NAME}")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(about_text())
        icon = app_icon()
        if icon.isNull():
            box.setIcon(QMessageBox.Icon.Information)
        else:
            box.setIconPixmap(icon.pixmap(64, 64))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()                      # window-modal but does not block the event loop
        return box

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        self.jobs.shutdown()
        for tab in self.tab_widgets:
            tab.shutdown()
        self.settings.save_window_state(self.saveGeometry(), self.saveState())
        self.events.detach()
        if self.session_dir is not None:
            shutil.rmtree(self.session_dir, ignore_errors=True)
            self.session_dir = None
        super().closeEvent(event)
