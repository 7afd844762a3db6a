"""LightGBM attributions: exact TreeSHAP values from LightGBM's own ``pred_contrib``.

LightGBM computes SHAP values of its trees itself (``Booster.predict(...,
pred_contrib=True)``, the TreeSHAP algorithm): per row, one value per feature plus the
expected output, adding up to the row's raw output (log-odds for binary). No extra
dependency, and the values are exact for the stored trees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.errors import TrainingError
from relgraph.train.loop import task_kind


@dataclass
class LGBMAttribution:
    """SHAP values of ``n`` rows: ``contrib[i, j]`` is feature ``j``'s part of row ``i``."""

    features: list[str]
    values: np.ndarray  # [n, features]: the feature values the trees read
    contrib: np.ndarray  # [n, features]
    expected: np.ndarray  # [n]: the model's expected raw output
    output: np.ndarray  # [n]: the raw output (expected + contributions)
    categories: dict[str, list[Any]]

    @property
    def n(self) -> int:
        return int(self.contrib.shape[0])

    def value_of(self, i: int, j: int) -> Any:
        """Row ``i``'s value of feature ``j`` as the data has it (category names, not codes)."""
        v = self.values[i, j]
        if np.isnan(v):
            return None
        cats = self.categories.get(self.features[j])
        if cats is not None and 0 <= int(v) < len(cats):
            return cats[int(v)]
        return float(v)


def feature_matrix(model: Any, rows: pa.Table) -> np.ndarray:
    """The matrix the stored LightGBM model reads for ``rows`` (its own features, in order)."""
    x, _ = model._xy(rows.select(["ENTITY", "ANCHOR_TIMESTAMP"]))
    return np.asarray(x, dtype=np.float64)


def explain_lightgbm(model: Any, rows: pa.Table, *, x: np.ndarray | None = None) -> LGBMAttribution:
    """SHAP values of a stored :class:`~relgraph.train.baseline.LightGBMBaseline` for ``rows``.

    Multiclass: the values of each row's predicted class.
    """
    if getattr(model, "residual_", False):
        raise TrainingError(
            "the residual LightGBM predicts a change from the last label; explain 'lightgbm'"
        )
    x = feature_matrix(model, rows) if x is None else x
    booster = model.booster_
    it = booster.best_iteration or None
    raw = np.asarray(booster.predict(x, pred_contrib=True, num_iteration=it))
    nf = len(model.feature_names_)
    if task_kind(model.task) == "multiclass":
        k = raw.shape[1] // (nf + 1)
        per = raw.reshape(raw.shape[0], k, nf + 1)
        cls = per.sum(axis=2).argmax(axis=1)
        raw = per[np.arange(raw.shape[0]), cls]
    contrib, expected = raw[:, :nf], raw[:, nf]
    return LGBMAttribution(
        features=list(model.feature_names_),
        values=x,
        contrib=contrib,
        expected=expected,
        output=expected + contrib.sum(axis=1),
        categories=dict(model.categories_),
    )


def masked_output(model: Any, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Raw outputs with the ``True`` entries of ``mask`` (``[n, features]``) removed (missing)."""
    xm = np.where(mask, np.nan, x)
    booster = model.booster_
    out = np.asarray(
        booster.predict(xm, raw_score=True, num_iteration=booster.best_iteration or None)
    )
    if out.ndim == 2:  # multiclass: the largest class score
        out = out.max(axis=1)
    return out


def feature_source(name: str, entity_table: str, tables: list[str]) -> tuple[str, str]:
    """``(table, column or aggregate)`` a baseline feature reads.

    ``own__age`` is the entity's column; ``orders.user_id.30d.mean.price`` an aggregate
    of the ``orders`` rows that point at the entity; ``past_label.*`` the entity's
    own past labels.
    """
    if name.startswith("own__"):
        return entity_table, name[len("own__") :]
    if name.startswith("past_label."):
        return "past labels", name
    for t in sorted(tables, key=len, reverse=True):
        if name.startswith(t + "."):
            return t, name[len(t) + 1 :]
    return "?", name
