"""TFSWA Studio: a desktop app and CLI for TFSWA-UNet music source separation."""

import os as _os

__version__ = "0.1.0"

# OpenMP worker threads (PyTorch's CPU kernels) spin while they wait for work by default.
# On a machine that is doing anything else -- the desktop, a browser, another job -- spinning
# threads fight for the cores and a separation becomes several times slower (measured here:
# 4.3 s instead of 0.55 s per segment of the medium preset with one busy neighbour). Passive
# waiting costs little when the machine is idle. It only takes effect if set before torch is
# imported, hence here; an explicit OMP_WAIT_POLICY in the environment wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
