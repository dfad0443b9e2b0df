"""Garbage collection on the UI thread only.

Python's cyclic garbage collector runs in whichever thread happens to allocate when a
threshold is crossed. With jobs on worker threads that can be a worker, and a cycle holding
a Qt object (a widget, a plot item) would then be destroyed outside the UI thread, which Qt
does not allow. :class:`MainThreadCollector` turns automatic collection off and collects
from a timer in the UI thread instead, generation by generation as the thresholds say.
"""

from __future__ import annotations

import gc
from typing import Optional

from PySide6.QtCore import QObject, QTimer


class MainThreadCollector(QObject):
    INTERVAL_MS = 500

    def __init__(self, parent: Optional[QObject] = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()
        self.collections = 0

    def check(self) -> int:
        """Collect the oldest generation whose count passed its threshold (if any)."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > self.thresholds[generation]:
                self.collections += 1
                return gc.collect(generation)
        return 0

    def stop(self) -> None:
        """Back to Python's automatic collection."""
        self.timer.stop()
        if self._was_enabled:
            gc.enable()
