"""The installed Qt binding keeps Python's reference counts intact when signals are emitted.

PySide6 6.12.0 drops a reference to ``True`` on every ``Signal.emit()`` (and to ``None`` for
some slots); on Python < 3.12, where those objects are not immortal, the interpreter aborts
after a few thousand emissions. pyproject.toml excludes that release; this test fails if a
broken binding is installed anyway.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class Emitter(QObject):
    plain = Signal()
    carrying = Signal(object)

    def slot(self, *args):
        return None


def test_emitting_signals_does_not_leak_or_drop_references(qapp):
    emitter = Emitter()
    emitter.plain.connect(emitter.slot)
    emitter.carrying.connect(lambda value: None)
    before = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(200):
        emitter.plain.emit()
        emitter.carrying.emit(None)
    after = sys.getrefcount(True), sys.getrefcount(None)
    assert abs(after[0] - before[0]) <= 5, "Signal.emit() changes the refcount of True"
    assert abs(after[1] - before[1]) <= 5, "signal delivery changes the refcount of None"
