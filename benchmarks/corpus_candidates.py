"""Chosen model vs the best trivial baseline on the real-database corpus (issue 14).

Every database in ``tests/corpus/`` is ingested with **no schema file**; every query in
its ``truth.yaml`` (``query``, then ``more_queries``) trains with the given budget; the
PostgreSQL dump is served by a throw-away server (``relgraph.testing.postgres``). For
each (database, query) it prints the candidate chosen on validation with its test
figure, the best trivial baseline *on test* (the hardest comparison: selection cannot
know it) and whether the chosen one is at least as good. Rows are appended to ``--out``
(JSON lines) and a Markdown table is printed at the end.

    python benchmarks/corpus_candidates.py --budget fast --protocol rolling
    python benchmarks/corpus_candidates.py --only lahman gitlog --minutes 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from relgraph import api  # noqa: E402
from relgraph.testing.corpus import load_truth  # noqa: E402
from relgraph.testing.corpus_sources import CORPUS, corpus_dbs, source_uri  # noqa: E402
from relgraph.testing.postgres import temporary_postgres  # noqa: E402
from relgraph.train.candidates import is_trivial  # noqa: E402
from relgraph.train.metrics import higher_is_better  # noqa: E402


def corpus_queries(db: str, corpus: Path = CORPUS) -> list[str]:
    """The folder's queries: ``query`` (the schema issue's) then ``more_queries``."""
    truth = load_truth(corpus / db)
    return [str(truth["query"]), *[str(q) for q in truth.get("more_queries", []) or []]]


def compare(result: Any, protocol: str) -> dict[str, Any]:
    """The chosen candidate's test figure beside the best trivial baseline on test."""
    m = result.metric
    up = higher_is_better(m)
    sel = result.candidate(result.selected)
    triv = [c for c in result.candidates if is_trivial(c.name)]
    best_t = max(triv, key=lambda c: c.value(protocol, "test", m) * (1 if up else -1))
    s, b = sel.value(protocol, "test", m), best_t.value(protocol, "test", m)
    return {
        "metric": m,
        "selected": result.selected,
        "selected_test": s,
        "best_trivial": best_t.name,
        "best_trivial_test": b,
        "not_worse": bool(s >= b if up else s <= b),
        "candidates": {
            c.name: {sp: c.value(protocol, sp, m) for sp in ("val", "test")}
            for c in result.ranking()
        },
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--budget", default="fast")
    p.add_argument("--minutes", type=float, default=None)
    p.add_argument("--protocol", default="rolling", choices=["frozen", "rolling"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=None, help="databases to run (exact names)")
    p.add_argument("--corpus", type=Path, default=CORPUS)
    p.add_argument("--workspace", default=None)
    p.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "corpus_candidates.jsonl"))
    args = p.parse_args()
    dbs = [d for d in corpus_dbs(args.corpus) if not args.only or d in args.only]
    ws = Path(args.workspace or tempfile.mkdtemp(prefix="rg-corpus-cands-"))
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        pg_url: str | None = None
        for db in dbs:
            src = args.corpus / db / str(load_truth(args.corpus / db).get("source", "."))
            if src.suffix == ".sql" and pg_url is None:
                pg_url = stack.enter_context(temporary_postgres())
            # One workspace per database: their table names would otherwise collide.
            snap = api.ingest(source_uri(args.corpus, db, pg_url), workspace=ws / db).snapshot
            for query in corpus_queries(db, args.corpus):
                t0 = time.monotonic()
                r = api.train(
                    query, workspace=ws / db, snapshot=snap.id, budget=args.budget,
                    minutes=args.minutes, seed=args.seed, protocol=args.protocol,
                )  # fmt: skip
                wall = time.monotonic() - t0
                row = {
                    "db": db, "query": query, "task": r.task.get("task_type"),
                    "protocol": args.protocol, **compare(r, args.protocol),
                    "rows": r.rows, "wall_s": round(wall, 1), "budget": args.budget,
                    "minutes": args.minutes, "seed": args.seed,
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": f"{os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}",
                }  # fmt: skip
                rows.append(row)
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"\n{db}: {query}\n  {row['metric']}, {args.protocol}, rows {r.rows}, "
                      f"{wall:.0f} s")  # fmt: skip
                for name, v in row["candidates"].items():
                    mark = "  <- selected on val" if name == r.selected else ""
                    print(f"  {name:<22} val {v['val']:10.4f}  test {v['test']:10.4f}{mark}")
                print(
                    f"  chosen '{r.selected}' test {row['selected_test']:.4f} vs best trivial "
                    f"'{row['best_trivial']}' {row['best_trivial_test']:.4f}: "
                    f"{'not worse' if row['not_worse'] else 'WORSE'}",
                    flush=True,
                )
    print(
        "\n| database | query | task | protocol | metric | chosen on val (test) "
        "| best trivial on test | not worse? |\n|---|---|---|---|---|---|---|---|"
    )
    for row in rows:
        print(
            f"| {row['db']} | `{row['query']}` | {row['task']} | {row['protocol']} | "
            f"{row['metric']} | {row['selected']} {row['selected_test']:.4g} | "
            f"{row['best_trivial']} {row['best_trivial_test']:.4g} | "
            f"{'yes' if row['not_worse'] else '**no**'} |"
        )
    worse = sum(not r["not_worse"] for r in rows)
    print(f"\n{len(rows) - worse} of {len(rows)} not worse than the best trivial baseline on test")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
