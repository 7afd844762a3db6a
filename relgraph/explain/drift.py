"""Drift between two snapshots of the same data: labels, feature distributions, scores.

- **labels**: the query's label rate (binary, multiclass: per class share; regression:
  mean) over each snapshot's labelled rows, and over its latest anchors;
- **features**: per column of every table both snapshots have, the population
  stability index (PSI) of its values (numbers: on the old snapshot's deciles;
  categories: per value, with the new values counted), null rates, row counts;
- **scores**: with a model, its predictions "now" on each snapshot, their means and PSI.

PSI reads: < 0.1 stable, 0.1–0.25 moderate, > 0.25 a large shift (the usual
credit-scoring convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.explain.report import _plain
from relgraph.schema.types import SType
from relgraph.store.snapshot import Snapshot

LARGE, MODERATE = 0.25, 0.1
_EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two histograms (counts or shares)."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    e = np.maximum(e / max(e.sum(), 1.0), _EPS)
    a = np.maximum(a / max(a.sum(), 1.0), _EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def numeric_psi(old: np.ndarray, new: np.ndarray, bins: int = 10) -> float:
    old, new = old[~np.isnan(old)], new[~np.isnan(new)]
    if old.size == 0 or new.size == 0:
        return float("nan")
    edges = np.unique(np.quantile(old, np.linspace(0, 1, bins + 1)[1:-1]))
    return psi(
        np.bincount(np.searchsorted(edges, old, side="right"), minlength=edges.size + 1),
        np.bincount(np.searchsorted(edges, new, side="right"), minlength=edges.size + 1),
    )


def _level(p: float) -> str:
    if np.isnan(p):
        return "n/a"
    return "large" if p > LARGE else "moderate" if p > MODERATE else "stable"


@dataclass
class ColumnDrift:
    table: str
    column: str
    kind: str  # numerical | categorical
    psi: float
    level: str
    null_rate_old: float
    null_rate_new: float
    mean_old: float | None = None
    mean_new: float | None = None
    new_values: int = 0  # categories the old snapshot never had


@dataclass
class DriftReport:
    old_snapshot: str
    new_snapshot: str
    rows: dict[str, dict[str, int]]  # table -> {"old": n, "new": n}
    labels: dict[str, Any]
    columns: list[ColumnDrift]
    scores: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(asdict(self))
        return out


def _values(t: pa.Table, col: str) -> tuple[np.ndarray | None, list[Any] | None]:
    c = t.column(col)
    if pa.types.is_integer(c.type) or pa.types.is_floating(c.type):
        return c.cast(pa.float64()).to_numpy(zero_copy_only=False), None
    return None, c.cast(pa.string()).to_pylist()


def column_drift(old: Snapshot, new: Snapshot) -> tuple[list[ColumnDrift], dict[str, Any]]:
    """PSI of every numerical and categorical column of the tables both snapshots have."""
    out: list[ColumnDrift] = []
    rows: dict[str, dict[str, int]] = {}
    for name, ts in new.schema.tables.items():
        if name not in old.schema.tables:
            continue
        cols = [
            c.name
            for c in ts.feature_columns()
            if c.stype in (SType.numerical, SType.categorical)
            and c.name in {x.name for x in old.schema[name].feature_columns()}
        ]
        a, b = old.read_table(name, columns=cols), new.read_table(name, columns=cols)
        rows[name] = {"old": a.num_rows, "new": b.num_rows}
        for c in cols:
            (na, sa), (nb, sb) = _values(a, c), _values(b, c)
            null_a = a.column(c).null_count / max(a.num_rows, 1)
            null_b = b.column(c).null_count / max(b.num_rows, 1)
            if na is not None and nb is not None:
                p = numeric_psi(na, nb)
                out.append(
                    ColumnDrift(
                        name,
                        c,
                        "numerical",
                        p,
                        _level(p),
                        null_a,
                        null_b,
                        float(np.nanmean(na)) if np.isfinite(na).any() else None,
                        float(np.nanmean(nb)) if np.isfinite(nb).any() else None,
                    )
                )
                continue
            va = [str(v) for v in (sa or _as_text(a, c)) if v is not None]
            vb = [str(v) for v in (sb or _as_text(b, c)) if v is not None]
            cats = sorted(set(va) | set(vb))
            if not cats or len(cats) > 1000:  # ids and free text: no distribution to compare
                continue
            idx = {v: i for i, v in enumerate(cats)}
            ha = np.bincount([idx[v] for v in va], minlength=len(cats))
            hb = np.bincount([idx[v] for v in vb], minlength=len(cats))
            p = psi(ha, hb)
            out.append(
                ColumnDrift(
                    name,
                    c,
                    "categorical",
                    p,
                    _level(p),
                    null_a,
                    null_b,
                    new_values=len(set(vb) - set(va)),
                )
            )
    out.sort(key=lambda d: -(d.psi if np.isfinite(d.psi) else -1.0))
    return out, rows


def _as_text(t: pa.Table, col: str) -> list[Any]:
    out: list[Any] = t.column(col).cast(pa.string()).to_pylist()
    return out


def label_drift(old: Snapshot, new: Snapshot, query: str) -> dict[str, Any]:
    """The query's labels on each snapshot: rows, rate (or mean), and over the latest anchors."""
    from relgraph.query import build_task_tables

    out: dict[str, Any] = {}
    for tag, snap in (("old", old), ("new", new)):
        tables = build_task_tables(snap, query)
        parts = [tables.train.table, tables.val.table, tables.test_labels()]
        t = pa.concat_tables(
            [p.select(["ANCHOR_TIMESTAMP", "TARGET"]) for p in parts if p.num_rows],
            promote_options="permissive",
        )
        if t.num_rows == 0:
            out[tag] = {"rows": 0}
            continue
        y = np.asarray(t.column("TARGET").to_pylist(), dtype=object)
        times = t.column("ANCHOR_TIMESTAMP").to_numpy(zero_copy_only=False)
        latest = times >= np.quantile(times.astype("datetime64[us]").astype(np.int64), 0.8).astype(
            "datetime64[us]"
        )
        out[tag] = {
            "rows": int(t.num_rows),
            "rate": _rate(y),
            "rate_latest_anchors": _rate(y[latest]),
            "latest_anchor": str(times.max()),
        }
    return out


def _rate(y: np.ndarray) -> Any:
    if y.size == 0:
        return None
    try:
        return float(np.mean(y.astype(np.float64)))
    except (TypeError, ValueError):  # labels that are not numbers: shares per class
        vals, counts = np.unique(y.astype(str), return_counts=True)
        return {str(v): float(c) / y.size for v, c in zip(vals, counts, strict=True)}


def score_drift(old_scores: np.ndarray, new_scores: np.ndarray) -> dict[str, Any]:
    p = numeric_psi(old_scores, new_scores)
    return {
        "old": {"rows": int(old_scores.size), "mean": float(np.mean(old_scores))},
        "new": {"rows": int(new_scores.size), "mean": float(np.mean(new_scores))},
        "psi": p,
        "level": _level(p),
    }


def _scores(table: pa.Table) -> np.ndarray:
    for col in ("TRUE_PROB", "PREDICTION"):
        if col in table.column_names:
            return np.asarray(table.column(col).cast(pa.float64()).to_numpy(zero_copy_only=False))
    if "RANK" in table.column_names:  # multiclass: the top class's score
        top = table.filter(pa.compute.equal(table.column("RANK"), 1))
        return np.asarray(top.column("SCORE").cast(pa.float64()).to_numpy(zero_copy_only=False))
    return np.zeros(0)


def drift_report(
    workspace: Any,
    new_snapshot: str | None = None,
    *,
    old_snapshot: str | None = None,
    model_id: str | None = None,
    query: str | None = None,
) -> DriftReport:
    """Drift from ``old_snapshot`` (default: the model's) to ``new_snapshot`` (default: latest).

    ``model_id``: also the model's scores "now" on each snapshot (and its query's
    labels); ``query``: labels of this query when no model is given.
    """
    from pathlib import Path

    from relgraph.errors import TrainingError
    from relgraph.predict.run import predict_model
    from relgraph.store.workspace import Workspace
    from relgraph.train.artifacts import load_model

    ws = Workspace(workspace)
    files = load_model(workspace, model_id) if model_id else None
    if old_snapshot is None:
        if files is None:
            raise TrainingError("drift needs the old snapshot: give --from or a model")
        old_snapshot = files.snapshot_id
    old, new = ws.snapshot(old_snapshot), ws.snapshot(new_snapshot)
    columns, rows = column_drift(old, new)
    text = query or (files.meta["query"] if files is not None else None)
    labels = label_drift(old, new, text) if text else {}
    scores = None
    notes: list[str] = []
    if files is not None:
        got = []
        for snap in (old, new):
            dest = Path(workspace) / "outputs" / files.model_id / f"drift-now-{snap.id}.parquet"
            p = predict_model(
                files.model_id, workspace=workspace, split="now", snapshot_id=snap.id,
                to=str(dest),
            )  # fmt: skip
            got.append(_scores(p.table))
        scores = score_drift(got[0], got[1]) | {"model_id": files.model_id}
    if old.id == new.id:
        notes.append("both sides are the same snapshot: there is no drift to see")
    return DriftReport(old.id, new.id, rows, labels, columns, scores, notes)
