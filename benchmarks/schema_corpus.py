"""Schema inference on the corpus of real databases, scored against hand-written truth.

Every database in tests/corpus/ is read with no schema file; relgraph infers
keys, links and event times; the result is compared with the folder's
truth.yaml. Prints link precision/recall, primary-key accuracy and event-time
accuracy per database and overall, against the issue's thresholds.

    python benchmarks/schema_corpus.py            # starts a throw-away PostgreSQL
    python benchmarks/schema_corpus.py --misses   # also list every wrong decision
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relgraph.testing.corpus import THRESHOLDS, Score, load_truth, score
from relgraph.testing.corpus_sources import CORPUS, corpus_schemas


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--misses", action="store_true", help="list every wrong decision")
    args = ap.parse_args()
    total: Score | None = None
    rows = []
    for db, schema in corpus_schemas(args.corpus):
        s = score(db, schema, load_truth(args.corpus / db))
        rows.append(s)
        total = s if total is None else total + s
    assert total is not None
    total.db = "overall"
    head = (
        f"{'database':18} {'links':>6} {'link P':>7} {'link R':>7} {'PK acc':>7} "
        f"{'time acc':>8} {'composite':>9}"
    )
    print(head)
    for s in [*rows, total]:
        print(
            f"{s.db:18} {s.links_true:6d} {s.link_precision:7.3f} {s.link_recall:7.3f} "
            f"{s.pk_accuracy:7.3f} {s.time_accuracy:8.3f} "
            f"{s.composite_right:4d}/{s.composite_tables:<4d}"
        )
    print("composite: declared/documented multi-column keys found exactly (not thresholded)")
    print("thresholds: " + ", ".join(f"{k} >= {v}" for k, v in THRESHOLDS.items()))
    failed = total.failed_thresholds()
    print("overall: " + ("all thresholds met" if not failed else "below: " + ", ".join(failed)))
    if args.misses:
        for m in total.misses:
            print("  " + m)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
