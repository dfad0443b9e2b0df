"""Which torchrun job this process belongs to, read from torchrun's environment alone.

Torch-free, so that the command line can tell a torchrun rank (to let rank 0 speak for the
job) without importing PyTorch; :mod:`app.core.training.distributed` builds on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Optional

from .jobs import UserError

TORCHRUN_VARIABLES = ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class DistributedInfo:
    """This process's place in a torchrun job."""

    rank: int
    local_rank: int
    world_size: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def detect_distributed(environ: Mapping[str, str] = os.environ) -> Optional[DistributedInfo]:
    """The torchrun job this process belongs to, or None for a single-process run.

    Only torchrun's full environment counts: ``WORLD_SIZE`` > 1 with ``RANK``, ``LOCAL_RANK``,
    ``MASTER_ADDR`` and ``MASTER_PORT`` set. Anything less (a stray ``WORLD_SIZE``, a copy of
    the trainer started by hand) is a single-process run."""
    try:
        world = int(environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return None
    if world <= 1 or any(not environ.get(name) for name in TORCHRUN_VARIABLES):
        return None
    try:
        rank, local_rank = int(environ["RANK"]), int(environ["LOCAL_RANK"])
    except ValueError:
        return None
    if not 0 <= rank < world or local_rank < 0:
        raise UserError(f"torchrun's RANK {rank} does not fit its WORLD_SIZE {world}")
    return DistributedInfo(rank, local_rank, world)
