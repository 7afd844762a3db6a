"""Temporal neighbour sampling: disjoint per-seed subgraphs with no future rows."""

from __future__ import annotations

from relgraph.sample.batch import Batch
from relgraph.sample.loader import SeedLoader
from relgraph.sample.prefetch import Prefetcher
from relgraph.sample.sampler import TemporalSampler, seed_salts

__all__ = ["Batch", "Prefetcher", "SeedLoader", "TemporalSampler", "seed_salts"]
