"""Check tables against their schema: keys, links, timestamps, mixed types.

Findings are *reported* (per table) and, where the data cannot be used as it
is, *raised* as :class:`DataValidationError` naming table, column and row.
Nothing is ever dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from relgraph._sql import quote_ident as _q
from relgraph.errors import DataValidationError
from relgraph.schema.infer import distinct_count
from relgraph.schema.types import Schema, SType, TableSchema

MAX_EXAMPLES = 5
_PK_FIX = "fix the data, or set another primary_key (or null) for the table in a schema file"


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" (data unusable) | "warning" (usable, but look) | "info"
    kind: str  # duplicate_pk | null_pk | dangling_fk | bad_timestamp | null_time | mixed_type
    table: str
    column: str
    message: str
    count: int = 0
    examples: tuple[Any, ...] = ()
    row: int | None = None  # 1-based data row of the first offending value

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "table": self.table,
            "column": self.column,
            "message": self.message,
            "count": self.count,
            "examples": [_jsonable(e) for e in self.examples],
            "row": self.row,
        }


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str, bool)):
        return v
    return str(v)


@dataclass
class ValidationReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def for_table(self, table: str) -> list[Finding]:
        return [f for f in self.findings if f.table == table]

    def to_dict(self) -> dict[str, Any]:
        return {
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [f.to_dict() for f in self.findings],
        }

    def raise_for_errors(self) -> None:
        if not self.errors:
            return
        first = self.errors[0]
        more = f" (and {len(self.errors) - 1} more errors)" if len(self.errors) > 1 else ""
        raise DataValidationError(
            first.message + more, table=first.table, column=first.column, row=first.row
        )


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    # DuckDB 2 keeps a result open until it is drained: always fetch all.
    rows = con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    return rows[0] if rows else None


def _first_rows(
    con: duckdb.DuckDBPyConnection, where: str, col: str
) -> tuple[int | None, list[Any], int]:
    """(first 1-based row, example values, count) of rows of ``t`` matching ``where``."""
    n = _one(con, f"SELECT count(*) FROM t WHERE {where}")
    count = int(n[0]) if n else 0
    if not count:
        return None, [], 0
    rows = con.execute(
        f"SELECT __row, {_q(col)} FROM (SELECT row_number() OVER () AS __row, * FROM t) "
        f"WHERE {where} ORDER BY __row LIMIT {MAX_EXAMPLES}"
    ).fetchall()
    return int(rows[0][0]), [r[1] for r in rows], count


def validate(tables: dict[str, pa.Table], schema: Schema) -> ValidationReport:
    """Validate every table of ``schema`` present in ``tables``."""
    report = ValidationReport()
    con = duckdb.connect()
    for name, ts in schema.tables.items():
        if name not in tables:
            continue
        con.register("t", tables[name])
        report.findings += _check_primary_key(con, ts, tables[name])
        report.findings += _check_time(con, ts, tables[name])
        report.findings += _check_mixed_types(con, ts, tables[name])
        for fk in ts.foreign_keys:
            target = schema.tables.get(fk.target)
            if target is None or target.primary_key is None or fk.target not in tables:
                report.findings.append(
                    Finding(
                        "error",
                        "dangling_fk",
                        name,
                        fk.column,
                        f"table '{name}' column '{fk.column}' links to '{fk.target}', "
                        "which is not a table with a primary key",
                    )
                )
                continue
            report.findings += _check_foreign_key(
                con, ts, tables[name], fk.column, tables[fk.target], target
            )
        con.unregister("t")
    return report


def _check_primary_key(
    con: duckdb.DuckDBPyConnection, ts: TableSchema, table: pa.Table
) -> list[Finding]:
    pk = ts.primary_key
    if pk is None or pk not in table.schema.names:
        return []
    col = table.column(pk)
    # The common case, settled exactly without a scan in SQL: no NULLs and as
    # many distinct values as rows. Only a bad key pays for locating rows.
    if col.null_count == 0 and distinct_count(col) == len(col):
        return []
    out = []
    row, _, count = _first_rows(con, f"{_q(pk)} IS NULL", pk)
    if count:
        out.append(
            Finding(
                "error",
                "null_pk",
                ts.name,
                pk,
                f"table '{ts.name}' primary key '{pk}' is NULL in {count} rows "
                f"(first at row {row}); "
                f"{_PK_FIX}",
                count,
                (),
                row,
            )
        )
    dup = con.execute(
        f"SELECT {_q(pk)}, count(*) c, min(__row) r FROM "
        f"(SELECT row_number() OVER () AS __row, * FROM t) WHERE {_q(pk)} IS NOT NULL "
        f"GROUP BY 1 HAVING count(*) > 1 ORDER BY r"
    ).fetchall()
    if dup:
        # The row to show is the *second* occurrence: the first one is fine.
        second = _one(
            con,
            f"SELECT __row FROM (SELECT row_number() OVER () AS __row, * FROM t) "
            f"WHERE {_q(pk)} = ? ORDER BY __row LIMIT 1 OFFSET 1",
            [dup[0][0]],
        )
        row2 = int(second[0]) if second else None
        out.append(
            Finding(
                "error",
                "duplicate_pk",
                ts.name,
                pk,
                f"table '{ts.name}' primary key '{pk}' has {len(dup)} duplicated values "
                f"(e.g. {dup[0][0]!r} at rows {dup[0][2]} and {row2}); {_PK_FIX}",
                len(dup),
                tuple(d[0] for d in dup[:MAX_EXAMPLES]),
                row2,
            )
        )
    return out


def _check_time(con: duckdb.DuckDBPyConnection, ts: TableSchema, table: pa.Table) -> list[Finding]:
    col = ts.time_column
    if ts.time_spec is not None and ts.time_spec.kind != "parse":
        # Derived times are checked through their inputs (the FK / date column).
        return []
    if col is None or col not in table.schema.names:
        return []
    ftype = table.schema.field(col).type
    if pa.types.is_date(ftype) or pa.types.is_timestamp(ftype):
        return []
    if not (pa.types.is_string(ftype) or pa.types.is_large_string(ftype)):
        return [
            Finding(
                "error",
                "bad_timestamp",
                ts.name,
                col,
                f"table '{ts.name}' time column '{col}' has type {ftype}, not a date or timestamp",
            )
        ]
    where = f"{_q(col)} IS NOT NULL AND TRY_CAST({_q(col)} AS TIMESTAMP) IS NULL"
    row, ex, count = _first_rows(con, where, col)
    if not count:
        return []
    return [
        Finding(
            "error",
            "bad_timestamp",
            ts.name,
            col,
            f"table '{ts.name}' time column '{col}' has {count} unparseable timestamps "
            f"(first at row {row}: {ex[0]!r}); "
            "expected ISO form like 2024-01-31 or 2024-01-31T12:00:00",
            count,
            tuple(ex),
            row,
        )
    ]


# What DuckDB's TRY_CAST(x AS DOUBLE) accepts, near enough for a warning.
_NUMBER_RE = r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(inf|infinity|nan)\s*$"


def _mask_rows(
    mask: pa.ChunkedArray | pa.Array, col: pa.ChunkedArray
) -> tuple[int | None, list[Any], int]:
    """(first 1-based row, example values, count) of the rows where ``mask`` is true."""
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    if mask.null_count:
        # NULL counts as false. (Not fill_null(mask, False): pa.scalar imports pandas.)
        mask = pc.and_kleene(pc.is_valid(mask), mask)
    count = int(pc.sum(mask).as_py() or 0)
    if not count:
        return None, [], 0
    idx = pc.indices_nonzero(mask).slice(0, MAX_EXAMPLES)
    return int(idx[0].as_py()) + 1, col.take(idx).to_pylist(), count


def _check_mixed_types(
    con: duckdb.DuckDBPyConnection, ts: TableSchema, table: pa.Table
) -> list[Finding]:
    """Text columns that are mostly numbers: a typo or a sentinel hides in them."""
    out: list[Finding] = []
    for f in table.schema:
        if not pa.types.is_string(f.type) or f.name == ts.time_column:
            continue
        col = table.column(f.name)
        n = len(col) - col.null_count
        if not n:
            continue
        # Test each distinct value once, then weigh it by how often it occurs.
        counts = pc.value_counts(col.drop_null())
        numeric = pc.match_substring_regex(counts.field("values"), _NUMBER_RE, ignore_case=True)
        k = int(pc.sum(pc.filter(counts.field("counts"), numeric)).as_py() or 0)
        if 0.5 * n <= k < n:
            mask = pc.and_kleene(
                pc.is_valid(col),
                pc.invert(pc.match_substring_regex(col, _NUMBER_RE, ignore_case=True)),
            )
            row, ex, count = _mask_rows(mask, col)
            numerical = ts.has_column(f.name) and ts.column(f.name).stype is SType.numerical
            read_as = "the others are missing values" if numerical else "it is read as text"
            out.append(
                Finding(
                    "warning",
                    "mixed_type",
                    ts.name,
                    f.name,
                    f"table '{ts.name}' column '{f.name}' is mostly numbers "
                    f"but {count} values are not "
                    f"(first at row {row}: {ex[0]!r}); {read_as}",
                    count,
                    tuple(dict.fromkeys(ex)),
                    row,
                )
            )
    return out


def _check_foreign_key(
    con: duckdb.DuckDBPyConnection,
    ts: TableSchema,
    table: pa.Table,
    column: str,
    target: pa.Table,
    tschema: TableSchema,
) -> list[Finding]:
    """Dangling links are usable (the edge is simply absent) but always reported."""
    pk = tschema.primary_key
    assert pk is not None  # checked by the caller
    col = table.column(column)
    keys = target.column(pk)
    try:
        if keys.type != col.type:
            keys = keys.cast(col.type)
        inside = pc.is_in(col, value_set=keys.combine_chunks())
        row, ex, count = _mask_rows(pc.and_(pc.is_valid(col), pc.invert(inside)), col)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # Types Arrow will not compare directly (e.g. text against integers): SQL does.
        con.register("p", target.select([pk]))
        try:
            where = f"{_q(column)} IS NOT NULL AND {_q(column)} NOT IN (SELECT {_q(pk)} FROM p)"
            row, ex, count = _first_rows(con, where, column)
        finally:
            con.unregister("p")
    if not count:
        return []
    return [
        Finding(
            "warning",
            "dangling_fk",
            ts.name,
            column,
            f"table '{ts.name}' column '{column}' has {count} values with no row in "
            f"'{tschema.name}.{pk}' (first at row {row}: {ex[0]!r}); "
            "those links are left out of the graph",
            count,
            tuple(dict.fromkeys(ex)),
            row,
        )
    ]
