"""relgraph: predictions from relational data with graph learning."""

from __future__ import annotations

import os
from typing import Any

# PyTorch's OpenMP threads spin while they wait for work. When the cores are shared
# (a laptop doing other things, CI, several jobs on one machine) the spinning
# threads take the CPU from the ones with work: measured on 2 cores at load 8, one
# GNN training step cost 10.6 CPU-s spinning and 2.3 CPU-s passive (4.3x wall).
# Set before torch loads its OpenMP runtime; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import relgraph` stays light (no httpx) for the CLI and the workers.
    if name == "Client":
        from relgraph.client import Client

        return Client
    raise AttributeError(f"module 'relgraph' has no attribute {name!r}")
