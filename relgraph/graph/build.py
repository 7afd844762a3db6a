"""Build a snapshot's record-level graph once, cache it as .npy, memory-map it after."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.errors import GraphError
from relgraph.graph.csr import fk_csr, reverse_fk_csr, time_order
from relgraph.graph.graph import EdgeType, IntArray, RelGraph
from relgraph.graph.keys import KeyIndex
from relgraph.graph.times import NO_TIME, arrow_to_seconds
from relgraph.store.atomic import clean_stale, staged_dir
from relgraph.store.snapshot import Snapshot

log = logging.getLogger(__name__)

# Bump when the on-disk layout changes: an old cache is then ignored, not misread.
GRAPH_FORMAT = 2
_FILES = ("time_all", "indptr_all", "indices_all", "nbr_time_all")
REVERSE_PREFIX = "rev_"
_BUILD_THREADS = 2


def _cache_root(snapshot: Snapshot) -> Path:
    return snapshot.cache_dir("graph") / f"v{GRAPH_FORMAT}"


def build_graph(snapshot: Snapshot, *, rebuild: bool = False) -> RelGraph:
    """The record-level graph of ``snapshot``, built on first use and memory-mapped after.

    Every row is a node (node ``i`` = row ``i`` of the table's Parquet file). Every
    foreign key ``t.c -> p`` gives edge types ``(t, c, p)`` and ``(p, "rev_" + c, t)``.
    Foreign-key values that match no primary key (dangling, NULL) give no edge;
    their count is kept in the cache manifest (``dangling``).

    Args:
        snapshot: the snapshot to read.
        rebuild: ignore an existing cache and build again.

    Raises:
        GraphError: a foreign key points at a table without a primary key, or a
            key/time column cannot be read.
    """
    root = _cache_root(snapshot)
    if not rebuild and (root / "manifest.json").is_file():
        try:
            return load_graph(snapshot, root)
        except (OSError, ValueError, KeyError) as e:
            log.warning("graph cache %s is unreadable (%s); rebuilding", root, e)
    t0 = time.perf_counter()
    arrays, meta = _build_arrays(snapshot)
    meta["build_seconds"] = round(time.perf_counter() - t0, 4)
    _save(root, arrays, meta)
    log.info("built graph of snapshot %s in %.2fs", snapshot.id[:12], meta["build_seconds"])
    # The in-memory copy goes before the files are mapped (else both count), and
    # pages are mapped lazily: a fresh build is often followed by little sampling.
    del arrays
    return load_graph(snapshot, root, prefault=False)


def load_graph(snapshot: Snapshot, root: Path | None = None, *, prefault: bool = True) -> RelGraph:
    """Open a cached graph with its arrays memory-mapped (no copy into memory).

    With ``prefault`` every page is mapped up front (see :func:`_prefault`).
    """
    root = root or _cache_root(snapshot)
    meta = json.loads((root / "manifest.json").read_text())
    if int(meta.get("format", -1)) != GRAPH_FORMAT or meta.get("snapshot") != snapshot.id:
        raise ValueError(f"graph cache {root} is for another format or snapshot")
    arrays = {name: np.load(root / f"{name}.npy", mmap_mode="r") for name in _FILES}
    if prefault:
        for a in arrays.values():
            _prefault(a)

    def load_keys(table: str, column: str) -> pa.Array:
        return snapshot.read_table(table, columns=[column]).column(0).combine_chunks()

    return RelGraph(
        node_types=meta["node_types"],
        num_nodes=meta["num_nodes"],
        edge_types=[tuple(e) for e in meta["edge_types"]],
        time_all=np.asarray(arrays["time_all"]),
        indptr_all=np.asarray(arrays["indptr_all"]),
        indices_all=np.asarray(arrays["indices_all"]),
        nbr_time_all=np.asarray(arrays["nbr_time_all"]),
        indptr_offsets=meta["indptr_offsets"],
        indices_offsets=meta["indices_offsets"],
        max_degree=meta["max_degree"],
        primary_keys=meta["primary_keys"],
        key_loader=load_keys,
        timed=meta["timed"],
    )


# Linux ≥ 5.14: fill the page tables of a mapping now, without copying the data.
_MADV_POPULATE_READ = 22


def _prefault(a: np.ndarray) -> None:
    """Map every page of a memory-mapped array up front.

    The sampler reads the arrays at random; left lazy, its first epoch takes a
    page fault on almost every read (measured: about a quarter of the time of 100 batches on the
    1M-user benchmark graph).
    Populating is one sequential pass, and on kernels without the flag it is skipped.
    """
    mm = getattr(a, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise"):
        return
    with contextlib.suppress(OSError, ValueError):
        mm.madvise(_MADV_POPULATE_READ)


def _save(root: Path, arrays: dict[str, IntArray], meta: dict[str, Any]) -> None:
    clean_stale(root.parent)
    if root.exists():
        # A stale or damaged cache: move it aside in one rename (readers that
        # still map its files keep them), then delete it.
        trash = root.parent / f".tmp-old-{uuid.uuid4().hex[:8]}"
        os.rename(root, trash)
        shutil.rmtree(trash, ignore_errors=True)
    with staged_dir(root) as tmp:
        for name in _FILES:
            np.save(tmp / f"{name}.npy", arrays[name], allow_pickle=False)
        # Written last: a folder with a manifest is a complete graph.
        (tmp / "manifest.json").write_text(json.dumps(meta, indent=1))


def _build_arrays(snapshot: Snapshot) -> tuple[dict[str, IntArray], dict[str, Any]]:
    schema = snapshot.schema
    node_types = snapshot.table_names
    num_nodes = {t: int(snapshot.manifest.row_counts[t]) for t in node_types}

    # 1. Read each table's foreign-key and time columns (only those).
    times: dict[str, IntArray] = {}
    timed: dict[str, bool] = {}
    fk_cols: dict[str, pa.Table] = {}
    for t in node_types:
        ts = schema.tables.get(t)
        cols = [fk.column for fk in ts.foreign_keys] if ts else []
        tcol = ts.time_column if ts else None
        read = [*cols, tcol] if tcol and tcol not in cols else cols
        tab = snapshot.read_table(t, columns=read) if read else None
        if tab is not None and tab.num_rows != num_nodes[t]:
            raise GraphError(
                f"table '{t}' has {tab.num_rows} rows but the manifest says {num_nodes[t]}; "
                "the snapshot is corrupt, ingest it again"
            )
        if tcol:
            assert tab is not None
            times[t] = arrow_to_seconds(tab.column(tcol), what=f"time column '{t}.{tcol}'")
            timed[t] = True
        else:
            times[t] = np.full(num_nodes[t], NO_TIME, dtype=np.int64)
            timed[t] = False
        if tab is not None and cols:
            fk_cols[t] = tab.select(cols)

    # 2. Map foreign-key values to parent rows.
    key_index: dict[str, KeyIndex] = {}
    links: list[tuple[str, str, str, IntArray]] = []
    dangling: dict[str, int] = {}
    for t in node_types:
        if t not in fk_cols:
            continue
        for fk in schema[t].foreign_keys:
            target = fk.target
            if target not in num_nodes:
                raise GraphError(
                    f"foreign key '{t}.{fk.column}' points at table '{target}', which is not in "
                    "the snapshot; fix the schema or add the table"
                )
            pk = schema[target].primary_key
            if pk is None:
                raise GraphError(
                    f"foreign key '{t}.{fk.column}' points at table '{target}', which has no "
                    "primary key; declare one in the schema"
                )
            if target not in key_index:
                keys = snapshot.read_table(target, columns=[pk]).column(0)
                key_index[target] = KeyIndex(target, pk, keys)
            dst = key_index[target].lookup(fk_cols[t].column(fk.column))
            dangling[f"{t}.{fk.column}"] = int(np.count_nonzero(dst < 0))
            links.append((t, fk.column, target, dst))

    # 3. Lay out both directions of every link in two flat arrays.
    edge_types: list[EdgeType] = []
    sizes: list[tuple[int, int]] = []
    for t, col, target, dst in links:
        n_valid = int(dst.shape[0]) - dangling[f"{t}.{col}"]
        edge_types.append((t, col, target))
        sizes.append((num_nodes[target] + 1, n_valid))
        edge_types.append((target, REVERSE_PREFIX + col, t))
        sizes.append((num_nodes[t] + 1, n_valid))
    ip_off = np.concatenate([[0], np.cumsum([a for a, _ in sizes], dtype=np.int64)])
    ix_off = np.concatenate([[0], np.cumsum([b for _, b in sizes], dtype=np.int64)])
    indptr_all = np.empty(int(ip_off[-1]), dtype=np.int64)
    indices_all = np.empty(int(ix_off[-1]), dtype=np.int64)
    nbr_time_all = np.empty(int(ix_off[-1]), dtype=np.int64)
    # The kernels release the GIL: the tables' time orders, then the links, are
    # built two at a time (the machine this targets has two cores).
    with ThreadPoolExecutor(max_workers=_BUILD_THREADS) as pool:
        order_jobs = {
            t: pool.submit(time_order, times[t]) for t in {t for t, _, _, _ in links} if timed[t]
        }
        # Per timed table: (rows in time order, their times in that order).
        by_time = {t: job.result() for t, job in order_jobs.items()}

        def lay_out(k: int) -> int:
            t, _col, target, dst = links[k]
            if t in by_time:
                order, sorted_time = by_time[t]
            else:  # no time column: row order, all NO_TIME
                order, sorted_time = np.arange(num_nodes[t], dtype=np.int64), times[t]
            f, r = 2 * k, 2 * k + 1
            ip = indptr_all[ip_off[f] : ip_off[f + 1]]
            ix, tx = (a[ix_off[f] : ix_off[f + 1]] for a in (indices_all, nbr_time_all))
            fk_csr(order, dst, num_nodes[target], sorted_time, ip, ix, tx)
            ip2 = indptr_all[ip_off[r] : ip_off[r + 1]]
            ix2, tx2 = (a[ix_off[r] : ix_off[r + 1]] for a in (indices_all, nbr_time_all))
            reverse_fk_csr(dst, times[target], timed[target], ip2, ix2, tx2)
            return int(np.diff(ip).max()) if ip.shape[0] > 1 else 0

        fwd_degree = list(pool.map(lay_out, range(len(links))))
    max_degree: list[int] = []
    for k in range(len(links)):
        max_degree += [fwd_degree[k], 1 if ix_off[2 * k + 2] > ix_off[2 * k + 1] else 0]

    time_all = (
        np.concatenate([times[t] for t in node_types]) if node_types else np.empty(0, np.int64)
    )
    meta: dict[str, Any] = {
        "format": GRAPH_FORMAT,
        "snapshot": snapshot.id,
        "node_types": node_types,
        "num_nodes": num_nodes,
        "edge_types": [list(e) for e in edge_types],
        "indptr_offsets": ip_off[:-1].tolist(),
        "indices_offsets": ix_off[:-1].tolist(),
        "max_degree": max_degree,
        "primary_keys": {t: (schema[t].primary_key if t in schema else None) for t in node_types},
        "dangling": dangling,
        "timed": {t: bool((times[t] != NO_TIME).any()) for t in node_types},
        "num_edges": int(indices_all.shape[0]),
    }
    arrays = {
        "time_all": time_all,
        "indptr_all": indptr_all,
        "indices_all": indices_all,
        "nbr_time_all": nbr_time_all,
    }
    return arrays, meta
