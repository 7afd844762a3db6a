"""A planted signal: the term of a column is readable only through its lineage edge."""

from __future__ import annotations

import numpy as np

from relgraph.document.columns import ColumnProfile
from relgraph.document.graph import build_graph
from relgraph.document.lineage import LineageEdge
from relgraph.document.model import score
from relgraph.document.run import _labels, evaluate

TERMS = ["money", "email", "city", "country"]
WORD = {"money": "price", "email": "email", "city": "city", "country": "country"}


def _catalogue(seed: int = 0) -> tuple[list[ColumnProfile], dict, dict]:
    """Per database: source tables whose column names say the term, and derived tables
    whose columns have meaningless names (``f17``) and the same statistics for every term.
    Only the lineage edge from a derived column to its source carries the term."""
    rng = np.random.default_rng(seed)
    profiles: list[ColumnProfile] = []
    mapping: dict[str, str] = {}
    lineage: dict[str, list[LineageEdge]] = {}
    for d in range(12):
        db = f"db{d}"
        lineage[db] = []
        for k in range(8):
            term = TERMS[int(rng.integers(len(TERMS)))]
            src = ColumnProfile(db, f"raw{k}", f"{WORD[term]}_{k}", "string", "text")
            dst = ColumnProfile(db, f"mart{k % 2}", f"f{k}", "string", "text")
            for p in (src, dst):
                p.rows, p.null_share, p.distinct_share = 100, 0.1, 0.5
            profiles += [src, dst]
            mapping[src.key] = term
            mapping[dst.key] = term
            lineage[db].append(LineageEdge(src.table, src.column, dst.table, dst.column))
    return profiles, mapping, lineage


def test_graphsage_learns_a_term_only_lineage_carries() -> None:
    profiles, mapping, lineage = _catalogue()
    graph, unmatched = build_graph(profiles, lineage)
    assert not unmatched and graph.edges["lineage"].shape[1] == 2 * 96
    held = [f"db{d}" for d in range(8, 12)]
    # Held-out source columns stay in the graph but unmapped: the test set is the
    # derived columns alone, whose own features say nothing of their term.
    mapping = {k: v for k, v in mapping.items() if k.split(".")[0] not in held or ".mart" in k}
    y, _terms, _ = _labels(graph, mapping)
    scores = evaluate(graph, y, held, epochs=40)
    assert scores["GraphSAGE"]["n"] == 32
    assert scores["GraphSAGE"]["top1"] >= 0.9, scores
    # Without the lineage relation, or without a graph, it is a guess among four terms.
    assert scores["GraphSAGE without lineage"]["top1"] < 0.6, scores
    assert scores["graph-free"]["top1"] < 0.6, scores


def test_scores_are_right_on_a_hand_example() -> None:
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.5, 0.1, 0.4]])
    s = score(proba, np.array([0, 2, 1]))
    assert s.top1 == 1 / 3 and s.top2 == 2 / 3
