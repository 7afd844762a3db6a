"""The record-level graph: one node per row, CSR per foreign key and direction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from relgraph.errors import GraphError
from relgraph.graph.csr import build_csr
from relgraph.graph.keys import KeyIndex
from relgraph.graph.times import NO_TIME, UNKNOWN_TIME

IntArray = npt.NDArray[np.int64]
EdgeType = tuple[str, str, str]


@dataclass(frozen=True)
class CSR:
    """Incoming neighbours of every destination node of one edge type.

    ``indices[indptr[i]:indptr[i+1]]`` are the source nodes that send messages
    to destination node ``i``, sorted by the source node's time (ties keep row
    order), so the part visible at time ``t`` is a prefix found by binary search.
    ``times`` holds each neighbour's time, aligned with ``indices`` (the search
    then reads contiguous memory instead of one random node time per probe).
    """

    indptr: IntArray
    indices: IntArray
    times: IntArray

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    def degree(self) -> IntArray:
        return np.diff(self.indptr)

    def __repr__(self) -> str:
        return f"CSR(num_dst={self.indptr.shape[0] - 1}, num_edges={self.num_edges})"


def _readonly(a: IntArray) -> IntArray:
    # One dtype/layout/readonly combination for every array the sampler sees,
    # whether built in memory or memory-mapped: numba then compiles once.
    a = np.ascontiguousarray(a, dtype=np.int64)
    a.flags.writeable = False
    return a


class RelGraph:
    """Heterogeneous graph of a snapshot: tables are node types, rows are nodes.

    All CSR arrays of all edge types live in three flat int64 arrays (``indptr_all``,
    ``indices_all`` and the neighbours' times ``nbr_time_all``, aligned with
    ``indices_all``) and all node times in one (``time_all``); the public
    ``csr``/``node_time`` dicts are views into them. One flat layout is what the
    compiled sampler reads, and it memory-maps as four files.

    Attributes:
        node_types: table names.
        num_nodes: rows per table; node ``i`` is row ``i`` of the table's Parquet.
        node_time: seconds since the epoch per node (``NO_TIME``/``UNKNOWN_TIME``).
        edge_types: ``(src_table, relation, dst_table)``; a foreign key
            ``results.driverId -> drivers`` gives ``("results", "driverId", "drivers")``
            and ``("drivers", "rev_driverId", "results")``.
        csr: per edge type, the incoming neighbours (sources) of each destination.
    """

    def __init__(
        self,
        *,
        node_types: Sequence[str],
        num_nodes: Mapping[str, int],
        edge_types: Sequence[EdgeType],
        time_all: IntArray,
        indptr_all: IntArray,
        indices_all: IntArray,
        nbr_time_all: IntArray,
        indptr_offsets: Sequence[int] | IntArray,
        indices_offsets: Sequence[int] | IntArray,
        max_degree: Sequence[int],
        primary_keys: Mapping[str, str | None] | None = None,
        key_loader: Callable[[str, str], pa.Array] | None = None,
        timed: Mapping[str, bool] | None = None,
    ) -> None:
        self.node_types = list(node_types)
        self.num_nodes = {t: int(num_nodes[t]) for t in self.node_types}
        self.edge_types: list[EdgeType] = [tuple(e) for e in edge_types]  # type: ignore[misc]
        self.time_all = _readonly(time_all)
        self.indptr_all = _readonly(indptr_all)
        self.indices_all = _readonly(indices_all)
        self.type_index = {t: i for i, t in enumerate(self.node_types)}
        self.edge_index = {e: i for i, e in enumerate(self.edge_types)}
        counts = np.array([self.num_nodes[t] for t in self.node_types], dtype=np.int64)
        self.node_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.indptr_offsets = np.asarray(indptr_offsets, dtype=np.int64)
        self.indices_offsets = np.asarray(indices_offsets, dtype=np.int64)
        self.max_degree = np.asarray(max_degree, dtype=np.int64)
        self.primary_keys = dict(primary_keys or {})
        self._key_loader = key_loader
        self._key_index: dict[str, KeyIndex] = {}
        if self.time_all.shape[0] != self.node_offsets[-1]:
            raise GraphError(
                f"graph arrays are inconsistent: {self.time_all.shape[0]} node times "
                f"for {int(self.node_offsets[-1])} nodes; delete the graph cache and rebuild"
            )
        self.node_time: dict[str, IntArray] = {
            t: self.time_all[self.node_offsets[i] : self.node_offsets[i + 1]]
            for i, t in enumerate(self.node_types)
        }
        # Whether a table has any time at all (else every node is NO_TIME): the
        # sampler skips time lookups for untimed tables.
        self.timed: dict[str, bool] = (
            {t: bool(timed[t]) for t in self.node_types}
            if timed is not None
            else {t: bool((self.node_time[t] != NO_TIME).any()) for t in self.node_types}
        )
        if nbr_time_all.shape != self.indices_all.shape:
            raise GraphError(
                f"graph arrays are inconsistent: {nbr_time_all.shape[0]} neighbour times for "
                f"{self.indices_all.shape[0]} neighbours; delete the graph cache and rebuild"
            )
        self.nbr_time_all = _readonly(nbr_time_all)
        self.csr: dict[EdgeType, CSR] = {}
        for k, et in enumerate(self.edge_types):
            n_dst = self.num_nodes[et[2]]
            p0 = int(self.indptr_offsets[k])
            indptr = self.indptr_all[p0 : p0 + n_dst + 1]
            i0 = int(self.indices_offsets[k])
            sl = slice(i0, i0 + int(indptr[-1]))
            self.csr[et] = CSR(
                indptr=indptr, indices=self.indices_all[sl], times=self.nbr_time_all[sl]
            )

    def __repr__(self) -> str:
        return (
            f"RelGraph(node_types={len(self.node_types)}, nodes={int(self.node_offsets[-1])}, "
            f"edge_types={len(self.edge_types)}, edges={self.num_edges})"
        )

    @property
    def num_edges(self) -> int:
        return int(self.indices_all.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the graph's arrays (CSR with neighbour times, and node times)."""
        return int(
            self.time_all.nbytes
            + self.indptr_all.nbytes
            + self.indices_all.nbytes
            + self.nbr_time_all.nbytes
        )

    def incoming(self, node_type: str) -> list[EdgeType]:
        """Edge types whose destination is ``node_type`` (what a frontier node expands along)."""
        return [e for e in self.edge_types if e[2] == node_type]

    def key_to_node(self, table: str, keys: Any) -> IntArray:
        """Node index of each primary-key value of ``table`` (-1 for unknown keys).

        Example:
            >>> g = RelGraph.from_edges({"u": 2}, edges={}, keys={"u": pa.array(["a", "b"])})
            >>> g.key_to_node("u", ["b", "zz"]).tolist()
            [1, -1]
        """
        return self._keys(table).lookup(keys)

    def _keys(self, table: str) -> KeyIndex:
        if table not in self.type_index:
            raise GraphError(f"unknown table '{table}'; tables: {', '.join(self.node_types)}")
        if table not in self._key_index:
            pk = self.primary_keys.get(table)
            if pk is None or self._key_loader is None:
                raise GraphError(
                    f"table '{table}' has no primary key, so its rows cannot be found by key; "
                    "declare a primary key in the schema"
                )
            self._key_index[table] = KeyIndex(table, pk, self._key_loader(table, pk))
        return self._key_index[table]

    @classmethod
    def from_edges(
        cls,
        num_nodes: Mapping[str, int],
        edges: Mapping[EdgeType, tuple[Any, Any]],
        *,
        node_time: Mapping[str, Any] | None = None,
        keys: Mapping[str, pa.Array] | None = None,
    ) -> RelGraph:
        """Build a graph in memory from explicit ``(src, dst)`` node-id arrays per edge type.

        Tables missing from ``node_time`` get ``NO_TIME``. Each edge type is taken
        as given (add the reverse yourself if you want one). Useful for tests and
        synthetic benchmarks; :func:`relgraph.graph.build_graph` reads a snapshot.
        """
        node_types = list(num_nodes)
        times = {
            t: (
                np.asarray(node_time[t], dtype=np.int64)
                if node_time is not None and t in node_time
                else np.full(int(num_nodes[t]), NO_TIME, dtype=np.int64)
            )
            for t in node_types
        }
        for t, a in times.items():
            if a.shape != (int(num_nodes[t]),):
                raise GraphError(
                    f"node_time['{t}'] has {a.shape[0]} values for {num_nodes[t]} nodes"
                )
        edge_types = list(edges)
        pairs = []
        for et in edge_types:
            s, d = (np.asarray(x, dtype=np.int64) for x in edges[et])
            for name, a, t in (("src", s, et[0]), ("dst", d, et[2])):
                if t not in num_nodes:
                    raise GraphError(f"edge type {et} names unknown node type '{t}'")
                if a.size and (a.min() < 0 or a.max() >= num_nodes[t]):
                    raise GraphError(f"edge type {et}: {name} ids out of range for '{t}'")
            pairs.append((s, d))
        sizes = [
            (int(num_nodes[et[2]]) + 1, int(s.shape[0]))
            for et, (s, _) in zip(edge_types, pairs, strict=True)
        ]
        ip_off = np.concatenate([[0], np.cumsum([a for a, _ in sizes])]).astype(np.int64)
        ix_off = np.concatenate([[0], np.cumsum([b for _, b in sizes])]).astype(np.int64)
        indptr_all = np.empty(int(ip_off[-1]), dtype=np.int64)
        indices_all = np.empty(int(ix_off[-1]), dtype=np.int64)
        nbr_time_all = np.empty(int(ix_off[-1]), dtype=np.int64)
        max_degree = []
        for k, et in enumerate(edge_types):
            s, d = pairs[k]
            ip = indptr_all[ip_off[k] : ip_off[k + 1]]
            ix = indices_all[ix_off[k] : ix_off[k + 1]]
            tx = nbr_time_all[ix_off[k] : ix_off[k + 1]]
            build_csr(s, d, int(num_nodes[et[2]]), times[et[0]], ip, ix, tx)
            max_degree.append(int(np.diff(ip).max()) if ip.shape[0] > 1 else 0)
        time_all = (
            np.concatenate([times[t] for t in node_types]) if node_types else np.empty(0, np.int64)
        )
        key_map = dict(keys or {})
        return cls(
            node_types=node_types,
            num_nodes=num_nodes,
            edge_types=edge_types,
            time_all=time_all.astype(np.int64),
            indptr_all=indptr_all,
            indices_all=indices_all,
            nbr_time_all=nbr_time_all,
            indptr_offsets=ip_off[:-1],
            indices_offsets=ix_off[:-1],
            max_degree=max_degree,
            primary_keys={t: "key" for t in key_map},
            key_loader=lambda t, _c: key_map[t],
        )


__all__ = ["CSR", "NO_TIME", "UNKNOWN_TIME", "EdgeType", "RelGraph"]
