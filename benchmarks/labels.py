"""Label-table generation speed: relgraph's compiled SQL vs the same SQL written by hand.

Two workloads, each timed end to end (best of ``--repeat`` runs) in the same process:
- the three RelBench rel-f1 driver tasks (examples/f1, all three splits);
- a generated event table (``--rows`` events, ``rows / 100`` users, two years)
  with a RelBench-style regression query and a churn query with a past filter.
For each it prints label rows, seconds, label rows/s, input rows/s and the ratio
hand-written time / relgraph time (target: >= 0.8), and checks both give the
same rows.

Run:
    python benchmarks/labels.py                 # F1 + 1M events (~a minute on 2 cores)
    python benchmarks/labels.py --rows 10000000 # the 10M-row case
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

# Run from a checkout: import this tree's relgraph, not an installed one.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relgraph import api
from relgraph.query.table import TaskTables, build_task_tables
from relgraph.schema.types import Column, ForeignKey, Schema, SType, TableSchema
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
F1_VAL, F1_TEST = datetime(2005, 1, 1), datetime(2010, 1, 1)

F1 = {
    "driver-dnf": (
        "PREDICT COUNT(results.* WHERE results.statusId != 1, 0, 30, days) > 0 "
        "FOR EACH drivers.driverId ASSUMING COUNT(results.*, 0, 30, days) > 0",
        """SELECT re.driverId AS ENTITY, t.ts AS ANCHOR_TIMESTAMP,
                  MAX(CASE WHEN re.statusId != 1 THEN 1.0 ELSE 0.0 END) AS TARGET
           FROM anchors t JOIN results re
             ON re._rg_time > t.ts AND re._rg_time <= t.ts + INTERVAL 30 DAY
           WHERE re._rg_time <= $until AND re.driverId IN (SELECT driverId FROM drivers)
           GROUP BY 1, 2 ORDER BY 2, 1""",
    ),
    "driver-top3": (
        "PREDICT MIN(qualifying.position, 0, 30, days) <= 3 FOR EACH drivers.driverId "
        "ASSUMING COUNT(qualifying.*, 0, 30, days) > 0",
        """SELECT qu.driverId AS ENTITY, t.ts AS ANCHOR_TIMESTAMP,
                  CASE WHEN MIN(qu.position) <= 3 THEN 1.0 ELSE 0.0 END AS TARGET
           FROM anchors t JOIN qualifying qu
             ON qu._rg_time > t.ts AND qu._rg_time <= t.ts + INTERVAL 30 DAY
           WHERE qu._rg_time <= $until AND qu.driverId IN (SELECT driverId FROM drivers)
           GROUP BY 1, 2 ORDER BY 2, 1""",
    ),
    "driver-position": (
        "PREDICT AVG(results.positionOrder, 0, 60, days) FOR EACH drivers.driverId "
        "ASSUMING COUNT(results.*, 0, 60, days) > 0",
        """SELECT re.driverId AS ENTITY, t.ts AS ANCHOR_TIMESTAMP,
                  AVG(re.positionOrder) AS TARGET
           FROM anchors t JOIN results re
             ON re._rg_time > t.ts AND re._rg_time <= t.ts + INTERVAL 60 DAY
           WHERE re._rg_time <= $until AND re.driverId IN (SELECT driverId FROM drivers)
           GROUP BY 1, 2 ORDER BY 2, 1""",
    ),
}

EV_VAL, EV_TEST = datetime(2023, 7, 1), datetime(2023, 10, 1)
EVENTS = {
    "events-spend (regression)": (
        "PREDICT SUM(events.amount, 0, 7, days) FOR EACH users.user_id "
        "ASSUMING COUNT(events.*, 0, 7, days) > 0",
        """SELECT e.user_id AS ENTITY, t.ts AS ANCHOR_TIMESTAMP, SUM(e.amount) AS TARGET
           FROM anchors t JOIN events e ON e.ts > t.ts AND e.ts <= t.ts + INTERVAL 7 DAY
           WHERE e.ts <= $until AND e.user_id IN (SELECT user_id FROM users)
           GROUP BY 1, 2 ORDER BY 2, 1""",
    ),
    "events-churn (binary, past filter)": (
        "PREDICT COUNT(events.*, 0, 7, days) = 0 FOR EACH users.user_id "
        "WHERE COUNT(events.*, -28, 0, days) > 0",
        """WITH active AS (
               SELECT DISTINCT t.ts, e.user_id FROM anchors t JOIN events e
                 ON e.ts > t.ts - INTERVAL 28 DAY AND e.ts <= t.ts
               WHERE e.ts <= $until),
           fut AS (
               SELECT t.ts, e.user_id, COUNT(*) AS c FROM anchors t JOIN events e
                 ON e.ts > t.ts AND e.ts <= t.ts + INTERVAL 7 DAY
               WHERE e.ts <= $until GROUP BY 1, 2)
           SELECT act.user_id AS ENTITY, act.ts AS ANCHOR_TIMESTAMP,
                  CASE WHEN f.c IS NULL THEN 1.0 ELSE 0.0 END AS TARGET
           FROM active act JOIN users u ON u.user_id = act.user_id
           LEFT JOIN fut f ON f.ts = act.ts AND f.user_id = act.user_id
           ORDER BY 2, 1""",
    ),
}


def best_of(n: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def hand_written(
    con: duckdb.DuckDBPyConnection, sql: str, tables: TaskTables
) -> dict[str, pa.Table]:
    """The reference SQL for each split, on the anchors relgraph chose."""
    assert tables.anchors is not None
    out = {}
    for split in ("train", "val", "test"):
        anchors = list(getattr(tables.anchors, split))
        until = tables.test_cutoff if split != "test" else datetime(9999, 1, 1)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE anchors AS SELECT unnest($a::TIMESTAMP[]) AS ts",
            {"a": anchors},
        )
        out[split] = con.sql(sql, params={"until": until}).to_arrow_table()
    return out


def bench(
    label: str,
    snap: Snapshot,
    pql: str,
    sql: str,
    val: datetime,
    test: datetime,
    input_rows: int,
    repeat: int,
) -> None:
    con = snap.duckdb()
    t_rg, res = best_of(
        repeat, lambda: build_task_tables(snap, pql, val_cutoff=val, test_cutoff=test, con=con)
    )
    tables = res
    assert isinstance(tables, TaskTables)
    t_hand, ref = best_of(repeat, lambda: hand_written(con, sql, tables))
    assert isinstance(ref, dict)
    ours = {"train": tables.train.table, "val": tables.val.table, "test": tables.test_labels()}
    same = all(
        ours[s].column("ENTITY").to_pylist() == ref[s].column("ENTITY").to_pylist()
        and np.allclose(
            ours[s].column("TARGET").to_numpy(),
            ref[s].column("TARGET").cast(pa.float64()).to_numpy(),
        )
        for s in ours
    )
    rows = sum(t.num_rows for t in ours.values())
    print(
        f"{label:36} {rows:>10,} {t_rg:8.3f} {t_hand:8.3f} {rows / t_rg:>12,.0f} "
        f"{input_rows / t_rg:>12,.0f} {t_hand / t_rg:6.2f}  {'yes' if same else 'NO'}"
    )


def make_events(root: Path, n: int, seed: int = 0) -> Snapshot:
    rng = np.random.default_rng(seed)
    users = max(1000, n // 100)
    start = np.datetime64("2022-01-01T00:00:00", "s").astype(np.int64)
    span = int(timedelta(days=730).total_seconds())
    ts = np.sort(rng.integers(start, start + span, n)).astype("datetime64[s]")
    # Skewed activity: a few users do most of the events, as in real logs.
    uid = (rng.zipf(1.3, n) % users).astype(np.int64)
    events = pa.table(
        {
            "event_id": pa.array(np.arange(n, dtype=np.int64)),
            "user_id": pa.array(uid),
            "amount": pa.array(np.round(rng.gamma(2.0, 20.0, n), 2)),
            "ts": pa.array(ts.astype("datetime64[us]")),
        }
    )
    users_t = pa.table({"user_id": pa.array(np.arange(users, dtype=np.int64))})
    schema = Schema(
        tables={
            "users": TableSchema(
                "users", (Column("user_id", "int64", SType.id),), primary_key="user_id"
            ),
            "events": TableSchema(
                "events",
                (
                    Column("event_id", "int64", SType.id),
                    Column("user_id", "int64", SType.id),
                    Column("amount", "double", SType.numerical),
                    Column("ts", "timestamp[us]", SType.timestamp),
                ),
                primary_key="event_id",
                foreign_keys=(ForeignKey("user_id", "users"),),
                time_column="ts",
            ),
        }
    )
    ws = Workspace(root / "ws-events")
    return ws.write_snapshot({"users": users_t, "events": events}, schema, source="bench").snapshot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000, help="events to generate (0: skip)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per measurement (best is kept)")
    ap.add_argument("--skip-f1", action="store_true")
    args = ap.parse_args()
    print(
        f"duckdb {duckdb.__version__}, best of {args.repeat}; ratio = hand-written s / relgraph s"
    )
    print(
        f"{'workload':36} {'labels':>10} {'relgraph':>8} {'hand':>8} {'labels/s':>12} "
        f"{'input/s':>12} {'ratio':>6}  same"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_f1:
            snap = api.ingest(str(ROOT / "examples" / "f1"), workspace=Path(tmp) / "ws-f1").snapshot
            for name, (pql, sql) in F1.items():
                rows = snap.manifest.row_counts["qualifying" if "top3" in name else "results"]
                bench(f"f1 {name}", snap, pql, sql, F1_VAL, F1_TEST, rows, args.repeat)
        if args.rows:
            t0 = time.perf_counter()
            snap = make_events(Path(tmp), args.rows)
            print(f"(generated {args.rows:,} events in {time.perf_counter() - t0:.1f} s)")
            for name, (pql, sql) in EVENTS.items():
                bench(name, snap, pql, sql, EV_VAL, EV_TEST, args.rows, args.repeat)


if __name__ == "__main__":
    main()
