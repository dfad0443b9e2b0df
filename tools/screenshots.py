"""Regenerate docs/screenshots/*.png: the real app, a real model and a real separation.

    xvfb-run -s "-screen 0 1440x900x24" python tools/screenshots.py

Uses the bundled demo model and song when this install has them; otherwise writes an
untrained ``small`` model (``tfswa-studio init --preset small``) and a synthesized tune to a
temporary folder. Settings go to a temporary ini file, never to the user's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RATE = 44100


def synth_tune(seconds: float = 8.0, seed: int = 7) -> np.ndarray:
    """A small stereo arrangement: a sung-like melody with vibrato, chords, bass and drums."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    beat = 60 / 100                                    # 100 bpm
    notes = [69, 72, 76, 74, 72, 69, 67, 69]           # A4 C5 E5 D5 C5 A4 G4 A4
    step = np.minimum((t / (2 * beat)).astype(int), len(notes) - 1) % len(notes)
    f0 = 440.0 * 2 ** ((np.array(notes)[step] - 69) / 12) * (1 + 0.006 * np.sin(2 * np.pi * 5.5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    gate = np.clip(np.sin(np.pi * (t % (2 * beat)) / (2 * beat)) * 3, 0, 1)
    voice = gate * sum(a * np.sin(k * phase) for k, a in ((1, 0.5), (2, 0.22), (3, 0.12), (4, 0.05)))
    chords = [(57, 60, 64), (53, 57, 60), (55, 59, 62), (52, 56, 59)]
    bar = np.minimum((t / (4 * beat)).astype(int), 100) % len(chords)
    pad = sum(0.07 * np.sin(2 * np.pi * 440 * 2 ** ((np.array([c[i] for c in chords])[bar] - 69) / 12) * t)
              for i in range(3))
    bass = 0.25 * np.sin(2 * np.pi * 440 * 2 ** ((np.array([c[0] - 12 for c in chords])[bar] - 69) / 12) * t)
    since_beat = t % beat
    kick = 0.6 * np.exp(-since_beat * 30) * np.sin(2 * np.pi * 55 * since_beat * (1 + 2 * np.exp(-since_beat * 40)))
    since_half = (t + beat / 2) % beat
    hat = 0.12 * rng.standard_normal(t.size) * np.exp(-since_half * 60)
    left = 0.9 * voice + pad + bass + kick + hat
    right = 0.8 * voice + 0.9 * pad + bass + kick + 0.7 * hat
    mix = np.stack([left, right])
    return (0.85 * mix / np.abs(mix).max()).astype(np.float32)


def model_and_song(workdir: Path, preset: str) -> tuple[Path, Path]:
    from app.core.audio.io import write
    from app.core.checkpoint import init_bundle, save_bundle
    from app.core.resources import demo_model, demo_song

    model = demo_model() or save_bundle(init_bundle(preset, seed=0),
                                        workdir / f"tfswa-unet-{preset}.pt")
    song = demo_song() or write(workdir / "demo-tune.wav", synth_tune(), RATE)
    return model, song


def wait(app, condition, timeout: float, what: str) -> None:
    from PySide6.QtCore import QEventLoop

    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def settle(app, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def quantize(app, window) -> None:
    """Static INT8 of the loaded model with the per-layer sensitivity chart."""
    tab = window.tab("Quantize")
    window.tabs.setCurrentWidget(tab)
    job = tab.quantize()
    if job is not None:
        wait(app, lambda: not job.running, 1800, "the quantization")


def benchmark(app, window) -> None:
    """Every workspace variant timed side by side, 10 runs."""
    tab = window.tab("Benchmark")
    window.tabs.setCurrentWidget(tab)
    tab.settings_panel.runs_spin.setValue(10)
    tab.settings_panel.warmup_spin.setValue(2)
    job = tab.start()
    if job is not None:
        wait(app, lambda: not job.running, 1800, "the benchmark")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--preset", default="small")
    parser.add_argument("--size", default="1280x820", help="window size, WxH")
    args = parser.parse_args(argv)

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(["tfswa-studio"])
    app.setStyle("Fusion")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tfswa-shots-") as tmp:
        workdir = Path(tmp)
        model, song = model_and_song(workdir, args.preset)
        settings = QSettings(str(workdir / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings)
        width, height = (int(v) for v in args.size.split("x"))
        window.resize(width, height)
        window.show()
        window.open_checkpoint(model)
        model_tab, separate_tab = window.tab("Model"), window.tab("Separate")
        wait(app, lambda: model_tab.info is not None, 120, "the model summary")
        window.open_audio(song)
        wait(app, lambda: separate_tab.mixture is not None, 60, "the song")
        separate_tab.form.exact_sum_check.setChecked(True)
        separate_tab.separate()
        job = separate_tab.separate_job
        wait(app, lambda: not job.running, 600, "the separation")
        if separate_tab.view is None:
            raise RuntimeError(f"separation failed: {job.message}")
        separate_tab.stem_view.set_position(separate_tab.stem_view.duration * 0.3)
        separate_tab._show_time(separate_tab.stem_view.position)
        settle(app)
        export_tab = window.tab("Export")
        window.tabs.setCurrentWidget(export_tab)
        export_tab.form.path_edit.setText(str(workdir / f"{Path(model).stem}.onnx"))
        export_job = export_tab.export(overwrite=True)
        wait(app, lambda: not export_job.running, 900, "the export")
        if export_tab.result is None:
            raise RuntimeError(f"export failed: {export_job.message}")
        memory_tab = window.tab("Memory")
        memory_tab.setup.batch_edit.setText("1-32")
        memory_tab.setup.budget_spin.setValue(4)
        memory_job = memory_tab.estimate()
        wait(app, lambda: not memory_job.running, 900, "the memory estimate")
        if not memory_tab.results:
            raise RuntimeError(f"memory estimate failed: {memory_job.message}")
        titles = [window.tabs.tabText(i).replace("&", "") for i in range(window.tabs.count())]
        if "Quantize" in titles:
            quantize(app, window)
        benchmark(app, window)
        shots = {"separate-tab.png": "Separate", "model-tab.png": "Model",
                 "export-tab.png": "Export", "memory-tab.png": "Memory",
                 "benchmark-tab.png": "Benchmark", "quantize-tab.png": "Quantize"}
        for name, title in shots.items():
            if title not in titles:
                continue
            window.tabs.setCurrentWidget(window.tab(title))
            settle(app)
            window.grab().save(str(out / name))
            print(out / name)
        # A netbook-sized screen: the tab scrolls rather than squeezing its panels.
        window.resize(1024, 600)
        window.tabs.setCurrentWidget(window.tab("Separate"))
        settle(app, 1.0)
        window.grab().save(str(out / "separate-tab-1024x600.png"))
        print(out / "separate-tab-1024x600.png")
        window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
