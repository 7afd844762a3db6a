"""relgraph's GNN and LightGBM baseline on RelBench's three rel-f1 driver tasks.

Runs ``relgraph.api.train`` for each query of ``examples/f1/queries.pql`` on RelBench's
splits (validation from 2005-01-01, test from 2010-01-01), for each seed, and prints
every candidate (GNN, LightGBM, their average, trivial baselines) and the one chosen
on validation, as mean ± std over seeds, per protocol: ``frozen`` (RelBench's: inputs
cut at the test cut-off) beside RelBench's published numbers (RDL GNN, LightGBM),
``rolling`` (inputs up to each anchor) on its own. Every finished run is appended to
``--out`` (JSON lines) so that an interrupted benchmark keeps what it measured.

    python benchmarks/f1_tasks.py --seeds 0 1 2 --budget normal --protocol frozen
    python benchmarks/f1_tasks.py --tasks driver-top3 --seeds 0 --budget fast --protocol rolling
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
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.train.candidates import select  # noqa: E402
from relgraph.train.protocol import PROTOCOLS  # noqa: E402

NAN = float("nan")

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


def cell(vals: list[float]) -> str:
    vals = [v for v in vals if v == v]  # NaN (a candidate missing in a run) left out
    if not vals:
        return "—"
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):.3f} ± {sd:.3f}"


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", nargs="*", default=list(REFERENCE))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--budget", default="normal")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument(
        "--protocol", nargs="+", choices=PROTOCOLS, default=["frozen"],
        help="protocol(s) to report; the first chooses the model in training, the others "
        "are re-chosen from the same runs' validation figures under their own protocol",
    )  # fmt: skip
    p.add_argument("--workspace", default="/tmp/relgraph-bench-f1")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "f1_tasks.jsonl"))
    args = p.parse_args()

    queries = read_queries(REPO / "examples" / "f1" / "queries.pql")
    t0 = time.monotonic()
    api.ingest(str(REPO / "examples" / "f1"), workspace=args.workspace)
    print(f"ingest: {time.monotonic() - t0:.0f} s", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in args.tasks}
    for task in args.tasks:
        metric = REFERENCE[task][0]
        for seed in args.seeds:
            start = time.monotonic()
            r = api.train(
                queries[task], workspace=args.workspace, budget=args.budget, minutes=args.minutes,
                seed=seed, val_cutoff=VAL_CUTOFF, test_cutoff=TEST_CUTOFF,
                protocol=args.protocol[0],
            )  # fmt: skip
            wall = time.monotonic() - start
            row: dict[str, Any] = {
                "task": task,
                "seed": seed,
                "budget": args.budget,
                "train_protocol": args.protocol[0],
                "candidates": {
                    c.name: {
                        proto: {
                            s: scale(metric, c.value(proto, s, metric)) for s in ("val", "test")
                        }
                        for proto in PROTOCOLS
                    }
                    for c in r.candidates
                },
                "selected": {proto: select(r.candidates, metric, proto) for proto in PROTOCOLS},
                "gnn_train_s": r.gnn.seconds if r.gnn else None,
                "epochs": len(
                    (json.loads((r.path / "model.json").read_text()).get("gnn_state") or {}).get(
                        "history", []
                    )
                ),
                "wall_s": wall,
                "model_id": r.model_id,
                "machine": f"{platform.node()} {os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}",
            }
            runs[task].append(row)
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
            figs = "  ".join(
                f"{proto}: {row['selected'][proto]} "
                f"{row['candidates'][row['selected'][proto]][proto]['test']:.3f}"
                for proto in args.protocol
            )
            print(f"{task} seed {seed}: selected on val → test {figs} ({wall:.0f} s)", flush=True)

    for proto in args.protocol:
        print()
        print(f"== protocol: {proto} — test {', '.join(args.tasks)}; mean ± std over seeds ==")
        if proto == "frozen":
            print("   (RelBench's protocol: inputs cut at the test cut-off 2010-01-01; the")
            print("    published figures below were measured under it)")
        else:
            print("   (inputs up to each anchor; no published RelBench figure uses this protocol)")
        for task, rows in runs.items():
            if not rows:
                continue
            metric, up, rdl, lgbm = REFERENCE[task]
            names = sorted({n for r in rows for n in r["candidates"]})
            print(f"{task} ({metric}, {'higher' if up else 'lower'} is better)")
            for n in names:
                vals = [r["candidates"].get(n, {}).get(proto, {}).get("test", NAN) for r in rows]
                vv = [r["candidates"].get(n, {}).get(proto, {}).get("val", NAN) for r in rows]
                print(f"  {n:<22} test {cell(vals):>17}   val {cell(vv):>17}")
            sel = [r["candidates"][r["selected"][proto]][proto]["test"] for r in rows]
            which = ", ".join(r["selected"][proto] for r in rows)
            print(f"  {'SELECTED on val':<22} test {cell(sel):>17}   ({which})")
            if proto == "frozen":
                print(f"  {'RDL GNN (RelBench)':<22} test {rdl:>17}")
                print(f"  {'LightGBM (RelBench)':<22} test {lgbm:>17}")
        print(f"wall per run: {cell([r['wall_s'] for rows in runs.values() for r in rows])} s")


if __name__ == "__main__":
    main()
