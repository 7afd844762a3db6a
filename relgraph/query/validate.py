"""Semantic checks of a parsed query against a snapshot's schema.

Each check raises a :class:`~relgraph.errors.QueryError` pointing at the token
at fault, naming the object and the fix, with a "did you mean" suggestion for
misspelt tables and columns.
"""

from __future__ import annotations

import difflib
from datetime import datetime

from relgraph.errors import QueryError
from relgraph.query.ast import (
    Aggregate,
    ColumnRef,
    Comparison,
    Condition,
    Constant,
    LabelRef,
    Operand,
    Query,
    aggregates,
    comparisons,
)
from relgraph.schema.types import Column, Schema, SType, TableSchema

NUMERIC_AGGS = ("COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX")
MAX_HOPS = 3
# A window bound reaches at most a century from its anchor (-INF is there for "all
# of the past"): far more than any business horizon, and anchor +/- window stays
# inside the date range of Python, DuckDB and every database relgraph reads.
MAX_WINDOW_DAYS = 36_525
# Exact integers: a bound like 10**20 must be compared, not converted to a float.
_UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440, "weeks": 10080, "months": 43200}
Hop = tuple[str, str, str]  # (table, foreign-key column, referenced table)


def fk_paths(
    schema: Schema, source: str, target: str, max_hops: int = MAX_HOPS
) -> list[tuple[Hop, ...]]:
    """All shortest many-to-one paths ``source -> ... -> target`` along foreign keys.

    Each row of ``source`` then belongs to exactly one ``target`` row (or none).

    Example:
        >>> from relgraph.schema.types import Column, ForeignKey, TableSchema
        >>> t = lambda n, pk, *fks: TableSchema(n, (), pk, tuple(ForeignKey(c, d) for c, d in fks))
        >>> s = Schema({"items": t("items", "id", ("order", "orders")),
        ...             "orders": t("orders", "id", ("user", "users")), "users": t("users", "id")})
        >>> fk_paths(s, "items", "users")
        [(('items', 'order', 'orders'), ('orders', 'user', 'users'))]
    """
    frontier: list[tuple[tuple[Hop, ...], str]] = [((), source)]
    for _ in range(max_hops):
        found: list[tuple[Hop, ...]] = []
        nxt: list[tuple[tuple[Hop, ...], str]] = []
        for path, table in frontier:
            for fk in schema[table].foreign_keys:
                dst = schema.tables.get(fk.target)
                if dst is None or dst.primary_key is None:
                    continue
                if fk.target == source or any(h[2] == fk.target for h in path):
                    continue  # no cycles
                hops = (*path, (table, fk.column, fk.target))
                if fk.target == target:
                    found.append(hops)
                else:
                    nxt.append((hops, fk.target))
        if found:
            return found
        frontier = nxt
    return []


def choose_path(
    schema: Schema, source: str, target: str, via: tuple[str, str] | None
) -> list[tuple[Hop, ...]]:
    """The paths of :func:`fk_paths` that follow the foreign key ``via`` = (table, column)."""
    paths = fk_paths(schema, source, target)
    if via is None:
        return paths
    return [p for p in paths if any((h[0], h[1]) == via for h in p)]


def _suggest(name: str, candidates: list[str]) -> str:
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return f" (did you mean '{lowered[name.lower()]}'?)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
        close = [lowered[c] for c in close]
    return f" (did you mean '{close[0]}'?)" if close else ""


def value_kind(dtype: str) -> str:
    """Which constants a column of Arrow type ``dtype`` compares with: number/bool/time/text."""
    d = dtype.lower()
    if d.startswith(("int", "uint", "float", "double", "decimal", "halffloat")):
        return "number"
    if d.startswith("bool"):
        return "bool"
    if d.startswith(("timestamp", "date", "time")):
        return "time"
    return "text"


def is_number_text(col: Column) -> bool:
    """Whether ``col`` is numerical but stored as text (``"1:26.572"``).

    SQL over a snapshot reads such a column with the ``rg_number`` macro that
    :meth:`~relgraph.store.snapshot.Snapshot.duckdb` registers, as the schema did.
    """
    return col.stype is SType.numerical and value_kind(col.dtype) == "text"


def column_kind(col: Column) -> str:
    """Which constants ``col`` compares with; numbers stored as text compare with numbers.

    Example:
        >>> column_kind(Column("q1", "string", SType.numerical))
        'number'
        >>> column_kind(Column("name", "string", SType.text))
        'text'
    """
    return "number" if is_number_text(col) else value_kind(col.dtype)


class Validator:
    """Checks one query against one schema."""

    def __init__(self, schema: Schema, text: str | None = None) -> None:
        self.schema = schema
        self.text = text

    def error(self, message: str, node: object) -> QueryError:
        line = int(getattr(node, "line", 0) or 1)
        col = int(getattr(node, "col", 0) or 1)
        return QueryError(message, line=line, col=col, query=self.text)

    # -- names ---------------------------------------------------------------------
    def table(self, ref: ColumnRef) -> TableSchema:
        if ref.table not in self.schema.tables:
            hint = _suggest(ref.table, list(self.schema.tables))
            raise self.error(f"unknown table '{ref.table}'{hint}", ref)
        return self.schema[ref.table]

    def column(self, ref: ColumnRef) -> Column:
        t = self.table(ref)
        if not t.has_column(ref.column):
            hint = _suggest(ref.column, t.column_names)
            hint = hint.replace("mean '", f"mean '{ref.table}.")
            raise self.error(f"unknown column '{ref.table}.{ref.column}'{hint}", ref)
        return t.column(ref.column)

    def link(
        self, agg_table: str, entity_table: str, node: object, via: ColumnRef | None = None
    ) -> tuple[Hop, ...]:
        """The foreign-key path from ``agg_table`` to ``entity_table`` (must be unique)."""
        paths = fk_paths(self.schema, agg_table, entity_table)
        if via is not None and paths:
            self.column(via)
            chosen = choose_path(self.schema, agg_table, entity_table, (via.table, via.column))
            if not chosen:
                shown = "; ".join(" -> ".join(f"{t}.{c}" for t, c, _ in p) for p in paths)
                raise self.error(
                    f"VIA {via.to_pql()} is on no path from '{agg_table}' to "
                    f"'{entity_table}'; the paths are: {shown}",
                    via,
                )
            paths = chosen
        if not paths:
            raise self.error(
                f"table '{agg_table}' has no foreign key to the entity table '{entity_table}' "
                f"(directly or through up to {MAX_HOPS - 1} other tables); aggregate a table "
                f"that references '{entity_table}' or declare the key in the schema overrides",
                node,
            )
        if len(paths) > 1:
            shown = "; ".join(" -> ".join(f"{t}.{c}" for t, c, _ in p) for p in paths)
            t, c, _ = paths[0][0]
            raise self.error(
                f"table '{agg_table}' reaches '{entity_table}' in several ways ({shown}); "
                f"name the one to follow with VIA, e.g. COUNT({agg_table}.* VIA {t}.{c}, 0, 30)",
                node,
            )
        return paths[0]

    # -- the query -----------------------------------------------------------------
    def check(self, q: Query) -> None:
        ent = q.entity.ref
        et = self.table(ent)
        if et.primary_key is None:
            raise self.error(
                f"entity table '{ent.table}' has no primary key; predictions are made per "
                "row of a table with a primary key (declare one in the schema overrides)",
                ent,
            )
        col = self.column(ent)
        if col.name != et.primary_key:
            raise self.error(
                f"entity column '{ent.table}.{ent.column}' is not the primary key of "
                f"'{ent.table}'; use '{ent.table}.{et.primary_key}'",
                ent,
            )
        for v in q.entity.values:
            self.check_constant(value_kind(col.dtype), v, ent, f"'{ent.table}.{ent.column}'")
        self.check_target(q)
        self.check_condition(q.where, ent.table, context="WHERE")
        self.check_condition(q.assuming, ent.table, context="ASSUMING")

    def check_target(self, q: Query) -> None:
        t = q.target
        ent = q.entity.ref.table
        if isinstance(t, LabelRef):
            if q.mode is not None:
                raise self.error(f"{q.mode} does not apply to LABEL(...) targets", t)
            return
        if isinstance(t, ColumnRef):
            self.column(t)
            if t.table != ent:
                raise self.error(
                    f"a static target must be a column of the entity table '{ent}', "
                    f"not of '{t.table}'",
                    t,
                )
            if t.column == self.schema[ent].primary_key:
                raise self.error(f"cannot predict the primary key '{ent}.{t.column}'", t)
            if q.mode is not None:
                raise self.error(f"{q.mode} needs a LIST_DISTINCT(...) target", t)
            return
        if isinstance(t, Aggregate):
            self.check_aggregate(t, ent, context="target")
            if t.func == "LIST_DISTINCT":
                path = self.link(t.column.table, ent, t.column, t.via)
                if (t.column.table, t.column.column) == path[-1][:2]:
                    # The list would hold the entity's own key, on every row.
                    raise self.error(
                        f"LIST_DISTINCT({t.column.to_pql()}) lists the key that links "
                        f"'{t.column.table}' to the entity '{ent}' itself: every entity's "
                        "list is its own id. List a key of another table, e.g. an item id",
                        t.column,
                    )
                if q.mode is None:
                    raise self.error(
                        "LIST_DISTINCT(...) as a target needs RANK TOP k (link prediction) "
                        "or CLASSIFY (multilabel)",
                        t,
                    )
                if q.mode == "RANK":
                    fk = next(
                        (f for f in self.schema[t.column.table].foreign_keys
                         if f.column == t.column.column),
                        None,
                    )  # fmt: skip
                    if fk is None or self.schema.tables.get(fk.target) is None:
                        raise self.error(
                            f"RANK TOP k ranks keys of another table; "
                            f"'{t.column.table}.{t.column.column}' is not a foreign key",
                            t.column,
                        )
            elif q.mode is not None:
                raise self.error(f"{q.mode} needs a LIST_DISTINCT(...) target, not {t.func}", t)
            elif t.func in ("FIRST", "LAST"):
                stype = self.column(t.column).stype
                if stype not in (SType.numerical, SType.categorical):
                    raise self.error(
                        f"{t.func}('{t.column.table}.{t.column.column}') is a {stype.value} "
                        "column; a FIRST/LAST target must be numerical (regression) or "
                        "categorical (multiclass)",
                        t,
                    )
            elif t.func in ("MIN", "MAX") and self.column(t.column).stype is SType.timestamp:
                raise self.error(
                    f"{t.func} of the timestamp column '{t.column.table}.{t.column.column}' "
                    "cannot be a regression target; compare it with a date instead",
                    t,
                )
            return
        if q.mode is not None:
            node = aggregates(t)[0] if aggregates(t) else t
            raise self.error(f"{q.mode} needs a LIST_DISTINCT(...) target", node)
        self.check_condition(t, ent, context="target")

    def check_condition(self, c: Condition | None, entity: str, context: str) -> None:
        for cmp in comparisons(c):
            left = cmp.left
            if isinstance(left, Aggregate):
                self.check_aggregate(left, entity, context)
            else:
                self.column(left)
                if left.table != entity:
                    raise self.error(
                        f"'{left.table}.{left.column}' in {context} is not a column of the "
                        f"entity table '{entity}'; wrap it in an aggregate, e.g. "
                        f"COUNT({left.table}.* WHERE {left.table}.{left.column} ..., -30, 0)",
                        left,
                    )
            self.check_comparison(cmp)

    def check_aggregate(self, a: Aggregate, entity: str, context: str) -> None:
        t = self.table(a.column)
        if not a.column.is_star:
            col = self.column(a.column)
            self.check_fits(a, col)
        if t.time_column is None:
            raise self.error(
                f"{a.func}({a.column.to_pql()}) aggregates over time, but table "
                f"'{t.name}' has no time column; declare one in the schema overrides",
                a.column,
            )
        self.link(t.name, entity, a.column, a.via)
        w = a.window
        for bound in (w.start, w.end):
            if bound is not None and abs(bound) * _UNIT_MINUTES[w.unit] > MAX_WINDOW_DAYS * 1440:
                raise self.error(
                    f"window bound {bound} {w.unit} is too far from the anchor: at most "
                    f"{MAX_WINDOW_DAYS} days (100 years) either way; use -INF for all of the past",
                    a,
                )
        if context == "target" and (w.start is None or w.start < 0):
            raise self.error(
                f"a target looks forward: its window start must be >= 0, got "
                f"{'-INF' if w.start is None else w.start}",
                a,
            )
        if context == "WHERE" and w.end > 0:
            raise self.error(
                f"WHERE filters entities with the past only: the window end must be <= 0, "
                f"got {w.end} (move future conditions to ASSUMING)",
                a,
            )
        if a.where is not None:
            for cmp in comparisons(a.where):
                if isinstance(cmp.left, Aggregate):
                    raise self.error("aggregates cannot be nested inside an aggregate", cmp.left)
                self.column(cmp.left)
                if cmp.left.table != a.column.table:
                    raise self.error(
                        f"the WHERE of {a.func}({a.column.to_pql()}) may only use columns of "
                        f"'{a.column.table}', not '{cmp.left.table}.{cmp.left.column}'",
                        cmp.left,
                    )
                self.check_comparison(cmp)

    def check_fits(self, a: Aggregate, col: Column) -> None:
        ok = {
            "SUM": (SType.numerical,),
            "AVG": (SType.numerical,),
            "MIN": (SType.numerical, SType.timestamp),
            "MAX": (SType.numerical, SType.timestamp),
        }.get(a.func)
        if ok is not None and col.stype not in ok:
            raise self.error(
                f"cannot {a.func} the {col.stype.value} column "
                f"'{a.column.table}.{a.column.column}'; {a.func} needs "
                f"{' or '.join(s.value for s in ok)} values (try COUNT or COUNT_DISTINCT)",
                a,
            )

    def operand_kind(self, left: Operand) -> str:
        if isinstance(left, ColumnRef):
            return column_kind(self.column(left))
        if left.func in ("COUNT", "COUNT_DISTINCT", "SUM", "AVG"):
            return "number"
        if left.func == "LIST_DISTINCT":
            return "list"
        return column_kind(self.column(left.column))

    def check_comparison(self, cmp: Comparison) -> None:
        kind = self.operand_kind(cmp.left)
        what = cmp.left.to_pql()
        if kind == "list":
            raise self.error("LIST_DISTINCT(...) cannot be compared; use it as a target", cmp)
        if cmp.op in ("LIKE", "CONTAINS", "STARTS WITH", "ENDS WITH") and kind != "text":
            raise self.error(f"{cmp.op} needs a text operand, but {what} is a {kind}", cmp)
        values: tuple[Constant, ...]
        if cmp.value is None:
            values = ()
        elif isinstance(cmp.value, tuple):
            values = cmp.value
        else:
            values = (cmp.value,)
        for v in values:
            self.check_constant(kind, v, cmp, what)

    def check_constant(self, kind: str, v: Constant, node: object, what: str) -> None:
        if isinstance(v, str) and "\x00" in v:
            # No SQL engine can hold NUL in a string (relgraph._sql refuses it).
            raise self.error(
                f"the constant {v!r} contains NUL (U+0000), which no column holds", node
            )
        if kind == "number" and isinstance(v, str | bool):
            raise self.error(f"{what} is a number; compare it with a number, not {v!r}", node)
        if kind == "text" and not isinstance(v, str):
            raise self.error(f"{what} is text; quote the constant: '{v}'", node)
        if kind == "time":
            try:
                if not isinstance(v, str):
                    raise ValueError(v)
                datetime.fromisoformat(v)
            except ValueError:
                raise self.error(
                    f"{what} is a time; compare it with a quoted date like '2020-01-31', not {v!r}",
                    node,
                ) from None
        if kind == "bool" and not isinstance(v, bool):
            raise self.error(f"{what} is a boolean; compare it with TRUE or FALSE", node)


def validate(query: Query, schema: Schema, text: str | None = None) -> None:
    """Check ``query`` against ``schema``; raise :class:`QueryError` at the first problem."""
    Validator(schema, text).check(query)
