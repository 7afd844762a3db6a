"""Temporal neighbour sampling over a RelGraph (numba, parallel over seeds)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from relgraph.errors import GraphError
from relgraph.graph.graph import IntArray, RelGraph
from relgraph.graph.times import to_seconds
from relgraph.sample.batch import Batch
from relgraph.sample.kernels import derive_key, mix64, plan_layout, sample_range, scatter_range

_STRATEGIES = ("uniform", "recent")
# A batch whose per-seed buffers would exceed this many slots is refused: the
# fan-outs are too large for one call (split the seeds).
_MAX_SLOTS = 1 << 25
# Seeds per task handed to a thread: small enough to balance two threads when a
# core is busy elsewhere, large enough that the hand-over (~20 µs) is noise.
_CHUNK = 256


def _default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class TemporalSampler:
    """Samples, per seed, a subgraph of rows that existed at the seed's time.

    At hop ``h`` every frontier node of type ``T`` expands along every edge type
    whose destination is ``T`` and keeps at most ``fanouts[h]`` of its visible
    neighbours (time ≤ the seed's time): chosen uniformly without replacement
    (``"uniform"``) or the most recent ones (``"recent"``); ``-1`` keeps all.
    Each seed gets its own copy of every node it reaches (a computation tree:
    subgraphs are disjoint across and within seeds), so every non-seed node has
    exactly one edge, towards the node it was reached from.

    Batches are reproducible: call ``i`` of a sampler built with ``seed`` always
    returns the same batch for the same inputs, whatever the number of threads.

    Args:
        graph: the graph to sample.
        fanouts: neighbours kept per edge type and node, per hop.
        strategy: ``"uniform"`` or ``"recent"``.
        seed: seed of the random streams.
        num_threads: threads that sample (default: the cores this process may use).

    Example:
        >>> g = RelGraph.from_edges({"u": 1, "o": 3},
        ...     {("o", "u", "u"): ([0, 1, 2], [0, 0, 0])}, node_time={"o": [5, 1, 9]})
        >>> b = TemporalSampler(g, [-1]).sample("u", [0], [6])
        >>> sorted(b.node_ids["o"].tolist())
        [0, 1]
    """

    def __init__(
        self,
        graph: RelGraph,
        fanouts: Sequence[int],
        *,
        strategy: str = "uniform",
        seed: int = 0,
        num_threads: int | None = None,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise GraphError(f"unknown sampling strategy '{strategy}'; use one of {_STRATEGIES}")
        fo = [int(k) for k in fanouts]
        if not fo or any(k < -1 for k in fo):
            raise GraphError(f"fanouts {list(fanouts)} must be a non-empty list of ints ≥ -1")
        if num_threads is not None and num_threads < 1:
            raise GraphError(f"num_threads={num_threads} must be ≥ 1")
        self.graph = graph
        self.fanouts = fo
        self.strategy = strategy
        self.seed = int(seed)
        self.num_threads = num_threads or _default_threads()
        self._pool: ThreadPoolExecutor | None = None
        self._caps: dict[str, int] = {}
        self.calls_ = 0
        g = graph
        self._et_src = np.array([g.type_index[e[0]] for e in g.edge_types], dtype=np.int64)
        et_dst = np.array([g.type_index[e[2]] for e in g.edge_types], dtype=np.int64)
        order = np.argsort(et_dst, kind="stable").astype(np.int64)
        self._in_et = order
        self._in_ptr = np.searchsorted(
            et_dst[order], np.arange(len(g.node_types) + 1), side="left"
        ).astype(np.int64)
        self._et_dst = et_dst
        self._fanouts = np.array(fo, dtype=np.int64)
        self._type_timed = np.array([g.timed[t] for t in g.node_types], dtype=np.bool_)
        # Edge types where every destination node has exactly one neighbour
        # (their indptr is the identity, stored or not).
        self._et_unit = np.array(
            [
                bool(g.identity[e])
                or (int(g.edge_counts[e]) == g.num_nodes[et[2]] and int(g.max_degree[e]) == 1)
                for e, et in enumerate(g.edge_types)
            ],
            dtype=np.bool_,
        )

    def __repr__(self) -> str:
        return (
            f"TemporalSampler(fanouts={self.fanouts}, strategy={self.strategy!r}, seed={self.seed})"
        )

    def max_nodes_per_seed(self, seed_table: str) -> int:
        """Upper bound on the nodes one seed's subgraph can hold (sizes the buffers)."""
        g = self.graph
        n_types = len(g.node_types)
        level = np.zeros(n_types, dtype=np.float64)
        level[g.type_index[seed_table]] = 1.0
        total = 1.0
        for k in self.fanouts:
            nxt = np.zeros(n_types, dtype=np.float64)
            for e in range(len(g.edge_types)):
                deg = float(g.max_degree[e]) if k < 0 else float(min(k, g.max_degree[e]))
                nxt[self._et_src[e]] += level[self._et_dst[e]] * deg
            level = nxt
            total += float(level.sum())
        return int(min(total, float(np.iinfo(np.int64).max)))

    def sample(
        self,
        seed_table: str,
        seed_nodes: Any,
        seed_times: Any,
        *,
        key: int | None = None,
        salts: Any = None,
    ) -> Batch:
        """Sample one batch.

        Args:
            seed_table: node type of the seeds.
            seed_nodes: node indices (rows) of the seeds; see ``RelGraph.key_to_node``.
            seed_times: one time per seed: int seconds, datetime64, or Arrow timestamps.
            key: pin the random stream (default: derived from ``seed`` and the call count).
            salts: one uint64 per seed that, with ``key``, picks the seed's own stream
                (default: its position in the batch). With a pinned ``key`` and salts
                from :func:`seed_salts`, a seed's subgraph depends on nothing but its
                node and time: the same in any batch, of any size, in any order.
        """
        g = self.graph
        if seed_table not in g.type_index:
            raise GraphError(
                f"unknown seed table '{seed_table}'; tables: {', '.join(g.node_types)}"
            )
        if hasattr(seed_nodes, "detach"):
            seed_nodes = seed_nodes.detach().cpu().numpy()
        nodes = np.ascontiguousarray(seed_nodes, dtype=np.int64).reshape(-1)
        times = np.ascontiguousarray(to_seconds(seed_times), dtype=np.int64).reshape(-1)
        if nodes.shape != times.shape:
            raise GraphError(f"{nodes.shape[0]} seed nodes but {times.shape[0]} seed times")
        n = g.num_nodes[seed_table]
        if nodes.size and (nodes.min() < 0 or nodes.max() >= n):
            bad = int(nodes[(nodes < 0) | (nodes >= n)][0])
            raise GraphError(
                f"seed node {bad} is not a row of '{seed_table}' (0..{n - 1}); "
                "map keys with RelGraph.key_to_node and drop the -1s"
            )
        cap = self._caps.get(seed_table)
        if cap is None:
            cap = self._caps[seed_table] = self.max_nodes_per_seed(seed_table)
        if cap * max(nodes.shape[0], 1) > _MAX_SLOTS:
            raise GraphError(
                f"fanouts {self.fanouts} can reach {cap} nodes per seed; "
                f"{nodes.shape[0]} seeds is too many for one batch — use smaller batches or fanouts"
            )
        if salts is None:
            salt = np.arange(nodes.shape[0], dtype=np.uint64)
        else:
            salt = np.ascontiguousarray(salts, dtype=np.uint64).reshape(-1)
            if salt.shape != nodes.shape:
                raise GraphError(f"{nodes.shape[0]} seed nodes but {salt.shape[0]} salts")
        mask = 0xFFFFFFFFFFFFFFFF
        if key is None:
            k64 = derive_key(np.uint64(self.seed & mask), np.uint64(self.calls_))
        else:
            k64 = mix64(np.uint64(key & mask))
        self.calls_ += 1
        st = g.type_index[seed_table]
        n_seeds = nodes.shape[0]
        n_types, n_et = len(g.node_types), len(g.edge_types)
        key64 = np.uint64(k64)
        # 1. Sample every seed's tree into its row of the buffers.
        out_type, out_node, out_parent, out_et, tree_time = (
            np.empty((n_seeds, cap), dtype=np.int64) for _ in range(5)
        )
        count = np.empty(n_seeds, dtype=np.int64)
        type_count = np.empty((n_seeds, n_types), dtype=np.int64)
        et_count = np.empty((n_seeds, n_et), dtype=np.int64)
        self._run_chunks(
            n_seeds,
            lambda a, b: sample_range(
                a, b, g.indptr_all, g.indices_all, g.nbr_time_all, self._et_src,
                g.indptr_offsets, g.indices_offsets, g.time_offsets, self._in_ptr, self._in_et,
                self._et_unit,
                self._type_timed, st, nodes, times, salt, self._fanouts,
                self.strategy == "recent", key64,
                out_type, out_node, out_parent, out_et, tree_time, count, type_count, et_count,
            ),
        )  # fmt: skip
        # 2. Offsets of every seed's nodes/edges in the outputs.
        type_start, type_total, type_base, et_start, et_total, et_base = plan_layout(
            type_count, et_count, st
        )
        # 3. Scatter into per-type node arrays and per-edge-type [2, E] blocks.
        out_nodes = np.empty(int(type_base[-1]), dtype=np.int64)
        out_batch = np.empty_like(out_nodes)
        out_time = np.empty_like(out_nodes)
        edges = np.empty(int(et_base[-1]), dtype=np.int64)
        self._run_chunks(
            n_seeds,
            lambda a, b: scatter_range(
                a, b, g.time_all, g.node_offsets, st, nodes, out_type, out_node, out_parent,
                out_et, tree_time, count, type_start, type_base, et_start, et_total, et_base,
                out_nodes, out_batch, out_time, edges,
            ),
        )  # fmt: skip
        return _to_batch(
            g, seed_table, n_seeds, times, out_nodes, out_batch, out_time, edges, type_total,
            et_total,
        )  # fmt: skip

    def _run_chunks(self, n: int, fn: Callable[[int, int], None]) -> None:
        """Run ``fn(a, b)`` over ``[0, n)`` in chunks; the kernels release the GIL."""
        chunk = min(_CHUNK, -(-n // self.num_threads))
        if self.num_threads == 1 or chunk >= n:
            fn(0, n)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.num_threads, thread_name_prefix="relgraph-sample")
        jobs = [self._pool.submit(fn, a, min(a + chunk, n)) for a in range(0, n, chunk)]
        for job in jobs:
            job.result()

    def close(self) -> None:
        """Stop the sampling threads (they also stop when the sampler is dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)


def seed_salts(nodes: Any, times: Any) -> npt.NDArray[np.uint64]:
    """Per-seed salts from (node, time): the seed's stream, whatever batch it is in."""
    n = np.asarray(nodes, dtype=np.int64).astype(np.uint64)
    t = np.asarray(to_seconds(times), dtype=np.int64).astype(np.uint64)
    # Two odd multipliers (splitmix64's): distinct (node, time) pairs rarely collide,
    # and the kernel scrambles the result again before drawing.
    with np.errstate(over="ignore"):
        return n * np.uint64(0x9E3779B97F4A7C15) ^ t * np.uint64(0xBF58476D1CE4E5B9)


def _to_batch(
    g: RelGraph,
    seed_table: str,
    num_seeds: int,
    seed_times: IntArray,
    nodes: IntArray,
    batch: IntArray,
    ntime: IntArray,
    edges: IntArray,
    type_total: IntArray,
    et_total: IntArray,
) -> Batch:
    t_nodes, t_batch, t_time = (torch.from_numpy(a) for a in (nodes, batch, ntime))
    t_edges = torch.from_numpy(edges)
    node_ids, bvec, ntimes = {}, {}, {}
    a = 0
    for i, t in enumerate(g.node_types):
        b = a + int(type_total[i])
        node_ids[t], bvec[t], ntimes[t] = t_nodes[a:b], t_batch[a:b], t_time[a:b]
        a = b
    edge_index = {}
    a = 0
    for e, et in enumerate(g.edge_types):
        m = int(et_total[e])
        edge_index[et] = t_edges[a : a + 2 * m].view(2, m)
        a += 2 * m
    return Batch(
        seed_table=seed_table,
        num_seeds=num_seeds,
        node_ids=node_ids,
        batch=bvec,
        node_time=ntimes,
        seed_time=torch.from_numpy(seed_times.copy()),
        edge_index=edge_index,
    )
