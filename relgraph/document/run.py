"""``document``: suggest business terms for every unmapped column, with evidence.

One plain function, :func:`document`, that the CLI (and later a job kind and a
REST route) call: profiles → column graph → GraphSAGE trained on the mapped
columns → top-2 terms per unmapped column, written to Parquet. With
``holdout_databases`` it also scores GraphSAGE and the baselines on the mapped
columns of those databases (trained without them).
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.document.columns import ColumnProfile
from relgraph.document.graph import (
    CONTEXT_DIM,
    NAME_DIM,
    RELATIONS,
    ColumnGraph,
    build_graph,
    context_features,
    name_features,
)
from relgraph.document.lineage import LineageEdge
from relgraph.document.model import graphsage, logistic, majority, score
from relgraph.errors import DataValidationError

EVIDENCE_FEATURES = 3
EVIDENCE_NEIGHBOURS = 3
_NEIGHBOUR_RANK = {"lineage": 0, "link": 1, "same_table": 2}


@dataclass
class DocumentResult:
    columns: int
    mapped: int
    terms: int
    edges: dict[str, int]
    unmatched_lineage: list[str]
    suggestions: int
    output: str | None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "mapped": self.mapped,
            "terms": self.terms,
            "edges": self.edges,
            "unmatched_lineage": self.unmatched_lineage[:50],
            "unmatched_lineage_count": len(self.unmatched_lineage),
            "suggestions": self.suggestions,
            "output": self.output,
            "scores": self.scores,
            "seconds": self.seconds,
        }


def _labels(
    graph: ColumnGraph, mapping: Mapping[str, str]
) -> tuple[np.ndarray, list[str], list[str]]:
    """y (-1 where unmapped), the term list, and mapping keys that name no column."""
    terms = sorted(set(mapping.values()))
    code = {t: i for i, t in enumerate(terms)}
    y = np.full(graph.num_nodes, -1, dtype=np.int64)
    unknown = []
    for key, term in mapping.items():
        i = graph.index.get(key)
        if i is None:
            unknown.append(key)
        else:
            y[i] = code[term]
    return y, terms, unknown


def evaluate(
    graph: ColumnGraph,
    y: np.ndarray,
    holdout_databases: Sequence[str],
    *,
    epochs: int | None = None,
    seed: int = 0,
    ablate_lineage: bool = True,
    subsets: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, float]]:
    """Scores on the mapped columns of ``holdout_databases``, trained on the other mapped ones."""
    held = np.array([p.database in set(holdout_databases) for p in graph.profiles])
    train = np.flatnonzero((y >= 0) & ~held)
    test = np.flatnonzero((y >= 0) & held)
    if len(train) == 0 or len(test) == 0:
        raise DataValidationError(
            f"cannot evaluate: {len(train)} mapped training columns, {len(test)} mapped held-out "
            f"columns in {list(holdout_databases)}"
        )
    n_classes = int(y.max()) + 1
    x_all = graph.all_features()
    kw: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
    y0 = np.maximum(y, 0)
    proba = {"GraphSAGE": graphsage(graph, x_all, y0, train, n_classes, **kw).proba}
    if ablate_lineage:
        rels = [r for r in RELATIONS if r != "lineage"]
        proba["GraphSAGE without lineage"] = graphsage(
            graph, x_all, y0, train, n_classes, relations=rels, **kw
        ).proba
    proba["name-only"] = logistic(graph.name_x, y, train, n_classes)
    proba["graph-free"] = logistic(x_all, y, train, n_classes)
    proba["majority"] = majority(y[train], graph.num_nodes, n_classes)
    out: dict[str, dict[str, float]] = {}
    # Named subsets of the held-out columns (e.g. those with a lineage edge), scored apart.
    for part, mask in {"": np.ones(graph.num_nodes, bool), **(subsets or {})}.items():
        rows = test[mask[test]]
        if len(rows) == 0:
            continue
        for name, p in proba.items():
            out[f"{name} [{part}]" if part else name] = score(p[rows], y[rows]).to_dict()
    return out


def suggest(
    graph: ColumnGraph,
    y: np.ndarray,
    terms: list[str],
    *,
    epochs: int | None = None,
    seed: int = 0,
) -> pa.Table:
    """Top-2 terms with probabilities and evidence for every unmapped column."""
    train = np.flatnonzero(y >= 0)
    if len(train) == 0:
        raise DataValidationError(
            "no column of the mapping is in the catalogue: nothing to learn from"
        )
    x_all = graph.all_features()
    n_classes = len(terms)
    kw: dict[str, Any] = {"seed": seed} | ({"epochs": epochs} if epochs else {})
    res = graphsage(graph, x_all, np.maximum(y, 0), train, n_classes, saliency=True, **kw)
    proba = res.proba
    order = np.argsort(-proba, axis=1)
    best = order[:, 0]
    todo = np.flatnonzero(y < 0)
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "database",
            "table",
            "column",
            "term_1",
            "probability_1",
            "term_2",
            "probability_2",
            "evidence_features",
            "evidence_neighbours",
        )
    }
    from sklearn.utils import murmurhash3_32

    # Which input dimension a name/context token lands in (FeatureHasher's own hash).
    def dim(tok: str, block_start: int, width: int) -> int:
        return block_start + abs(int(murmurhash3_32(tok, seed=0))) % width

    import scipy.sparse as sp

    n = graph.num_nodes
    adj = {
        rel: sp.csr_matrix((np.ones(e.shape[1], np.int8), (e[0], e[1])), shape=(n, n))
        for rel, e in graph.edges.items()
    }
    for i in todo:
        p = graph.profiles[i]
        t1, t2 = order[i, 0], order[i, 1] if n_classes > 1 else order[i, 0]
        toks = name_features(p) + context_features(p)
        dims = [dim(t, 0, NAME_DIM) for t in name_features(p)] + [
            dim(t, NAME_DIM, CONTEXT_DIM) for t in context_features(p)
        ]
        feats = list(zip(res.saliency(x_all, int(i), dims), toks, strict=True))
        feats.sort(reverse=True)
        top_feats = [f"{tok} ({w:+.2f})" for w, tok in feats[:EVIDENCE_FEATURES] if w > 0]
        # Neighbours whose known (or, failing that, suggested) term is the suggestion.
        agree = []
        near = [
            (rel, int(j))
            for rel in sorted(adj, key=lambda r: _NEIGHBOUR_RANK[r])
            for j in adj[rel].indices[adj[rel].indptr[i] : adj[rel].indptr[i + 1]]
        ]
        for rel, j in near:
            term_j = y[j] if y[j] >= 0 else best[j]
            if term_j == t1:
                q = graph.profiles[j]
                how = "mapped" if y[j] >= 0 else "suggested"
                agree.append(f"{rel}: {q.table}.{q.column} ({how} {terms[t1]})")
            if len(agree) >= EVIDENCE_NEIGHBOURS:
                break
        for k, v in (
            ("database", p.database),
            ("table", p.table),
            ("column", p.column),
            ("term_1", terms[t1]),
            ("probability_1", float(proba[i, t1])),
            ("term_2", terms[t2]),
            ("probability_2", float(proba[i, t2])),
            ("evidence_features", top_feats),
            ("evidence_neighbours", agree),
        ):
            rows[k].append(v)
    return pa.table(rows)


def write_parquet(table: pa.Table, path: str | Path) -> None:
    from relgraph.store.atomic import write_bytes

    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(Path(path), buf.getvalue())


def document(
    profiles: list[ColumnProfile],
    mapping: Mapping[str, str],
    *,
    lineage: Mapping[str, Sequence[LineageEdge]] | None = None,
    out: str | Path | None = None,
    holdout_databases: Sequence[str] = (),
    embed_names: bool = False,
    epochs: int | None = None,
    seed: int = 0,
) -> DocumentResult:
    """Build the column graph, score on ``holdout_databases`` if given, suggest terms."""
    if not profiles:
        raise DataValidationError("no columns to document")
    t0 = time.perf_counter()
    graph, unmatched = build_graph(profiles, lineage, embed_names=embed_names, seed=seed)
    y, terms, unknown = _labels(graph, mapping)
    if unknown:
        raise DataValidationError(
            f"{len(unknown)} mapped column(s) are in no snapshot, e.g. {unknown[:3]}; "
            "name columns as database.table.column"
        )
    t1 = time.perf_counter()
    scores = (
        evaluate(graph, y, holdout_databases, epochs=epochs, seed=seed) if holdout_databases else {}
    )
    t2 = time.perf_counter()
    table = suggest(graph, y, terms, epochs=epochs, seed=seed)
    if out is not None:
        write_parquet(table, out)
    t3 = time.perf_counter()
    return DocumentResult(
        columns=graph.num_nodes,
        mapped=int((y >= 0).sum()),
        terms=len(terms),
        edges={r: int(e.shape[1]) // 2 for r, e in graph.edges.items()},
        unmatched_lineage=unmatched,
        suggestions=table.num_rows,
        output=str(out) if out is not None else None,
        scores=scores,
        seconds={"graph": t1 - t0, "evaluate": t2 - t1, "suggest": t3 - t2},
    )
