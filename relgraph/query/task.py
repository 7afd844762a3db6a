"""Task-type inference (DESIGN.md §3 table) and the :class:`Task` every stage reads.

Example:
    >>> from relgraph.query.parser import parse
    >>> q = parse("PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id")
    >>> infer_task_type(q)
    (<TaskType.binary: 'binary'>, 'auroc')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

from relgraph.errors import QueryError
from relgraph.query.ast import (
    Aggregate,
    ColumnRef,
    LabelRef,
    Query,
    aggregates,
    comparisons,
    unit_delta,
)
from relgraph.query.parser import parse
from relgraph.query.validate import column_kind, validate, value_kind
from relgraph.schema.types import Schema, SType


class TaskType(str, Enum):  # noqa: UP042  (the contract names str + Enum)
    """What kind of prediction a query asks for."""

    binary = "binary"
    regression = "regression"
    multiclass = "multiclass"
    multilabel = "multilabel"
    link = "link"


DEFAULT_METRIC = {
    TaskType.binary: "auroc",
    TaskType.regression: "mae",
    TaskType.multiclass: "accuracy",
    TaskType.multilabel: "macro_auroc",
    TaskType.link: "map@k",
}


@dataclass(frozen=True)
class Task:
    """A compiled predictive query: what to predict, for which rows, how it is scored."""

    query: str
    entity_table: str
    entity_column: str
    task_type: TaskType
    metric: str
    target_table: str | None
    window: timedelta | None
    k: int | None
    target_entity_table: str | None
    classes: tuple[Any, ...] | None
    temporal: bool
    # ``project@version`` of a LABEL(...) target's label set, with its content hash: the
    # model's lineage names the exact labels it learned from.
    label_set: str | None = None

    def __repr__(self) -> str:
        window = f", window={self.window.days}d" if self.window is not None else ""
        return (
            f"Task({self.task_type.value}, {self.entity_table}.{self.entity_column}, "
            f"metric={self.metric}{window})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "entity_table": self.entity_table,
            "entity_column": self.entity_column,
            "task_type": self.task_type.value,
            "metric": self.metric,
            "target_table": self.target_table,
            "window_seconds": self.window.total_seconds() if self.window is not None else None,
            "k": self.k,
            "target_entity_table": self.target_entity_table,
            "classes": list(self.classes) if self.classes is not None else None,
            "temporal": self.temporal,
            "label_set": self.label_set,
        }


def infer_task_type(q: Query, schema: Schema | None = None) -> tuple[TaskType, str]:
    """The task type and its default metric, from the target's shape (and column types)."""
    t = q.target
    if isinstance(t, LabelRef):
        # Resolved against the label set in compile_task; a number label is the fallback.
        return TaskType.regression, DEFAULT_METRIC[TaskType.regression]
    if isinstance(t, Aggregate):
        if t.func == "LIST_DISTINCT":
            tt = TaskType.link if q.mode == "RANK" else TaskType.multilabel
        elif t.func in ("FIRST", "LAST") and schema is not None:
            stype = schema[t.column.table].column(t.column.column).stype
            tt = TaskType.multiclass if stype is SType.categorical else TaskType.regression
        else:
            tt = TaskType.regression
    elif isinstance(t, ColumnRef):
        tt = TaskType.regression
        if schema is not None:
            col = schema[t.table].column(t.column)
            if value_kind(col.dtype) == "bool":
                tt = TaskType.binary
            elif col.stype is not SType.numerical or column_kind(col) != "number":
                tt = TaskType.multiclass
    else:
        tt = TaskType.binary
    return tt, DEFAULT_METRIC[tt]


def target_window(q: Query) -> tuple[int, str] | None:
    """The target's horizon Δ as (amount, unit): the latest window end among its aggregates."""
    aggs = aggregates(q.target)
    if not aggs:
        return None
    best = max(aggs, key=lambda a: unit_delta(a.window.end, a.window.unit))
    return best.window.end, best.window.unit


def hidden_columns(q: Query | str) -> dict[str, frozenset[str]]:
    """Columns no model may read as input: those a static target is made of.

    A static target (``PREDICT users.age`` or ``PREDICT users.age > 30``) is a column of
    the entity row itself; left among the row's features it would answer its own
    question (accuracy 1.0 on every split, nothing learned). A temporal target reads
    future rows only, which the as-of cut hides already, so it hides nothing here.

    Example:
        >>> hidden_columns("PREDICT users.age > 30 FOR EACH users.id")
        {'users': frozenset({'age'})}
        >>> hidden_columns("PREDICT COUNT(orders.*, 0, 30, days) FOR EACH users.id")
        {}
    """
    query = parse(q) if isinstance(q, str) else q
    t = query.target
    if isinstance(t, LabelRef) or aggregates(t):
        return {}
    if isinstance(t, ColumnRef):
        refs = [t]
    elif isinstance(t, Aggregate):
        refs = []
    else:
        refs = [c.left for c in comparisons(t) if isinstance(c.left, ColumnRef)]
    out: dict[str, set[str]] = {}
    for r in refs:
        out.setdefault(r.table, set()).add(r.column)
    return {table: frozenset(cols) for table, cols in out.items()}


@dataclass(frozen=True)
class LabelSetInfo:
    """What the compiler needs of a label set: its id and its classes (None: a number)."""

    id: str
    classes: tuple[str, ...] | None


LabelSetResolver = Callable[[str, str | None], LabelSetInfo]


def class_column(q: Query) -> ColumnRef | None:
    """The column whose values are the classes of a multiclass/multilabel query."""
    t = q.target
    if isinstance(t, Aggregate) and t.func in ("FIRST", "LAST", "LIST_DISTINCT"):
        return t.column
    if isinstance(t, ColumnRef):
        return t
    return None


def compile_task(
    text: str,
    schema: Schema,
    classes_of: Callable[[str, str], tuple[Any, ...]] | None = None,
    label_sets: LabelSetResolver | None = None,
) -> tuple[Task, Query]:
    """Parse, validate and type a query.

    Args:
        text: the PQL query.
        schema: the snapshot's schema.
        classes_of: ``(table, column) -> sorted distinct values``; needed for
            multiclass and multilabel queries (the classes come from the data).
        label_sets: ``(project, version) -> LabelSetInfo``; needed for ``LABEL(...)``.

    Returns:
        The :class:`Task` and the parsed :class:`~relgraph.query.ast.Query`.
    """
    q = parse(text)
    validate(q, schema, text)
    tt, metric = infer_task_type(q, schema)
    ent = q.entity.ref
    t = q.target
    classes: tuple[Any, ...] | None = None
    label_set = None
    if isinstance(t, LabelRef):
        if label_sets is None:
            raise QueryError(
                "LABEL(...) needs the workspace's label sets; compile it on a snapshot",
                line=t.line, col=t.col, query=text,
            )  # fmt: skip
        info = label_sets(t.project, t.version)
        label_set = info.id
        if info.classes is not None:
            # Two classes: binary, the second class positive; more: multiclass.
            tt = TaskType.binary if len(info.classes) == 2 else TaskType.multiclass
            metric = DEFAULT_METRIC[tt]
            classes = info.classes
    if tt in (TaskType.multiclass, TaskType.multilabel) and classes_of is not None:
        col = class_column(q)
        if col is not None:
            classes = classes_of(col.table, col.column)
    target_entity = None
    if tt is TaskType.link and isinstance(t, Aggregate):
        fk = next(f for f in schema[t.column.table].foreign_keys if f.column == t.column.column)
        target_entity = fk.target
    aggs = aggregates(t)
    target_table = aggs[0].column.table if aggs else ent.table
    win = target_window(q)
    task = Task(
        query=text,
        entity_table=ent.table,
        entity_column=ent.column,
        task_type=tt,
        metric=metric,
        target_table=target_table,
        window=unit_delta(*win) if win is not None else None,
        k=q.k,
        target_entity_table=target_entity,
        classes=classes,
        temporal=win is not None,
        label_set=label_set,
    )
    return task, q
