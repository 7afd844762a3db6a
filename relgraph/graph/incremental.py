"""Extend the parent snapshot's cached graph by the rows a delta snapshot appended.

When a snapshot is its parent plus rows at the end of some tables
(:func:`relgraph.store.delta.appended_rows`), every old node keeps its id (row
``i`` stays row ``i``) and every old edge stays. What changes, per foreign key:

* the parent -> children CSR: each parent's list gains its new children, merged
  in (time, row) order — the order the full build's stable sort gives;
* the child -> parent CSR: new rows' entries are appended (a linear pass);
* an old row whose key matched no parent before may match a new parent now: it
  gains its edge in both directions, as a full build would give it.

Only the new rows are read from the snapshot (the delta's Parquet parts), plus the
target tables' key columns; the old graph is read from its memory-mapped cache.
The result is written into a staged folder renamed into place (as a full build):
a build killed midway leaves the parent's graph and no half-written child.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from numba import njit

from relgraph import cancel
from relgraph.graph.csr import reverse_fk_csr
from relgraph.graph.graph import RelGraph, node_id_dtype
from relgraph.graph.keys import KeyIndex
from relgraph.graph.times import NO_TIME, arrow_to_seconds
from relgraph.store.snapshot import Snapshot

REVERSE_PREFIX = "rev_"


class NotIncremental(Exception):
    """The child cannot be had from the parent's graph; build it in full."""


def read_rows_from(snap: Snapshot, table: str, start: int, columns: list[str]) -> pa.Table:
    """Rows ``start ..`` of ``table``, reading only the files (parts) that hold them."""
    out: list[pa.Table] = []
    offset = 0
    for path in snap.table_paths(table):
        n = pq.read_metadata(path).num_rows
        if offset + n > start:
            out.append(pq.read_table(path, columns=columns).slice(max(start - offset, 0)))
        offset += n
    if not out:
        return pq.read_table(snap.table_paths(table)[-1], columns=columns).slice(0, 0)
    return pa.concat_tables(out)


@njit(cache=True, nogil=True)
def _merge_forward(
    old_ip: npt.NDArray[np.int64],
    old_ix: npt.NDArray[Any],
    old_tx: npt.NDArray[np.int64],
    add_ip: npt.NDArray[np.int64],
    add_ix: npt.NDArray[np.int64],
    add_t: npt.NDArray[np.int64],
    n_old_parents: int,
    with_time: bool,
    out_ip: npt.NDArray[np.int64],
    out_ix: npt.NDArray[Any],
    out_tx: npt.NDArray[np.int64],
) -> None:  # pragma: no cover - compiled
    """Each parent's old children and its added ones (both in (time, row) order), merged.

    Without ``with_time`` every time is NO_TIME and the row alone orders them.
    """
    n = out_ip.shape[0] - 1
    out_ip[0] = 0
    m = 0
    for p in range(n):
        i, i_end = 0, 0
        if p < n_old_parents:
            i, i_end = old_ip[p], old_ip[p + 1]
        k, k_end = add_ip[p], add_ip[p + 1]
        if k == k_end:  # nothing added: the old list as it is
            for q in range(i, i_end):
                out_ix[m] = old_ix[q]
                if with_time:
                    out_tx[m] = old_tx[q]
                m += 1
        else:
            while i < i_end or k < k_end:
                take_old = k >= k_end
                if i < i_end and k < k_end:
                    to = old_tx[i] if with_time else NO_TIME
                    # Earlier time first; at equal times the lower row (a stable sort).
                    same = to == add_t[k]
                    take_old = np.int64(old_ix[i]) < add_ix[k] if same else to < add_t[k]
                if take_old:
                    out_ix[m] = old_ix[i]
                    if with_time:
                        out_tx[m] = old_tx[i]
                    i += 1
                else:
                    out_ix[m] = add_ix[k]
                    if with_time:
                        out_tx[m] = add_t[k]
                    k += 1
                m += 1
        out_ip[p + 1] = m


def extend_arrays(
    parent: Snapshot,
    old: RelGraph,
    old_meta: dict[str, Any],
    child: Snapshot,
    base_rows: dict[str, int],
    alloc: Any,
) -> dict[str, Any]:
    """The child's graph arrays (through ``alloc``, as the full build) and its manifest."""
    schema = child.schema
    node_types = child.table_names
    if node_types != list(old_meta["node_types"]):
        raise NotIncremental("tables differ")
    num_nodes = {t: int(child.manifest.row_counts[t]) for t in node_types}
    id_dtype = node_id_dtype(num_nodes)
    if id_dtype != node_id_dtype(old.num_nodes):
        raise NotIncremental("node ids need a wider type now")
    # 1. Node times: the old ones, then the new rows' times.
    new_rows: dict[str, pa.Table] = {}
    new_times: dict[str, npt.NDArray[np.int64]] = {}
    for t in node_types:
        cancel.check()
        ts = schema.tables.get(t)
        cols = [fk.column for fk in ts.foreign_keys] if ts else []
        tcol = ts.time_column if ts else None
        read = [*cols, tcol] if tcol and tcol not in cols else cols
        grown = num_nodes[t] - base_rows[t]
        tab = read_rows_from(child, t, base_rows[t], read) if read and grown else None
        if tcol and tab is not None:
            new_times[t] = np.concatenate(
                [np.zeros(0, np.int64)]
                + [
                    arrow_to_seconds(c, what=f"time column '{t}.{tcol}'")
                    for c in tab.column(tcol).chunks
                ]
            )
        else:
            new_times[t] = np.full(grown, NO_TIME, dtype=np.int64)
        if tab is not None:
            new_rows[t] = tab
    timed = {
        t: bool(old_meta["timed"][t]) or bool((new_times[t] != NO_TIME).any()) for t in node_types
    }
    if timed != {t: bool(v) for t, v in old_meta["timed"].items()}:
        raise NotIncremental("a table gained its first times")
    time_all = alloc("time_all", sum(num_nodes.values()), np.int64)
    times: dict[str, npt.NDArray[np.int64]] = {}
    start = 0
    for t in node_types:
        times[t] = time_all[start : start + num_nodes[t]]
        times[t][: base_rows[t]] = old.node_time[t]
        times[t][base_rows[t] :] = new_times[t]
        start += num_nodes[t]

    # 2. Per link: the children's parent rows, old (from the old reverse CSR) and new.
    key_index: dict[str, KeyIndex] = {}
    links: list[tuple[str, str, str, npt.NDArray[Any], npt.NDArray[np.int64]]] = []
    dangling: dict[str, int] = {}
    for t in node_types:
        if t not in schema.tables:
            continue
        for fk in schema[t].foreign_keys:
            cancel.check()
            target = fk.target
            pk = schema[target].primary_key
            if pk is None:
                raise NotIncremental("a link without a primary key")
            n_old, n_new = base_rows[t], num_nodes[t]
            e_rev = old.edge_index[(target, REVERSE_PREFIX + fk.column, t)]
            i0 = int(old.indices_offsets[e_rev])
            rev_ix = old.indices_all[i0 : i0 + int(old.edge_counts[e_rev])]
            dst = np.empty(n_new, dtype=id_dtype)  # every entry is set below
            if old.identity[e_rev]:  # every old row had its parent: no indptr to read
                dst[:n_old] = rev_ix
            else:
                p0 = int(old.indptr_offsets[e_rev])
                dst[:n_old] = -1
                dst[:n_old][np.diff(old.indptr_all[p0 : p0 + n_old + 1]) > 0] = rev_ix
            grew = num_nodes[target] > base_rows[target]
            need_keys = n_new > n_old or (grew and old_meta["dangling"][f"{t}.{fk.column}"])
            if need_keys and target not in key_index:
                keys = child.read_table(target, columns=[pk]).column(0)
                key_index[target] = KeyIndex(target, pk, keys)
            if n_new > n_old:
                dst[n_old:] = key_index[target].lookup(new_rows[t].column(fk.column), id_dtype)
            rematched = np.zeros(0, dtype=np.int64)
            if grew and old_meta["dangling"][f"{t}.{fk.column}"]:
                # Old rows whose key had no parent: a new parent may hold it now.
                lost = np.flatnonzero(dst[:n_old] < 0)
                values = child.read_table(t, columns=[fk.column]).column(0).take(pa.array(lost))
                found = key_index[target].lookup(values, id_dtype)
                dst[lost] = found
                rematched = lost[found >= 0].astype(np.int64)
            added = np.concatenate([rematched, np.arange(n_old, n_new, dtype=np.int64)])
            added = added[dst[added] >= 0]
            links.append((t, fk.column, target, dst, added))
            dangling[f"{t}.{fk.column}"] = int(np.count_nonzero(dst < 0))
    edge_types = [tuple(e) for e in old_meta["edge_types"]]
    expect = [e for t, c, p, *_ in links for e in ((t, c, p), (p, REVERSE_PREFIX + c, t))]
    if expect != edge_types:
        raise NotIncremental("links differ")

    # 3. Sizes and offsets, laid out as the full build does.
    sizes: list[tuple[int, int, int]] = []
    identity: list[bool] = []
    for t, col, target, dst, _added in links:
        n_valid = int(dst.shape[0]) - dangling[f"{t}.{col}"]
        sizes.append((num_nodes[target] + 1, n_valid, n_valid if timed[t] else 0))
        identity.append(False)
        is_identity = n_valid == num_nodes[t]
        sizes.append(
            (0 if is_identity else num_nodes[t] + 1, n_valid, n_valid if timed[target] else 0)
        )
        identity.append(is_identity)
    ip_off, ix_off, tx_off = (
        np.concatenate([[0], np.cumsum([size[i] for size in sizes], dtype=np.int64)])
        for i in range(3)
    )
    indptr_all = alloc("indptr_all", int(ip_off[-1]), np.int64)
    indices_all = alloc("indices_all", int(ix_off[-1]), id_dtype)
    nbr_time_all = alloc("nbr_time_all", int(tx_off[-1]), np.int64)

    def parts(e: int) -> tuple[npt.NDArray[Any], ...]:
        return (
            indptr_all[ip_off[e] : ip_off[e + 1]],
            indices_all[ix_off[e] : ix_off[e + 1]],
            nbr_time_all[tx_off[e] : tx_off[e + 1]],
        )

    # 4. Fill: forward lists merged, reverse lists laid out again (one linear pass).
    max_degree: list[int] = []
    for k, (t, col, target, dst, added) in enumerate(links):
        cancel.check()
        fwd_old = old.csr[(t, col, target)]
        old_tx = np.asarray(fwd_old.times) if timed[t] else np.zeros(0, np.int64)
        d_add = dst[added].astype(np.int64)
        t_add = times[t][added] if timed[t] else np.full(added.shape[0], NO_TIME, np.int64)
        order = np.lexsort((added, t_add, d_add))
        add_ip = np.zeros(num_nodes[target] + 1, dtype=np.int64)
        np.cumsum(np.bincount(d_add, minlength=num_nodes[target]), out=add_ip[1:])
        ip, ix, tx = parts(2 * k)
        _merge_forward(
            np.asarray(fwd_old.indptr), np.asarray(fwd_old.indices), old_tx, add_ip,
            added[order], t_add[order], base_rows[target], timed[t], ip, ix, tx,
        )  # fmt: skip
        reverse_fk_csr(dst, times[target], *parts(2 * k + 1))
        fwd = int(np.diff(ip).max()) if ip.shape[0] > 1 else 0
        max_degree += [fwd, 1 if ix_off[2 * k + 2] > ix_off[2 * k + 1] else 0]

    return {
        "format": old_meta["format"],
        "snapshot": child.id,
        "node_types": node_types,
        "num_nodes": num_nodes,
        "edge_types": [list(e) for e in edge_types],
        "indptr_offsets": ip_off[:-1].tolist(),
        "indices_offsets": ix_off[:-1].tolist(),
        "time_offsets": tx_off[:-1].tolist(),
        "identity": identity,
        "max_degree": max_degree,
        "primary_keys": {t: (schema[t].primary_key if t in schema else None) for t in node_types},
        "dangling": dangling,
        "timed": timed,
        "num_edges": int(indices_all.shape[0]),
        "extended_from": parent.id,
    }
