"""Shared test setup: Qt offscreen, a bounded thread count, small reusable fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest


@pytest.fixture(scope="session", autouse=True)
def _limit_threads():
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


@pytest.fixture(scope="session", autouse=True)
def _private_user_data(tmp_path_factory):
    """The app's memory between runs (trusted exports, workspace variants) goes to a
    temporary data folder, for the tests and the CLI subprocesses they start."""
    before = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    yield
    if before is None:
        os.environ.pop("XDG_DATA_HOME", None)
    else:
        os.environ["XDG_DATA_HOME"] = before


@pytest.fixture
def torch_one_thread():
    """Run torch on one thread during a test. The models in these tests are tiny: on a busy
    2-core machine two OpenMP threads waiting on each other make them many times slower.
    Modules opt in with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def tiny_config():
    """A very small TFSWA-UNet (a few thousand parameters) for fast end-to-end tests."""
    from app.core.config import ModelConfig

    return ModelConfig(preset="custom", channels=(4, 8), dim=8, blocks=1, heads=2, window=(2, 2),
                       mlp_ratio=2.0)
