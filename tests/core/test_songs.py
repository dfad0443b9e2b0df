"""The song generator: determinism, stems that add up, safe writing, sung pitch, cancel."""

from __future__ import annotations

import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from app.core.jobs import Cancelled, CancelToken, UserError
from app.core.songs import (FILES, SPLITS, compose, generate_songs, render_song, resolve,
                            track_name)
from app.core.songs import splits as splits_module
from app.core.songs.midi import _varlen
from app.core.songs.psola import analyse, resynthesize
from app.core.songs.soundfont import presets

FALLBACK = resolve(fallback=True)


def comb_f0(frame: np.ndarray, sr: int, target: float) -> float:
    """The f0 within three semitones of ``target`` whose first eight harmonics carry the
    most spectral magnitude (harmonic summation): robust to a strong formant on one
    harmonic, and wide enough to catch a note sung a semitone or two off."""
    spec = np.abs(np.fft.rfft(frame * np.hanning(len(frame)), 1 << 15))
    freqs = np.fft.rfftfreq(1 << 15, 1 / sr)
    cands = target * 2 ** (np.arange(-300, 301, 2) / 1200)
    k = np.arange(1, 9)[:, None]
    score = np.interp(k * cands[None, :], freqs, spec).sum(axis=0)
    return float(cands[np.argmax(score)])


def sung_pitch_errors(song, min_seconds: float = 0.45) -> list[float]:
    """Cents between the vocals stem's median f0 over each sustained note and the note."""
    arr, sr = song.arrangement, song.sample_rate
    mono = song.stems["vocals"].mean(axis=0).astype(np.float64)
    errors = []
    for note in arr.vocal_notes:
        start, length = arr.seconds(note.start), arr.seconds(note.length)
        if length < min_seconds or start + length > arr.duration - 0.6:
            continue
        target = 440.0 * 2 ** ((note.pitch - 69) / 12)
        f0s = [comb_f0(mono[int(t * sr):int(t * sr) + 2048], sr, target)
               for t in np.arange(start + 0.12, start + 0.85 * length - 0.05, 0.02)]
        if len(f0s) >= 5:
            errors.append(1200 * np.log2(np.median(f0s) / target))
    return errors


def test_compose_is_deterministic_and_varied():
    a, b, c = compose(11, 20.0), compose(11, 20.0), compose(12, 20.0)
    assert a.describe() == b.describe()
    assert [p.notes for p in a.parts] == [p.notes for p in b.parts]
    assert a.describe() != c.describe()
    stems = {p.stem for p in a.parts}
    assert {"drums", "bass", "other", "vocals"} <= stems
    assert any(n.syllable for n in a.vocal_notes)
    drums = a.stem_parts("drums")[0]
    assert all(n.start < 20.0 / a.beat_seconds for p in a.parts for n in p.notes)
    assert {36, 42, 46, 51, 37} & {n.pitch for n in drums.notes}


def test_songs_vary_in_instruments_and_keys():
    songs = [compose(s, 10.0) for s in range(12)]
    assert len({a.key.name for a in songs}) > 4
    assert len({a.bpm for a in songs}) > 4
    others = {tuple(p.instrument.name for p in a.stem_parts("other")) for a in songs}
    assert len(others) > 6


def test_fallback_render_is_deterministic():
    one = render_song(21, FALLBACK, 4.0)
    two = render_song(21, FALLBACK, 4.0)
    other = render_song(22, FALLBACK, 4.0)
    for name in FILES:
        assert one.stems[name].shape == (2, 4 * 44100)
        assert one.stems[name].dtype == np.float32
        np.testing.assert_array_equal(one.stems[name], two.stems[name])
    assert not np.array_equal(one.stems["mixture"], other.stems["mixture"])


@pytest.mark.parametrize("fmt, subtype", [("wav", "FLOAT"), ("flac", "PCM_24")])
def test_track_folder_layout_and_exact_sums(tmp_path, fmt, subtype):
    result = generate_songs(tmp_path, count=1, seed=3, duration=4.0, fallback=True, jobs=1,
                            fmt=fmt)
    folder = tmp_path / track_name(3)
    assert [t.path for t in result.tracks] == [folder]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{n}.{fmt}" for n in FILES] + ["song.json"])
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]      # no temp leftovers
    audio = {}
    for name in FILES:
        info = sf.info(str(folder / f"{name}.{fmt}"))
        assert (info.samplerate, info.channels, info.subtype) == (44100, 2, subtype)
        audio[name], _ = sf.read(str(folder / f"{name}.{fmt}"), dtype="float32")
    acc = audio["drums"] + audio["bass"] + audio["other"]
    np.testing.assert_array_equal(audio["accompaniment"], acc)
    np.testing.assert_array_equal(audio["mixture"], audio["vocals"] + audio["accompaniment"])
    four = audio["vocals"] + audio["drums"] + audio["bass"] + audio["other"]
    assert np.abs(audio["mixture"] - four).max() < 1e-6
    assert 0.3 < np.abs(audio["mixture"]).max() < 10 ** (-0.9 / 20)
    for name in ("vocals", "drums", "bass", "other"):
        assert np.abs(audio[name]).max() > 1e-3, f"{name} is silent"
    meta = (folder / "song.json").read_text()
    assert '"seed": 3' in meta and '"renderer": "numpy"' in meta


def test_existing_track_is_not_overwritten(tmp_path):
    generate_songs(tmp_path, count=1, seed=5, duration=2.0, fallback=True, jobs=1)
    mixture = tmp_path / track_name(5) / "mixture.wav"
    mixture.write_bytes(b"user's own file")
    with pytest.raises(UserError, match="already exists"):
        generate_songs(tmp_path, count=2, seed=4, duration=2.0, fallback=True, jobs=1)
    assert mixture.read_bytes() == b"user's own file"
    assert not (tmp_path / track_name(4)).exists()        # refused before rendering anything
    generate_songs(tmp_path, count=1, seed=5, duration=2.0, fallback=True, jobs=1,
                   overwrite=True)
    assert sf.info(str(mixture)).frames == 2 * 44100
    assert sorted(p.name for p in tmp_path.iterdir()) == [track_name(5)]


def test_fallback_vocals_follow_the_melody():
    song = render_song(8, FALLBACK, 14.0)
    errors = sung_pitch_errors(song)
    assert len(errors) >= 3
    assert max(abs(e) for e in errors) < 50, errors


def test_psola_moves_pitch_and_keeps_length():
    sr = 22050
    t = np.arange(int(0.5 * sr)) / sr
    phase = 2 * np.pi * 200 * t
    x = sum(np.sin(k * phase) / k for k in range(1, 15))
    an = analyse(x, sr)
    assert an.voiced.mean() > 0.9
    n = int(0.8 * sr)                                  # stretch 0.5 s to 0.8 s
    y = resynthesize(x, an, np.full(n, 250.0), sr, np.array([0.0, n]), np.array([0.0, len(x)]))
    assert len(y) == n
    f0 = comb_f0(y[n // 2:n // 2 + 2048], sr, 250.0)
    assert abs(1200 * np.log2(f0 / 250.0)) < 10           # 200 Hz would be 386 cents off


def test_cancel_leaves_no_track_folder(tmp_path):
    token = CancelToken()

    def progress(fraction, message):
        if "vocals sung" in message:
            token.cancel()

    with pytest.raises(Cancelled):
        generate_songs(tmp_path, count=2, seed=30, duration=3.0, fallback=True, jobs=1,
                       progress=progress, cancel=token)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cancel_in_parallel_workers(tmp_path):
    token = CancelToken()
    timer = threading.Timer(0.5, token.cancel)
    timer.start()
    with pytest.raises(Cancelled):
        generate_songs(tmp_path, count=6, seed=40, duration=20.0, fallback=True, jobs=2,
                       cancel=token)
    timer.cancel()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert not [n for n in leftovers if n.startswith(".")], leftovers
    for name in leftovers:                      # only complete tracks may remain
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(
            [f"{n}.wav" for n in FILES] + ["song.json"])


def test_midi_variable_length_quantities():
    # examples from the Standard MIDI File specification
    assert _varlen(0) == b"\x00"
    assert _varlen(0x40) == b"\x40"
    assert _varlen(0x80) == b"\x81\x00"
    assert _varlen(0x3FFF) == b"\xff\x7f"
    assert _varlen(0x200000) == b"\x81\x80\x80\x00"


def _fake_soundfont(path: Path, presets_: list[tuple[int, int]]) -> Path:
    def chunk(cid: bytes, data: bytes) -> bytes:
        return cid + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) & 1 else b"")

    records = b"".join(f"P{i}".encode().ljust(20, b"\x00") + struct.pack("<HHHIII", prog, bank, i, 0, 0, 0)
                       for i, (bank, prog) in enumerate(presets_ + [(0, 0)]))
    info = chunk(b"LIST", b"INFO" + chunk(b"ifil", b"\x02\x00\x01\x00"))
    sdta = chunk(b"LIST", b"sdta" + chunk(b"smpl", b"\x00" * 9))
    pdta = chunk(b"LIST", b"pdta" + chunk(b"phdr", records))
    body = b"sfbk" + info + sdta + pdta
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def test_soundfont_preset_table(tmp_path):
    presets.cache_clear()
    sf2 = _fake_soundfont(tmp_path / "tiny.sf2", [(0, 0), (0, 33), (128, 0), (128, 25)])
    assert presets(sf2) == {(0, 0), (0, 33), (128, 0), (128, 25)}
    bad = tmp_path / "notes.sf2"
    bad.write_text("not a soundfont")
    with pytest.raises(UserError, match="not a SoundFont"):
        presets(bad)


def test_missing_tools_fall_back_unless_asked_for(monkeypatch, tmp_path):
    monkeypatch.setattr(splits_module, "find_fluidsynth", lambda: None)
    setup = resolve("train")
    assert setup.renderer == "numpy" and "fluidsynth" in setup.warning
    with pytest.raises(UserError, match="fluidsynth"):
        resolve("train", voices=("en+f3",))


def test_presets_keep_heldout_apart():
    train, held = SPLITS["train"], SPLITS["heldout"]
    assert not set(train.voices) & set(held.voices)
    assert not set(train.soundfonts) & set(held.soundfonts)
    variants = lambda voices: {v.split("+")[1] for v in voices}
    assert not variants(train.voices) & variants(held.voices)


REAL = resolve("train")
HELD = resolve("heldout")


@pytest.mark.skipif(REAL.renderer != "fluidsynth" or HELD.renderer != "fluidsynth",
                    reason="needs fluidsynth, espeak-ng and the FluidR3_GM + TimGM6mb "
                           "SoundFonts (apt-get install fluidsynth fluid-soundfont-gm "
                           "timgm6mb-soundfont espeak-ng)")
def test_real_renderer_sings_in_tune_and_is_repeatable(tmp_path):
    song = render_song(8, REAL, 14.0)
    assert song.renderer == "fluidsynth+espeak-ng" and song.voice in REAL.voices
    for name in ("drums", "bass", "other", "vocals"):
        assert np.sqrt(np.mean(song.stems[name] ** 2)) > 1e-3, f"{name} is silent"
    errors = sung_pitch_errors(song)
    assert len(errors) >= 3
    assert np.median(np.abs(errors)) < 25 and max(abs(e) for e in errors) < 50, errors
    again = render_song(8, REAL, 14.0)
    np.testing.assert_array_equal(song.stems["mixture"], again.stems["mixture"])
    held = render_song(8, HELD, 4.0)
    assert held.soundfont != song.soundfont and held.voice in HELD.voices
