"""The torch-free schema vocabulary: semantic types, columns, tables, links.

A :class:`Schema` is the *meta-graph* of a database: tables are nodes, foreign
keys are edges. It is inferred from data (``relgraph.schema.infer``), may be
overridden by the user in YAML (``relgraph.schema.overrides``), and is stored
inside every snapshot's manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any


class SType(str, Enum):  # noqa: UP042 (keeps str() as callers expect)
    """Semantic type of a column: how a model should read it."""

    numerical = "numerical"
    categorical = "categorical"
    multicategorical = "multicategorical"
    text = "text"
    timestamp = "timestamp"
    id = "id"
    embedding = "embedding"
    # Bytes (SQLite BLOB, PostgreSQL bytea): kept in the snapshot, never encoded.
    binary = "binary"


@dataclass(frozen=True)
class Column:
    """One column: physical Arrow dtype and semantic type."""

    name: str
    dtype: str
    stype: SType

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "stype": self.stype.value}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Column:
        return cls(name=str(d["name"]), dtype=str(d["dtype"]), stype=SType(d["stype"]))


@dataclass(frozen=True)
class ForeignKey:
    """``table.column`` references the primary key of ``target``."""

    column: str
    target: str

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "target": self.target}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForeignKey:
        return cls(column=str(d["column"]), target=str(d["target"]))


@dataclass(frozen=True)
class TimeSpec:
    """How a table's time column is made when it is not a plain source column.

    ``combine``: ``date_column`` + the clock in ``clock_column`` (NULL = 00:00).
    ``inherit``: the time of the row that the foreign key ``via`` points at,
    shifted by ``offset_seconds`` (e.g. F1 qualifying happens the day before
    its race, so ``offset_seconds=-86400``).
    The derived column is stored in the snapshot under ``TableSchema.time_column``.
    """

    kind: str  # "column" | "parse" | "epoch" | "combine" | "inherit"
    date_column: str | None = None
    clock_column: str | None = None
    via: str | None = None
    offset_seconds: int = 0
    # ``epoch``: integers counting this unit since 1970-01-01 UTC ("s", "ms", "us").
    unit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        if self.date_column is not None:
            d["date_column"] = self.date_column
        if self.clock_column is not None:
            d["clock_column"] = self.clock_column
        if self.via is not None:
            d["via"] = self.via
        if self.offset_seconds:
            d["offset_seconds"] = self.offset_seconds
        if self.unit is not None:
            d["unit"] = self.unit
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TimeSpec:
        return cls(
            kind=str(d["kind"]),
            date_column=d.get("date_column"),
            clock_column=d.get("clock_column"),
            via=d.get("via"),
            offset_seconds=int(d.get("offset_seconds", 0)),
            unit=d.get("unit"),
        )


@dataclass(frozen=True)
class Explanation:
    """Why inference chose (or refused) a key, link or time column, and how sure it is.

    ``subject``: ``primary_key``, ``unique_key``, ``time``, ``link:<column>`` or
    ``not_time:<column>``; ``rule``: ``declared``, ``name``, ``containment``,
    ``rule`` or ``schema file``; ``confidence`` in [0, 1]; ``detail`` in words.
    """

    subject: str
    rule: str
    confidence: float
    detail: str

    @property
    def doubtful(self) -> bool:
        return self.confidence < DOUBT_BELOW

    def __str__(self) -> str:
        return f"{self.subject}: {self.detail} [{self.rule}, {self.confidence:.2f}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "rule": self.rule,
            "confidence": round(self.confidence, 3),
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Explanation:
        return cls(str(d["subject"]), str(d["rule"]), float(d["confidence"]), str(d["detail"]))


# Choices below this confidence are listed by ``relgraph schema --check``.
DOUBT_BELOW = 0.9

# Name of the column a derived (combined or inherited) time is stored under.
DERIVED_TIME_COLUMN = "_rg_time"


@dataclass(frozen=True)
class TableSchema:
    """A table: its columns, primary key, foreign keys and time column."""

    name: str
    columns: tuple[Column, ...]
    primary_key: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    time_column: str | None = None
    time_spec: TimeSpec | None = None
    # A composite key (two or more columns) of a table with no one-column primary
    # key: a link table or a fact table. It identifies rows; it makes no entity.
    unique_key: tuple[str, ...] = ()
    explanations: tuple[Explanation, ...] = ()

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def has_column(self, name: str) -> bool:
        return any(c.name == name for c in self.columns)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def feature_columns(self) -> list[Column]:
        """Columns a model encodes: everything but keys (ids) and the time column."""
        return [c for c in self.columns if c.stype is not SType.id and c.name != self.time_column]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "primary_key": self.primary_key,
            "time_column": self.time_column,
            "time_spec": self.time_spec.to_dict() if self.time_spec else None,
            "foreign_keys": [fk.to_dict() for fk in self.foreign_keys],
            "columns": [c.to_dict() for c in self.columns],
        } | (
            ({"unique_key": list(self.unique_key)} if self.unique_key else {})
            | (
                {"explanations": [e.to_dict() for e in self.explanations]}
                if self.explanations
                else {}
            )
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TableSchema:
        ts = d.get("time_spec")
        return cls(
            name=str(d["name"]),
            columns=tuple(Column.from_dict(c) for c in d["columns"]),
            primary_key=d.get("primary_key"),
            foreign_keys=tuple(ForeignKey.from_dict(f) for f in d.get("foreign_keys", [])),
            time_column=d.get("time_column"),
            time_spec=TimeSpec.from_dict(ts) if ts else None,
            unique_key=tuple(d.get("unique_key", ())),
            explanations=tuple(Explanation.from_dict(e) for e in d.get("explanations", ())),
        )

    def replace(self, **changes: Any) -> TableSchema:
        return replace(self, **changes)


@dataclass(frozen=True)
class Link:
    """An edge of the meta-graph: ``source.column -> target.target_pk``."""

    source: str
    column: str
    target: str
    target_column: str

    def __str__(self) -> str:
        return f"{self.source}.{self.column} -> {self.target}.{self.target_column}"


@dataclass(frozen=True)
class Schema:
    """All tables of a database and the links between them."""

    tables: dict[str, TableSchema] = field(default_factory=dict)

    def __getitem__(self, name: str) -> TableSchema:
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(name) from None

    def __contains__(self, name: object) -> bool:
        return name in self.tables

    def __repr__(self) -> str:
        return f"Schema(tables={len(self.tables)}, links={len(self.links)})"

    @property
    def links(self) -> list[Link]:
        out: list[Link] = []
        for t in self.tables.values():
            for fk in t.foreign_keys:
                target = self.tables.get(fk.target)
                pk = target.primary_key if target is not None else None
                out.append(Link(t.name, fk.column, fk.target, pk or "?"))
        return out

    def with_table(self, table: TableSchema) -> Schema:
        tables = dict(self.tables)
        tables[table.name] = table
        return Schema(tables=tables)

    def to_dict(self) -> dict[str, Any]:
        return {"tables": [t.to_dict() for t in self.tables.values()]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        tables = [TableSchema.from_dict(t) for t in d["tables"]]
        return cls(tables={t.name: t for t in tables})
