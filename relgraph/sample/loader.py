"""Iterate over seed (node, time) pairs in mini-batches, sampling each batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from relgraph.errors import GraphError
from relgraph.graph.graph import IntArray
from relgraph.graph.times import to_seconds
from relgraph.sample.batch import Batch
from relgraph.sample.sampler import TemporalSampler


class SeedLoader:
    """Mini-batches of temporal subgraphs for a list of (seed node, seed time) pairs.

    ``shuffle`` permutes the seeds with a generator seeded by ``(seed, epoch)``,
    where the epoch counts the iterations started, so every epoch differs and a
    re-run reproduces them. Wrap it in :class:`~relgraph.sample.Prefetcher` to
    sample the next batches while the model trains on this one.

    Example:
        >>> from relgraph.graph import RelGraph
        >>> g = RelGraph.from_edges({"u": 3}, {})
        >>> loader = SeedLoader(TemporalSampler(g, [2]), "u", [0, 1, 2], [5, 5, 5], batch_size=2)
        >>> [b.num_seeds for b in loader]
        [2, 1]
    """

    def __init__(
        self,
        sampler: TemporalSampler,
        seed_table: str,
        seed_nodes: Any,
        seed_times: Any,
        *,
        batch_size: int = 512,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise GraphError(f"batch_size must be ≥ 1, got {batch_size}")
        self.sampler = sampler
        self.seed_table = seed_table
        self.nodes: IntArray = np.asarray(seed_nodes, dtype=np.int64).reshape(-1)
        self.times: IntArray = to_seconds(seed_times).reshape(-1)
        if self.nodes.shape != self.times.shape:
            raise GraphError(
                f"{self.nodes.shape[0]} seed nodes but {self.times.shape[0]} seed times"
            )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch_ = 0

    def __len__(self) -> int:
        n = int(self.nodes.shape[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __repr__(self) -> str:
        return (
            f"SeedLoader(seed_table={self.seed_table!r}, seeds={self.nodes.shape[0]}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle})"
        )

    def __iter__(self) -> Iterator[Batch]:
        n = self.nodes.shape[0]
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch_]).permutation(n)
        else:
            order = np.arange(n)
        self.epoch_ += 1
        for i in range(len(self)):
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            yield self.sampler.sample(self.seed_table, self.nodes[idx], self.times[idx])
