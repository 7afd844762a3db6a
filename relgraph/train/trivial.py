"""Trivial baselines: the models every learned model must beat to be worth shipping.

A model that loses to "predict the training mean" or "recommend the most popular
items" is worse than no model; the report puts these beside the GNN and LightGBM on
the same split and ``predict`` falls back to the best of them when nothing learned
beats it on validation.

Per task type:
- binary: ``prior`` (the training positive rate for everyone), ``last_value`` (the
  entity's latest known label), ``past_mean`` (the mean of its known labels);
- regression: ``mean``, ``median``, ``last_value``, ``past_mean``;
- multiclass: ``majority``, ``last_value``;
- link: ``popularity`` (items most often in training targets), ``repeat_past``
  (the entity's own past items by frequency, then popular ones).

"Known" labels are the labelled rows (``history``) whose window had ended by the
row's input time: a label at anchor *a* with window Δ reads rows up to *a+Δ*, so it
may only inform a prediction made at or after *a+Δ*. Entities with no known label
get the constant (prior / mean / majority / popularity).

Example:
    >>> import pyarrow as pa
    >>> from datetime import datetime, timedelta
    >>> class T:
    ...     task_type, metric, k, window = "regression", "mae", None, timedelta(days=30)
    >>> train = pa.table({"ENTITY": [1, 2, 3], "TARGET": [1.0, 2.0, 9.0],
    ...                   "ANCHOR_TIMESTAMP": [datetime(2020, 1, 1)] * 3})
    >>> TrivialBaseline("median", T()).fit(train).predict_raw(train).tolist()
    [2.0, 2.0, 2.0]
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from relgraph.errors import TrainingError
from relgraph.train.loop import metric_key, task_kind
from relgraph.train.metrics import evaluate, key_link_metrics
from relgraph.train.protocol import input_times

# The trivial baselines of each task type, in report order.
TRIVIAL: dict[str, tuple[str, ...]] = {
    "binary": ("prior", "last_value", "past_mean"),
    "regression": ("mean", "median", "last_value", "past_mean"),
    "multiclass": ("majority", "last_value"),
    "link": ("popularity", "repeat_past"),
}
# Baselines that read each entity's past labels (and so need a time window).
_PAST = frozenset({"last_value", "past_mean", "repeat_past"})
# Popular items kept beyond k, for rankings that skip what the entity already has.
_SPARE = 200


def trivial_names(task: Any) -> tuple[str, ...]:
    """The trivial baselines that apply to ``task`` (past-label ones need a window)."""
    names = TRIVIAL.get(task_kind(task), ())
    if _window_seconds(task) is None:
        names = tuple(n for n in names if n not in _PAST)
    return names


def _window_seconds(task: Any) -> float | None:
    w = getattr(task, "window", None)
    if w is None:
        return None
    return float(w.total_seconds()) if hasattr(w, "total_seconds") else float(w)


def _empty_history() -> pa.Table:
    return pa.table(
        {
            "ENTITY": pa.array([], pa.int64()),
            "ANCHOR_TIMESTAMP": pa.array([], pa.timestamp("us")),
            "TARGET": pa.array([], pa.float64()),
        }
    )


@dataclass
class TrivialBaseline:
    """One trivial baseline; ``fit`` on the training table, predict with the labelled past.

    Args:
        name: one of :data:`TRIVIAL` for the task's type.
        task: the task (``task_type``, ``metric``, ``k``, ``window``).
    """

    name: str
    task: Any
    constant_: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        kind = task_kind(self.task)
        if self.name not in TRIVIAL.get(kind, ()):
            raise TrainingError(
                f"no trivial baseline '{self.name}' for {kind} tasks; "
                f"use one of: {', '.join(TRIVIAL.get(kind, ())) or 'none'}"
            )

    def __repr__(self) -> str:
        return f"TrivialBaseline({self.name!r}, task={task_kind(self.task)})"

    @property
    def kind(self) -> str:
        return task_kind(self.task)

    # -- fit ----------------------------------------------------------------
    def fit(self, train: pa.Table) -> TrivialBaseline:
        if train.num_rows == 0:
            raise TrainingError("trivial baselines need a non-empty training table")
        y = train.column("TARGET").to_pylist()
        kind = self.kind
        if kind == "binary":
            self.constant_ = float(np.mean(y))
        elif kind == "regression":
            fn = np.median if self.name == "median" else np.mean
            self.constant_ = float(fn(np.asarray(y, dtype=np.float64)))
        elif kind == "multiclass":
            self.constant_ = int(Counter(int(v) for v in y).most_common(1)[0][0])
        else:  # link: items by how often they appear in training targets
            counts = Counter(item for items in y for item in (items or ()))
            # More than k: room to skip the items an entity already has.
            k = int(self.task.k or 10) + _SPARE
            self.constant_ = [item for item, _ in counts.most_common(k)]
        return self

    def state(self) -> dict[str, Any]:
        """JSON-ready learned state (``from_state`` rebuilds the baseline)."""
        self._check_fitted()
        return {"name": self.name, "constant": self.constant_}

    @classmethod
    def from_state(cls, task: Any, state: dict[str, Any]) -> TrivialBaseline:
        b = cls(str(state["name"]), task)
        b.constant_ = state["constant"]
        return b

    def _check_fitted(self) -> None:
        if self.constant_ is None:
            raise TrainingError(f"trivial baseline '{self.name}' is not fitted; call fit() first")

    # -- predict ------------------------------------------------------------
    def _num_classes(self) -> int:
        classes = getattr(self.task, "classes", None)
        return len(classes) if classes else int(self.constant_) + 1

    def predict_raw(self, rows: pa.Table, history: pa.Table | None = None) -> np.ndarray:
        """Binary: P(1); regression: values; multiclass: [n, C] one-hot-ish probabilities.

        ``history``: labelled rows (``ENTITY, ANCHOR_TIMESTAMP, TARGET``) the past-label
        baselines may read where their window ended by the row's ``ANCHOR_TIMESTAMP``.
        """
        self._check_fitted()
        kind, n = self.kind, rows.num_rows
        if kind == "link":
            raise TrainingError("link baselines rank; call rank()")
        past = self._past(rows, history) if self.name in _PAST else None
        if kind == "multiclass":
            c = self._num_classes()
            cls = np.full(n, int(self.constant_), dtype=np.int64)
            if past is not None:
                known = ~np.isnan(past)
                cls[known] = past[known].astype(np.int64)
            # A small floor keeps every class possible (the argmax is the prediction).
            prob = np.full((n, c), 1e-3)
            prob[np.arange(n), np.clip(cls, 0, c - 1)] = 1.0
            return np.asarray(prob / prob.sum(1, keepdims=True))
        out = np.full(n, float(self.constant_))
        if past is not None:
            known = ~np.isnan(past)
            out[known] = past[known]
        return out

    def _past(self, rows: pa.Table, history: pa.Table | None) -> np.ndarray:
        """The entity's last (or mean of) known label per row; NaN where none is known."""
        window = _window_seconds(self.task) or 0.0
        hist = history if history is not None and history.num_rows else _empty_history()
        agg = "last_y" if self.name == "last_value" else "mean_y"
        con = duckdb.connect()
        try:
            con.register("r", _rows(rows))
            con.register("h", hist.select(["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"]))
            # Running mean per entity in label-end order; ASOF picks the latest ended label.
            out = con.sql(
                f"""
                WITH hh AS (
                    SELECT ENTITY,
                           CAST(ANCHOR_TIMESTAMP AS TIMESTAMP) + TO_SECONDS({window}) AS ended,
                           CAST(TARGET AS DOUBLE) AS last_y,
                           AVG(CAST(TARGET AS DOUBLE)) OVER (
                               PARTITION BY ENTITY ORDER BY ANCHOR_TIMESTAMP
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS mean_y
                    FROM h
                )
                SELECT r._rid, hh.{agg} AS y FROM r ASOF LEFT JOIN hh
                    ON r.ENTITY = hh.ENTITY AND r.t >= hh.ended
                ORDER BY r._rid
                """
            ).to_arrow_table()
        finally:
            con.close()
        return np.asarray(out.column("y").to_numpy(zero_copy_only=False), dtype=np.float64)

    def rank(
        self,
        rows: pa.Table,
        history: pa.Table | None = None,
        exclude: list[list[Any]] | None = None,
    ) -> list[list[Any]]:
        """Link: the top-``k`` target keys per row.

        ``exclude``: per row, keys the entity already has (``relgraph.train.seen``);
        ``popularity`` skips them, as the GNN does, so that the two compare like for
        like. ``repeat_past`` ranks the entity's own past items by design and does not.
        """
        self._check_fitted()
        k = int(self.task.k or 10)
        popular = list(self.constant_)
        if self.name == "popularity":
            if exclude is None:
                return [popular[:k] for _ in range(rows.num_rows)]
            out_p = []
            for had in exclude:
                skip = set(had)
                out_p.append([p for p in popular if p not in skip][:k])
            return out_p
        window = _window_seconds(self.task) or 0.0
        hist = history if history is not None and history.num_rows else None
        own: dict[int, list[Any]] = {}
        if hist is not None:
            con = duckdb.connect()
            try:
                con.register("r", _rows(rows))
                con.register("h", hist.select(["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"]))
                got = con.sql(
                    f"""
                    WITH hh AS (
                        SELECT ENTITY,
                               CAST(ANCHOR_TIMESTAMP AS TIMESTAMP) + TO_SECONDS({window}) AS ended,
                               UNNEST(TARGET) AS item
                        FROM h
                    ), c AS (
                        SELECT r._rid, hh.item, count(*) AS n, max(hh.ended) AS last
                        FROM r JOIN hh ON r.ENTITY = hh.ENTITY AND hh.ended <= r.t
                        GROUP BY ALL
                    )
                    SELECT _rid, list(item ORDER BY n DESC, last DESC, item) AS items
                    FROM c GROUP BY _rid
                    """
                ).to_arrow_table()
            finally:
                con.close()
            own = dict(
                zip(got.column("_rid").to_pylist(), got.column("items").to_pylist(), strict=True)
            )
        out = []
        for i in range(rows.num_rows):
            mine = own.get(i, [])[:k]
            seen = set(mine)
            out.append(mine + [p for p in popular if p not in seen][: k - len(mine)])
        return out

    def score(
        self,
        rows: pa.Table,
        history: pa.Table | None = None,
        exclude: list[list[Any]] | None = None,
    ) -> dict[str, float]:
        """All metrics of the task type; ``rows`` carry ``TARGET`` (``exclude``: link)."""
        y = rows.column("TARGET")
        kind = self.kind
        if kind == "link":
            k = int(self.task.k or 10)
            ranked = self.rank(rows, history, exclude)
            return key_link_metrics([t or [] for t in y.to_pylist()], ranked, k)
        yy = y.to_numpy(zero_copy_only=False)
        yy = yy.astype(np.int64 if kind == "multiclass" else np.float64)
        return evaluate(kind, yy, self.predict_raw(rows, history))

    @property
    def metric(self) -> str:
        return metric_key(self.task)


def _rows(rows: pa.Table) -> pa.Table:
    return pa.table(
        {
            "_rid": pa.array(np.arange(rows.num_rows, dtype=np.int64)),
            "ENTITY": rows.column("ENTITY"),
            "t": input_times(rows),
        }
    )
