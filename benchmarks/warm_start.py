"""Warm vs cold start on a grown F1: a model trained on the data up to 2015 continues on
the full data (``train --warm-start``), beside the same training from scratch.

    python benchmarks/warm_start.py [--budget fast] [--workdir /tmp/rg-warm]

Prints, per run: seconds (all of ``train``, and the GNN's fit), GNN validation/test
AUROC, and the best trivial baseline on the same split; then predicts with the 2015
model on the full snapshot (an old model on a new snapshot).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from relgraph import api
from relgraph.errors import RelgraphError
from relgraph.testing.grow import write_f1_cut

ROOT = Path(__file__).resolve().parents[1]
F1 = ROOT / "examples" / "f1"
QUERY = (
    "PREDICT MIN(qualifying.position, 0, 30, days) <= 3 FOR EACH drivers.driverId "
    "ASSUMING COUNT(qualifying.*, 0, 30, days) > 0"
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", default="fast")
    ap.add_argument("--workdir", default="/tmp/rg-warm-bench")
    ap.add_argument("--cut", type=int, default=2015)
    args = ap.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    ws = work / "ws"
    cut = write_f1_cut(F1, work / f"f1-to-{args.cut}", args.cut)
    old_snap = api.ingest(str(cut), workspace=ws).snapshot.id
    t = time.monotonic()
    old = api.train(QUERY, workspace=ws, snapshot=old_snap, budget=args.budget, baseline=False)
    print(f"cut at {args.cut}: snapshot {old_snap}, model {old.model_id}, "
          f"{time.monotonic() - t:.0f} s, rows {old.rows}")  # fmt: skip
    new_snap = api.ingest(str(F1), workspace=ws).snapshot.id
    runs = {}
    for name, warm in (("cold", None), ("warm", old.model_id)):
        t = time.monotonic()
        r = api.train(
            QUERY, workspace=ws, snapshot=new_snap, budget=args.budget, baseline=False,
            warm_start=warm,
        )  # fmt: skip
        runs[name] = (time.monotonic() - t, r)
    print(f"full data: snapshot {new_snap}")
    print(f"{'run':6} {'seconds':>8} {'GNN s':>7} {'val AUROC':>10} {'test AUROC':>10}"
          f"  best trivial (test)")  # fmt: skip
    for name, (secs, r) in runs.items():
        g = r.gnn
        trivial = sorted(
            (c for c in r.candidates if c.name.startswith("trivial:")),
            key=lambda c: -(c.value(r.protocol, "val", "auroc") or 0),
        )[0]
        print(
            f"{name:6} {secs:8.0f} {g.seconds:7.0f} "
            f"{g.val.get('auroc', float('nan')):10.4f} {g.test.get('auroc', float('nan')):10.4f}"
            f"  {trivial.name} {trivial.value(r.protocol, 'test', 'auroc'):.4f}"
        )
        if r.warm_start:
            print(f"       warm start: {r.warm_start}")
    t = time.monotonic()
    try:
        p = api.predict(old.model_id, workspace=ws, snapshot=new_snap, split="now")
    except RelgraphError as e:  # the columns of a table changed between the snapshots
        print(f"the {args.cut} model cannot predict on the full snapshot: {e}")
        return
    print(f"the {args.cut} model predicts on the full snapshot: {p.rows} rows "
          f"({p.model_kind}) in {time.monotonic() - t:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
