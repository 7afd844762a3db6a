"""The sampler's output: a heterogeneous mini-batch of disjoint per-seed subgraphs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from relgraph.graph.graph import EdgeType


@dataclass
class Batch:
    """Disjoint temporal subgraphs around ``num_seeds`` seed nodes.

    Attributes:
        seed_table: node type of the seeds.
        num_seeds: the first ``num_seeds`` entries of ``node_ids[seed_table]`` are
            the seeds, in the order given.
        node_ids: per node type, the global node index (row) of each local node.
        batch: per node type, the seed (0..num_seeds-1) each local node belongs to.
        node_time: per node type, each node's own time in seconds.
        seed_time: the time of each seed's subgraph (seconds).
        edge_index: per edge type, ``[2, E]`` local indices (row 0 source, row 1
            destination); messages flow towards the seed.
    """

    seed_table: str
    num_seeds: int
    node_ids: dict[str, torch.Tensor]
    batch: dict[str, torch.Tensor]
    node_time: dict[str, torch.Tensor]
    seed_time: torch.Tensor
    edge_index: dict[EdgeType, torch.Tensor]

    @property
    def num_nodes(self) -> int:
        return sum(int(v.shape[0]) for v in self.node_ids.values())

    @property
    def num_edges(self) -> int:
        return sum(int(v.shape[1]) for v in self.edge_index.values())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on ``device``."""

        def mv(d: dict[Any, torch.Tensor]) -> dict[Any, torch.Tensor]:
            return {k: v.to(device, non_blocking=non_blocking) for k, v in d.items()}

        return Batch(
            seed_table=self.seed_table,
            num_seeds=self.num_seeds,
            node_ids=mv(self.node_ids),
            batch=mv(self.batch),
            node_time=mv(self.node_time),
            seed_time=self.seed_time.to(device, non_blocking=non_blocking),
            edge_index=mv(self.edge_index),
        )

    def __repr__(self) -> str:
        return (
            f"Batch(seed_table={self.seed_table!r}, num_seeds={self.num_seeds}, "
            f"nodes={self.num_nodes}, edges={self.num_edges})"
        )
