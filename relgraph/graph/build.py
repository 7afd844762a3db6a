"""Build a snapshot's record-level graph once, cache it as .npy, memory-map it after."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from relgraph import cancel
from relgraph.errors import GraphError, StoreError
from relgraph.graph.csr import fk_csr, reverse_fk_csr, sort_scratch
from relgraph.graph.graph import EdgeType, IntArray, RelGraph, node_id_dtype
from relgraph.graph.incremental import NotIncremental, extend_arrays
from relgraph.graph.keys import KeyIndex
from relgraph.graph.times import NO_TIME, arrow_to_seconds
from relgraph.store.atomic import clean_stale, staged_dir
from relgraph.store.delta import appended_rows
from relgraph.store.snapshot import Snapshot

log = logging.getLogger(__name__)

# Bump when the on-disk layout changes: an old cache is then ignored, not misread.
GRAPH_FORMAT = 3
_FILES = ("time_all", "indptr_all", "indices_all", "nbr_time_all")
REVERSE_PREFIX = "rev_"
_BUILD_THREADS = 2
_HEX_ID = re.compile(r"^[0-9a-f]{8,64}$")


def _cache_root(snapshot: Snapshot) -> Path:
    return snapshot.cache_dir("graph") / f"v{GRAPH_FORMAT}"


def build_graph(snapshot: Snapshot, *, rebuild: bool = False, incremental: bool = True) -> RelGraph:
    """The record-level graph of ``snapshot``, built on first use and memory-mapped after.

    Every row is a node (node ``i`` = row ``i`` of the table's Parquet file). Every
    foreign key ``t.c -> p`` gives edge types ``(t, c, p)`` and ``(p, "rev_" + c, t)``.
    Foreign-key values that match no primary key (dangling, NULL) give no edge;
    their count is kept in the cache manifest (``dangling``).

    Args:
        snapshot: the snapshot to read.
        rebuild: ignore an existing cache and build again, in full.
        incremental: when the snapshot is its parent plus appended rows and the
            parent's graph is cached, extend that graph (relgraph.graph.incremental;
            the result equals a full build) instead of building from scratch.

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
    if incremental and not rebuild:
        extended = _extend_parent(snapshot, root)
        if extended is not None:
            return extended
    t0 = time.perf_counter()
    _discard(root)
    with staged_dir(root) as tmp:
        # The kernels write straight into the cache files (mapped): no second
        # copy in memory and no write pass at the end.
        meta = _build_arrays(
            snapshot, lambda name, n, dtype: _file_array(tmp / f"{name}.npy", n, dtype)
        )
        meta["build_seconds"] = round(time.perf_counter() - t0, 4)
        # Written last: a folder with a manifest is a complete graph.
        (tmp / "manifest.json").write_text(json.dumps(meta, indent=1))
    log.info("built graph of snapshot %s in %.2fs", snapshot.id[:12], meta["build_seconds"])
    # Pages are mapped lazily: a fresh build is often followed by little sampling.
    return load_graph(snapshot, root, prefault=False)


def _extend_parent(snapshot: Snapshot, root: Path) -> RelGraph | None:
    """The graph of ``snapshot`` extended from its parent's cached one; None when it cannot be."""
    pid = snapshot.manifest.parent
    if not isinstance(pid, str) or not _HEX_ID.match(pid):
        return None
    try:
        parent = Snapshot(snapshot.path.parent / pid)
    except StoreError:
        return None  # the parent is gone (gc) or unreadable: build in full
    base = appended_rows(parent, snapshot)
    proot = _cache_root(parent)
    if base is None or not (proot / "manifest.json").is_file():
        return None
    try:
        old = load_graph(parent, proot, prefault=False)
        old_meta = json.loads((proot / "manifest.json").read_text())
    except (OSError, ValueError, KeyError, GraphError) as e:
        log.info("parent graph %s unusable (%s): building in full", proot, e)
        return None
    t0 = time.perf_counter()
    _discard(root)
    try:
        with staged_dir(root) as tmp:
            meta = extend_arrays(
                parent,
                old,
                old_meta,
                snapshot,
                base,
                lambda name, n, dtype: _file_array(tmp / f"{name}.npy", n, dtype),
            )
            meta["build_seconds"] = round(time.perf_counter() - t0, 4)
            (tmp / "manifest.json").write_text(json.dumps(meta, indent=1))
    except NotIncremental as e:
        log.info("graph of %s not extendable (%s): building in full", snapshot.id[:12], e)
        return None
    log.info(
        "extended graph of %s to %s in %.2fs", pid[:12], snapshot.id[:12], meta["build_seconds"]
    )
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
        time_offsets=meta["time_offsets"],
        identity=meta["identity"],
        max_degree=meta["max_degree"],
        primary_keys=meta["primary_keys"],
        key_loader=load_keys,
        timed=meta["timed"],
    )


# Linux ≥ 5.14: fill the page tables of a mapping now, without copying the data
# (READ), or allocate its pages now, writable (WRITE).
_MADV_POPULATE_READ = 22
_MADV_POPULATE_WRITE = 23


def _prefault(a: np.ndarray) -> None:
    """Map every page of a memory-mapped array up front.

    The sampler reads the arrays at random; left lazy, its first epoch takes a
    page fault on almost every read (measured: about a quarter of the time of 100 batches on the
    1M-user benchmark graph).
    Populating is one sequential pass, and on kernels without the flag it is skipped.
    """
    _populate(a, _MADV_POPULATE_READ)


def _populate(a: np.ndarray, advice: int) -> None:
    # madvise on a memory-mapped array; a no-op where the kernel or the array cannot.
    mm = getattr(a, "_mmap", None)
    if a.size == 0 or mm is None or not hasattr(mm, "madvise"):
        return
    with contextlib.suppress(OSError, ValueError):
        mm.madvise(advice)


def _discard(root: Path) -> None:
    """Remove a stale or damaged cache (and dead writers' leftovers) before a build."""
    clean_stale(root.parent)
    if root.exists():
        # Moved aside in one rename (readers that still map its files keep them),
        # then deleted.
        trash = root.parent / f".tmp-old-{uuid.uuid4().hex[:8]}"
        os.rename(root, trash)
        shutil.rmtree(trash, ignore_errors=True)


def _file_array(path: Path, n: int, dtype: Any) -> npt.NDArray[Any]:
    """A new ``.npy`` file of ``n`` values, mapped for writing.

    Its pages are allocated in one call up front: measured once here, filling 1.3 GB
    this way took 0.6 s, against 3-4 s for filling a numpy array and ``np.save``.
    """
    a = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n,))
    _populate(a, _MADV_POPULATE_WRITE)
    return a


def _build_arrays(snapshot: Snapshot, alloc: Callable[[str, int, Any], Any]) -> dict[str, Any]:
    """Fill the arrays of ``_FILES``, each got from ``alloc(name, length, dtype)``.

    Returns the manifest.
    """
    schema = snapshot.schema
    node_types = snapshot.table_names
    num_nodes = {t: int(snapshot.manifest.row_counts[t]) for t in node_types}
    # Seconds per step, kept in the manifest: where a slow build spends its time.
    stages: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        stages[name] = round(now - clock[0], 4)
        clock[0] = now

    # 1. Read each table's foreign-key and time columns (only those); the times
    #    go straight into their slice of ``time_all``.
    time_all = alloc("time_all", sum(num_nodes.values()), np.int64)
    times: dict[str, IntArray] = {}
    fk_cols: dict[str, pa.Table] = {}
    start = 0
    for t in node_types:
        cancel.check()  # a cancelled job stops between tables
        times[t] = time_all[start : start + num_nodes[t]]
        start += num_nodes[t]
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
            at = 0
            for chunk in tab.column(tcol).chunks:  # chunk by chunk: no whole-column copy
                seconds = arrow_to_seconds(chunk, what=f"time column '{t}.{tcol}'")
                times[t][at : at + seconds.shape[0]] = seconds
                at += seconds.shape[0]
        else:
            times[t][:] = NO_TIME
        if tab is not None and cols:
            fk_cols[t] = tab.select(cols)
    tab = None  # the last table's columns: only the foreign keys in fk_cols are needed now
    # A table has times if any row does (else all NO_TIME: its edges store none).
    timed = {t: bool((times[t] != NO_TIME).any()) for t in node_types}
    lap("read")

    # 2. Map foreign-key values to parent rows (the lookups two at a time: the
    #    kernels release the GIL, and the machine this targets has two cores).
    key_index: dict[str, KeyIndex] = {}
    specs: list[tuple[str, str, str]] = []
    for t in node_types:
        cancel.check()
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
            specs.append((t, fk.column, target))

    def look_up(spec: tuple[str, str, str]) -> tuple[npt.NDArray[Any], int]:
        t, col, target = spec
        dst = key_index[target].lookup(fk_cols[t].column(col), node_id_dtype(num_nodes))
        return dst, int(np.count_nonzero(dst < 0))

    with ThreadPoolExecutor(max_workers=_BUILD_THREADS) as pool:
        found = list(pool.map(look_up, specs))
    links: list[tuple[str, str, str, npt.NDArray[Any]]] = []
    dangling: dict[str, int] = {}
    for (t, col, target), (dst, n_dangling) in zip(specs, found, strict=True):
        links.append((t, col, target, dst))
        dangling[f"{t}.{col}"] = n_dangling
    fk_cols.clear()
    # Arrow's allocator (mimalloc) keeps freed pages for reuse: here the Parquet columns,
    # ~770 MiB on the 20M-row benchmark, which the layout below would otherwise sit on top of.
    pa.default_memory_pool().release_unused()
    lap("keys")

    # 3. Lay out both directions of every link in three flat arrays. Left out:
    #    the child -> parent indptr when every child has a parent (the identity),
    #    and the neighbour times of an untimed source table (see RelGraph).
    edge_types: list[EdgeType] = []
    sizes: list[tuple[int, int, int]] = []  # (indptr, neighbours, neighbour times) per type
    identity: list[bool] = []
    for t, col, target, dst in links:
        n_valid = int(dst.shape[0]) - dangling[f"{t}.{col}"]
        edge_types.append((t, col, target))
        sizes.append((num_nodes[target] + 1, n_valid, n_valid if timed[t] else 0))
        identity.append(False)
        edge_types.append((target, REVERSE_PREFIX + col, t))
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
    indices_all = alloc("indices_all", int(ix_off[-1]), node_id_dtype(num_nodes))
    nbr_time_all = alloc("nbr_time_all", int(tx_off[-1]), np.int64)
    lap("allocate")

    def parts(e: int) -> tuple[npt.NDArray[Any], ...]:
        return (
            indptr_all[ip_off[e] : ip_off[e + 1]],
            indices_all[ix_off[e] : ix_off[e + 1]],
            nbr_time_all[tx_off[e] : tx_off[e + 1]],
        )

    # One link at a time, its sort on every core (csr.radix_csr), so one set of sort
    # buffers serves every link: two links sorting side by side needed two.
    scratch = sort_scratch(max((dst.shape[0] for *_, dst in links), default=0))
    fwd_degree = []
    for k, (t, _col, target, dst) in enumerate(links):
        ip, ix, tx = parts(2 * k)
        fk_csr(
            dst, times[t], num_nodes[target], ip, ix, tx, threads=_BUILD_THREADS, scratch=scratch
        )
        reverse_fk_csr(dst, times[target], *parts(2 * k + 1))
        fwd_degree.append(int(np.diff(ip).max()) if ip.shape[0] > 1 else 0)
    del scratch
    max_degree: list[int] = []
    for k in range(len(links)):
        max_degree += [fwd_degree[k], 1 if ix_off[2 * k + 2] > ix_off[2 * k + 1] else 0]
    lap("layout")

    return {
        "format": GRAPH_FORMAT,
        "snapshot": snapshot.id,
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
        "build_stages": stages,
    }
