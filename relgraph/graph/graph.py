"""The record-level graph: one node per row, CSR per foreign key and direction."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
    indices: npt.NDArray[np.integer[Any]]
    times: IntArray

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    def degree(self) -> IntArray:
        return np.diff(self.indptr)

    def __repr__(self) -> str:
        return f"CSR(num_dst={self.indptr.shape[0] - 1}, num_edges={self.num_edges})"


def node_id_dtype(num_nodes: Mapping[str, int]) -> type[np.signedinteger[Any]]:
    """Neighbour ids are stored as int32 while every table has fewer than 2^31 rows.

    Half the bytes of int64: a smaller graph cache to write and to map.
    """
    return np.int32 if max(num_nodes.values(), default=0) < 2**31 else np.int64


def _readonly(a: npt.NDArray[Any], dtype: Any = np.int64) -> npt.NDArray[Any]:
    # One dtype/layout/readonly combination for every array the sampler sees,
    # whether built in memory or memory-mapped: numba then compiles once.
    a = np.ascontiguousarray(a, dtype=dtype)
    a.flags.writeable = False
    return a


class _CSRViews(Mapping[EdgeType, CSR]):
    """``graph.csr[edge_type]``: the CSR view of one edge type, made on first use.

    Lazily, because the parts the cache leaves out (the identity ``indptr`` of
    a child -> parent edge type, the all-``NO_TIME`` times of an untimed source
    table) are materialised here, only when someone asks.
    """

    def __init__(self, graph: RelGraph) -> None:
        self._g = graph
        self._views: dict[EdgeType, CSR] = {}

    def __getitem__(self, et: EdgeType) -> CSR:
        view = self._views.get(et)
        if view is None:
            view = self._views[et] = self._g._csr_view(self._g.edge_index[et])
        return view

    def __iter__(self) -> Iterator[EdgeType]:
        return iter(self._g.edge_types)

    def __len__(self) -> int:
        return len(self._g.edge_types)


class RelGraph:
    """Heterogeneous graph of a snapshot: tables are node types, rows are nodes.

    All CSR arrays of all edge types live in three flat arrays (``indptr_all``,
    ``indices_all`` and the neighbours' times ``nbr_time_all``) and all node
    times in one (``time_all``); the public ``csr``/``node_time`` mappings are
    views into them. One flat layout is what the compiled sampler reads, and it
    memory-maps as four files.

    Two parts are left out because they say nothing: the ``indptr`` of an
    *identity* edge type (every destination has exactly one neighbour — a
    foreign key without NULLs, seen from the child — so ``indptr`` would be
    ``0, 1, 2, ...``), and the neighbour times of an edge type whose source table
    has no times (all ``NO_TIME``). ``indptr_offsets``/``time_offsets`` then point
    at an empty slice. On the benchmark graph this halves the cache.

    Attributes:
        node_types: table names.
        num_nodes: rows per table; node ``i`` is row ``i`` of the table's Parquet.
        node_time: seconds since the epoch per node (``NO_TIME``/``UNKNOWN_TIME``).
        edge_types: ``(src_table, relation, dst_table)``; a foreign key
            ``results.driverId -> drivers`` gives ``("results", "driverId", "drivers")``
            and ``("drivers", "rev_driverId", "results")``.
        csr: per edge type, the incoming neighbours (sources) of each destination.
        identity: per edge type (in ``edge_types`` order), whether its ``indptr``
            is the identity and not stored.
    """

    def __init__(
        self,
        *,
        node_types: Sequence[str],
        num_nodes: Mapping[str, int],
        edge_types: Sequence[EdgeType],
        time_all: IntArray,
        indptr_all: IntArray,
        indices_all: npt.NDArray[np.integer[Any]],
        nbr_time_all: IntArray,
        indptr_offsets: Sequence[int] | IntArray,
        indices_offsets: Sequence[int] | IntArray,
        time_offsets: Sequence[int] | IntArray,
        identity: Sequence[bool],
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
        self.indices_all = _readonly(indices_all, node_id_dtype(self.num_nodes))
        self.nbr_time_all = _readonly(nbr_time_all)
        self.type_index = {t: i for i, t in enumerate(self.node_types)}
        self.edge_index = {e: i for i, e in enumerate(self.edge_types)}
        counts = np.array([self.num_nodes[t] for t in self.node_types], dtype=np.int64)
        self.node_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.indptr_offsets = np.asarray(indptr_offsets, dtype=np.int64)
        self.indices_offsets = np.asarray(indices_offsets, dtype=np.int64)
        self.time_offsets = np.asarray(time_offsets, dtype=np.int64)
        self.identity = np.asarray(identity, dtype=np.bool_)
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
        # sampler skips time lookups for untimed tables, and their edges store no times.
        self.timed: dict[str, bool] = (
            {t: bool(timed[t]) for t in self.node_types}
            if timed is not None
            else {t: bool((self.node_time[t] != NO_TIME).any()) for t in self.node_types}
        )
        self.edge_counts = np.array(
            [self._count_edges(e) for e in range(len(self.edge_types))], dtype=np.int64
        )
        for e, et in enumerate(self.edge_types):
            i0, t0, n = self.indices_offsets[e], self.time_offsets[e], self.edge_counts[e]
            times_end = t0 + n if self.timed[et[0]] else t0
            if i0 + n > self.indices_all.shape[0] or times_end > self.nbr_time_all.shape[0]:
                raise GraphError(
                    f"graph arrays are inconsistent: edge type {et} reaches past the stored "
                    "neighbours; delete the graph cache and rebuild"
                )
        self.csr: Mapping[EdgeType, CSR] = _CSRViews(self)

    def _count_edges(self, e: int) -> int:
        n_dst = self.num_nodes[self.edge_types[e][2]]
        if self.identity[e]:
            return n_dst
        end = int(self.indptr_offsets[e]) + n_dst
        if end >= self.indptr_all.shape[0]:
            raise GraphError(
                f"graph arrays are inconsistent: edge type {self.edge_types[e]} has no offsets; "
                "delete the graph cache and rebuild"
            )
        return int(self.indptr_all[end])

    def _csr_view(self, e: int) -> CSR:
        et = self.edge_types[e]
        n_dst, n = self.num_nodes[et[2]], int(self.edge_counts[e])
        if self.identity[e]:
            indptr = _readonly(np.arange(n_dst + 1, dtype=np.int64))
        else:
            p0 = int(self.indptr_offsets[e])
            indptr = self.indptr_all[p0 : p0 + n_dst + 1]
        i0, t0 = int(self.indices_offsets[e]), int(self.time_offsets[e])
        times = (
            self.nbr_time_all[t0 : t0 + n]
            if self.timed[et[0]]
            else np.broadcast_to(np.int64(NO_TIME), (n,))
        )
        return CSR(indptr=indptr, indices=self.indices_all[i0 : i0 + n], times=times)

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
        timed = {t: bool((a != NO_TIME).any()) for t, a in times.items()}
        parts: list[tuple[IntArray | None, npt.NDArray[Any], IntArray | None]] = []
        max_degree = []
        for k, et in enumerate(edge_types):
            s, d = pairs[k]
            n_dst = int(num_nodes[et[2]])
            ip = np.empty(n_dst + 1, dtype=np.int64)
            ix = np.empty(s.shape[0], dtype=node_id_dtype(num_nodes))
            tx = np.empty(s.shape[0], dtype=np.int64)
            build_csr(s, d, n_dst, times[et[0]], ip, ix, tx)
            deg = int(np.diff(ip).max()) if n_dst else 0
            max_degree.append(deg)
            is_identity = ix.shape[0] == n_dst and deg == 1
            parts.append((None if is_identity else ip, ix, tx if timed[et[0]] else None))
        empty = np.empty(0, dtype=np.int64)

        def flat(arrays: Sequence[npt.NDArray[Any] | None]) -> tuple[npt.NDArray[Any], IntArray]:
            sizes = [0 if a is None else a.shape[0] for a in arrays]
            offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
            stored = [a for a in arrays if a is not None]
            return (np.concatenate(stored) if stored else empty), offsets[:-1]

        indptr_all, ip_off = flat([p[0] for p in parts])
        indices_all, ix_off = flat([p[1] for p in parts])
        nbr_time_all, tx_off = flat([p[2] for p in parts])
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
            indptr_offsets=ip_off,
            indices_offsets=ix_off,
            time_offsets=tx_off,
            identity=[p[0] is None for p in parts],
            max_degree=max_degree,
            primary_keys={t: "key" for t in key_map},
            key_loader=lambda t, _c: key_map[t],
            timed=timed,
        )


__all__ = ["CSR", "NO_TIME", "UNKNOWN_TIME", "EdgeType", "RelGraph"]
