"""End to end on the F1 example: ingest, build the graph, sample an epoch of driver seeds."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from relgraph import api
from relgraph.graph import NO_TIME, build_graph
from relgraph.sample import TemporalSampler

F1 = Path(__file__).resolve().parents[2] / "examples" / "f1"

pytestmark = pytest.mark.slow


def test_f1_epoch_is_temporal_and_fast(tmp_path: Path) -> None:
    api.ingest(str(F1), workspace=tmp_path)
    snap = api.snapshot(workspace=tmp_path)
    build_graph(snap)  # the first build (and numba's first compile) is not timed
    rows = (
        snap.duckdb()
        .execute(
            """
            WITH anchors AS (
              SELECT unnest(generate_series(TIMESTAMP '2000-01-01', TIMESTAMP '2020-12-01',
                                            INTERVAL 1 MONTH)) AS t)
            SELECT DISTINCT r."driverId", epoch(a.t)::BIGINT
            FROM anchors a JOIN results r
              ON r._rg_time <= a.t AND r._rg_time > a.t - INTERVAL 365 DAY
            ORDER BY 2, 1
            """
        )
        .fetchall()
    )
    keys = np.array([r[0] for r in rows])
    anchors = np.array([r[1] for r in rows], dtype=np.int64)
    TemporalSampler(build_graph(snap), [1]).sample("drivers", [0], [0])  # load compiled code

    t = time.perf_counter()
    g = build_graph(snap)  # reopened from the cache
    sampler = TemporalSampler(g, [10, 10], seed=0)
    nodes = g.key_to_node("drivers", keys)
    batches = [
        sampler.sample("drivers", nodes[i : i + 512], anchors[i : i + 512])
        for i in range(0, len(nodes), 512)
    ]
    elapsed = time.perf_counter() - t
    assert (nodes >= 0).all()
    # The issue asks for < 1 s; the bound here is looser because the test
    # machine's two cores are shared (benchmarks/sampler.py --f1 reports it).
    assert elapsed < 3.0, elapsed

    keys_of = {
        et: np.repeat(np.arange(csr.indptr.shape[0] - 1), np.diff(csr.indptr)) * g.num_nodes[et[0]]
        + csr.indices
        for et, csr in g.csr.items()
    }
    total = 0
    for b in batches:
        for t_name, ids in b.node_ids.items():
            nt = b.node_time[t_name].numpy()
            st = b.seed_time[b.batch[t_name]].numpy()
            assert ((nt <= st) | (nt == NO_TIME)).all(), t_name
            assert np.array_equal(nt, g.node_time[t_name][ids.numpy()])
        for et, ei in b.edge_index.items():
            src = b.node_ids[et[0]][ei[0]].numpy()
            dst = b.node_ids[et[2]][ei[1]].numpy()
            assert np.isin(dst * g.num_nodes[et[0]] + src, keys_of[et]).all(), et
            total += ei.shape[1]
    assert total > 100 * len(nodes)  # drivers have real neighbourhoods
