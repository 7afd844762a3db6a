"""Neural models: per-table column encoders, relative time, hetero GNN, task heads."""

from __future__ import annotations

from relgraph.nn.encoder import HeteroEncoder, HeteroTemporalEncoder
from relgraph.nn.gnn import HeteroGNN
from relgraph.nn.model import ModelConfig, RelGNN, col_names

__all__ = [
    "HeteroEncoder",
    "HeteroGNN",
    "HeteroTemporalEncoder",
    "ModelConfig",
    "RelGNN",
    "col_names",
]
