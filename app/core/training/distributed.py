"""Training on several processes with torch.distributed (DistributedDataParallel), and the
lock that keeps two trainers out of one run folder.

A run is distributed only when ``torchrun`` started it: its environment then holds
``WORLD_SIZE`` > 1 together with ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT`` (:func:`detect_distributed`). A plain second copy of the trainer has none of
these, so it is a single-process run, and the run-folder lock (:class:`RunLock`) refuses it
while another live process trains in the same folder.

Each rank trains on ``batch_size`` segments of its own per step; the *global* batch of one
optimizer step is ``batch_size x world_size`` (the items ``(step * world + rank) * batch``
onwards, see :meth:`app.core.training.TrainingSegments.batch`), so a run on N processes takes
the same steps as one process with an N times larger batch. BatchNorm statistics are
computed over the global batch (:func:`sync_batch_norm`), which that equality needs.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import torch
from torch import nn

from ..jobs import UserError
from ..torchrun import TORCHRUN_VARIABLES, DistributedInfo, detect_distributed  # noqa: F401

LOCK_NAME = "train.lock"
# How long ranks wait for each other (rank 0 validating, saving): generous, validation of a
# large set can take a while.
TIMEOUT = _dt.timedelta(hours=2)


# ----------------------------------------------------------------------------- process group

def backend_for(device: torch.device) -> str:
    """NCCL between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


@contextmanager
def distributed_session(info: DistributedInfo, device: torch.device) -> Iterator[None]:
    """Join the torchrun job's process group for the ``with`` block; the group is destroyed
    when it ends, on errors and Ctrl-C too."""
    import torch.distributed as dist

    if not dist.is_available():
        raise UserError("this PyTorch has no torch.distributed: train in one process")
    kwargs = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend_for(device), rank=info.rank, world_size=info.world_size,
                            timeout=TIMEOUT, **kwargs)
    try:
        yield
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


# ----------------------------------------------------------------------------- batch norm

class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch of all ranks
    (the CPU counterpart of :class:`torch.nn.SyncBatchNorm`, which runs on GPUs only).

    Per channel, the count, sum and sum of squares of every rank are added with a
    differentiable all-reduce, so the backward pass also sees the other ranks' samples;
    the running statistics follow the global mean and the unbiased global variance, as
    one process with the whole batch would compute them. Same parameters and buffers as
    BatchNorm2d: its state dict is a plain BatchNorm2d's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        self._check_input_dim(x)
        dims = (0, 2, 3)
        count = torch.full((1,), x.numel() // x.shape[1], dtype=torch.float32, device=x.device)
        stats = torch.cat([count, x.float().sum(dims), (x.float() * x.float()).sum(dims)])
        stats = all_reduce(stats)                        # sum over ranks, differentiable
        n = stats[0]
        mean = stats[1:1 + x.shape[1]] / n
        var = (stats[1 + x.shape[1]:] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                            else self.momentum)
                unbiased = var * (n / (n - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * unbiased.detach())
        shape = (1, -1, 1, 1)
        y = (x.float() - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def sync_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """Batch norm over the global batch: :class:`torch.nn.SyncBatchNorm` on GPUs,
    :class:`GlobalBatchNorm2d` elsewhere. Weights and buffers are kept (shared, not
    copied); the state dict's names do not change."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if type(module) is nn.BatchNorm2d:
            module.__class__ = GlobalBatchNorm2d
    return model


# ----------------------------------------------------------------------------- run lock

def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":                                  # pragma: no cover - Windows only
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259                         # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _release(path: Path, token: str) -> None:
    try:
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()
    except (OSError, ValueError):
        pass


class RunLock:
    """``OUT/train.lock``: the process (pid, host) that trains in a run folder. Taking it
    fails with a :class:`UserError` while another live process holds it; a lock left by a
    process that has ended is taken over. Released by :meth:`release`, and at the latest when
    the holder is garbage-collected or the interpreter exits."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK_NAME
        self.token = f"{os.getpid()}-{id(self)}-{_dt.datetime.now().timestamp()}"
        record = {"pid": os.getpid(), "host": socket.gethostname(), "token": self.token,
                  "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_holder()
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(record) + "\n")
            break
        else:
            raise UserError("is being locked and unlocked by another trainer", self.path)
        self._finalizer = weakref.finalize(self, _release, self.path, self.token)

    def _check_holder(self) -> None:
        """Remove a stale lock, or refuse because its holder is alive."""
        try:
            holder = json.loads(self.path.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            holder, pid, host = {}, -1, socket.gethostname()     # unreadable: ours to replace
        here = socket.gethostname()
        if host != here:
            raise UserError(f"is in use by a trainer on {host} (pid {pid})", self.path.parent,
                            f"Wait for it to finish; if no trainer runs there any more, delete "
                            f"{self.path}.")
        if _pid_alive(pid):
            raise UserError(f"is in use by another trainer (pid {pid}, started "
                            f"{holder.get('started', '?')}): two trainers in one folder would "
                            f"overwrite each other's checkpoint and log", self.path.parent,
                            "Wait for it to finish or stop it, or train in another folder.")
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def release(self) -> None:
        self._finalizer()


# ----------------------------------------------------------------------------- devices

def process_device(spec: str, info: Optional[DistributedInfo]) -> torch.device:
    """The device this process trains on: ``spec`` resolved (:func:`app.core.devices.
    resolve_device`); in a torchrun job on GPUs, the GPU of this process's local rank."""
    from ..devices import check_device_spec, cuda_count, resolve_device

    text = check_device_spec(spec)
    if info is None:
        return resolve_device(text)
    if text.startswith("cuda:"):
        raise UserError(f"--device {text} names one GPU, but torchrun started "
                        f"{info.world_size} processes: each uses the GPU of its local rank",
                        hint="Pass --device cuda (or auto); choose the GPUs with "
                             "CUDA_VISIBLE_DEVICES.")
    if text == "mps":
        raise UserError("distributed training runs on CUDA GPUs or on CPUs, not on MPS",
                        hint="Pass --device cpu, or train in one process on MPS.")
    if text == "cpu" or (text == "auto" and cuda_count() == 0):
        return torch.device("cpu")
    try:
        device = resolve_device(f"cuda:{info.local_rank}")
    except UserError as exc:
        exc.rank_specific = True        # the other processes may have their GPU
        raise
    torch.cuda.set_device(device)
    return device


# ----------------------------------------------------------------------------- between ranks

def all_reduce_values(values: list[float], device: torch.device) -> torch.Tensor:
    """The sum of ``values`` over every rank, on the CPU."""
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64 if device.type == "cpu" else torch.float32,
                     device=device)
    dist.all_reduce(t)
    return t.cpu()


def rank0_flag(info: Optional[DistributedInfo], device: torch.device, flag: bool) -> bool:
    """Rank 0's ``flag`` on every rank (decisions that change the control flow); ``flag``
    itself in a single process."""
    if info is None:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def rank0_value(info: Optional[DistributedInfo], value):
    """Rank 0's ``value`` on every rank, the others waiting for it; ``value`` itself in a
    single process."""
    if info is None:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, 0)
    return box[0]


def check_world_size(saved: int, current: int, path: Path) -> None:
    """Refuse to resume a run trained by another number of processes: the global batch and
    the data order depend on it."""
    if saved == current:
        return
    es = lambda n: "es" if n > 1 else ""
    how = (f"torchrun with {saved} processes in all, e.g. torchrun --nproc_per_node {saved} "
           f"-m app train ... --resume on one machine" if saved > 1
           else "tfswa-studio train ... --resume without torchrun")
    raise UserError(f"was trained by {saved} process{es(saved)} and this run has {current}: "
                    f"the global batch and the data order depend on the number of processes, "
                    f"so it cannot resume exactly", path,
                    f"Resume with {saved} process{es(saved)} ({how}), or start a new run in "
                    "another folder.")
