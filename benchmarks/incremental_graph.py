"""Graph build for a 1% delta snapshot: extending the parent's graph vs a full build.

A generated database (relgraph.testing.growing: users, items, orders with two
foreign keys, so 4 edges per order counting both directions) is ingested on day 0
and on day 1 (+1% users and orders; the day-1 snapshot stores them as deltas). The
day-0 graph is built once; then the day-1 graph is built (a) in full and (b) by
extending the day-0 graph, each ``--repeat`` times, best kept. The extended graph is
checked equal to the full one, array by array. Target: (b) <= 10% of (a).

    python benchmarks/incremental_graph.py                   # 5M orders: 20M edges
    python benchmarks/incremental_graph.py --orders 1000000  # smaller
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.graph.build import _cache_root, build_graph  # noqa: E402
from relgraph.testing.growing import GrowingDatabase  # noqa: E402

_ARRAYS = ("time_all", "indptr_all", "indices_all", "nbr_time_all")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=5_000_000)
    ap.add_argument("--users", type=int, default=500_000)
    ap.add_argument("--rate", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    db = GrowingDatabase(users=args.users, orders=args.orders, items=1000, rate=args.rate, days=1)
    with tempfile.TemporaryDirectory(prefix="rg-incgraph-") as tmp:
        src, ws = Path(tmp) / "src", Path(tmp) / "ws"
        t0 = time.perf_counter()
        db.write(src, 0)
        s0 = api.ingest(str(src), workspace=ws).snapshot
        db.write(src, 1)
        s1 = api.ingest(str(src), workspace=ws).snapshot
        print(f"generated and ingested two days in {time.perf_counter() - t0:.1f} s; "
              f"day-1 storage: {s1.manifest.storage}")  # fmt: skip
        g0 = build_graph(s0)
        full_s, inc_s = [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            full = build_graph(s1, rebuild=True)
            full_s.append(time.perf_counter() - t)
            root = _cache_root(s1)
            ref = {n: np.load(root / f"{n}.npy") for n in _ARRAYS}
            del full
            shutil.rmtree(root)
            t = time.perf_counter()
            inc = build_graph(s1)
            inc_s.append(time.perf_counter() - t)
            same = all(np.array_equal(ref[n], np.load(root / f"{n}.npy")) for n in _ARRAYS)
            if not same:
                raise SystemExit("extended graph differs from the full build")
        new_orders = s1.manifest.row_counts["orders"] - s0.manifest.row_counts["orders"]
        print(f"day-0 graph: {g0.num_edges:,} edges; day-1 graph: {inc.num_edges:,} edges "
              f"(+{new_orders:,} orders)")  # fmt: skip
    best_full, best_inc = min(full_s), min(inc_s)
    runs_full = ", ".join(f"{s:.3f}" for s in full_s)
    runs_inc = ", ".join(f"{s:.3f}" for s in inc_s)
    print(f"full build of day 1:      {best_full:7.3f} s  (runs: {runs_full})")
    print(f"extend day 0 -> day 1:    {best_inc:7.3f} s  (runs: {runs_inc})")
    print("extended graph equals the full build: yes (every array)")
    print(f"delta build ratio: {best_inc / best_full:.3f}  (target <= 0.10)")


if __name__ == "__main__":
    main()
