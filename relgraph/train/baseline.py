"""The tabular baseline: LightGBM on features aggregated per entity as of each anchor time.

For every (entity, anchor) row the features are computed in DuckDB from rows whose
time is at or before the anchor (no leakage): the entity's own columns, and for each
table that points at the entity table (one hop), over several past windows, the
count of rows, the mean of each numerical column, days since the last row, and the
last value of each numerical column.

For a temporal target it also reads the entity's own past labels: the query's target
over the :data:`PAST_LABELS` windows that ended by the row's input time (the labels of
anchors one to four windows earlier), their mean, count and the latest known one. The
trivial ``last_value`` / ``past_mean`` baselines read the same past; with it LightGBM
can follow a level that moved instead of only the past it was trained on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from relgraph import cancel
from relgraph._sql import quote_ident as _q
from relgraph.errors import TrainingError
from relgraph.query.task import hidden_columns
from relgraph.schema.types import SType
from relgraph.store.snapshot import Snapshot
from relgraph.train.loop import task_kind
from relgraph.train.metrics import evaluate, higher_is_better
from relgraph.train.protocol import input_times

log = logging.getLogger(__name__)


# The feature a residual model starts from: the latest known label.
_BASE = "past_label.last"
# How many past target windows the features read (lag 1 = the window ending at the
# row's input time). Four covers a year of 90-day targets without making the label
# SQL run over many more anchors.
PAST_LABELS = 4


def _window_seconds(task: Any) -> int | None:
    w = getattr(task, "window", None)
    if not w:
        return None
    return int(w.total_seconds()) if hasattr(w, "total_seconds") else int(w)


def past_label_features(
    snapshot: Snapshot, task: Any, anchors: pa.Table, con: Any
) -> pa.Table | None:
    """``_rid`` and the entity's past labels per row (None for static or link targets).

    Lag *k* is the query's label at anchor ``input − k·Δ``: its window ends at
    ``input − (k−1)·Δ``, never after the row's input time, so it reads no future.
    Input times are floored to the day first (still no later than the input), which
    keeps the anchors to label few when rows' input times are spread (``with_gaps``).
    """
    from relgraph.query.table import make_labels

    text = getattr(task, "query", None)
    secs = _window_seconds(task)
    if not text or not secs or task_kind(task) not in ("binary", "regression", "multiclass"):
        return None
    day = 86400 * 1_000_000
    base = pc.cast(anchors.column("INPUT_TIMESTAMP"), pa.int64())
    base = pc.multiply(pc.divide(base, day), day)  # integer division: floor (times > 1970)
    times = {int(t) for t in base.to_pylist() if t is not None}
    step = secs * 1_000_000
    lag_anchors = sorted(
        {
            datetime(1970, 1, 1) + timedelta(microseconds=t - k * step)
            for t in times
            for k in range(1, PAST_LABELS + 1)
        }
    )
    labels = make_labels(snapshot, text, lag_anchors, con=con)
    rows = pa.table(
        {
            "_rid": anchors.column("_rid"),
            "ENTITY": anchors.column("ENTITY"),
            "base": base.cast(pa.timestamp("us")),
        }
    )
    con.register("rg_lag_rows", rows)
    con.register("rg_lag_labels", labels)
    try:
        lags = [f"CAST(l{k}.TARGET AS DOUBLE)" for k in range(1, PAST_LABELS + 1)]
        joins = " ".join(
            f"LEFT JOIN rg_lag_labels l{k} ON l{k}.ENTITY = r.ENTITY "
            f"AND l{k}.ANCHOR_TIMESTAMP = r.base - INTERVAL {k * secs} SECOND"
            for k in range(1, PAST_LABELS + 1)
        )
        known = " + ".join(f"CAST({v} IS NOT NULL AS INT)" for v in lags)
        total = " + ".join(f"coalesce({v}, 0)" for v in lags)
        cols = ", ".join(f"{v} AS {_q(f'past_label.{i + 1}')}" for i, v in enumerate(lags))
        sql = (
            f"SELECT r._rid, {cols}, "
            f"coalesce({', '.join(lags)}) AS {_q('past_label.last')}, "
            f"({total}) / nullif({known}, 0) AS {_q('past_label.mean')}, "
            f"{known} AS {_q('past_label.known')} "
            f"FROM rg_lag_rows r {joins} ORDER BY r._rid"
        )
        out: pa.Table = con.sql(sql).to_arrow_table()
        return out
    finally:
        con.unregister("rg_lag_rows")
        con.unregister("rg_lag_labels")


def _windows(task: Any) -> list[timedelta | None]:
    w = getattr(task, "window", None)
    if w:
        return [w, 4 * w, 16 * w, None]
    return [timedelta(days=30), timedelta(days=365), None]


def feature_sql(snapshot: Snapshot, task: Any) -> str:
    """The SELECT computing baseline features for ``anchors`` (ENTITY, ANCHOR_TIMESTAMP, _rid)."""
    schema = snapshot.schema
    ent = schema[task.entity_table]
    pk = ent.primary_key or task.entity_column
    # 1. The entity's own columns (numerical as is, categorical as dictionary codes later),
    # less a static target's own column (it would answer its own question).
    text = getattr(task, "query", None)
    hidden = hidden_columns(text).get(ent.name, frozenset()) if text else frozenset()
    own = [
        c
        for c in ent.feature_columns()
        if c.stype in (SType.numerical, SType.categorical) and c.name not in hidden
    ]
    selects = ["a._rid"] + [
        f"rg_number(e.{_q(c.name)}) AS {_q('own__' + c.name)}"
        if c.stype is SType.numerical and c.dtype in ("string", "large_string")
        else f"e.{_q(c.name)} AS {_q('own__' + c.name)}"
        for c in own
    ]
    joins = [f"LEFT JOIN {_q(ent.name)} e ON e.{_q(pk)} = a.ENTITY"]
    # 2. One subquery per child table (a table with a foreign key to the entity table).
    n = 0
    for child in schema.tables.values():
        for fk in child.foreign_keys:
            if fk.target != ent.name:
                continue
            n += 1
            alias = f"c{n}"
            tcol = child.time_column
            num_cols = [c for c in child.feature_columns() if c.stype is SType.numerical]
            nums = [c.name for c in num_cols]
            # Numbers stored as text ("1:26.572") are read with the snapshot's rg_number macro.
            value = {
                c.name: (
                    f"rg_number(r.{_q(c.name)})"
                    if c.dtype in ("string", "large_string")
                    else f"r.{_q(c.name)}"
                )
                for c in num_cols
            }
            parts = []
            for w in _windows(task):
                tag = (
                    f"{child.name}.{fk.column}.{int(w.total_seconds() // 86400)}d"
                    if w
                    else f"{child.name}.{fk.column}.all"
                )
                cond = "TRUE"
                if w is not None and tcol is not None:
                    secs = int(w.total_seconds())
                    cond = f"r.{_q(tcol)} > a.ANCHOR_TIMESTAMP - INTERVAL {secs} SECOND"
                elif w is not None:
                    continue  # a timeless table has no windows
                parts.append(
                    f"count(r.{_q(fk.column)}) FILTER (WHERE {cond}) AS {_q(tag + '.count')}"
                )
                for c in nums:
                    parts.append(
                        f"avg({value[c]}) FILTER (WHERE {cond}) AS {_q(tag + '.mean.' + c)}"
                    )
            if tcol is not None:
                parts.append(
                    f"date_diff('second', max(r.{_q(tcol)}), max(a.ANCHOR_TIMESTAMP)) / 86400.0 "
                    f"AS {_q(child.name + '.' + fk.column + '.days_since_last')}"
                )
                for c in nums:
                    parts.append(
                        f"arg_max({value[c]}, r.{_q(tcol)}) "
                        f"AS {_q(child.name + '.' + fk.column + '.last.' + c)}"
                    )
            visible = f"AND r.{_q(tcol)} <= a.INPUT_TIMESTAMP" if tcol else ""
            sub = (
                f"SELECT a._rid, {', '.join(parts)} FROM anchors a "
                f"LEFT JOIN {_q(child.name)} r ON r.{_q(fk.column)} = a.ENTITY {visible} "
                "GROUP BY a._rid"
            )
            joins.append(f"LEFT JOIN ({sub}) {alias} USING (_rid)")
            selects.append(f"{alias}.* EXCLUDE (_rid)")
    return f"SELECT {', '.join(selects)} FROM anchors a {' '.join(joins)} ORDER BY a._rid"


def compute_features(
    snapshot: Snapshot, task: Any, table: pa.Table, *, con: Any = None
) -> pa.Table:
    """Baseline features for each row of ``table`` (in the same order).

    ``con``: a connection whose views stand for the snapshot's tables (the leakage
    audit passes one that hides rows); by default a fresh one on the snapshot.
    """
    anchors = pa.table(
        {
            "ENTITY": table.column("ENTITY"),
            "ANCHOR_TIMESTAMP": table.column("ANCHOR_TIMESTAMP").cast(pa.timestamp("us")),
            # Rows visible to the features: up to the anchor, or the frozen cut-off.
            "INPUT_TIMESTAMP": input_times(table),
            "_rid": pa.array(np.arange(table.num_rows, dtype=np.int64)),
        }
    )
    own = con is None
    con = snapshot.duckdb() if own else con
    con.register("anchors", anchors)
    try:
        with cancel.interrupting(con.interrupt):  # the as-of aggregates take long on big data
            out = con.sql(feature_sql(snapshot, task)).to_arrow_table()
            past = past_label_features(snapshot, task, anchors, con)
    finally:
        con.unregister("anchors")
        if own:
            con.close()
    out = out.drop(["_rid"])
    if past is not None:
        for name in past.column_names[1:]:
            out = out.append_column(name, past.column(name))
    return out


def _check_cancel(_env: Any) -> None:
    """A LightGBM callback: a cancelled job stops after the current boosting round."""
    cancel.check()


def _to_matrix(
    t: pa.Table, categories: dict[str, list[Any]] | None
) -> tuple[np.ndarray, list[str], dict[str, list[Any]]]:
    cats: dict[str, list[Any]] = {} if categories is None else categories
    cols, names = [], []
    for name in t.column_names:
        col = t.column(name)
        if (
            pa.types.is_string(col.type)
            or pa.types.is_large_string(col.type)
            or pa.types.is_boolean(col.type)
            or pa.types.is_dictionary(col.type)
        ):
            values = col.cast(pa.string()).to_pylist()
            if categories is None:
                cats[name] = sorted({v for v in values if v is not None})
            lookup = {v: i for i, v in enumerate(cats.get(name, []))}
            cols.append(
                np.array(
                    [lookup.get(v, np.nan) if v is not None else np.nan for v in values],
                    dtype=np.float64,
                )
            )
        elif pa.types.is_timestamp(col.type) or pa.types.is_date(col.type):
            cols.append(
                col.cast(pa.timestamp("s"))
                .cast(pa.int64())
                .to_numpy(zero_copy_only=False)
                .astype(np.float64)
            )
        elif pa.types.is_time(col.type) or pa.types.is_duration(col.type):
            cols.append(col.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.float64))
        else:
            try:
                cols.append(col.cast(pa.float64()).to_numpy(zero_copy_only=False))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue  # a type LightGBM cannot read as a number: leave it out
        names.append(name)
    return np.column_stack(cols) if cols else np.zeros((t.num_rows, 0)), names, cats


@dataclass
class LightGBMBaseline:
    """LightGBM with early stopping on the validation split."""

    task: Any
    snapshot: Snapshot
    seed: int = 0
    num_rounds: int = 2000
    params: dict[str, Any] = field(default_factory=dict)
    # Regression: learn the change from the entity's latest known label instead of the
    # level itself. Trees cannot predict beyond the targets they were trained on; a
    # level that moved past them (F1's points scale at the test cut-off) is reached
    # only from the entity's own recent labels, as the past-label baselines do.
    residual: bool = False

    # A connection on the snapshot to compute features with (an online predictor keeps
    # one open); None: a fresh one per call.
    con: Any = field(default=None, repr=False, compare=False)

    categories_: dict[str, list[Any]] = field(init=False, default_factory=dict)
    feature_names_: list[str] = field(init=False, default_factory=list)

    def __repr__(self) -> str:
        return f"LightGBMBaseline(task={task_kind(self.task)})"

    def _xy(self, table: pa.Table, fit: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        feats = compute_features(self.snapshot, self.task, table, con=self.con)
        if not fit and self.feature_names_:
            # A model stored before a feature was added reads only its own columns.
            missing = [n for n in self.feature_names_ if n not in feats.column_names]
            if missing:
                raise TrainingError(
                    f"the stored LightGBM model needs features this snapshot lacks: "
                    f"{', '.join(missing[:5])}; retrain the model on this snapshot"
                )
            feats = feats.select(self.feature_names_)
        x, names, cats = _to_matrix(feats, None if fit else self.categories_)
        if fit:
            self.categories_, self.feature_names_ = cats, names
        y = None
        if "TARGET" in table.column_names:
            y = table.column("TARGET").to_numpy(zero_copy_only=False).astype(np.float64)
        return x, y

    def fit(self, train: pa.Table, val: pa.Table | None) -> LightGBMBaseline:
        """Early-stopped on ``val``; with ``val=None``, ``num_rounds`` rounds (see ``refit``)."""
        kind = task_kind(self.task)
        if kind not in ("binary", "regression", "multiclass"):
            raise TrainingError(f"the LightGBM baseline does not handle '{kind}' tasks")
        start = time.monotonic()
        xt, yt = self._xy(train, fit=True)
        xv, yv = self._xy(val) if val is not None else (None, None)
        if yt is None or (val is not None and yv is None):
            raise TrainingError("train and val tables need a TARGET column")
        params: dict[str, Any] = {
            "learning_rate": 0.03,
            "num_leaves": 31,
            "min_data_in_leaf": 20,
            "feature_fraction": 0.8,
            "bagging_fraction": 0.8,
            "bagging_freq": 1,
            "lambda_l2": 1.0,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": 2,
            "verbose": -1,
        }
        if kind == "binary":
            params |= {"objective": "binary", "metric": "auc"}
        elif kind == "regression":
            params |= {"objective": "l1", "metric": "l1"}
            self.residual_ = self.residual and _BASE in self.feature_names_
            if self.residual and not self.residual_:
                raise TrainingError(
                    "a residual LightGBM needs the entity's past labels (a temporal target)"
                )
            if self.residual_:
                # Entities with no known label start from the training median.
                self.fill_ = float(np.median(yt))
                yt = yt - self._base(xt)
                if yv is not None and xv is not None:
                    yv = yv - self._base(xv)
            self.clip_ = (float(np.percentile(yt, 2)), float(np.percentile(yt, 98)))
        else:
            self.num_class_ = len(self.task.classes or ()) or int(yt.max()) + 1
            params |= {
                "objective": "multiclass",
                "metric": "multi_logloss",
                "num_class": self.num_class_,
            }
        params |= self.params
        dtrain = lgb.Dataset(xt, yt, feature_name=self.feature_names_, free_raw_data=False)
        if xv is None:
            # A refit: the rounds validation chose, no early stopping.
            # A cancelled job stops at the next boosting round (_check_cancel).
            self.booster_ = lgb.train(
                params, dtrain, num_boost_round=self.num_rounds, callbacks=[_check_cancel]
            )
        else:
            dval = lgb.Dataset(xv, yv, reference=dtrain)
            self.booster_ = lgb.train(
                params,
                dtrain,
                num_boost_round=self.num_rounds,
                valid_sets=[dval],
                callbacks=[lgb.early_stopping(100, verbose=False), _check_cancel],
            )
        self.fit_seconds_ = time.monotonic() - start
        return self

    def refit(self, rows: pa.Table) -> LightGBMBaseline:
        """A copy trained on ``rows`` (training + validation rows) for the chosen rounds.

        Validation picked the number of rounds; the copy then learns from the labels
        closest to the test period as well, which is what a drifting level (attendance
        that grew, a points scale that changed) needs. Its validation figures would be
        in-sample, so runs report the early-stopped model's on validation and this
        one's on test.
        """
        if not hasattr(self, "booster_"):
            raise TrainingError("this LightGBMBaseline is not fitted yet; call fit() first")
        rounds = int(self.booster_.best_iteration or self.booster_.current_iteration())
        m = LightGBMBaseline(
            self.task, self.snapshot, seed=self.seed, num_rounds=max(1, rounds),
            params=self.params, residual=self.residual,
        )  # fmt: skip
        return m.fit(rows, None)

    def predict_raw(self, table: pa.Table) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise TrainingError("this LightGBMBaseline is not fitted yet; call fit() first")
        x, _ = self._xy(table)
        pred = np.asarray(self.booster_.predict(x, num_iteration=self.booster_.best_iteration))
        if task_kind(self.task) == "regression":
            pred = np.clip(pred, *self.clip_)
            if getattr(self, "residual_", False):
                pred = pred + self._base(x)
        return pred

    def _base(self, x: np.ndarray) -> np.ndarray:
        """The latest known label per row (the training median where none is known)."""
        base = x[:, self.feature_names_.index(_BASE)].astype(np.float64)
        return np.where(np.isnan(base), self.fill_, base)

    def score(self, table: pa.Table, labels: pa.Table | None = None) -> dict[str, float]:
        t = labels if labels is not None else table
        y = t.column("TARGET").to_numpy(zero_copy_only=False)
        kind = task_kind(self.task)
        return evaluate(
            kind,
            y.astype(np.int64 if kind == "multiclass" else np.float64),
            self.predict_raw(table),
        )

    @property
    def better(self) -> bool:
        return higher_is_better(self.task.metric)
