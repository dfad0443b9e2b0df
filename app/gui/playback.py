"""Play, pause and seek audio files with QtMultimedia, when this machine can.

QtMultimedia is imported lazily: on a machine without its system libraries (libpulse) the
import fails, and on one without a sound card there is no output device. In both cases
:class:`Playback` reports ``available = False`` with a reason for the user, and every other
part of the app keeps working.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QObject, QUrl, Signal

log = logging.getLogger(__name__)


def import_multimedia() -> Any:
    """The QtMultimedia module (raises if its libraries are missing)."""
    from PySide6 import QtMultimedia

    return QtMultimedia


def probe_playback() -> tuple[Any, str]:
    """``(QtMultimedia module or None, reason it cannot be used or "")``."""
    try:
        multimedia = import_multimedia()
    except Exception as exc:  # ImportError, or OSError from a missing shared library
        return None, f"QtMultimedia cannot be loaded ({type(exc).__name__}: {exc})"
    try:
        outputs = multimedia.QMediaDevices.audioOutputs()
    except Exception as exc:
        return None, f"audio devices cannot be listed ({exc})"
    if not outputs:
        return None, "no audio output device was found"
    return multimedia, ""


class Playback(QObject):
    """One player for the Separate tab: a source file, play/pause, seek, position."""

    playing_changed = Signal(bool)
    position_changed = Signal(float)        # seconds
    failed = Signal(str)                    # a playback error, for the user

    def __init__(self, parent: Optional[QObject] = None):
        super().__init__(parent)
        self._player = None
        self._output = None
        self.source: Optional[Path] = None
        multimedia, self.reason = probe_playback()
        if multimedia is not None:
            self._create(multimedia)

    @property
    def available(self) -> bool:
        return self._player is not None

    def _create(self, mm: Any) -> None:
        self._player = mm.QMediaPlayer(self)
        self._output = mm.QAudioOutput(self)
        self._player.setAudioOutput(self._output)
        playing = mm.QMediaPlayer.PlaybackState.PlayingState
        self._player.playbackStateChanged.connect(
            lambda state: self.playing_changed.emit(state == playing))
        self._player.positionChanged.connect(lambda ms: self.position_changed.emit(ms / 1000.0))
        self._player.errorOccurred.connect(self._error)
        self._playing_state = playing

    def _error(self, _error: Any, text: str) -> None:
        if text:
            log.warning("playback error: %s", text)
            self.failed.emit(text)

    @property
    def playing(self) -> bool:
        return self.available and self._player.playbackState() == self._playing_state

    def set_source(self, path: Optional[Path]) -> None:
        """Switch files, keeping the position and whether it was playing."""
        self.source = Path(path) if path else None
        if not self.available:
            return
        was_playing, position = self.playing, self._player.position()
        self._player.setSource(QUrl.fromLocalFile(str(path)) if path else QUrl())
        if path:
            self._player.setPosition(position)
            if was_playing:
                self._player.play()

    def play(self) -> None:
        if self.available and self.source is not None:
            self._player.play()

    def pause(self) -> None:
        if self.available:
            self._player.pause()

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, seconds: float) -> None:
        if self.available:
            self._player.setPosition(int(max(seconds, 0.0) * 1000))

    def stop(self) -> None:
        if self.available:
            self._player.stop()
            self._player.setSource(QUrl())
