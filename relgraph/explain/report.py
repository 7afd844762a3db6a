"""What an explanation reports: ranked inputs (global), one entity's inputs (local), cohorts.

Attributions are in the model's raw output units (``units``): log-odds for binary
models, the class score for multiclass, the (normalised, for the GNN) value for
regression. ``mean_abs`` ranks an input by how much it moves predictions either way;
``mean`` says in which direction it moves them on average.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Attribution:
    """One input's part in the model's outputs, over the explained rows."""

    name: str  # table.column, an aggregate, or an edge type
    table: str
    mean_abs: float
    mean: float
    share: float = 0.0  # of the summed mean_abs of its kind


@dataclass
class Cohort:
    """Predictions for entities in a cohort (a feature value) against the rest."""

    feature: str
    cohort: str  # e.g. "nationality = British", "age ≥ 31"
    with_rows: int
    with_mean: float
    without_rows: int
    without_mean: float

    @property
    def difference(self) -> float:
        return self.with_mean - self.without_mean


@dataclass
class ColumnValue:
    column: str
    value: Any
    attribution: float


@dataclass
class RowContribution:
    """One sampled row of the entity's subgraph and what its columns contributed."""

    table: str
    key: Any  # the row's primary key (its row number when the table has none)
    time: str | None
    hop: int
    attribution: float
    columns: list[ColumnValue] = field(default_factory=list)


@dataclass
class LocalExplanation:
    """Why one entity got its prediction."""

    entity: Any
    anchor: str
    prediction: Any  # probability, value or class, as predict writes it
    output: float  # raw output (the unit of the attributions)
    baseline: float  # raw output with every input removed (GNN) / expected output (LightGBM)
    columns: list[ColumnValue]  # the entity's own and its neighbours' columns, ranked
    rows: list[RowContribution]  # the sampled rows that moved the output most


@dataclass
class Explanation:
    """A model's explanation: global rankings, cohorts and, with an entity, the local view."""

    model_id: str
    model_kind: str  # gnn | lightgbm
    snapshot_id: str
    task_type: str
    at: str
    rows: int  # explained rows (the global view's sample)
    units: str
    method: str
    columns: list[Attribution]
    tables: list[Attribution]
    edge_types: list[Attribution] = field(default_factory=list)
    cohorts: list[Cohort] = field(default_factory=list)
    entity: LocalExplanation | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cohorts"] = [asdict(c) | {"difference": c.difference} for c in self.cohorts]
        out: dict[str, Any] = _plain(d)
        return out


def _plain(v: Any) -> Any:
    """JSON-ready: NumPy scalars to Python, non-finite floats to None."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def ranked(
    names: list[tuple[str, str]], per_row: np.ndarray, top: int | None = None
) -> list[Attribution]:
    """Attributions ranked by mean |value| over rows; ``per_row``: ``[rows, inputs]``."""
    if per_row.size == 0:
        return []
    mean_abs = np.abs(per_row).mean(axis=0)
    mean = per_row.mean(axis=0)
    total = float(mean_abs.sum()) or 1.0
    out = [
        Attribution(name=n, table=t, mean_abs=float(a), mean=float(m), share=float(a) / total)
        for (t, n), a, m in zip(names, mean_abs, mean, strict=True)
    ]
    out.sort(key=lambda a: -a.mean_abs)
    return out[:top] if top else out


def by_table(columns: list[Attribution]) -> list[Attribution]:
    """Column attributions summed per table (``mean_abs`` of a table: its columns' sum)."""
    acc: dict[str, list[float]] = {}
    for a in columns:
        s = acc.setdefault(a.table, [0.0, 0.0])
        s[0] += a.mean_abs
        s[1] += a.mean
    total = sum(v[0] for v in acc.values()) or 1.0
    out = [
        Attribution(name=t, table=t, mean_abs=v[0], mean=v[1], share=v[0] / total)
        for t, v in acc.items()
    ]
    out.sort(key=lambda a: -a.mean_abs)
    return out


def cohorts(
    features: Mapping[str, list[Any] | np.ndarray], prediction: np.ndarray, *, min_rows: int = 3
) -> list[Cohort]:
    """Per feature, the prediction of entities with a value against the rest.

    Numbers: at or above the median against below (missing values count as "without");
    categories and text: the most frequent value against every other (not for columns
    whose values are nearly all distinct).
    """
    out: list[Cohort] = []
    pred = np.asarray(prediction, dtype=np.float64)
    for name, raw in features.items():
        values = list(raw)
        if len(values) != len(pred):
            continue
        nums = _numbers(values)
        if nums is not None:
            known = nums[~np.isnan(nums)]
            if known.size < min_rows or np.unique(known).size < 2:
                continue
            cut = float(np.median(known))
            if cut == float(known.max()):  # a value most rows share: above it is the cohort
                mask = nums > float(known.min())
                label = f"{name} > {float(known.min()):g}"
            else:
                mask = nums >= cut
                label = f"{name} ≥ {cut:g}"
        else:
            present = [v for v in values if v is not None]
            if len(present) < min_rows:
                continue
            vals, counts = np.unique(np.asarray([str(v) for v in present]), return_counts=True)
            # A value nearly every entity has its own (a name, a birth date) makes no cohort.
            if vals.size < 2 or vals.size > 0.5 * len(present):
                continue
            top = str(vals[int(np.argmax(counts))])
            mask = np.asarray([v is not None and str(v) == top for v in values])
            label = f"{name} = {top}"
        if mask.sum() < min_rows or (~mask).sum() < min_rows:
            continue
        out.append(
            Cohort(
                feature=name,
                cohort=label,
                with_rows=int(mask.sum()),
                with_mean=float(pred[mask].mean()),
                without_rows=int((~mask).sum()),
                without_mean=float(pred[~mask].mean()),
            )
        )
    return out


def _numbers(values: list[Any]) -> np.ndarray | None:
    if not all(v is None or isinstance(v, int | float | np.number) for v in values):
        return None
    if all(v is None or isinstance(v, bool | np.bool_) for v in values):
        return None
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=np.float64)
