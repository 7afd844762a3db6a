"""relgraph's GNN and LightGBM baseline on RelBench's three rel-f1 driver tasks.

Runs ``relgraph.api.train`` for each query of ``examples/f1/queries.pql`` on RelBench's
splits (validation from 2005-01-01, test from 2010-01-01), for each seed, and prints
test metrics as mean ± std next to RelBench's published numbers (RDL GNN, LightGBM),
with the wall time per run. Every finished run is appended to ``--out`` (JSON lines)
so that an interrupted benchmark keeps what it measured.

    python benchmarks/f1_tasks.py --seeds 0 1 2 --budget normal
    python benchmarks/f1_tasks.py --tasks driver-top3 --seeds 0 --budget fast
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402

# RelBench (v1) published test results: metric, higher is better, RDL GNN, LightGBM.
REFERENCE = {
    "driver-dnf": ("auroc", True, 72.62, 68.56),
    "driver-top3": ("auroc", True, 75.54, 73.92),
    "driver-position": ("mae", False, 4.022, 4.170),
}
VAL_CUTOFF, TEST_CUTOFF = "2005-01-01", "2010-01-01"


def read_queries(path: Path) -> dict[str, str]:
    """``# name: ...`` comment blocks followed by a query, separated by blank lines."""
    out: dict[str, str] = {}
    for block in path.read_text().split("\n\n"):
        lines = [ln for ln in block.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        name = (
            lines[0].lstrip("# ").split(":")[0].strip()
            if lines[0].startswith("#")
            else f"q{len(out)}"
        )
        out[name] = "\n".join(ln for ln in lines if not ln.startswith("#"))
    return out


def scale(metric: str, v: float) -> float:
    """RelBench reports AUROC in percent."""
    return 100 * v if metric == "auroc" else v


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", nargs="*", default=list(REFERENCE))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--budget", default="normal")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--workspace", default="/tmp/relgraph-bench-f1")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "f1_tasks.jsonl"))
    args = p.parse_args()

    queries = read_queries(REPO / "examples" / "f1" / "queries.pql")
    t0 = time.monotonic()
    api.ingest(str(REPO / "examples" / "f1"), workspace=args.workspace)
    print(f"ingest: {time.monotonic() - t0:.0f} s", flush=True)
    runs: dict[str, list[dict[str, float]]] = {t: [] for t in args.tasks}
    for task in args.tasks:
        metric = REFERENCE[task][0]
        for seed in args.seeds:
            start = time.monotonic()
            r = api.train(
                queries[task], workspace=args.workspace, budget=args.budget, minutes=args.minutes,
                seed=seed, val_cutoff=VAL_CUTOFF, test_cutoff=TEST_CUTOFF,
            )  # fmt: skip
            wall = time.monotonic() - start
            row = {
                "task": task,
                "seed": seed,
                "budget": args.budget,
                "gnn": scale(metric, r.gnn.test[metric]),
                "lightgbm": scale(metric, r.baseline.test[metric]),
                "gnn_val": scale(metric, r.gnn.val[metric]),
                "gnn_train_s": r.gnn.seconds,
                "epochs": len(
                    json.loads((r.path / "model.json").read_text())["gnn_state"]["history"]
                ),
                "wall_s": wall,
                "model_id": r.model_id,
                "machine": f"{platform.node()} {os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}",
            }
            runs[task].append(row)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{task} seed {seed}: GNN {row['gnn']:.3f}  LightGBM {row['lightgbm']:.3f}  "
                f"({wall:.0f} s wall)",
                flush=True,
            )

    print()
    print(
        f"{'task':<17}{'metric':<7}{'GNN (ours)':>18}{'LightGBM (ours)':>18}"
        f"{'RDL GNN':>9}{'RB LGBM':>9}{'wall s':>9}"
    )
    for task, rows in runs.items():
        if not rows:
            continue
        metric, up, rdl, lgbm = REFERENCE[task]

        def ms(key: str, rows: list[dict[str, float]] = rows) -> str:
            vals = [r[key] for r in rows]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            return f"{statistics.mean(vals):.3f} ± {sd:.3f}"

        walls = statistics.mean(r["wall_s"] for r in rows)
        gnn = statistics.mean(r["gnn"] for r in rows)
        beat = gnn > rdl if up else gnn < rdl
        print(
            f"{task:<17}{metric:<7}{ms('gnn'):>18}{ms('lightgbm'):>18}{rdl:>9}{lgbm:>9}{walls:>9.0f}"
            f"  {'beats' if beat else 'does not beat'} RDL GNN "
            f"(ratio {gnn / rdl:.3f}, n={len(rows)})"
        )


if __name__ == "__main__":
    main()
