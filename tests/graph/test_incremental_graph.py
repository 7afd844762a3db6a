"""A delta snapshot's graph, extended from its parent's, equals a full rebuild exactly."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from relgraph import api
from relgraph.graph.build import _cache_root, build_graph
from relgraph.store.snapshot import Snapshot
from relgraph.testing.growing import GrowingDatabase

DB = GrowingDatabase(users=300, orders=3000, rate=0.05, days=2)
_VOLATILE = {"build_seconds", "build_stages", "extended_from"}


def _state(snap: Snapshot) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    root = _cache_root(snap)
    arrays = {n: np.load(root / f"{n}.npy") for n in ("time_all", "indptr_all", "indices_all",
                                                      "nbr_time_all")}  # fmt: skip
    meta = json.loads((root / "manifest.json").read_text())
    return arrays, {k: v for k, v in meta.items() if k not in _VOLATILE}


def _write_day(src: Path, day: int, orphan_user: int) -> None:
    """Day ``day`` of DB, with order 5 pointing at user ``orphan_user`` (absent on day 0)."""
    DB.write(src, day)
    orders = pq.read_table(src / "orders.parquet")
    users = orders.column("user_id").to_numpy().copy()
    users[5] = orphan_user
    orders = orders.set_column(1, "user_id", pa.array(users))
    pq.write_table(orders, src / "orders.parquet")


def test_extended_graph_equals_full_rebuild(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    new_user = DB.count(DB.users, 1) - 1  # joins on day 1: order 5 dangles on day 0 only
    snaps = []
    for day in range(DB.days + 1):
        _write_day(src, day, new_user)
        snaps.append(api.ingest(str(src), workspace=ws).snapshot)
    g0 = build_graph(snaps[0])
    assert json.loads((_cache_root(snaps[0]) / "manifest.json").read_text())["dangling"] == {
        "orders.user_id": 1,
        "orders.item_id": 0,
    }
    assert snaps[1].manifest.storage["orders"] == "delta"
    for prev, snap in itertools.pairwise(snaps):
        g = build_graph(snap)
        meta = json.loads((_cache_root(snap) / "manifest.json").read_text())
        assert meta["extended_from"] == prev.id  # not a full build
        inc_arrays, inc_meta = _state(snap)
        full = build_graph(snap, rebuild=True)
        full_arrays, full_meta = _state(snap)
        assert "extended_from" not in json.loads((_cache_root(snap) / "manifest.json").read_text())
        assert inc_meta == full_meta
        for name, a in full_arrays.items():
            assert a.dtype == inc_arrays[name].dtype and np.array_equal(a, inc_arrays[name]), name
        assert full.num_edges == g.num_edges > g0.num_edges
    # The once-dangling order now links to the new user, in both directions.
    last = build_graph(snaps[-1])
    assert last.csr[("users", "rev_user_id", "orders")].indices[5] == new_user
    fwd = last.csr[("orders", "user_id", "users")]
    assert 5 in fwd.indices[fwd.indptr[new_user] : fwd.indptr[new_user + 1]]


@pytest.mark.slow  # a subprocess that imports relgraph and is killed
def test_killed_extension_leaves_parent_graph_intact(tmp_path: Path) -> None:
    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    s0 = api.ingest(str(src), workspace=ws).snapshot
    build_graph(s0)
    before = {p.name: p.read_bytes() for p in _cache_root(s0).iterdir()}
    DB.write(src, 1)
    s1 = api.ingest(str(src), workspace=ws).snapshot
    # A real SIGKILL in the middle of the extension (after its arrays are allocated).
    script = textwrap.dedent(
        f"""
        import os, signal
        from relgraph.graph import incremental
        from relgraph.graph.build import build_graph
        from relgraph.store.snapshot import Snapshot
        real = incremental._merge_forward
        def die(*a):
            real(*a)
            os.kill(os.getpid(), signal.SIGKILL)
        incremental._merge_forward = die
        build_graph(Snapshot({str(s1.path)!r}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120, env=env)
    assert r.returncode == -signal.SIGKILL, r.stderr.decode()[-2000:]
    assert {p.name: p.read_bytes() for p in _cache_root(s0).iterdir()} == before
    root = _cache_root(s1)
    assert not (root / "manifest.json").exists()  # no half-written graph for the child
    assert list(root.parent.glob(".tmp-*"))  # only the killed writer's staging folder
    g = build_graph(s1)  # the next build cleans up and succeeds
    assert g.num_nodes["orders"] == s1.manifest.row_counts["orders"]
    assert not list(root.parent.glob(".tmp-*"))


@pytest.mark.slow  # pytorch-frame encodes three snapshots' tables
def test_features_of_unchanged_tables_are_reused_and_equal(tmp_path: Path) -> None:
    import torch

    from relgraph.graph.features import FEATURES_VERSION, build_features

    src, ws = tmp_path / "src", tmp_path / "ws"
    DB.write(src, 0)
    s0 = api.ingest(str(src), workspace=ws).snapshot
    DB.write(src, 1)
    s1 = api.ingest(str(src), workspace=ws).snapshot
    build_features(s0)
    got = build_features(s1)
    cache0 = s0.cache_dir("frames") / f"v{FEATURES_VERSION}"
    cache1 = s1.cache_dir("frames") / f"v{FEATURES_VERSION}"
    linked = {p.name for p in cache1.iterdir() if p.stat().st_nlink > 1}
    items = next(p.name for p in cache0.iterdir() if p.name.startswith("items"))
    assert linked == {items}  # items did not change; users and orders grew
    fresh = build_features(api.ingest(str(src), workspace=tmp_path / "fresh").snapshot)
    assert got.num_nodes == fresh.num_nodes
    for name, tf in fresh.frames.items():
        mine = got.frames[name]
        assert mine.col_names_dict == tf.col_names_dict, name
        for st, feat in tf.feat_dict.items():
            if isinstance(feat, torch.Tensor):
                assert torch.equal(feat, mine.feat_dict[st]), (name, st)
