"""Delete-the-future: what a model reads for anchor *t* must not change when rows after *t* go.

For sampled rows of a query's training table, the as-of features (LightGBM's) are
computed twice: on the full snapshot, and on a connection where every timed table
has lost its rows dated after the row's input time. Any difference is a leak. The
GNN's temporal sampler is checked on the same rows: no node of a sampled subgraph
may be newer than its seed's input time (the snapshot-wide property that makes a
cut snapshot's subgraphs equal to the full one's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from relgraph.query.sql import q, ts_literal
from relgraph.store.snapshot import Snapshot


def hidden_after(snap: Snapshot, until: datetime) -> duckdb.DuckDBPyConnection:
    """A connection on which every timed table has lost its rows dated after ``until``."""
    con = snap.duckdb()
    for t in snap.schema.tables.values():
        if t.time_column is None or t.name not in snap.table_names:
            continue
        tc = q(t.time_column)
        con.execute(
            f"CREATE OR REPLACE VIEW {q(t.name)} AS SELECT * FROM {snap.parquet_sql(t.name)} "
            f"WHERE {tc} IS NULL OR CAST({tc} AS TIMESTAMP) <= {ts_literal(until)}"
        )
    return con


@dataclass
class FutureCheck:
    """The outcome of one delete-the-future comparison."""

    name: str
    rows: int
    mismatches: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.name,
            "rows": self.rows,
            "passed": self.passed,
            "mismatches": self.mismatches[:10],
        }


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def sample_rows(table: pa.Table, n: int, seed: int) -> pa.Table:
    """``n`` rows spread over the table (a seeded sample), in table order."""
    if table.num_rows <= n:
        return table
    idx = np.sort(np.random.default_rng(seed).choice(table.num_rows, n, replace=False))
    return table.take(pa.array(idx))


def check_features(
    snapshot: Snapshot,
    task: Any,
    rows: pa.Table,
    *,
    features: Any = None,
) -> FutureCheck:
    """LightGBM's as-of features of each row: full snapshot vs rows after it deleted.

    ``features(snapshot, task, table, con=...)``: the feature function (default
    :func:`relgraph.train.baseline.compute_features`; tests pass a leaky one).
    """
    from relgraph.train.baseline import compute_features
    from relgraph.train.protocol import input_times

    fn = features or compute_features
    full = fn(snapshot, task, rows)
    check = FutureCheck("features: delete-the-future", rows.num_rows)
    times = input_times(rows).to_pylist()
    for i, t in enumerate(times):
        one = rows.slice(i, 1)
        con = hidden_after(snapshot, t)
        try:
            cut = fn(snapshot, task, one, con=con).to_pylist()[0]
        finally:
            con.close()
        want = full.slice(i, 1).to_pylist()[0]
        for k, v in want.items():
            if not _same(v, cut.get(k)):
                check.mismatches.append(
                    f"{task.entity_table} {one.column('ENTITY')[0].as_py()!r} at {t:%Y-%m-%d}: "
                    f"feature '{k}' is {v!r} on the full snapshot but {cut.get(k)!r} "
                    "without the rows after the anchor"
                )
                break
    return check


def check_sampler(snapshot: Snapshot, task: Any, rows: pa.Table, *, seed: int = 0) -> FutureCheck:
    """No node of a sampled subgraph is newer than its seed's input time."""
    from relgraph.graph import build_graph
    from relgraph.graph.times import NO_TIME
    from relgraph.sample import TemporalSampler
    from relgraph.train.loop import anchor_seconds
    from relgraph.train.protocol import INPUT_TIMESTAMP

    graph = build_graph(snapshot)
    sampler = TemporalSampler(graph, fanouts=[64, 32], seed=seed)
    keys = rows.column("ENTITY").to_numpy(zero_copy_only=False)
    nodes = np.asarray(graph.key_to_node(task.entity_table, keys), dtype=np.int64)
    col = INPUT_TIMESTAMP if INPUT_TIMESTAMP in rows.column_names else "ANCHOR_TIMESTAMP"
    times = anchor_seconds(rows, col)
    check = FutureCheck("subgraphs: no node newer than its seed", rows.num_rows)
    keep = nodes >= 0
    import torch

    batch = sampler.sample(
        task.entity_table, torch.from_numpy(nodes[keep]), torch.from_numpy(times[keep])
    )
    seeds_t = batch.seed_time.numpy()
    for table, nt in batch.node_time.items():
        nt_np = nt.numpy()
        b = batch.batch[table].numpy()
        bad = np.flatnonzero((nt_np != NO_TIME) & (nt_np > seeds_t[b]))
        if len(bad):
            check.mismatches.append(
                f"{len(bad)} sampled '{table}' nodes are newer than their seed's time"
            )
    return check
