"""Static columns that encode the future.

A timeless table's column is read at every anchor as it is *now*. If it was filled
in late (F1's permanent car number exists only for drivers who raced in 2014 or
later), its nullness or value tells a model who is still active years after an
early anchor. The check asks what a model at a date *D* would exploit: among the
entities active at *D* (a row pointing at them in the three years before *D*), how well
does the column tell those active after *D* from those that are not (AUROC,
oriented, of its nullness or its value)? *D* runs over percentiles of the entities'
last activity, and each column's most telling *D* is reported. A birth date knows
who is old, which says something about who retires; a column written after the
fact knows who stays, and scores near 1.

Example:
    >>> import numpy as np
    >>> _auroc(np.array([0, 1, 0, 1]), np.array([1.0, 0.0, 1.0, 0.0]))
    1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from relgraph._sql import quote_ident as _q
from relgraph.query.sql import ts_literal
from relgraph.schema.types import SType
from relgraph.store.snapshot import Snapshot

# Flag a column whose within-cohort AUROC for "active after the cut" reaches this
# (on F1: the car number 1.00, the driver code 0.89, the birth date 0.79).
DEFAULT_THRESHOLD = 0.95
# Cut dates: percentiles of the activity times (dense where the data is).
_CUT_PERCENTILES = tuple(range(5, 100, 3))
# "Active at D": a row in the three years before D. Fewer entities than this say nothing.
_ALIVE_DAYS = 3 * 365
_MIN_ENTITIES = 20
_MIN_CLASS = 5


@dataclass(frozen=True)
class StaticFinding:
    """One column's score: how well it tells entities active after ``cut`` from the rest."""

    table: str
    column: str
    how: str  # "nullness" or "value"
    auroc: float  # within-cohort AUROC, oriented so that 1.0 is perfect (0.5 chance)
    entities: int
    cut: datetime
    flagged: bool

    def __repr__(self) -> str:
        flag = " FLAGGED" if self.flagged else ""
        return f"StaticFinding({self.table}.{self.column} {self.how} auroc={self.auroc:.3f}{flag})"

    def message(self) -> str:
        return (
            f"column '{self.table}.{self.column}' of a timeless table encodes the future: its "
            f"{self.how} tells entities active after {self.cut:%Y-%m-%d} from the rest with "
            f"AUROC {self.auroc:.2f} among the {self.entities} entities active in the three "
            "years before; a model reads today's value at every anchor. Drop it "
            f"(schema.yaml: tables: {{{self.table}: {{drop: [{self.column}]}}}}) or give the "
            "table a time column"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "column": self.column,
            "how": self.how,
            "auroc": round(self.auroc, 4),
            "entities": self.entities,
            "cut": self.cut.isoformat(),
            "flagged": self.flagged,
        }


def _activity(snapshot: Snapshot, table: str, con: Any) -> Any:
    """``k, t``: every time an entity of ``table`` was pointed at by a timed row."""
    schema = snapshot.schema
    ent = schema[table]
    parts = []
    for child in schema.tables.values():
        if child.time_column is None or child.name not in snapshot.table_names:
            continue
        for fk in child.foreign_keys:
            if fk.target == table:
                tc = _q(child.time_column)
                parts.append(
                    f"SELECT {_q(fk.column)} AS k, CAST({tc} AS TIMESTAMP) AS t "
                    f"FROM {_q(child.name)} WHERE {_q(fk.column)} IS NOT NULL AND {tc} IS NOT NULL"
                )
    if not parts or ent.primary_key is None:
        return None
    return con.sql(" UNION ALL ".join(parts)).to_arrow_table()


def future_static_columns(
    snapshot: Snapshot,
    *,
    cut: datetime | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    tables: list[str] | None = None,
) -> list[StaticFinding]:
    """Score every feature column of every timeless table that timed tables point at.

    ``cut``: the date *D* to test at (default: several percentiles of the entities'
    last activity, the most telling one reported per column). Findings are sorted,
    most suspicious first; ``flagged`` ones reach ``threshold``.
    """
    con = snapshot.duckdb()
    out: list[StaticFinding] = []
    try:
        for t in snapshot.schema.tables.values():
            if t.time_column is not None or (tables is not None and t.name not in tables):
                continue
            act = _activity(snapshot, t.name, con)
            if act is None:
                continue
            con.register("_rg_act", act)
            cols = [
                c
                for c in t.feature_columns()
                if c.stype in (SType.numerical, SType.categorical, SType.text, SType.timestamp)
            ]
            times = act.column("t").to_numpy(zero_copy_only=False).astype("datetime64[s]")
            cuts = [cut] if cut else _cuts(times)
            for when in cuts:
                out += _score_columns(con, t, cols, when, threshold)
            con.unregister("_rg_act")
    finally:
        con.close()
    best: dict[tuple[str, str], StaticFinding] = {}
    for f in out:  # the most telling cut per column
        k = (f.table, f.column)
        if k not in best or f.auroc > best[k].auroc:
            best[k] = f
    return sorted(best.values(), key=lambda f: -f.auroc)


def _score_columns(
    con: Any, t: Any, cols: list[Any], when: datetime, threshold: float
) -> list[StaticFinding]:
    """At ``when``: among entities active in the years before, who is active after?"""
    d = ts_literal(when)
    pk = _q(t.primary_key or "")
    sel = []
    for i, c in enumerate(cols):
        col = _q(c.name)
        value = (
            f"rg_number(e.{col})"
            if c.stype is SType.numerical and c.dtype in ("string", "large_string")
            else f"e.{col}"
        )
        sel.append(f"e.{col} IS NULL AS n{i}")
        if c.stype is SType.timestamp:
            sel.append(f"CAST(epoch(CAST({value} AS TIMESTAMP)) AS DOUBLE) AS v{i}")
        elif c.stype is SType.numerical:
            sel.append(f"TRY_CAST({value} AS DOUBLE) AS v{i}")
    # One query per cut for every column: the entities active at D, late or not.
    rows = con.sql(
        f"""
        WITH p AS (
            SELECT k, bool_or(t > {d}) AS late FROM _rg_act GROUP BY k
            HAVING bool_or(t <= {d} AND t > {d} - INTERVAL {_ALIVE_DAYS} DAY)
        )
        SELECT p.late, {", ".join(sel)} FROM p JOIN {_q(t.name)} e ON e.{pk} = p.k
        """
    ).to_arrow_table()
    if rows.num_rows < _MIN_ENTITIES:
        return []
    y = rows.column("late").to_numpy(zero_copy_only=False).astype(np.int64)
    if min(int(y.sum()), int(len(y) - y.sum())) < _MIN_CLASS:
        return []  # a handful on one side separates by chance
    found: list[StaticFinding] = []
    for i, c in enumerate(cols):
        isnull = rows.column(f"n{i}").to_numpy(zero_copy_only=False).astype(np.float64)
        scores = [("nullness", _auroc(y, isnull))]
        if f"v{i}" in rows.column_names:
            v = rows.column(f"v{i}").to_numpy(zero_copy_only=False).astype(np.float64)
            known = ~np.isnan(v)
            yk = y[known]
            if min(int(yk.sum()), int(len(yk) - yk.sum())) >= _MIN_CLASS:
                scores.append(("value", _auroc(yk, v[known])))
        how, auc = max(scores, key=lambda s: s[1])
        found.append(StaticFinding(t.name, c.name, how, auc, rows.num_rows, when, auc >= threshold))
    return found


def _auroc(y: np.ndarray, score: np.ndarray) -> float:
    """AUROC oriented so that a score ranking the classes backwards counts too."""
    if len(np.unique(score)) < 2:
        return 0.5
    a = float(roc_auc_score(y, score))
    return max(a, 1.0 - a)


def _cuts(times: np.ndarray) -> list[datetime]:
    """Percentiles of the activity times, and every new year in their range.

    Fields introduced by a process change tend to start on a round date; the
    percentiles cover the rest (dense where the data is).
    """
    cuts = {_percentile_time(times, q) for q in _CUT_PERCENTILES}
    lo, hi = _percentile_time(times, 1), _percentile_time(times, 99)
    cuts |= {datetime(y, 1, 1) for y in range(lo.year + 1, hi.year + 1)}
    return sorted(cuts)


def _percentile_time(times: np.ndarray, q: float) -> datetime:
    secs = np.percentile(times.astype(np.int64), q)
    return datetime.fromtimestamp(float(secs), UTC).replace(tzinfo=None, microsecond=0)
