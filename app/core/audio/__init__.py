"""Audio in and out: reading any common format (streamed, resampled with soxr, channels to
stereo), writing stems through a temporary name, the STFT / inverse STFT / sub-band split the
model runs on, MUSDB18-style folders of stems, and the waveform and spectrogram pictures the
app shows. Torch-free at import time."""

from .display import (Envelope, SpectrogramImage, TrackDisplay, band_matrix, track_display,
                      track_displays)
from .io import (DEFAULT_SUBTYPE, NONFINITE_CHOICES, READ_FORMATS, SUBTYPES, WRITE_FORMATS, AudioInfo, AudioReader,
                 AudioWriter, ChannelWarning, load, probe, resolve_format, to_stereo, write)
from .spectral import Spectrogram, from_subbands, hann_window, istft, n_frames, stft, to_subbands
from .tracks import (ACCOMPANIMENT_STEMS, AUDIO_SUFFIXES, BASE_STEMS, RESIDUAL, SUBSETS, Track,
                     TrackSet, describe, resolve_subset, scan_tracks)

__all__ = [
    "Envelope", "SpectrogramImage", "TrackDisplay", "band_matrix", "track_display",
    "track_displays", "DEFAULT_SUBTYPE", "NONFINITE_CHOICES", "READ_FORMATS", "SUBTYPES", "WRITE_FORMATS",
    "AudioInfo", "AudioReader", "AudioWriter", "ChannelWarning", "load", "probe",
    "resolve_format", "to_stereo", "write", "Spectrogram", "from_subbands", "hann_window",
    "istft", "n_frames", "stft", "to_subbands", "ACCOMPANIMENT_STEMS", "AUDIO_SUFFIXES",
    "BASE_STEMS", "RESIDUAL", "SUBSETS", "Track", "TrackSet", "describe", "resolve_subset",
    "scan_tracks",
]
