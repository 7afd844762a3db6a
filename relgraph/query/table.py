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
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from relgraph import cancel
from relgraph.errors import QueryError, StoreError
from relgraph.query.ast import Aggregate, ColumnRef, LabelRef, Query, aggregates, comparisons
from relgraph.query.parser import parse
from relgraph.query.splits import Anchors, anchor_times, default_cutoffs
from relgraph.query.sql import ANCHORS, label_sql, q
from relgraph.query.task import (
    LabelSetInfo,
    LabelSetResolver,
    Task,
    TaskType,
    compile_task,
    target_window,
)
from relgraph.schema.types import Schema
from relgraph.store import labelsets
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


def classes_of(con: duckdb.DuckDBPyConnection) -> Any:
    """A ``(table, column) -> sorted distinct non-NULL values`` lookup on ``con``."""

    def classes(table: str, column: str) -> tuple[Any, ...]:
        rows = con.execute(
            f"SELECT DISTINCT {q(column)} FROM {q(table)} WHERE {q(column)} IS NOT NULL ORDER BY 1"
        ).fetchall()
        return tuple(r[0] for r in rows)

    return classes


def label_sets_of(snapshot: Snapshot) -> LabelSetResolver:
    """``LABEL(project[, version])`` → the label set in the snapshot's workspace."""
    workspace = snapshot.path.parent.parent

    def resolve(project: str, version: str | None) -> LabelSetInfo:
        try:
            man = labelsets.read_manifest(workspace, project, version)
        except StoreError as e:
            raise QueryError(f"LABEL({project}): {e.message}") from None
        classes = man.label_schema.get("classes")
        return LabelSetInfo(
            id=f"{man.id}#{man.content_hash[:16]}",
            classes=tuple(classes) if classes else None,
        )

    return resolve


def compile_on_snapshot(snapshot: Snapshot, text: str) -> Task:
    """Compile ``text`` against ``snapshot`` (its schema, and its data for class lists)."""
    return compile_task(
        text, snapshot.schema, classes_of(snapshot.duckdb()), label_sets_of(snapshot)
    )[0]


# Snapshots are immutable, so time ranges can be remembered by snapshot id.
_TIME_RANGES: dict[tuple[str, tuple[str, ...]], tuple[datetime, datetime]] = {}


def time_range(
    snapshot: Snapshot, con: duckdb.DuckDBPyConnection, tables: tuple[str, ...] | None = None
) -> tuple[datetime, datetime]:
    """The first and last row time over ``tables`` (default: every table with a time column)."""
    key = (snapshot.id, tables or ())
    if key in _TIME_RANGES:
        return _TIME_RANGES[key]
    parts = [
        f"SELECT MIN(CAST({q(t.time_column)} AS TIMESTAMP)) AS lo, "
        f"MAX(CAST({q(t.time_column)} AS TIMESTAMP)) AS hi FROM {q(t.name)}"
        for t in snapshot.schema.tables.values()
        if t.time_column is not None
        and t.name in snapshot.table_names
        and (tables is None or t.name in tables)
    ]
    if not parts:
        raise QueryError(
            "the snapshot has no table with a time column; only static targets "
            "(PREDICT table.column) can be asked",
        )
    sql = f"SELECT MIN(lo), MAX(hi) FROM ({' UNION ALL '.join(parts)})"
    lo, hi = con.execute(sql).fetchall()[0]
    if lo is None or hi is None:
        raise QueryError("the snapshot's time columns are all empty")
    _TIME_RANGES[key] = (lo, hi)
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


def _columns_read(query: Query) -> list[tuple[str | None, ColumnRef]]:
    """``(aggregate function or None, column)`` for every column the query reads."""
    out: list[tuple[str | None, ColumnRef]] = []
    t = query.target
    if isinstance(t, ColumnRef):
        out.append((None, t))
    conds = [c for c in (query.where, query.assuming) if c is not None]
    if not isinstance(t, Aggregate | ColumnRef | LabelRef):
        conds.append(t)
    aggs = aggregates(t) + [a for c in conds for a in aggregates(c)]
    for a in aggs:
        if not a.column.is_star:
            out.append((a.func, a.column))
        out += [(None, c.left) for c in comparisons(a.where) if isinstance(c.left, ColumnRef)]
    out += [(None, c.left) for c in conds for c in comparisons(c) if isinstance(c.left, ColumnRef)]
    return out


def label_error(task: Task, error: duckdb.Error, schema: Schema | None = None) -> QueryError:
    """A DuckDB failure while making labels, as a :class:`QueryError` naming the column.

    Validation catches the user's mistakes; what is left is data that the SQL cannot
    read as the schema says (a column whose stored type changed, a value that does not
    cast). The error points at the column most likely at fault: the one whose name
    DuckDB quotes, else the argument of the aggregate DuckDB names, else every column
    the query reads.
    """
    text = str(error)
    short = text.strip().splitlines()[0].rstrip(".") if text.strip() else type(error).__name__
    try:
        cols = _columns_read(parse(task.query))
    except QueryError:  # the task was compiled from this text, so this cannot happen
        cols = []
    quoted = [c for f, c in cols if f'"{c.column}"' in text or f"'{c.column}'" in text]
    funcs = {m.lower() for m in re.findall(r"(\w+)\(", text)}
    sql_name = {"COUNT_DISTINCT": "count"}  # PQL aggregate -> the DuckDB function it becomes
    by_func = [c for f, c in cols if f is not None and sql_name.get(f, f.lower()) in funcs]
    suspects = quoted or by_func or [c for _, c in cols]
    unique: dict[tuple[str, str], ColumnRef] = {}
    for c in suspects:
        unique.setdefault((c.table, c.column), c)

    def describe(c: ColumnRef) -> str:
        name = f"'{c.table}.{c.column}'"
        if schema is not None and c.table in schema.tables:
            t = schema[c.table]
            if t.has_column(c.column):
                col = t.column(c.column)
                name += f" (stored as {col.dtype}, read as {col.stype.value})"
        return name

    if not unique:
        return QueryError(
            f"making the labels of '{task.query.strip()}' failed in DuckDB: {short}",
            query=task.query,
        )
    refs = list(unique.values())
    what = (
        "column " + describe(refs[0])
        if len(refs) == 1
        else "columns " + ", ".join(describe(c) for c in refs)
    )
    return QueryError(
        f"making the labels failed in DuckDB on {what}: {short}; check that the column's "
        "values fit its semantic type, or set its stype in the schema overrides",
        line=refs[0].line or 1,
        col=refs[0].col or 1,
        query=task.query,
    )


def run_labels(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    anchors: list[datetime] | tuple[datetime, ...],
    task: Task,
    classes: tuple[Any, ...] | None,
    placeholder: datetime,
    schema: Schema | None = None,
) -> pa.Table:
    """Execute label SQL for ``anchors`` (an empty list gives an empty, typed table)."""
    table = _execute(con, sql, anchors, task, classes, placeholder, schema)
    return _cast_target(table, task)


def _execute(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    anchors: list[datetime] | tuple[datetime, ...],
    task: Task,
    classes: tuple[Any, ...] | None,
    placeholder: datetime,
    schema: Schema | None,
) -> pa.Table:
    params: dict[str, Any] = {}
    if "$classes" in sql:
        params["classes"] = list(classes or ())
    distinct = sorted(set(anchors)) or [placeholder]
    times = pa.table({"anchor": pa.array(distinct, pa.timestamp("us"))})
    con.register(ANCHORS, times)
    try:
        with cancel.interrupting(con.interrupt):
            table = con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.Error as e:
        raise label_error(task, e, schema) from e
    finally:
        con.unregister(ANCHORS)
    if not anchors:
        table = table.slice(0, 0)
    return table


def make_labels(
    snapshot: Snapshot,
    task_or_text: Task | str,
    anchors: list[datetime] | tuple[datetime, ...],
    *,
    data_until: datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Labels (``ENTITY, ANCHOR_TIMESTAMP, TARGET``) of a query at the given anchors.

    ``con`` is used as it is when given (its views stand for the snapshot's tables,
    which is how the leakage test hides rows); otherwise a fresh connection is made.
    """
    con = con if con is not None else snapshot.duckdb()
    text = task_or_text if isinstance(task_or_text, str) else task_or_text.query
    task, query = compile_task(text, snapshot.schema, classes_of(con))
    sql = label_sql(query, snapshot.schema, data_until=data_until)
    placeholder = anchors[0] if anchors else datetime(2000, 1, 1)
    return run_labels(con, sql, anchors, task, task.classes, placeholder, snapshot.schema)


def prediction_rows(
    snapshot: Snapshot,
    task_or_text: Task | str,
    anchors: list[datetime] | tuple[datetime, ...],
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """The rows a query predicts for at ``anchors``: ``ENTITY, ANCHOR_TIMESTAMP``.

    They are the entities that training would label there, before looking at the
    future: those that exist at the anchor, match the query's ``FOR ... IN (...)`` and
    pass its ``WHERE``. ``ASSUMING`` is not checked (it needs the future); a prediction
    made at the anchor is one made assuming it holds.
    """
    con = con if con is not None else snapshot.duckdb()
    text = task_or_text if isinstance(task_or_text, str) else task_or_text.query
    task, query = compile_task(text, snapshot.schema, label_sets=label_sets_of(snapshot))
    if isinstance(query.target, LabelRef):
        # A label set's task predicts for every row of the entity table (the labeled ones
        # too: the caller drops what it has).
        key, ent = q(task.entity_column), q(task.entity_table)
        sql = (
            f"SELECT DISTINCT e.{key} AS ENTITY, a.anchor AS ANCHOR_TIMESTAMP "
            f"FROM {ent} AS e CROSS JOIN {ANCHORS} AS a WHERE e.{key} IS NOT NULL ORDER BY 2, 1"
        )
    else:
        sql = label_sql(query, snapshot.schema, entities_only=True)
    placeholder = anchors[0] if anchors else datetime(2000, 1, 1)
    table = _execute(con, sql, anchors, task, None, placeholder, snapshot.schema)
    ts = table.column("ANCHOR_TIMESTAMP").cast(pa.timestamp("us"))
    return pa.table({"ENTITY": table.column("ENTITY"), "ANCHOR_TIMESTAMP": ts})


def _as_datetime(v: datetime | date | str | None, option: str) -> datetime | None:
    """A cut-off as a naive datetime (snapshot times are naive; aware ones become UTC)."""
    if v is None:
        return None
    if isinstance(v, datetime):
        t = v
    elif isinstance(v, date):
        t = datetime(v.year, v.month, v.day)
    else:
        try:
            t = datetime.fromisoformat(str(v))
        except ValueError:
            raise QueryError(f"{option} {v!r} is not a date; write it like 2005-01-01") from None
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def build_task_tables(
    snapshot: Snapshot,
    task_or_text: Task | str,
    *,
    val_cutoff: datetime | date | str | None = None,
    test_cutoff: datetime | date | str | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> TaskTables:
    """Compile a query (or take a compiled task) and make its train/val/test tables.

    ``con``, when given, must already hold the snapshot's views (``snapshot.duckdb()``);
    it is used as it is, so repeated calls do not rebuild them.
    """
    con = con if con is not None else snapshot.duckdb()
    text = task_or_text if isinstance(task_or_text, str) else task_or_text.query
    task, query = compile_task(text, snapshot.schema, classes_of(con), label_sets_of(snapshot))
    if isinstance(query.target, LabelRef):
        return _label_set_tables(snapshot, con, task, query.target)
    if not task.temporal:
        return _static_tables(snapshot, con, task, query)
    vc, tc = _as_datetime(val_cutoff, "--val-cutoff"), _as_datetime(test_cutoff, "--test-cutoff")
    # Test anchors stop one Δ before the last row of the tables the labels read (target
    # and ASSUMING): later windows would be incomplete, whatever other tables hold (a
    # stray far-future date in an unrelated table must not create empty test anchors).
    label_tables = tuple(
        sorted({a.column.table for a in aggregates(query.target) + aggregates(query.assuming)})
    )
    _, hi = time_range(snapshot, con, label_tables)
    # Training anchors reach back to the database's first row, as in RelBench (whose
    # F1 sizes we reproduce exactly with this rule).
    first_anchor, _ = time_range(snapshot, con)
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
        )
    anchors = anchor_times(delta, vc, tc, first_anchor, hi)
    _check_anchors(anchors, delta, first_anchor, hi)
    # Train and validation see the database only up to the test cut-off.
    sql_tv = label_sql(query, snapshot.schema, data_until=tc)
    sql_test = label_sql(query, snapshot.schema)
    out = {
        name: run_labels(
            con, sql_test if name == "test" else sql_tv, getattr(anchors, name), task,
            task.classes, vc, snapshot.schema,
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


def _check_anchors(anchors: Anchors, delta: tuple[int, str], lo: datetime, hi: datetime) -> None:
    """Refuse cut-offs that leave a split without a single anchor."""
    window = f"{delta[0]} {delta[1]}"
    span = f"the data runs from {lo:%Y-%m-%d} to {hi:%Y-%m-%d}"
    problems = {
        "train": f"no training anchor fits before the validation cut-off "
        f"{anchors.val_cutoff:%Y-%m-%d} ({span}); move it later",
        "val": f"no {window} window fits between the validation cut-off "
        f"{anchors.val_cutoff:%Y-%m-%d} and the test cut-off {anchors.test_cutoff:%Y-%m-%d}; "
        "move them apart",
        "test": f"no {window} window fits after the test cut-off "
        f"{anchors.test_cutoff:%Y-%m-%d} ({span}); move it earlier",
    }
    for split, message in problems.items():
        if not getattr(anchors, split):
            raise QueryError(message)


def _static_tables(
    snapshot: Snapshot, con: duckdb.DuckDBPyConnection, task: Task, query: Query
) -> TaskTables:
    """A static column target: rows with a value, split 80/10/10 by a hash of the key."""
    try:
        _, now = time_range(snapshot, con)
    except QueryError:
        now = datetime(1970, 1, 1)
    sql = label_sql(query, snapshot.schema)
    labels = run_labels(con, sql, [now], task, task.classes, now, snapshot.schema)
    return _hash_split(task, labels, now, sql)


def _hash_split(task: Task, labels: pa.Table, now: datetime, sql: str) -> TaskTables:
    """Timeless labels split 80/10/10 by a hash of the entity key (stable across runs)."""
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


def _label_set_tables(
    snapshot: Snapshot, con: duckdb.DuckDBPyConnection, task: Task, ref: LabelRef
) -> TaskTables:
    """A ``LABEL(...)`` target: the label set's rows whose key is an entity row of the
    snapshot, split 80/10/10 by a hash of the key as static targets are."""
    rows, man = labelsets.read_version(snapshot.path.parent.parent, ref.project, ref.version)
    if man.entity_table != task.entity_table:
        raise QueryError(
            f"label set {man.id} labels '{man.entity_table}', not '{task.entity_table}'",
            line=ref.line, col=ref.col, query=task.query,
        )  # fmt: skip
    try:
        _, now = time_range(snapshot, con)
    except QueryError:
        now = datetime(1970, 1, 1)
    label = "l.label"
    if task.task_type is TaskType.binary:
        assert task.classes is not None
        label = "CASE WHEN l.label = $positive THEN 1.0 ELSE 0.0 END"
    elif task.task_type is TaskType.multiclass:
        label = "list_position($classes, l.label) - 1"
    params: dict[str, Any] = {"now": now}
    if task.task_type is TaskType.binary and task.classes is not None:
        params["positive"] = task.classes[1]
    if task.task_type is TaskType.multiclass:
        params["classes"] = list(task.classes or ())
    name = "__relgraph_label_set"
    con.register(name, rows.select(["key", "label"]))
    try:
        sql = (
            f"SELECT e.{q(task.entity_column)} AS ENTITY, "
            f"CAST($now AS TIMESTAMP) AS ANCHOR_TIMESTAMP, {label} AS TARGET "
            f"FROM {q(task.entity_table)} AS e JOIN {name} AS l "
            f"ON CAST(e.{q(task.entity_column)} AS VARCHAR) = l.key ORDER BY 1"
        )
        labels = _cast_target(con.sql(sql, params=params).to_arrow_table(), task)
    finally:
        con.unregister(name)
    return _hash_split(task, labels, now, sql)


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


__all__ = [
    "TaskTables",
    "TrainingTable",
    "build_task_tables",
    "compile_on_snapshot",
    "make_labels",
    "prediction_rows",
    "split_stats",
]
