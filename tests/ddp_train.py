"""Started by torchrun in the distributed-training tests: train with the options saved as
JSON in ``argv[1]``, in the torchrun job this process belongs to (as ``app train`` does under
torchrun, with the tests' tiny model, which the command line cannot choose)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from app.core.training import TrainOptions, detect_distributed, train

if __name__ == "__main__":
    info = detect_distributed()
    assert info is not None, "not started by torchrun"
    options = TrainOptions.from_dict(json.loads(Path(sys.argv[1]).read_text()))
    train(options, distributed=info)
