"""The --device vocabulary: what a user types, what they get, and the message when it is absent."""

import pytest
import torch

from app.core.devices import (available_devices, check_device_spec, describe_device,
                              resolve_device)
from app.core.jobs import UserError


@pytest.mark.parametrize("spec, expected", [("auto", "auto"), (None, "auto"), ("CPU", "cpu"),
                                            (" cuda:1 ", "cuda:1"), ("mps", "mps")])
def test_device_names_are_normalised(spec, expected):
    assert check_device_spec(spec) == expected


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:0", "mps:1", "cuda:-1", "tpu"])
def test_unknown_device_names_are_refused_with_the_choices(spec):
    with pytest.raises(UserError) as err:
        check_device_spec(spec)
    assert "unknown device" in str(err.value) and "cuda:N" in str(err.value)


def test_cpu_and_auto_resolve_to_the_cpu_without_a_gpu():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        assert available_devices()[0] == "cpu"
    assert describe_device(torch.device("cpu")).name == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_says_so_and_what_is_here(spec):
    with pytest.raises(UserError) as err:
        resolve_device(spec)
    text = str(err.value)
    assert "no CUDA device is available here" in text
    assert "Devices here: cpu" in text and "--device cpu" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_cuda_index_beyond_the_gpus_is_refused():
    count = torch.cuda.device_count()
    with pytest.raises(UserError, match=f"no CUDA device {count}"):
        resolve_device(f"cuda:{count}")
    assert resolve_device("auto").type == "cuda"


def test_listing_the_devices_does_not_import_a_cpu_only_torch():
    """The status bar's Device box lists the devices at start-up: with a CPU-only PyTorch
    that must not cost the second that importing torch takes."""
    import subprocess
    import sys

    code = ("import sys; from app.core.devices import available_devices, "
            "torch_built_without_cuda as cpu_only; d = available_devices(); "
            "print(d, cpu_only(), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    if torch.version.cuda is None and sys.platform != "darwin":
        assert out == "['cpu'] True False"
    else:
        assert out.startswith("['cpu'") and out.endswith("False True")
