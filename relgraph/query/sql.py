"""Compile a validated query into one readable DuckDB SQL statement that makes labels.

The statement reads the anchor times from a relation ``rg_anchors(anchor)`` of
distinct timestamps registered by the caller (an Arrow table binds far faster than a
long list parameter, and a plain relation plans better than a CTE over it) and, for
class targets, the class list from the parameter ``$classes``. It returns
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

from dataclasses import dataclass, field, replace
from datetime import datetime

from relgraph._sql import quote_ident, quote_literal
from relgraph.errors import QueryError
from relgraph.query.ast import (
    NULL_OPS,
    Aggregate,
    And,
    ColumnRef,
    Comparison,
    Condition,
    Constant,
    LabelRef,
    Not,
    Or,
    Query,
    Window,
    aggregates,
    comparisons,
)
from relgraph.query.validate import choose_path, column_kind, is_number_text, value_kind
from relgraph.schema.types import Schema, TableSchema

ZERO_WHEN_EMPTY = ("COUNT", "COUNT_DISTINCT", "SUM")
ANCHORS = "rg_anchors"  # the relation (one TIMESTAMP column `anchor`) the SQL reads

# The query compiler and its tests call it `q` for short.
q = quote_ident


def ts_literal(t: datetime) -> str:
    fmt = "%Y-%m-%d %H:%M:%S.%f" if t.microsecond else "%Y-%m-%d %H:%M:%S"
    return f"TIMESTAMP '{t.strftime(fmt)}'"


def _one_line(text: str) -> str:
    """Text safe inside an SQL ``--`` comment."""
    return " ".join(text.splitlines())


def _interval(n: int, unit: str) -> str:
    return f"INTERVAL '{n} {unit}'"


def _constant(v: Constant, kind: str) -> str:
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, str):
        lit = quote_literal(v)
        return f"CAST({lit} AS TIMESTAMP)" if kind == "time" else lit
    return repr(v) if isinstance(v, float) else str(v)


# (table, window, the VIA foreign key as (table, column) or None)
GroupKey = tuple[str, Window, tuple[str, str] | None]


def group_key(a: Aggregate) -> GroupKey:
    via = (a.via.table, a.via.column) if a.via is not None else None
    return (a.column.table, a.window, via)


@dataclass
class _Plan:
    schema: Schema
    query: Query
    data_until: datetime | None
    # Aggregates over the same table and window share one CTE, one range join and one
    # scan (`SUM(x) ... ASSUMING COUNT(x.*) > 0`; different WHEREs become FILTERs).
    groups: dict[GroupKey, list[Aggregate]] = field(default_factory=dict)
    entity_cols: list[str] = field(default_factory=list)
    # The group the entity rows are taken from (its values travel with them).
    drive: GroupKey | None = None
    # Set when the driving aggregate is only ever tested for "at least one row": its
    # CTE is then a DISTINCT, which DuckDB runs faster than a grouped COUNT.
    exists_only: bool = False

    def agg_ref(self, a: Aggregate) -> tuple[str, str]:
        """(CTE name, column) holding aggregate ``a``."""
        key = group_key(a)
        members = self.groups.setdefault(key, [])
        if a not in members:
            members.append(a)
        g = list(self.groups).index(key) + 1
        v = members.index(a) + 1
        return f"agg_{g}", f"v{v}"

    @property
    def aggs(self) -> list[tuple[GroupKey, list[Aggregate]]]:
        return list(self.groups.items())

    def entity_col(self, column: str) -> str:
        if column not in self.entity_cols:
            self.entity_cols.append(column)
        return f"e.col_{self.entity_cols.index(column) + 1}"

    # -- expressions ---------------------------------------------------------------
    def column(self, table: str, column: str, alias: str) -> str:
        """SQL for a column of a row; numbers stored as text are read as numbers."""
        expr = f"{alias}.{q(column)}"
        if is_number_text(self.schema[table].column(column)):
            expr = f"rg_number({expr})"
        return expr

    def operand(self, x: Aggregate | ColumnRef, row_alias: str | None = None) -> tuple[str, str]:
        """SQL for an operand and the kind of constant it compares with."""
        if isinstance(x, ColumnRef):
            kind = column_kind(self.schema[x.table].column(x.column))
            if row_alias is not None:
                return self.column(x.table, x.column, row_alias), kind
            return self.entity_col(x.column), kind
        name, column = self.agg_ref(x)
        expr = f"{name}.{column}"
        if group_key(x) == self.drive:
            expr = f"e.{name}_{column}"
        if x.func in ZERO_WHEN_EMPTY:
            expr = f"COALESCE({expr}, 0)"
        if x.func in ("COUNT", "COUNT_DISTINCT", "SUM", "AVG"):
            return expr, "number"
        return expr, column_kind(self.schema[x.column.table].column(x.column.column))

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
    def aggregate_cte(self, key: GroupKey, members: list[Aggregate], index: int) -> str:
        table, w, via = key
        # One shared WHERE is pushed into the scan; several become per-value FILTERs.
        wheres = {a.where for a in members}
        where_cond = next(iter(wheres)) if len(wheres) == 1 else None
        t = self.schema[table]
        ent = self.query.entity.ref.table
        # The entity key: the foreign key itself, or at the end of a chain of lookups
        # (order_items -> orders -> users), one join per intermediate table.
        path = choose_path(self.schema, table, ent, via)[0]
        lookups, alias = "", "r"
        for i, (_, column, parent) in enumerate(path[:-1]):
            pk = self.schema[parent].primary_key or ""
            lookups += (
                f"\n    JOIN {q(parent)} AS h{i + 1} ON h{i + 1}.{q(pk)} = {alias}.{q(column)}"
            )
            alias = f"h{i + 1}"
        entity_key = f"{alias}.{q(path[-1][1])}"
        assert t.time_column is not None  # validation requires one
        time = f"r.{q(t.time_column)}"
        conds = []
        if w.start is not None:
            lo = "a.anchor" if w.start == 0 else f"a.anchor + {_interval(w.start, w.unit)}"
            conds.append(f"{time} > {lo}")
        hi = "a.anchor" if w.end == 0 else f"a.anchor + {_interval(w.end, w.unit)}"
        conds.append(f"{time} <= {hi}")
        filters = []
        if where_cond is not None:
            filters.append(self.condition(where_cond, row_alias="r"))
        if self.data_until is not None:
            filters.append(f"{time} <= {ts_literal(self.data_until)}")
        values = "".join(
            f",\n           -- {_one_line(a.to_pql())}\n"
            f"           {self.value(a, t, filtered=len(wheres) > 1)} AS v{j + 1}"
            for j, a in enumerate(members)
        )
        select, group = "SELECT", f"\n    GROUP BY a.anchor, {entity_key}"
        if self.exists_only and key == self.drive and len(members) == 1:
            # Only "has at least one row" is asked of this window: pairs, not counts.
            a = members[0]
            select, group = "SELECT DISTINCT", ""
            values = f", 1 AS v1  -- {_one_line(a.to_pql())} > 0"
            if not a.column.is_star:
                filters.append(f"{self.column(table, a.column.column, 'r')} IS NOT NULL")
        where = ("\n    WHERE " + "\n      AND ".join(filters)) if filters else ""
        return (
            f"agg_{index} AS (\n"
            f"    {select} a.anchor, {entity_key} AS entity{values}\n"
            f"    FROM {ANCHORS} AS a\n"
            f"    JOIN {q(t.name)} AS r\n"
            f"      ON {' AND '.join(conds)}{lookups}{where}{group}\n"
            f")"
        )

    def value(self, a: Aggregate, t: TableSchema, filtered: bool) -> str:
        """The SQL aggregate for ``a`` over the window's rows ``r`` (its WHERE as a FILTER)."""
        assert t.time_column is not None  # validation requires one
        col = "*" if a.column.is_star else self.column(t.name, a.column.column, "r")
        if a.func == "LIST_DISTINCT" and not a.column.is_star:
            # Classes and ranked keys are the stored values, as `classes_of` lists them.
            col = f"r.{q(a.column.column)}"
        conds = [f"{col} IS NOT NULL"] if a.func in ("FIRST", "LAST", "LIST_DISTINCT") else []
        if filtered and a.where is not None:
            conds.append(self.condition(a.where, row_alias="r"))
        flt = f" FILTER (WHERE {' AND '.join(conds)})" if conds else ""
        order = f"r.{q(t.time_column)}" + (f", r.{q(t.primary_key)}" if t.primary_key else "")
        value = {
            "COUNT": f"COUNT({col})",
            "COUNT_DISTINCT": f"COUNT(DISTINCT {col})",
            "SUM": f"SUM({col})",
            "AVG": f"AVG({col})",
            "MIN": f"MIN({col})",
            "MAX": f"MAX({col})",
            "FIRST": f"FIRST({col} ORDER BY {order})",
            "LAST": f"LAST({col} ORDER BY {order})",
        }.get(a.func)
        if value is None:  # LIST_DISTINCT
            item = col
            if self.query.mode != "RANK":
                item = f"list_position($classes, {col}) - 1"
            value = f"list(DISTINCT {item} ORDER BY {item})"
        return value + flt


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


def _exists_only(agg: Aggregate, query: Query) -> bool:
    """Whether every use of ``agg`` in ``query`` only asks if it saw at least one row."""
    if isinstance(query.target, Aggregate) and query.target == agg:
        return False
    uses = [
        c
        for part in (query.target, query.where, query.assuming)
        if part is not None and not isinstance(part, Aggregate | ColumnRef | LabelRef)
        for c in comparisons(part)
        if isinstance(c.left, Aggregate) and c.left == agg
    ]
    return all(
        not isinstance(c.value, bool)
        and ((c.op == ">" and c.value == 0) or (c.op == ">=" and c.value == 1))
        for c in uses
    )


def label_sql(
    query: Query,
    schema: Schema,
    *,
    data_until: datetime | None = None,
    entities_only: bool = False,
) -> str:
    """The SQL that makes the labels of a (validated) query for the anchors in ``rg_anchors``.

    With ``entities_only`` it makes the rows to predict at each anchor instead (``TARGET``
    is 1): the entities that exist then, are among the query's ``FOR`` values and pass
    its ``WHERE``. ``ASSUMING`` is left out: it is a condition on the future, which a
    prediction made now cannot check, so the prediction assumes it (as its name says).
    """
    if entities_only:
        query = replace(query, assuming=None)
    plan = _Plan(schema, query, data_until)
    ent = query.entity.ref
    et = schema[ent.table]
    pk = et.primary_key or ent.column

    # 1. The entity rows per anchor. When a conjunct needs COUNT(x) > 0, start from the
    # rows of that aggregate instead of every (anchor, entity) pair: same result, and
    # far fewer rows when few entities are active at each anchor.
    required = _required_counts(query.where) + _required_counts(query.assuming)
    drive = None
    if required:
        drive, _ = plan.agg_ref(required[0])
        plan.drive = group_key(required[0])
        plan.exists_only = _exists_only(required[0], query)

    # 2. Expressions: target, WHERE, ASSUMING (registering the aggregates they use).
    target = query.target
    if entities_only:
        tgt = "1"
    elif isinstance(target, LabelRef):
        # Labels come from the label set, not from SQL over the snapshot (table.py).
        raise QueryError("LABEL(...) targets are read from their label set, not compiled to SQL")
    elif isinstance(target, Aggregate | ColumnRef):
        tgt, _ = plan.operand(target)
        if plan.query.mode is None and _is_class_target(query, schema):
            tgt = f"list_position($classes, {tgt}) - 1"
        elif plan.query.mode is None:
            tgt = f"CAST({tgt} AS DOUBLE)"
    elif aggregates(target):
        tgt = f"CASE WHEN {plan.condition(target)} THEN 1.0 ELSE 0.0 END"
    else:
        # A static condition (`PREDICT users.age > 30`): NULL is unknown, not false, so
        # those rows are the ones to predict rather than negatives.
        cond = plan.condition(target)
        tgt = f"CASE WHEN {cond} THEN 1.0 WHEN NOT {cond} THEN 0.0 END"
    keep = [plan.condition(c) for c in (query.where, query.assuming) if c is not None]

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
        f", {plan.column(et.name, c, 'e')} AS col_{i + 1}" for i, c in enumerate(plan.entity_cols)
    )
    if plan.drive is not None:
        cols += "".join(
            f", a.v{j + 1} AS {drive}_v{j + 1}" for j in range(len(plan.groups[plan.drive]))
        )
    # Aggregates are numbered now that the expressions have registered them all.
    agg_ctes = [plan.aggregate_cte(k, m, i + 1) for i, (k, m) in enumerate(plan.aggs)]
    if drive is None:
        source = f"{ANCHORS} AS a\n    CROSS JOIN {q(et.name)} AS e"
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
        if f"agg_{i + 1}" != drive
    )
    has_label = "target IS NOT NULL"
    if entities_only:
        has_label = "TRUE"
    elif isinstance(target, Aggregate) and target.func == "LIST_DISTINCT":
        has_label = "len(target) > 0"
    keep_sql = ("\n    WHERE " + "\n      AND ".join(keep)) if keep else ""
    head = "\n".join(f"-- {line}" for line in query.to_pql().splitlines())
    until = f"\n-- rows after {data_until.isoformat(sep=' ')} are hidden" if data_until else ""
    return (
        f"{head}{until}\n"
        f"-- {ANCHORS}(anchor TIMESTAMP): the anchor times, distinct\n"
        "WITH " + ",\n".join([*agg_ctes, entities]) + ",\nlabels AS (\n"
        f"    SELECT e.entity, e.anchor, {tgt} AS target\n"
        "    FROM entities AS e" + joins.replace("\n", "\n    ") + keep_sql + "\n)\n"
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
