"""Typed PQL syntax tree; every node prints back to PQL with ``to_pql()``.

Positions (``line``, ``col``) are kept for error messages but take no part in
equality, so ``parse(q.to_pql()) == q`` holds for any parsed query ``q``.

Example:
    >>> from relgraph.query.parser import parse
    >>> parse("predict count(orders.*, 0, 30, days) > 0 for each users.id").to_pql()
    'PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.id'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

AGGREGATES = (
    "COUNT",
    "COUNT_DISTINCT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "FIRST",
    "LAST",
    "LIST_DISTINCT",
)
UNITS = ("minutes", "hours", "days", "weeks", "months")
# Operators that take one constant on the right; IN/NOT IN take a tuple; IS [NOT] NULL none.
SCALAR_OPS = ("=", "!=", "<", "<=", ">", ">=", "LIKE", "CONTAINS", "STARTS WITH", "ENDS WITH")
LIST_OPS = ("IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
KEYWORDS = frozenset(
    {
        "PREDICT", "RANK", "TOP", "CLASSIFY", "FOR", "EACH", "WHERE", "ASSUMING", "AND", "OR",
        "NOT", "IN", "IS", "NULL", "VIA",
        "LIKE", "CONTAINS", "STARTS", "ENDS", "WITH", "INF", "TRUE",
        "FALSE", *AGGREGATES, *(u.upper() for u in UNITS),
    }
)  # fmt: skip
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

Constant = int | float | str | bool


def quote_name(name: str) -> str:
    """A table/column name as PQL writes it (double-quoted when it must be)."""
    if _PLAIN_NAME.match(name) and name.upper() not in KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def format_constant(value: Constant) -> str:
    """A constant as PQL writes it."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class ColumnRef:
    """``table.column``; ``column == "*"`` for ``table.*``."""

    table: str
    column: str
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    @property
    def is_star(self) -> bool:
        return self.column == "*"

    def to_pql(self) -> str:
        column = "*" if self.is_star else quote_name(self.column)
        return f"{quote_name(self.table)}.{column}"


@dataclass(frozen=True)
class Window:
    """The window ``(start, end]`` in ``unit`` relative to the anchor; ``start=None`` is -INF."""

    start: int | None
    end: int
    unit: str = "days"

    def to_pql(self) -> str:
        start = "-INF" if self.start is None else str(self.start)
        return f"{start}, {self.end}, {self.unit}"

    def length(self) -> int | None:
        """``end - start`` in units (None for an unbounded start)."""
        return None if self.start is None else self.end - self.start


@dataclass(frozen=True)
class Aggregate:
    """``AGG(table.column [VIA table.fk] [WHERE condition], start, end, unit)``.

    ``via`` names the foreign key to follow when the table reaches the entity in
    several ways (``COUNT(routes.* VIA routes.source_airport_id, 0, 30)``).
    """

    func: str
    column: ColumnRef
    window: Window
    where: Condition | None = None
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)
    via: ColumnRef | None = None

    def to_pql(self) -> str:
        via = f" VIA {self.via.to_pql()}" if self.via is not None else ""
        where = f" WHERE {self.where.to_pql()}" if self.where is not None else ""
        return f"{self.func}({self.column.to_pql()}{via}{where}, {self.window.to_pql()})"


Operand = Aggregate | ColumnRef


@dataclass(frozen=True)
class Comparison:
    """``operand op value``; ``value`` is a tuple for IN/NOT IN and None for IS [NOT] NULL."""

    left: Operand
    op: str
    value: Constant | tuple[Constant, ...] | None
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    def to_pql(self) -> str:
        if self.op in NULL_OPS:
            return f"{self.left.to_pql()} {self.op}"
        if self.op in LIST_OPS:
            assert isinstance(self.value, tuple)  # guaranteed by the parser
            items = ", ".join(format_constant(v) for v in self.value)
            return f"{self.left.to_pql()} {self.op} ({items})"
        assert self.value is not None and not isinstance(self.value, tuple)
        return f"{self.left.to_pql()} {self.op} {format_constant(self.value)}"


@dataclass(frozen=True)
class Not:
    operand: Condition
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    def to_pql(self) -> str:
        return f"NOT {_wrap(self.operand, Not)}"


@dataclass(frozen=True)
class And:
    left: Condition
    right: Condition

    def to_pql(self) -> str:
        # AND is parsed left-associative, so a right-hand AND needs parentheses.
        return f"{_wrap(self.left, And)} AND {_wrap(self.right, And, right=True)}"


@dataclass(frozen=True)
class Or:
    left: Condition
    right: Condition

    def to_pql(self) -> str:
        return f"{_wrap(self.left, Or)} OR {_wrap(self.right, Or, right=True)}"


Condition = Comparison | Not | And | Or


def _wrap(c: Condition, parent: type, right: bool = False) -> str:
    """Parenthesise ``c`` where printing it bare under ``parent`` would parse differently."""
    text = c.to_pql()
    if isinstance(c, Comparison | Not):
        return text
    if parent is Not or (parent is And and isinstance(c, Or)) or (right and type(c) is parent):
        return f"({text})"
    return text


@dataclass(frozen=True)
class Entity:
    """``table.key`` with an optional ``= constant`` or ``IN (constants)`` restriction."""

    ref: ColumnRef
    op: str | None = None
    values: tuple[Constant, ...] = ()

    def to_pql(self) -> str:
        if self.op is None:
            return self.ref.to_pql()
        if self.op == "=":
            return f"{self.ref.to_pql()} = {format_constant(self.values[0])}"
        return f"{self.ref.to_pql()} IN ({', '.join(format_constant(v) for v in self.values)})"


@dataclass(frozen=True)
class LabelRef:
    """``LABEL(project[, version])``: static labels from a label set (``relgraph.labels``).

    Without a version, the newest version of the project's label sets.
    """

    project: str
    version: str | None = None
    line: int = field(default=0, compare=False)
    col: int = field(default=0, compare=False)

    def to_pql(self) -> str:
        version = f", {quote_name(self.version)}" if self.version is not None else ""
        return f"LABEL({quote_name(self.project)}{version})"


Target = Condition | Aggregate | ColumnRef | LabelRef


@dataclass(frozen=True)
class Query:
    """A whole predictive query."""

    target: Target
    entity: Entity
    mode: str | None = None  # None | "RANK" | "CLASSIFY"
    k: int | None = None
    where: Condition | None = None
    assuming: Condition | None = None
    for_each: bool = True

    def to_pql(self) -> str:
        parts = ["PREDICT", self.target.to_pql()]
        if self.mode == "RANK":
            parts.append(f"RANK TOP {self.k}")
        elif self.mode == "CLASSIFY":
            parts.append("CLASSIFY")
        parts.append("FOR EACH" if self.for_each else "FOR")
        parts.append(self.entity.to_pql())
        if self.where is not None:
            parts.append(f"WHERE {self.where.to_pql()}")
        if self.assuming is not None:
            parts.append(f"ASSUMING {self.assuming.to_pql()}")
        return " ".join(parts)

    def __str__(self) -> str:
        return self.to_pql()


def aggregates(node: Target | None) -> list[Aggregate]:
    """Every aggregate in ``node``, outermost first (not those nested in an aggregate's WHERE)."""
    if node is None or isinstance(node, ColumnRef | LabelRef):
        return []
    if isinstance(node, Aggregate):
        return [node]
    if isinstance(node, Comparison):
        return aggregates(node.left)
    if isinstance(node, Not):
        return aggregates(node.operand)
    return aggregates(node.left) + aggregates(node.right)


def comparisons(node: Condition | None) -> list[Comparison]:
    """Every comparison in a condition, left to right."""
    if node is None:
        return []
    if isinstance(node, Comparison):
        return [node]
    if isinstance(node, Not):
        return comparisons(node.operand)
    return comparisons(node.left) + comparisons(node.right)


def unit_delta(n: int, unit: str) -> timedelta:
    """``n`` units as a timedelta (a month counts 30 days here; SQL uses calendar months)."""
    if unit == "months":
        return timedelta(days=30 * n)
    return timedelta(**{unit: n})
