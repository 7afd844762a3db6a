"""Training tables: the labels of a task per split, made on DuckDB over a snapshot.

Example:
    >>> tables = build_task_tables(snapshot, "PREDICT ...")  # doctest: +SKIP
    >>> tables.train.table.column_names  # doctest: +SKIP
    ['ENTITY', 'ANCHOR_TIMESTAMP', 'TARGET']
    >>> "TARGET" in tables.test.table.column_names  # doctest: +SKIP
    False
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from relgraph.errors import QueryError
from relgraph.query.ast import Query
from relgraph.query.splits import Anchors, anchor_times, default_cutoffs
from relgraph.query.sql import label_sql, q
from relgraph.query.task import Task, TaskType, compile_task, target_window
from relgraph.store.snapshot import Snapshot

SPLITS = ("train", "val", "test")


@dataclass
class TrainingTable:
    """One split's rows: ``ENTITY``, ``ANCHOR_TIMESTAMP`` and (not for test) ``TARGET``."""

    task: Task
    split: str
    table: pa.Table

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def __repr__(self) -> str:
        return f"TrainingTable(split={self.split!r}, rows={self.table.num_rows})"


@dataclass
class TaskTables:
    """The three splits of a task; the test labels are kept apart on purpose."""

    task: Task
    train: TrainingTable
    val: TrainingTable
    test: TrainingTable
    val_cutoff: datetime
    test_cutoff: datetime
    anchors: Anchors | None = None
    sql: dict[str, str] = field(default_factory=dict, repr=False)
    _test_labels: pa.Table | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"TaskTables({self.task.task_type.value}, train={len(self.train)}, "
            f"val={len(self.val)}, test={len(self.test)})"
        )

    def split(self, name: str) -> TrainingTable:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def test_labels(self) -> pa.Table:
        """``ENTITY, ANCHOR_TIMESTAMP, TARGET`` of the test split (for scoring only)."""
        assert self._test_labels is not None  # always set by build_task_tables
        return self._test_labels


def _classes_of(con: duckdb.DuckDBPyConnection) -> Any:
    def classes(table: str, column: str) -> tuple[Any, ...]:
        rows = con.execute(
            f"SELECT DISTINCT {q(column)} FROM {q(table)} WHERE {q(column)} IS NOT NULL ORDER BY 1"
        ).fetchall()
        return tuple(r[0] for r in rows)

    return classes


def time_range(snapshot: Snapshot, con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime]:
    """The first and last row time over every table with a time column."""
    parts = [
        f"SELECT MIN(CAST({q(t.time_column)} AS TIMESTAMP)) AS lo, "
        f"MAX(CAST({q(t.time_column)} AS TIMESTAMP)) AS hi FROM {q(t.name)}"
        for t in snapshot.schema.tables.values()
        if t.time_column is not None and t.name in snapshot.table_names
    ]
    if not parts:
        raise QueryError(
            "the snapshot has no table with a time column; only static targets "
            "(PREDICT table.column) can be asked",
            line=1,
            col=1,
        )
    lo, hi = con.execute(f"SELECT MIN(lo), MAX(hi) FROM ({' UNION ALL '.join(parts)})").fetchall()[0]
    if lo is None or hi is None:
        raise QueryError("the snapshot's time columns are all empty", line=1, col=1)
    return lo, hi


def _cast_target(t: pa.Table, task: Task) -> pa.Table:
    want: pa.DataType
    if task.task_type in (TaskType.binary, TaskType.regression):
        want = pa.float64()
    elif task.task_type is TaskType.multiclass:
        want = pa.int64()
    elif task.task_type is TaskType.multilabel:
        want = pa.list_(pa.int64())
    else:
        want = t.schema.field("TARGET").type
        if pa.types.is_list(want) and pa.types.is_integer(want.value_type):
            want = pa.list_(pa.int64())
    i = t.schema.get_field_index("TARGET")
    t = t.set_column(i, "TARGET", t.column(i).cast(want))
    ai = t.schema.get_field_index("ANCHOR_TIMESTAMP")
    return t.set_column(ai, "ANCHOR_TIMESTAMP", t.column(ai).cast(pa.timestamp("us")))


def run_labels(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    anchors: list[datetime] | tuple[datetime, ...],
    task: Task,
    classes: tuple[Any, ...] | None,
    placeholder: datetime,
) -> pa.Table:
    """Execute label SQL for ``anchors`` (an empty list gives an empty, typed table)."""
    params: dict[str, Any] = {"anchors": list(anchors) or [placeholder]}
    if "$classes" in sql:
        params["classes"] = list(classes or ())
    table = con.sql(sql, params=params).to_arrow_table()
    if not anchors:
        table = table.slice(0, 0)
    return _cast_target(table, task)


def _as_datetime(v: datetime | str | None, option: str) -> datetime | None:
    if v is None or isinstance(v, datetime):
        return v
    try:
        return datetime.fromisoformat(str(v))
    except ValueError:
        raise QueryError(
            f"{option} {v!r} is not a date; write it like 2005-01-01", line=1, col=1
        ) from None


def build_task_tables(
    snapshot: Snapshot,
    task_or_text: Task | str,
    *,
    val_cutoff: datetime | str | None = None,
    test_cutoff: datetime | str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> TaskTables:
    """Compile a query (or take a compiled task) and make its train/val/test tables."""
    con = snapshot.duckdb(con)
    text = task_or_text if isinstance(task_or_text, str) else task_or_text.query
    task, query = compile_task(text, snapshot.schema, _classes_of(con))
    if not task.temporal:
        return _static_tables(snapshot, con, task, query)
    vc, tc = _as_datetime(val_cutoff, "--val-cutoff"), _as_datetime(test_cutoff, "--test-cutoff")
    lo, hi = time_range(snapshot, con)
    delta = target_window(query)
    assert delta is not None  # temporal tasks have a target window
    if vc is None or tc is None:
        tt = snapshot.schema[task.target_table or task.entity_table]
        col = q(tt.time_column or "")
        q80, q90 = con.execute(
            f"SELECT quantile_disc(CAST({col} AS TIMESTAMP), 0.8), "
            f"quantile_disc(CAST({col} AS TIMESTAMP), 0.9) FROM {q(tt.name)}"
        ).fetchall()[0]
        dv, dt = default_cutoffs(q80 or hi, q90 or hi, hi, delta)
        vc, tc = vc or dv, tc or dt
    if vc >= tc:
        raise QueryError(
            f"the validation cut-off {vc:%Y-%m-%d} must be before the test cut-off {tc:%Y-%m-%d}",
            line=1,
            col=1,
        )
    anchors = anchor_times(delta, vc, tc, lo, hi)
    # Train and validation see the database only up to the test cut-off.
    sql_tv = label_sql(query, snapshot.schema, data_until=tc)
    sql_test = label_sql(query, snapshot.schema)
    out = {
        name: run_labels(
            con, sql_test if name == "test" else sql_tv, getattr(anchors, name), task,
            task.classes, vc,
        )
        for name in SPLITS
    }  # fmt: skip
    test_labels = out["test"]
    return TaskTables(
        task=task,
        train=TrainingTable(task, "train", out["train"]),
        val=TrainingTable(task, "val", out["val"]),
        test=TrainingTable(task, "test", test_labels.drop_columns(["TARGET"])),
        val_cutoff=vc,
        test_cutoff=tc,
        anchors=anchors,
        sql={"train": sql_tv, "val": sql_tv, "test": sql_test},
        _test_labels=test_labels,
    )


def _static_tables(
    snapshot: Snapshot, con: duckdb.DuckDBPyConnection, task: Task, query: Query
) -> TaskTables:
    """A static column target: rows with a value, split 80/10/10 by a hash of the key."""
    try:
        _, now = time_range(snapshot, con)
    except QueryError:
        now = datetime(1970, 1, 1)
    sql = label_sql(query, snapshot.schema)
    labels = run_labels(con, sql, [now], task, task.classes, now)
    bucket = [
        int(hashlib.sha1(repr(k).encode()).hexdigest()[:8], 16) % 10
        for k in labels.column("ENTITY").to_pylist()
    ]
    b = pa.array(bucket, pa.int64())
    parts = {
        "train": labels.filter(pc.less(b, 8)),
        "val": labels.filter(pc.equal(b, 8)),
        "test": labels.filter(pc.equal(b, 9)),
    }
    return TaskTables(
        task=task,
        train=TrainingTable(task, "train", parts["train"]),
        val=TrainingTable(task, "val", parts["val"]),
        test=TrainingTable(task, "test", parts["test"].drop_columns(["TARGET"])),
        val_cutoff=now,
        test_cutoff=now,
        sql={s: sql for s in SPLITS},
        _test_labels=parts["test"],
    )


def split_stats(task: Task, labels: pa.Table) -> dict[str, Any]:
    """Rows, anchors, entities and label statistics of one split's labels."""
    n = labels.num_rows
    stats: dict[str, Any] = {
        "rows": n,
        "anchors": len(pc.unique(labels.column("ANCHOR_TIMESTAMP"))) if n else 0,
        "entities": len(pc.unique(labels.column("ENTITY"))) if n else 0,
    }
    if n:
        ts = labels.column("ANCHOR_TIMESTAMP")
        stats["first_anchor"] = str(pc.min(ts).as_py())
        stats["last_anchor"] = str(pc.max(ts).as_py())
    if "TARGET" not in labels.column_names or not n:
        return stats
    y = labels.column("TARGET")
    if task.task_type is TaskType.binary:
        pos = int(pc.sum(y).as_py() or 0)
        stats |= {"positives": pos, "positive_rate": round(pos / n, 4)}
    elif task.task_type is TaskType.regression:
        stats |= {
            "mean": round(float(pc.mean(y).as_py()), 4),
            "std": round(float(pc.stddev(y).as_py()), 4),
            "min": float(pc.min(y).as_py()),
            "max": float(pc.max(y).as_py()),
        }
    elif task.task_type is TaskType.multiclass:
        counts = pc.value_counts(y).to_pylist()
        classes = task.classes or ()
        stats["classes"] = {
            str(classes[c["values"]] if c["values"] < len(classes) else c["values"]): c["counts"]
            for c in sorted(counts, key=lambda c: -int(c["counts"]))[:20]
        }
    else:
        lengths = pc.list_value_length(y)
        stats["mean_list_length"] = round(float(pc.mean(lengths).as_py()), 4)
    return stats


__all__ = ["TaskTables", "TrainingTable", "build_task_tables", "split_stats"]
