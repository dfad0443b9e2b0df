"""Helpers for the Ctrl-C tests, which send a real SIGINT to a real ``python -m app`` child.

A shell starts background jobs (``pytest ... &``, nohup, CI runners) with SIGINT ignored, a
child inherits that, and Python then installs no KeyboardInterrupt handler: the SIGINT the
test sends would be ignored and the test would fail for reasons that have nothing to do with
the app. The child therefore gets the default SIGINT disposition back before it starts, as
it has when a user runs the command in a terminal and presses Ctrl-C.
"""

from __future__ import annotations

import signal


def interruptible() -> None:
    """``preexec_fn`` for ``subprocess.Popen``: the default SIGINT disposition in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
