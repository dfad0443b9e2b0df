"""Backends on a device: the CPU path is unchanged, a device that is absent is a message that
says what is here, ONNX Runtime gets the CUDA provider only when it has one, and (on a GPU)
the model on CUDA gives the CPU's masks."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from app.core.backends import load_backend
from app.core.backends.onnx_runtime import OnnxRuntimeBackend, providers_for
from app.core.backends.pytorch import TorchBackend
from app.core.checkpoint import save_bundle
from app.core.jobs import UserError
from exporthelp import exported, saved_tiny_bundle

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NO_GPU = not torch.cuda.is_available()
ORT_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return save_bundle(saved_tiny_bundle(), tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def mag():
    return np.random.default_rng(0).uniform(0, 2, (2, 2, 1025, 40)).astype(np.float32)


def test_cpu_device_gives_the_same_masks_as_before(ckpt, mag):
    bundle = saved_tiny_bundle()
    default = TorchBackend(bundle.build(), bundle.audio)
    on_cpu = load_backend(ckpt, threads=1, device="cpu")
    assert on_cpu.device == "cpu" and on_cpu.provider == "torch-cpu"
    assert on_cpu.describe()["device"] == "cpu" and on_cpu.name == "PyTorch FP32"
    np.testing.assert_array_equal(on_cpu.run(mag), default.run(mag))
    on_cpu.synchronize()        # nothing queued on the CPU: returns at once


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_auto_runs_on_the_cpu_without_a_gpu(ckpt, mag):
    backend = load_backend(ckpt, threads=1, device="auto")
    assert backend.device == "cpu" and backend.run(mag).shape == (2, 2, 2, 1025, 40)


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_is_refused_before_the_file_is_read(ckpt, device):
    with pytest.raises(UserError) as err:
        load_backend(ckpt, device=device)
    assert "no CUDA device is available here" in str(err.value)
    assert "Devices here: cpu" in str(err.value)


def test_an_unknown_device_name_is_refused(ckpt):
    with pytest.raises(UserError, match="unknown device 'gpu'"):
        load_backend(ckpt, device="gpu")


def test_fp16_autocast_is_for_cuda_only():
    bundle = saved_tiny_bundle()
    with pytest.raises(UserError, match="FP16 autocast runs on a CUDA device only, not on cpu"):
        TorchBackend(bundle.build(), bundle.audio, device="cpu", precision="fp16")
    with pytest.raises(UserError, match="unknown PyTorch precision"):
        TorchBackend(bundle.build(), bundle.audio, precision="int4")


def test_onnx_providers_follow_the_device(monkeypatch):
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CPUExecutionProvider"])
    assert providers_for("auto") == ["CPUExecutionProvider"]
    with pytest.raises(UserError) as err:
        providers_for("cuda:0")
    assert "no CUDA provider (it has CPUExecutionProvider)" in str(err.value)
    assert "onnxruntime-gpu" in str(err.value)
    with pytest.raises(UserError, match="MPS"):
        providers_for("mps")
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers_for("auto") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert providers_for("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}),
                                       "CPUExecutionProvider"]


@pytest.mark.skipif(ORT_CUDA, reason="this ONNX Runtime has the CUDA provider")
def test_onnx_cuda_asked_for_without_the_provider_is_refused_and_auto_runs_on_the_cpu(mag):
    _, result = exported("onnx")
    with pytest.raises(UserError) as err:
        load_backend(result.path, threads=1, device="cuda")
    assert result.path.name in str(err.value) and "no CUDA provider" in str(err.value)
    backend = load_backend(result.path, threads=1, device="auto")
    assert backend.provider == "CPUExecutionProvider" and backend.device == "cpu"
    assert backend.run(mag[:1]).shape == (1, 2, 2, 1025, 40)


@pytest.mark.skipif(ORT_CUDA, reason="this ONNX Runtime has the CUDA provider")
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider'")
def test_a_cuda_provider_that_does_not_start_is_not_silently_the_cpu(monkeypatch):
    """An ONNX Runtime that lists the CUDA provider but cannot start it (no driver, missing
    cuDNN) runs on the CPU by itself; for a GPU asked for by name that is an error."""
    _, result = exported("onnx")
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(UserError, match="could not start its CUDAExecutionProvider"):
        OnnxRuntimeBackend(result.path, threads=1, device="cuda")
    backend = OnnxRuntimeBackend(result.path, threads=1, device="auto")
    assert backend.provider == "CPUExecutionProvider"


@pytest.mark.skipif(NO_GPU, reason="needs a GPU")
def test_the_model_on_cuda_gives_the_cpus_masks(ckpt, mag):
    cpu = load_backend(ckpt, threads=1, device="cpu").run(mag)
    gpu = load_backend(ckpt, device="cuda")
    assert gpu.device.startswith("cuda:") and gpu.provider == "torch-cuda"
    out = gpu.run(mag)
    assert out.dtype == np.float32 and isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, cpu, atol=1e-4)
    bundle = saved_tiny_bundle()
    half = TorchBackend(bundle.build(), bundle.audio, device="cuda", precision="fp16")
    assert half.name.startswith("PyTorch FP16 (cuda:")
    np.testing.assert_allclose(half.run(mag), cpu, atol=2e-2)
