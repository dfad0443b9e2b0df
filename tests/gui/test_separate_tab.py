"""The Separate tab end to end: a real checkpoint and real audio files written by the test."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from app.core.workspace import Variant
from app.gui import playback
from app.gui.jobs import JobState

LSB_24 = 1.0 / 2 ** 23


def open_song(qtbot, window, path, wait_job):
    tab = window.tab("Separate")
    window.open_audio(path)
    wait_job(tab.read_job)
    return tab


def files_under(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_separate_save_and_the_stems_sum_to_the_input(qtbot, loaded, song, tmp_path, wait_job,
                                                      monkeypatch):
    window = loaded
    mix_path = song(tmp_path / "song.wav", 2.5)
    tab = open_song(qtbot, window, mix_path, wait_job)
    assert window.tabs.currentWidget() is tab
    assert tab.mixture is not None and tab.form.separate_button.isEnabled()
    assert not tab.form.save_button.isEnabled()
    assert tab.form.segment_spin.value() == pytest.approx(3.0)       # the bundle's segment
    assert tab.form.overlap_spin.value() == 25
    tab.form.exact_sum_check.setChecked(True)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=2000)
    qtbot.keyClick(tab.form.overlap_spin, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert tab.separate_job is not None, "Ctrl+Return did not start the separation"
    job = wait_job(tab.separate_job)
    assert job.state is JobState.DONE, job.message
    assert tab.form.save_button.isEnabled()

    # every track is drawn: waveform + spectrogram for the mixture and both stems, linked
    view = tab.stem_view
    assert len(view.plots) == 2 * 3 and len(view.images) == 3
    assert all(p.vb.linkedView(0) is view.plots[0].vb for p in view.plots[1:])
    assert all(img.image is not None and img.image.size > 0 for img in view.images)
    assert [tab.transport.track_combo.itemText(i) for i in range(tab.transport.track_combo.count())] == \
        ["mixture", "vocals", "accompaniment"]

    out = tmp_path / "out"
    wait_job(tab.save_stems(out))
    saved = {p.name for p in (out / "song").iterdir()}
    assert saved == {"vocals.wav", "accompaniment.wav"}
    mixture, rate = sf.read(mix_path, dtype="float64")
    vocals, _ = sf.read(out / "song" / "vocals.wav", dtype="float64")
    accomp, _ = sf.read(out / "song" / "accompaniment.wav", dtype="float64")
    assert vocals.shape == mixture.shape and rate == 44100
    assert np.abs(vocals + accomp - mixture).max() <= 2 * LSB_24
    assert np.abs(vocals).max() > 1e-3 and np.abs(accomp).max() > 1e-3   # a real split

    # saving again: asked first; "No" leaves the files alone, "Yes" replaces them
    before = (out / "song" / "vocals.wav").stat().st_mtime_ns
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    assert tab.save_stems(out) is None
    assert asked and "vocals.wav" in asked[0]
    assert (out / "song" / "vocals.wav").stat().st_mtime_ns == before
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    time.sleep(0.01)
    assert wait_job(tab.save_stems(out)).state is JobState.DONE
    assert (out / "song" / "vocals.wav").stat().st_mtime_ns != before
    assert {p.name for p in files_under(out)} == {"vocals.wav", "accompaniment.wav"}


@pytest.fixture
def keep_torch_threads():
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_cancel_stops_within_a_second_and_leaves_no_file(qtbot, loaded, song, tmp_path, wait_job,
                                                         keep_torch_threads):
    window = loaded
    long_song = song(tmp_path / "long.wav", 90.0, rate=8000, channels=1)   # resampled to 44.1k
    tab = open_song(qtbot, window, long_song, wait_job)
    tab.form.segment_spin.setValue(1.0)            # the token is checked after every segment
    window.threads_spin.setValue(1)           # no OpenMP spinning on a busy 2-core machine
    tab.separate()
    job = tab.separate_job
    qtbot.waitUntil(lambda: job.fraction > 0.03, timeout=30_000)   # the model is running
    assert job.running, "the separation ended before it could be cancelled"
    clicked = time.perf_counter()
    qtbot.mouseClick(tab.form.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not job.running, timeout=5000)
    waited = time.perf_counter() - clicked
    print(f"cancelled {waited:.3f} s after the click")
    assert waited < 1.0
    assert job.state is JobState.CANCELLED
    assert files_under(window.cache_dir("separate")) == []         # no stem, no .partial
    assert tab.view is None and not tab.form.save_button.isEnabled()
    assert tab.form.separate_button.isEnabled()                          # ready to go again
    assert "cancelled" in window.dock.log_text()


def test_a_corrupt_audio_file_gives_a_message_and_the_app_stays_usable(
        qtbot, loaded, song, tmp_path, wait_job):
    window = loaded
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)))
    tab = open_song(qtbot, window, broken, wait_job)
    assert tab.read_job.state is JobState.FAILED
    assert window.banner.isVisible()
    assert "broken.wav" in window.banner.text() and "cannot be read as audio" in window.banner.text()
    assert "broken.wav" in window.dock.log_text()
    assert tab.mixture is None and not tab.form.separate_button.isEnabled()
    good = song(tmp_path / "good.wav", 1.0)
    open_song(qtbot, window, good, wait_job)
    assert tab.mixture is not None and tab.form.separate_button.isEnabled()
    assert window.settings.recent("audio") == [good.resolve()]


def test_the_backend_list_follows_the_workspace_variants(qtbot, loaded, tmp_path):
    window = loaded
    tab = window.tab("Separate")
    names = lambda: [tab.form.variant_combo.itemText(i) for i in range(tab.form.variant_combo.count())]
    assert names() == ["PyTorch FP32 (tiny)"]
    onnx = tmp_path / "tiny.onnx"
    onnx.write_bytes(b"stand-in")
    window.workspace.add_variant(Variant("ONNX FP32", "onnx", onnx))
    qtbot.waitUntil(lambda: names() == ["PyTorch FP32 (tiny)", "ONNX FP32"], timeout=2000)
    tab.form.variant_combo.setCurrentIndex(1)
    window.workspace.update_figures(window.workspace.variants[1], latency_ms=12.0)
    qtbot.waitUntil(lambda: tab.form.variant_combo.count() == 2, timeout=2000)
    assert tab.form.variant_combo.currentText() == "ONNX FP32"          # the choice is kept


def test_playback_unavailable_is_said_and_nothing_else_breaks(qtbot, monkeypatch, qsettings,
                                                              tiny_checkpoint, song, tmp_path,
                                                              wait_job):
    from app.gui.main_window import MainWindow

    def missing():
        raise ImportError("libpulse.so.0: cannot open shared object file")

    monkeypatch.setattr(playback, "import_multimedia", missing)
    window = MainWindow(settings=qsettings)
    qtbot.addWidget(window)
    window.show()
    tab = window.tab("Separate")
    assert tab.transport.playback_label.text().startswith("Playback unavailable: QtMultimedia cannot")
    assert "libpulse" in tab.transport.playback_label.text()
    wait_job(window.open_checkpoint(tiny_checkpoint))
    open_song(qtbot, window, song(tmp_path / "s.wav", 1.0), wait_job)
    assert not tab.transport.play_button.isEnabled()
    tab.toggle_playback()                                     # Space: says why, no crash
    assert "Playback unavailable" in window.dock.log_text()
    assert tab.form.separate_button.isEnabled()
    window.close()


def test_playback_on_this_machine(qtbot, loaded, song, tmp_path, wait_job):
    """With an audio device, Play toggles playing; without one, the reason is shown."""
    window = loaded
    tab = open_song(qtbot, window, song(tmp_path / "p.wav", 2.0), wait_job)
    module, reason = playback.probe_playback()
    if module is None:
        assert tab.transport.playback_label.text() == f"Playback unavailable: {reason}"
        assert not tab.transport.play_button.isEnabled()
        return
    qtbot.mouseClick(tab.transport.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.player.playing, timeout=5000)
    assert tab.transport.play_button.text() == "Pause"
    qtbot.mouseClick(tab.transport.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.player.playing, timeout=5000)
    assert tab.transport.play_button.text() == "Play"


@pytest.mark.slow
def test_the_playhead_seeks_in_every_plot(qtbot, loaded, song, tmp_path, wait_job):
    window = loaded
    tab = open_song(qtbot, window, song(tmp_path / "h.wav", 2.0), wait_job)
    view = tab.stem_view
    sought = []
    view.seek_requested.connect(sought.append)
    view.playheads[0].setValue(1.25)
    view._dragged(view.playheads[0])
    assert sought == [1.25]
    assert all(line.value() == pytest.approx(1.25) for line in view.playheads)
    assert tab.transport.time_label.text().startswith("0:01.2")
    view.set_mode("waveform")
    assert len(view.plots) == 1 and view.playheads[0].value() == pytest.approx(1.25)


def test_play_pause_and_seek_with_the_real_player(qtbot, monkeypatch, qsettings, tiny_checkpoint,
                                                  song, tmp_path, wait_job):
    """The real QMediaPlayer, as if an output device existed (it plays silently without one)."""
    from app.gui.main_window import MainWindow

    try:
        multimedia = playback.import_multimedia()
    except Exception as exc:  # noqa: BLE001 - the other tests cover this machine's case
        pytest.skip(f"QtMultimedia cannot be loaded here: {exc}")
    monkeypatch.setattr(playback, "probe_playback", lambda: (multimedia, ""))
    window = MainWindow(settings=qsettings)
    qtbot.addWidget(window)
    window.show()
    tab = window.tab("Separate")
    assert tab.transport.playback_label.text() == ""
    open_song(qtbot, window, song(tmp_path / "play.wav", 3.0), wait_job)
    assert tab.transport.play_button.isEnabled()
    qtbot.mouseClick(tab.transport.play_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.player.playing and tab.transport.play_button.text() == "Pause", timeout=5000)
    qtbot.waitUntil(lambda: tab.stem_view.position > 0.1, timeout=5000)   # the playhead moves
    tab.toggle_playback()                                                   # Space
    qtbot.waitUntil(lambda: not tab.player.playing and tab.transport.play_button.text() == "Play",
                    timeout=5000)
    view = tab.stem_view
    view.playheads[-1].setValue(2.0)
    view._dragged(view.playheads[-1])
    qtbot.waitUntil(lambda: abs(tab.player._player.position() - 2000) < 50, timeout=5000)
    window.close()


@pytest.mark.slow
def test_a_song_with_its_true_stems_shows_the_sdr_of_each_stem(qtbot, loaded, tmp_path, wait_job):
    """A mixture.* beside vocals.* and accompaniment.* (the demo song's layout): after the
    separation every stem's label and the log give its SDR against the truth."""
    from app.core.audio import io as audio
    from app.core.evaluation.metrics import sdr

    window = loaded
    rng = np.random.default_rng(5)
    vocals = rng.uniform(-0.2, 0.2, (2, 2 * 44100)).astype(np.float32)
    accomp = rng.uniform(-0.2, 0.2, (2, 2 * 44100)).astype(np.float32)
    folder = tmp_path / "demo"
    audio.write(folder / "vocals.flac", vocals, 44100, subtype="24")
    audio.write(folder / "accompaniment.flac", accomp, 44100, subtype="24")
    mix_path = audio.write(folder / "mixture.flac", vocals + accomp, 44100, subtype="24")
    tab = open_song(qtbot, window, mix_path, wait_job)
    tab.separate()
    job = wait_job(tab.separate_job)
    assert job.state is JobState.DONE, job.message
    scores = tab.view.sdr
    assert set(scores) == {"vocals", "accompaniment"}
    # the figures are the metric applied to the written stems
    est, _ = audio.load(tab.view.result.outputs["vocals"])
    assert scores["vocals"] == pytest.approx(float(sdr(audio.load(folder / "vocals.flac")[0], est)),
                                             abs=0.01)
    assert tab.stem_view.notes["vocals"] == f"SDR {scores['vocals']:.1f} dB"
    assert f"vocals {scores['vocals']:.1f} dB SDR" in window.dock.log_text()

    # an ordinary file has no truth to compare with: no SDR
    plain = tab
    other = audio.write(tmp_path / "other.wav", vocals + accomp, 44100, subtype="24")
    open_song(qtbot, window, other, wait_job)
    plain.separate()
    wait_job(plain.separate_job)
    assert plain.view.sdr == {} and plain.stem_view.notes == {}


def test_loading_another_model_clears_the_old_stems_and_an_untrained_one_is_flagged(
        qtbot, loaded, song, tmp_path, wait_job):
    from app.core import resources

    window = loaded                                    # the tiny model: made by init
    tab = open_song(qtbot, window, song(tmp_path / "song.wav", 1.5), wait_job)
    assert tab.untrained_note.isVisible()
    tab.separate()
    assert "never trained" in window.dock.log_text()
    assert wait_job(tab.separate_job).state is JobState.DONE
    assert tab.view is not None and "Done" in tab.progress_bar.format()
    old_run = tab.run_dir
    assert old_run.is_dir()

    wait_job(window.open_checkpoint(resources.demo_model()))     # a different, trained model
    assert tab.view is None and not tab.form.save_button.isEnabled()
    assert "Done" not in tab.progress_bar.format() and tab.stem_view.notes == {}
    assert list(tab.stem_view.tracks) == ["mixture"]             # the song stays open
    assert not old_run.exists()                                  # its stems are gone
    assert not tab.untrained_note.isVisible()
    assert tab.form.separate_button.isEnabled()


@pytest.mark.slow
def test_an_export_for_one_fixed_segment_separates_at_its_own_length(
        qtbot, loaded, song, tiny_checkpoint, tmp_path, wait_job):
    """A file exported with ``--fixed --frames 40`` (0.45 s) takes that segment when the
    segment setting is left at the model's; a length the user chose is refused by name."""
    from app.core.checkpoint import load_bundle
    from app.core.export import ExportOptions, export_bundle

    window = loaded
    path = export_bundle(load_bundle(tiny_checkpoint), tmp_path / "tiny-fixed.onnx",
                         ExportOptions(frames=40, fixed_shapes=True, verify_frames=(40,)),
                         threads=1).path
    window.workspace.add_variant(Variant("ONNX FP32 fixed", "onnx", path))
    tab = open_song(qtbot, window, song(tmp_path / "song.wav", 1.5), wait_job)
    qtbot.waitUntil(lambda: tab.form.variant_combo.count() == 2, timeout=2000)
    tab.form.variant_combo.setCurrentIndex(1)
    assert tab.form.segment_spin.value() == pytest.approx(3.0)      # the model's, untouched
    tab.separate()
    job = wait_job(tab.separate_job, timeout=60_000)
    assert job.state is JobState.DONE, job.message
    assert set(tab.view.stems) == {"vocals", "accompaniment"}
    tab.form.segment_spin.setValue(2.0)
    tab.separate()
    job = wait_job(tab.separate_job, timeout=60_000)
    assert job.state is JobState.FAILED
    assert "tiny-fixed.onnx" in job.message and "0.45 s" in job.message
    assert tab.form.separate_button.isEnabled()                       # the app stays usable
