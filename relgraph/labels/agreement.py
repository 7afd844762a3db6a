"""Agreement of overlapping labelers (Cohen's kappa per pair, Fleiss' kappa per stage) and
each labeler's accuracy against gold labels (a label set version, ``gold`` by default).

Cohen's kappa is scikit-learn's, Fleiss' is statsmodels'; nothing is hand-computed
but counts.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

from relgraph.errors import StoreError
from relgraph.labels.access import Who
from relgraph.labels.store import LabelStore
from relgraph.store import labelsets


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def agreement(
    ls: LabelStore, project: str, stage: str, *, gold: str | None = "gold", who: Who | None = None
) -> dict[str, Any]:
    """Kappas over items with two or more labels; accuracy per labeler on gold keys."""
    import numpy as np
    from sklearn.metrics import cohen_kappa_score
    from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

    rows = ls.labels(project, stage, who=who)
    by_item: dict[str, dict[str, str]] = defaultdict(dict)
    for r in rows:
        by_item[r["key"]][r["labeler"]] = str(r["value"])
    labelers = sorted({r["labeler"] for r in rows})
    pairs = []
    for a, b in itertools.combinations(labelers, 2):
        common = [k for k, v in by_item.items() if a in v and b in v]
        if len(common) >= 2:
            ya = [by_item[k][a] for k in common]
            yb = [by_item[k][b] for k in common]
            pairs.append(
                {
                    "a": a,
                    "b": b,
                    "items": len(common),
                    "cohen_kappa": _finite(cohen_kappa_score(ya, yb)),
                }
            )
    fleiss = None
    sizes = [len(v) for v in by_item.values() if len(v) >= 2]
    if sizes:
        n = max(set(sizes), key=sizes.count)  # Fleiss needs the same raters per item
        items = [list(v.values()) for v in by_item.values() if len(v) == n]
        if len(items) >= 2:
            table, _ = aggregate_raters(np.asarray(items, dtype=object))
            fleiss = {"items": len(items), "raters": n, "kappa": _finite(fleiss_kappa(table))}
    accuracy: dict[str, Any] = {}
    if gold is not None:
        try:
            g, _ = labelsets.read_version(ls.workspace, project, gold)
        except StoreError:
            g = None
        if g is not None:
            truth = {
                k: str(v) for k, v in zip(g["key"].to_pylist(), g["label"].to_pylist(), strict=True)
            }
            for lab in labelers:
                scored = [(v[lab], truth[k]) for k, v in by_item.items() if lab in v and k in truth]
                if scored:
                    accuracy[lab] = {
                        "items": len(scored),
                        "accuracy": sum(a == b for a, b in scored) / len(scored),
                    }
    return {
        "stage": stage,
        "labelers": labelers,
        "items_with_overlap": len(sizes),
        "cohen": pairs,
        "fleiss": fleiss,
        "gold": gold if accuracy else None,
        "accuracy": accuracy,
    }
