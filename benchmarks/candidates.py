"""Is the model ``predict`` uses ever worse on test than the best trivial baseline?

For each (source, query) it trains with the given budget, and prints every candidate's
validation and test figure under the chosen protocol, the candidate chosen on
validation, the best trivial baseline on test, and whether the chosen one is at least
as good on test. Rows are appended to ``--out`` (JSON lines).

    python benchmarks/candidates.py --budget fast --protocol rolling
    python benchmarks/candidates.py --source examples/f1 --query "PREDICT ... FOR EACH ..."
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.train.candidates import best_trivial, is_trivial  # noqa: E402
from relgraph.train.metrics import higher_is_better  # noqa: E402

F1 = str(REPO / "examples" / "f1")
CUTS = {"val_cutoff": "2005-01-01", "test_cutoff": "2010-01-01"}
# (name, source, query, cut-offs): the F1 driver tasks, and other targets on the same data.
CASES = [
    ("f1 driver-dnf", F1, "PREDICT COUNT(results.* WHERE results.statusId != 1, 0, 30, days) "
     "> 0 FOR EACH drivers.driverId ASSUMING COUNT(results.*, 0, 30, days) > 0", CUTS),
    ("f1 driver-top3", F1, "PREDICT MIN(qualifying.position, 0, 30, days) <= 3 FOR EACH "
     "drivers.driverId ASSUMING COUNT(qualifying.*, 0, 30, days) > 0", CUTS),
    ("f1 driver-position", F1, "PREDICT AVG(results.positionOrder, 0, 60, days) FOR EACH "
     "drivers.driverId ASSUMING COUNT(results.*, 0, 60, days) > 0", CUTS),
    ("f1 driver-points (sum, 90d)", F1, "PREDICT SUM(results.points, 0, 90, days) FOR EACH "
     "drivers.driverId ASSUMING COUNT(results.*, 0, 90, days) > 0", CUTS),
    ("f1 driver-constructor (link)", F1, "PREDICT LIST_DISTINCT(results.constructorId, 0, 365, "
     "days) RANK TOP 3 FOR EACH drivers.driverId ASSUMING COUNT(results.*, 0, 365, days) > 0",
     CUTS),
]  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--budget", default="fast")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--protocol", default="rolling", choices=["frozen", "rolling"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=None, help="case names to run (substring)")
    p.add_argument("--source", default=None, help="run one query on this source instead")
    p.add_argument("--query", default=None)
    p.add_argument("--workspace", default=None)
    p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "candidates.jsonl"))
    args = p.parse_args()
    cases = CASES
    if args.source:
        cases = [(args.source, args.source, args.query, {})]
    if args.only:
        cases = [c for c in cases if any(o in c[0] for o in args.only)]
    ws = args.workspace or tempfile.mkdtemp(prefix="rg-cands-")
    rows = []
    for name, source, query, cuts in cases:
        snap = api.ingest(source, workspace=ws).snapshot
        t0 = time.monotonic()
        r = api.train(
            query, workspace=ws, snapshot=snap.id, budget=args.budget, minutes=args.minutes,
            seed=args.seed, protocol=args.protocol, **cuts,
        )  # fmt: skip
        wall = time.monotonic() - t0
        m, proto = r.metric, args.protocol
        sel = r.candidate(r.selected)
        bt = best_trivial(r.candidates, m, proto)
        # The best trivial baseline *on test* (the hardest comparison for the chosen model).
        triv = [c for c in r.candidates if is_trivial(c.name)]
        up = higher_is_better(m)
        best_t = max(triv, key=lambda c: c.value(proto, "test", m) * (1 if up else -1))
        s, b = sel.value(proto, "test", m), best_t.value(proto, "test", m)
        ok = s >= b if up else s <= b
        row = {
            "case": name, "metric": m, "protocol": proto, "selected": r.selected,
            "selected_test": s, "best_trivial_test": b, "best_trivial": best_t.name,
            "best_trivial_on_val": bt.name if bt else None, "not_worse": ok,
            "candidates": {
                c.name: {sp: c.value(proto, sp, m) for sp in ("val", "test")}
                for c in r.ranking()
            },
            "rows": r.rows, "wall_s": round(wall, 1), "budget": args.budget,
            "machine": f"{os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}",
        }  # fmt: skip
        rows.append(row)
        with open(args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"\n{name} — {m}, {proto} protocol, rows {r.rows}, {wall:.0f} s")
        for c in r.ranking():
            mark = "  ← selected on val" if c.name == r.selected else ""
            print(
                f"  {c.name:<20} val {c.value(proto, 'val', m):8.4f}  "
                f"test {c.value(proto, 'test', m):8.4f}{mark}"
            )
        print(
            f"  chosen '{r.selected}' test {s:.4f} vs best trivial on test '{best_t.name}' "
            f"{b:.4f}: {'not worse' if ok else 'WORSE'}",
            flush=True,
        )
    print("\ncase | metric | chosen (test) | best trivial (test) | not worse")
    for row in rows:
        print(
            f"{row['case']} | {row['metric']} | {row['selected']} {row['selected_test']:.4f} | "
            f"{row['best_trivial']} {row['best_trivial_test']:.4f} | {row['not_worse']}"
        )


if __name__ == "__main__":
    main()
