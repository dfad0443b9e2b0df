"""The training data: folder discovery, recipes, augmentation, determinism, validation windows."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.audio.io import load, write
from app.core.training.data import (NO_AUGMENTATION, Augmentation, TrainingSegments,
                                    ValidationSegments)
from app.core.audio.tracks import RESIDUAL, TrackSet, read_frames, resolve_subset, scan_tracks
from app.core.jobs import UserError
from stemdata import RATE, make_dataset

VA = ("vocals", "accompaniment")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("musdb"), tracks=3, seconds=2.0, seed=1)


@pytest.fixture(scope="module")
def level_folder(tmp_path_factory):
    """Tracks whose stems are constants: vocals of track k is (k+1, -(k+1)/2) / 10 on
    (left, right), the other stems likewise with their own scale, so an item reveals which
    track, gain and channel order each of its parts came from."""
    root = tmp_path_factory.mktemp("levels")
    n = RATE
    for k in range(4):
        for j, stem in enumerate(("vocals", "drums", "bass", "other")):
            level = (k + 1) / 10 * (j + 1)
            audio = np.stack([np.full(n, level), np.full(n, -level / 2)]).astype(np.float32)
            write(root / f"song{k}" / f"{stem}.wav", audio, RATE, subtype="float")
    return root


def test_scan_reads_every_track_and_its_recipe(folder):
    tracks = scan_tracks(folder, VA, RATE)
    assert [t.name for t in tracks] == ["track00", "track01", "track02"]
    assert all(t.frames == 2 * RATE for t in tracks)
    assert tracks[0].recipes == {"vocals": ((1.0, "vocals"),),
                                 "accompaniment": ((1.0, "accompaniment"),)}


def test_accompaniment_is_the_sum_of_the_other_stems_without_a_file(tmp_path, folder):
    bare = make_dataset(tmp_path / "bare", tracks=2, seconds=1.0, seed=1, accompaniment=False)
    with_file = make_dataset(tmp_path / "full", tracks=2, seconds=1.0, seed=1)
    a = TrackSet.from_folder(bare, VA, RATE)
    b = TrackSet.from_folder(with_file, VA, RATE)
    assert a.tracks[0].recipes["accompaniment"] == ((1.0, "drums"), (1.0, "bass"), (1.0, "other"))
    np.testing.assert_allclose(a.read(0, "accompaniment", 1000, 5000),
                               b.read(0, "accompaniment", 1000, 5000), atol=1e-6)
    assert a.components == VA          # vocals + accompaniment cover the whole mix


def test_a_vocals_only_model_reads_the_rest_as_a_residual_component(folder):
    ts = TrackSet.from_folder(folder, ("vocals",), RATE)
    assert ts.components == ("vocals", RESIDUAL)
    parts = ts.read_sources(1, 2000, 4000)
    mixture = read_frames(ts.tracks[1].files["mixture"], 2000, 4000)
    np.testing.assert_allclose(parts.sum(axis=0), mixture, atol=1e-5)


def test_musdb18hq_train_and_test_subfolders(tmp_path):
    make_dataset(tmp_path / "train", tracks=2, seconds=0.5, prefix="tr")
    make_dataset(tmp_path / "test", tracks=1, seconds=0.5, prefix="te")
    assert resolve_subset(tmp_path) == tmp_path / "train"
    assert [t.name for t in scan_tracks(tmp_path, VA, RATE)] == ["tr00", "tr01"]
    assert [t.name for t in scan_tracks(tmp_path, VA, RATE, subset="test")] == ["te00"]
    with pytest.raises(UserError, match="no 'valid' subfolder"):
        resolve_subset(tmp_path, "valid")


def test_empty_or_malformed_folders_name_the_problem(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        scan_tracks(tmp_path / "nope", VA, RATE)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no track folders") as err:
        scan_tracks(tmp_path / "empty", VA, RATE)
    assert "empty" in str(err.value)
    make_dataset(tmp_path / "broken", tracks=2, seconds=0.5)
    (tmp_path / "broken" / "track01" / "vocals.wav").unlink()
    with pytest.raises(UserError, match="track 'track01' has no vocals.wav") as err:
        scan_tracks(tmp_path / "broken", VA, RATE)
    assert "track01" in str(err.value) and "accompaniment.wav" in str(err.value)  # what it found
    make_dataset(tmp_path / "noacc", tracks=1, seconds=0.5, accompaniment=False)
    (tmp_path / "noacc" / "track00" / "bass.wav").unlink()
    with pytest.raises(UserError, match="no accompaniment.wav"):
        scan_tracks(tmp_path / "noacc", VA, RATE)


def test_wrong_sample_rate_and_corrupt_files_are_refused(tmp_path):
    make_dataset(tmp_path / "d", tracks=1, seconds=0.5)
    vocals = tmp_path / "d" / "track00" / "vocals.wav"
    write(vocals, np.zeros((2, 1000), np.float32), 22050, subtype="float", overwrite=True)
    with pytest.raises(UserError, match="22050 Hz") as err:
        scan_tracks(tmp_path / "d", VA, RATE)
    assert "vocals.wav" in str(err.value)
    vocals.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(UserError, match="cannot be read as audio"):
        scan_tracks(tmp_path / "d", VA, RATE)


def test_read_frames_reads_only_the_segment_and_pads_past_the_end(folder):
    path = folder / "track00" / "vocals.wav"
    whole, _ = load(path)
    part = read_frames(path, 1000, 300)
    np.testing.assert_array_equal(part, whole[:, 1000:1300])
    tail = read_frames(path, whole.shape[1] - 100, 300)
    np.testing.assert_array_equal(tail[:, :100], whole[:, -100:])
    assert not tail[:, 100:].any()


def test_items_have_the_right_shapes_and_the_mixture_is_the_sum(folder):
    ds = TrainingSegments(TrackSet.from_folder(folder, VA, RATE), 11025, seed=3)
    mixture, sources = ds[5]
    assert mixture.shape == (2, 11025) and sources.shape == (2, 2, 11025)
    assert mixture.dtype == np.float32 and sources.dtype == np.float32
    np.testing.assert_allclose(mixture, sources.sum(axis=0), atol=1e-6)
    batch_mix, batch_src = ds.batch(2, 4)
    assert batch_mix.shape == (4, 2, 11025) and batch_src.shape == (4, 2, 2, 11025)
    np.testing.assert_array_equal(batch_mix[1], ds[9][0])     # step 2, item 1 = index 9
    assert len(ds) == int(3 * 2 * RATE) // 11025                 # one pass over the audio


def test_items_are_a_pure_function_of_seed_and_index(folder):
    tracks = TrackSet.from_folder(folder, VA, RATE)
    a = TrainingSegments(tracks, 4410, seed=7)
    b = TrainingSegments(TrackSet.from_folder(folder, VA, RATE), 4410, seed=7)
    later_first = [b[i][1] for i in (9, 3, 0)]
    for got, i in zip(later_first, (9, 3, 0)):
        np.testing.assert_array_equal(got, a[i][1])
    c = TrainingSegments(tracks, 4410, seed=8)
    assert not np.array_equal(a[0][0], c[0][0])
    assert not np.array_equal(a[0][0], a[1][0])


def _decode(part: np.ndarray):
    """(track, gain, swapped) of a constant part made by ``level_folder``."""
    left, right = part[0, 0], part[1, 0]
    swapped = left < 0
    level = right if swapped else left                      # the positive channel
    other = left if swapped else right
    assert np.allclose(part[0], left) and np.allclose(part[1], right)
    assert np.isclose(other, -level / 2, rtol=1e-4)
    return level, swapped


def test_augmentation_remixes_tracks_with_random_gain_and_channel_swap(level_folder):
    ts = TrackSet.from_folder(level_folder, ("vocals", "drums", "bass", "other"), RATE)
    ds = TrainingSegments(ts, 2000, seed=0, augmentation=Augmentation())
    mixed_sources, swaps, gains = 0, [], []
    for i in range(60):
        mixture, sources = ds[i]
        np.testing.assert_allclose(mixture, sources.sum(axis=0), atol=1e-6)
        tracks_seen = set()
        for j in range(4):
            level, swapped = _decode(sources[j])
            swaps.append(swapped)
            # level = gain * (k + 1) / 10 * (j + 1): some track k and a gain in range
            options = [(k, level / ((k + 1) / 10 * (j + 1))) for k in range(4)]
            fits = [(k, g) for k, g in options if 0.25 - 1e-5 <= g <= 1.25 + 1e-5]
            assert fits, f"item {i} stem {j}: level {level} fits no track with a gain in range"
            gains.extend(g for _, g in fits)
            tracks_seen.add(tuple(k for k, _ in fits))
        mixed_sources += len(tracks_seen) > 1
    assert 0.3 < np.mean(swaps) < 0.7
    assert mixed_sources > 30                     # parts of one item come from different songs
    assert min(gains) < 0.6 and max(gains) > 0.9


def test_without_augmentation_an_item_is_a_plain_excerpt(folder):
    ts = TrackSet.from_folder(folder, VA, RATE)
    ds = TrainingSegments(ts, 8000, seed=2, augmentation=NO_AUGMENTATION)
    mixture, sources = ds[4]
    # find the excerpt in the tracks' mixture files: exactly one track and offset match
    matches = []
    for k, track in enumerate(ts.tracks):
        whole, _ = load(track.files["mixture"])
        for start in range(0, whole.shape[1] - 8000 + 1):
            if abs(whole[0, start] - mixture[0, 0]) < 1e-6 and np.allclose(
                    whole[:, start:start + 8000], mixture, atol=1e-5):
                matches.append((k, start))
                break
    assert len(matches) == 1


def test_validation_windows_are_fixed_unaugmented_excerpts(folder):
    ts = TrackSet.from_folder(folder, VA, RATE)
    val = ValidationSegments(ts, 22050, seconds=1.0)
    assert [len(w) for w in val.windows] == [2, 2, 2]
    mixture, sources = val.track(1)
    assert mixture.shape == (2, 2, 22050) and sources.shape == (2, 2, 2, 22050)
    w = val.windows[1][0]
    whole, _ = load(ts.tracks[1].files["mixture"])
    np.testing.assert_allclose(mixture[0], whole[:, w.start:w.start + 22050], atol=1e-5)
    again, _ = val.track(1)
    np.testing.assert_array_equal(mixture, again)
    # windows sit in the middle of the track
    assert w.start == (2 * RATE - 2 * 22050) // 2
