"""Weak supervision: labeling functions over a snapshot → votes → probabilistic labels.

A labeling function votes one class for some entity rows and abstains on the rest:

- :class:`SqlLF`: a SQL condition over the entity table (alias ``t``), run on the
  snapshot's DuckDB connection (which reaches no file but the snapshot's tables: a
  condition may read other tables through subqueries, nothing else);
- :class:`PythonLF`: a function of the entity row (a dict) returning a class or None.

The analysis is Snorkel's ``LFAnalysis`` (coverage, overlaps, conflicts, and empirical
accuracy when ground truth is given); the label model is Snorkel's ``LabelModel``,
compared with its ``MajorityLabelVoter``. The result is a label set like any other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph._sql import quote_ident
from relgraph.errors import LabelError
from relgraph.store.snapshot import Snapshot

ABSTAIN = -1


@dataclass(frozen=True)
class SqlLF:
    """Votes ``label`` for the rows of the entity table (alias ``t``) where ``condition`` holds."""

    name: str
    condition: str
    label: str


@dataclass(frozen=True)
class PythonLF:
    """Votes what ``fn(row)`` returns (a class, or None to abstain)."""

    name: str
    fn: Callable[[dict[str, Any]], str | None]


LF = SqlLF | PythonLF


@dataclass
class Votes:
    """The label matrix: one row per entity key, one column per LF; -1 is an abstain."""

    keys: list[str]
    matrix: np.ndarray
    names: list[str]
    classes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Votes({len(self.keys)} keys × {len(self.names)} LFs)"


def apply_lfs(
    snapshot: Snapshot, table: str, key: str, lfs: Sequence[LF], classes: Sequence[str]
) -> Votes:
    """Run every labeling function over every row of ``table``."""
    if not lfs:
        raise LabelError("weak supervision needs at least one labeling function")
    names = [lf.name for lf in lfs]
    if len(set(names)) != len(names):
        raise LabelError("labeling function names must be distinct")
    index = {c: i for i, c in enumerate(classes)}
    for lf in lfs:
        if isinstance(lf, SqlLF) and lf.label not in index:
            raise LabelError(f"labeling function '{lf.name}' votes '{lf.label}', not a class")
    con = snapshot.duckdb()
    t, k = quote_ident(table), quote_ident(key)
    keys = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT CAST({k} AS VARCHAR) FROM {t} WHERE {k} IS NOT NULL ORDER BY 1"
        ).fetchall()
    ]
    pos = {kk: i for i, kk in enumerate(keys)}
    L = np.full((len(keys), len(lfs)), ABSTAIN, dtype=np.int64)
    rows: list[dict[str, Any]] | None = None
    for j, lf in enumerate(lfs):
        if isinstance(lf, SqlLF):
            if ";" in lf.condition:
                raise LabelError(f"labeling function '{lf.name}': one condition, no ';'")
            try:
                hit = con.execute(
                    f"SELECT DISTINCT CAST(t.{k} AS VARCHAR) FROM {t} AS t WHERE ({lf.condition})"
                ).fetchall()
            except Exception as e:  # DuckDB's parser/binder errors name the problem
                raise LabelError(f"labeling function '{lf.name}': {e}") from None
            for (kk,) in hit:
                if kk in pos:
                    L[pos[kk], j] = index[lf.label]
        else:
            if rows is None:
                rows = snapshot.read_table(table).to_pylist()
            for row in rows:
                v = lf.fn(row)
                if v is None or row.get(key) is None:
                    continue
                if v not in index:
                    raise LabelError(f"labeling function '{lf.name}' voted {v!r}, not a class")
                L[pos[str(row[key])], j] = index[v]
    return Votes(keys=keys, matrix=L, names=names, classes=tuple(classes))


def analyze(votes: Votes, truth: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Per LF: polarity, coverage, overlaps, conflicts (and accuracy against ``truth``)."""
    from snorkel.labeling import LFAnalysis

    summary = LFAnalysis(votes.matrix).lf_summary(Y=None if truth is None else np.asarray(truth))
    out = []
    for name, (_, row) in zip(votes.names, summary.iterrows(), strict=True):
        d: dict[str, Any] = {"lf": name}
        for col, v in row.items():
            key = str(col).lower().replace(" ", "_").replace(".", "")
            d[key] = (
                [votes.classes[int(c)] for c in v]
                if key == "polarity"
                else (float(v) if isinstance(v, int | float | np.number) else v)
            )
        out.append(d)
    return out


def label_model(votes: Votes, *, epochs: int = 500, seed: int = 0) -> np.ndarray:
    """Snorkel's LabelModel: class probabilities per key (rows all-abstain get the prior)."""
    import torch
    from snorkel.labeling.model import LabelModel

    # The model is a few k×k matrices: one thread. With torch's default (one per core)
    # a fit on a busy 2-core machine took 20× longer (22 s against 0.3 s, 864 × 6 votes).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        lm = LabelModel(cardinality=len(votes.classes), verbose=False)
        lm.fit(votes.matrix, n_epochs=epochs, seed=seed, progress_bar=False)
        return np.asarray(lm.predict_proba(votes.matrix))
    finally:
        torch.set_num_threads(threads)


def majority_vote(votes: Votes) -> np.ndarray:
    """Snorkel's MajorityLabelVoter: a class index per key, -1 where all abstain or tie."""
    from snorkel.labeling.model import MajorityLabelVoter

    mv = MajorityLabelVoter(cardinality=len(votes.classes))
    return np.asarray(mv.predict(votes.matrix, tie_break_policy="abstain"))


def label_set_table(votes: Votes, probs: np.ndarray, *, covered_only: bool = True) -> pa.Table:
    """Rows for a label set: the most probable class and its probability as confidence."""
    keep = (votes.matrix != ABSTAIN).any(axis=1) if covered_only else np.ones(len(votes.keys), bool)
    idx = np.flatnonzero(keep)
    best = probs.argmax(axis=1)
    n = len(idx)
    return pa.table(
        {
            "key": pa.array([votes.keys[i] for i in idx], pa.string()),
            "label": pa.array([votes.classes[best[i]] for i in idx], pa.string()),
            "confidence": pa.array([float(probs[i, best[i]]) for i in idx], pa.float64()),
            "labeler": pa.array(["label_model"] * n, pa.string()),
            "stage": pa.array(["weak"] * n, pa.string()),
            "labeled_at": pa.array([""] * n, pa.string()),
        }
    )
