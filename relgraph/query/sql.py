"""Compile a validated query into one readable DuckDB SQL statement that makes labels.

The statement takes the anchor times as the parameter ``$anchors`` (a list of
timestamps) and, for class targets, the class list as ``$classes``. It returns
``ENTITY, ANCHOR_TIMESTAMP, TARGET`` sorted by (anchor, entity).

Semantics (DESIGN.md §3), for each anchor *t*:
- an aggregate over ``(start, end]`` sees rows with ``t+start < time <= t+end``;
  COUNT/COUNT_DISTINCT/SUM of no rows are 0, the others NULL;
- an entity exists at *t* when its own time (if its table has one) is ``<= t``;
- WHERE (past only, checked by validation) and ASSUMING keep rows where they
  hold; a condition holds only when it is true (NULL counts as false), which is
  also what a binary target's label is;
- a target that is NULL (e.g. AVG of no rows) gives no row;
- ``data_until`` hides every row after that moment (train/validation see the
  database only up to the test cut-off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from relgraph.query.ast import (
    NULL_OPS,
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    Constant,
    Not,
    Or,
    Query,
)
from relgraph.query.validate import value_kind
from relgraph.schema.types import Schema

ZERO_WHEN_EMPTY = ("COUNT", "COUNT_DISTINCT", "SUM")


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def ts_literal(t: datetime) -> str:
    return f"TIMESTAMP '{t.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def _interval(n: int, unit: str) -> str:
    return f"INTERVAL '{n} {unit}'"


def _constant(v: Constant, kind: str) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        lit = "'" + v.replace("'", "''") + "'"
        return f"CAST({lit} AS TIMESTAMP)" if kind == "time" else lit
    return repr(v) if isinstance(v, float) else str(v)


@dataclass
class _Plan:
    schema: Schema
    query: Query
    data_until: datetime | None
    aggs: list[Aggregate] = field(default_factory=list)
    entity_cols: list[str] = field(default_factory=list)

    def agg_name(self, a: Aggregate) -> str:
        if a not in self.aggs:
            self.aggs.append(a)
        return f"agg_{self.aggs.index(a) + 1}"

    def entity_col(self, column: str) -> str:
        if column not in self.entity_cols:
            self.entity_cols.append(column)
        return f"e.col_{self.entity_cols.index(column) + 1}"

    # -- expressions ---------------------------------------------------------------
    def operand(self, x: Aggregate | ColumnRef, row_alias: str | None = None) -> tuple[str, str]:
        """SQL for an operand and the kind of constant it compares with."""
        if isinstance(x, ColumnRef):
            kind = value_kind(self.schema[x.table].column(x.column).dtype)
            if row_alias is not None:
                return f"{row_alias}.{q(x.column)}", kind
            return self.entity_col(x.column), kind
        name = self.agg_name(x)
        expr = f"{name}.value"
        if x.func in ZERO_WHEN_EMPTY:
            expr = f"COALESCE({expr}, 0)"
        if x.func in ("COUNT", "COUNT_DISTINCT", "SUM", "AVG"):
            return expr, "number"
        return expr, value_kind(self.schema[x.column.table].column(x.column.column).dtype)

    def condition(self, c: Condition, row_alias: str | None = None) -> str:
        if isinstance(c, And):
            return f"({self.condition(c.left, row_alias)} AND {self.condition(c.right, row_alias)})"
        if isinstance(c, Or):
            return f"({self.condition(c.left, row_alias)} OR {self.condition(c.right, row_alias)})"
        if isinstance(c, Not):
            return f"(NOT {self.condition(c.operand, row_alias)})"
        return self.comparison(c, row_alias)

    def comparison(self, c: Comparison, row_alias: str | None) -> str:
        left, kind = self.operand(c.left, row_alias)
        if c.op in NULL_OPS:
            return f"{left} {c.op}"
        if isinstance(c.value, tuple):
            items = ", ".join(_constant(v, kind) for v in c.value)
            return f"{left} {c.op} ({items})"
        assert c.value is not None  # only IS [NOT] NULL has no value (handled above)
        right = _constant(c.value, kind)
        fn = {"CONTAINS": "contains", "STARTS WITH": "starts_with", "ENDS WITH": "suffix"}
        if c.op in fn:
            return f"{fn[c.op]}({left}, {right})"
        return f"{left} {c.op} {right}"

    # -- CTEs ----------------------------------------------------------------------
    def aggregate_cte(self, a: Aggregate, index: int) -> str:
        t = self.schema[a.column.table]
        ent = self.query.entity.ref.table
        link = next(fk.column for fk in t.foreign_keys if fk.target == ent)
        assert t.time_column is not None  # validation requires one
        time = f"r.{q(t.time_column)}"
        w = a.window
        conds = []
        if w.start is not None:
            lo = "a.anchor" if w.start == 0 else f"a.anchor + {_interval(w.start, w.unit)}"
            conds.append(f"{time} > {lo}")
        hi = "a.anchor" if w.end == 0 else f"a.anchor + {_interval(w.end, w.unit)}"
        conds.append(f"{time} <= {hi}")
        filters = []
        if a.where is not None:
            filters.append(self.condition(a.where, row_alias="r"))
        if self.data_until is not None:
            filters.append(f"{time} <= {ts_literal(self.data_until)}")
        col = "*" if a.column.is_star else f"r.{q(a.column.column)}"
        order = f"r.{q(t.time_column)}" + (f", r.{q(t.primary_key)}" if t.primary_key else "")
        value = {
            "COUNT": f"COUNT({col})",
            "COUNT_DISTINCT": f"COUNT(DISTINCT {col})",
            "SUM": f"SUM({col})",
            "AVG": f"AVG({col})",
            "MIN": f"MIN({col})",
            "MAX": f"MAX({col})",
            "FIRST": f"FIRST({col} ORDER BY {order}) FILTER (WHERE {col} IS NOT NULL)",
            "LAST": f"LAST({col} ORDER BY {order}) FILTER (WHERE {col} IS NOT NULL)",
        }.get(a.func)
        if value is None:  # LIST_DISTINCT
            item = col
            if self.query.mode != "RANK":
                item = f"list_position($classes, {col}) - 1"
            value = f"list(DISTINCT {item} ORDER BY {item}) FILTER (WHERE {col} IS NOT NULL)"
        where = ("\n    WHERE " + "\n      AND ".join(filters)) if filters else ""
        return (
            f"agg_{index} AS (  -- {a.to_pql()}\n"
            f"    SELECT a.anchor, r.{q(link)} AS entity, {value} AS value\n"
            f"    FROM anchors AS a\n"
            f"    JOIN {q(t.name)} AS r\n"
            f"      ON {' AND '.join(conds)}{where}\n"
            f"    GROUP BY a.anchor, r.{q(link)}\n"
            f")"
        )


def _required_counts(c: Condition | None) -> list[Aggregate]:
    """Aggregates that a top-level conjunct of ``c`` requires to see at least one row."""
    if c is None:
        return []
    if isinstance(c, And):
        return _required_counts(c.left) + _required_counts(c.right)
    if (
        isinstance(c, Comparison)
        and isinstance(c.left, Aggregate)
        and c.left.func in ("COUNT", "COUNT_DISTINCT")
        and isinstance(c.value, int)
        and not isinstance(c.value, bool)
        and ((c.op == ">" and c.value >= 0) or (c.op == ">=" and c.value >= 1))
    ):
        return [c.left]
    return []


def label_sql(query: Query, schema: Schema, *, data_until: datetime | None = None) -> str:
    """The SQL that makes the labels of a (validated) query for the anchors ``$anchors``."""
    plan = _Plan(schema, query, data_until)
    ent = query.entity.ref
    et = schema[ent.table]
    pk = et.primary_key or ent.column

    # 1. Expressions: target, WHERE, ASSUMING (registering the aggregates they use).
    target = query.target
    if isinstance(target, Aggregate | ColumnRef):
        tgt, _ = plan.operand(target)
        if plan.query.mode is None and _is_class_target(query, schema):
            tgt = f"list_position($classes, {tgt}) - 1"
        elif plan.query.mode is None:
            tgt = f"CAST({tgt} AS DOUBLE)"
    else:
        tgt = f"CASE WHEN {plan.condition(target)} THEN 1.0 ELSE 0.0 END"
    keep = [plan.condition(c) for c in (query.where, query.assuming) if c is not None]

    # 2. The entity rows per anchor. When a conjunct needs COUNT(x) > 0, start from the
    # rows of that aggregate instead of every (anchor, entity) pair: same result, and
    # far fewer rows when few entities are active at each anchor.
    required = _required_counts(query.where) + _required_counts(query.assuming)
    drive = plan.agg_name(required[0]) if required else None
    ent_filters = []
    if et.time_column is not None:
        ent_filters.append(f"e.{q(et.time_column)} <= a.anchor")
        if data_until is not None:
            ent_filters.append(f"e.{q(et.time_column)} <= {ts_literal(data_until)}")
    if query.entity.values:
        kind = value_kind(et.column(pk).dtype)
        items = ", ".join(_constant(v, kind) for v in query.entity.values)
        ent_filters.append(f"e.{q(pk)} IN ({items})")
    cols = "".join(
        f", e.{q(c)} AS col_{i + 1}" for i, c in enumerate(plan.entity_cols)
    )
    # Aggregates are numbered now that the expressions have registered them all.
    agg_ctes = [plan.aggregate_cte(a, i + 1) for i, a in enumerate(plan.aggs)]
    if drive is None:
        source = "anchors AS a\n    CROSS JOIN " + f"{q(et.name)} AS e"
    else:
        source = f"{drive} AS a\n    JOIN {q(et.name)} AS e ON e.{q(pk)} = a.entity"
    where = ("\n    WHERE " + "\n      AND ".join(ent_filters)) if ent_filters else ""
    entities = (
        "entities AS (\n"
        f"    SELECT a.anchor, e.{q(pk)} AS entity{cols}\n"
        f"    FROM {source}{where}\n"
        ")"
    )
    joins = "".join(
        f"\nLEFT JOIN agg_{i + 1} ON agg_{i + 1}.anchor = e.anchor "
        f"AND agg_{i + 1}.entity = e.entity"
        for i in range(len(plan.aggs))
    )
    has_label = "target IS NOT NULL"
    if isinstance(target, Aggregate) and target.func == "LIST_DISTINCT":
        has_label = "len(target) > 0"
    keep_sql = ("\n    WHERE " + "\n      AND ".join(keep)) if keep else ""
    head = "\n".join(f"-- {line}" for line in query.to_pql().splitlines())
    until = f"\n-- rows after {data_until.isoformat(sep=' ')} are hidden" if data_until else ""
    return (
        f"{head}{until}\n"
        "WITH anchors AS (\n"
        "    SELECT DISTINCT CAST(unnest($anchors) AS TIMESTAMP) AS anchor\n"
        "),\n"
        + ",\n".join([*agg_ctes, entities])
        + ",\nlabels AS (\n"
        f"    SELECT e.entity, e.anchor, {tgt} AS target\n"
        "    FROM entities AS e"
        + joins.replace("\n", "\n    ")
        + keep_sql
        + "\n)\n"
        'SELECT entity AS "ENTITY", anchor AS "ANCHOR_TIMESTAMP", target AS "TARGET"\n'
        "FROM labels\n"
        f"WHERE {has_label}\n"
        'ORDER BY "ANCHOR_TIMESTAMP", "ENTITY"'
    )


def _is_class_target(query: Query, schema: Schema) -> bool:
    from relgraph.query.task import TaskType, infer_task_type

    return infer_task_type(query, schema)[0] is TaskType.multiclass


def uses_classes(query: Query, schema: Schema) -> bool:
    """Whether the SQL of ``query`` takes the ``$classes`` parameter."""
    t = query.target
    if isinstance(t, Aggregate) and t.func == "LIST_DISTINCT":
        return query.mode != "RANK"
    return query.mode is None and _is_class_target(query, schema)

