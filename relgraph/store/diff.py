"""What changed between two snapshots: tables, rows and schema (``relgraph diff A B``).

Rows are compared by primary key (or a composite key) in DuckDB, reading both
snapshots' Parquet files in one connection confined to those files: a key only in
B is *added*, only in A *removed*, in both with other values *changed*. A table
without a key is compared as a multiset of rows (added/removed only). Tables whose
bytes are equal (same content hash) are not read at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from relgraph._sql import quote_ident, quote_literal
from relgraph.schema.types import TableSchema
from relgraph.store.snapshot import Snapshot


@dataclass(frozen=True)
class TableDiff:
    name: str
    status: str  # "added" | "removed" | "unchanged" | "changed"
    rows_before: int
    rows_after: int
    rows_added: int = 0
    rows_removed: int = 0
    rows_changed: int | None = None  # None: no key to tell a change from remove + add
    schema_changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SnapshotDiff:
    before: str
    after: str
    tables: list[TableDiff]

    @property
    def changed(self) -> bool:
        return any(t.status != "unchanged" for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "changed": self.changed,
            "tables": [asdict(t) for t in self.tables],
        }


def diff_snapshots(a: Snapshot, b: Snapshot) -> SnapshotDiff:
    """Compare snapshot ``a`` (before) with ``b`` (after)."""
    names_a, names_b = set(a.table_names), set(b.table_names)
    out: list[TableDiff] = []
    con = _confined(a, b)
    try:
        for name in sorted(names_a | names_b):
            ra = a.manifest.row_counts.get(name, 0)
            rb = b.manifest.row_counts.get(name, 0)
            if name not in names_b:
                out.append(TableDiff(name, "removed", ra, 0, rows_removed=ra))
                continue
            if name not in names_a:
                out.append(TableDiff(name, "added", 0, rb, rows_added=rb))
                continue
            changes = _schema_changes(a.schema[name], b.schema[name])
            if a.manifest.table_hashes[name] == b.manifest.table_hashes[name]:
                status = "changed" if changes else "unchanged"
                out.append(TableDiff(name, status, ra, rb, rows_changed=0, schema_changes=changes))
                continue
            added, removed, changed = _row_changes(con, a, b, name)
            out.append(TableDiff(name, "changed", ra, rb, added, removed, changed, changes))
    finally:
        con.close()
    return SnapshotDiff(a.id, b.id, out)


def _confined(a: Snapshot, b: Snapshot) -> duckdb.DuckDBPyConnection:
    """One DuckDB connection that can read these two snapshots' table files and nothing else."""
    paths = [str(p) for s in (a, b) for p in s.all_table_files()]
    con = duckdb.connect()
    con.execute("SET allowed_paths = [" + ", ".join(quote_literal(p) for p in paths) + "]")
    con.execute("SET enable_external_access = false")
    return con


def _key(ts: TableSchema) -> list[str]:
    if ts.primary_key:
        return [ts.primary_key]
    return list(ts.unique_key)


def _row_changes(
    con: duckdb.DuckDBPyConnection, a: Snapshot, b: Snapshot, name: str
) -> tuple[int, int, int | None]:
    """(rows added, removed, changed) of table ``name`` from ``a`` to ``b``."""
    ta, tb = a.schema[name], b.schema[name]
    common = [c for c in ta.column_names if tb.has_column(c)]
    fa = a.parquet_sql(name)
    fb = b.parquet_sql(name)
    key = _key(ta)
    if not key or key != _key(tb) or not set(key) <= set(common):
        cols = ", ".join(quote_ident(c) for c in common)
        added = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {fb} EXCEPT ALL "
                        f"SELECT {cols} FROM {fa})").fetchone()  # fmt: skip
        removed = con.execute(f"SELECT count(*) FROM (SELECT {cols} FROM {fa} EXCEPT ALL "
                          f"SELECT {cols} FROM {fb})").fetchone()  # fmt: skip
        return (added or (0,))[0], (removed or (0,))[0], None
    on = " AND ".join(f"x.{quote_ident(k)} IS NOT DISTINCT FROM y.{quote_ident(k)}" for k in key)
    first = quote_ident(key[0])
    values = [c for c in common if c not in key]
    differs = (
        " OR ".join(f"x.{quote_ident(c)} IS DISTINCT FROM y.{quote_ident(c)}" for c in values)
        or "false"
    )
    # x: before, y: after. A key only after was added, only before removed.
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE x.{first} IS NULL), "
        f"count(*) FILTER (WHERE y.{first} IS NULL), "
        f"count(*) FILTER (WHERE x.{first} IS NOT NULL AND y.{first} IS NOT NULL "
        f"AND ({differs})) "
        f"FROM {fa} AS x FULL OUTER JOIN {fb} AS y ON {on}"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _schema_changes(a: TableSchema, b: TableSchema) -> list[str]:
    """Differences of columns, semantic types, keys, links and the time column, in words."""
    out: list[str] = []
    cols_a = {c.name: c for c in a.columns}
    cols_b = {c.name: c for c in b.columns}
    out += [f"column '{c}' added" for c in cols_b if c not in cols_a]
    out += [f"column '{c}' removed" for c in cols_a if c not in cols_b]
    for c in cols_a.keys() & cols_b.keys():
        if cols_a[c].stype != cols_b[c].stype:
            out.append(f"column '{c}' is {cols_b[c].stype.value}, was {cols_a[c].stype.value}")
    if (a.primary_key, a.unique_key) != (b.primary_key, b.unique_key):
        out.append(f"key {_key(b) or 'none'}, was {_key(a) or 'none'}")
    links_a = {(fk.column, fk.target) for fk in a.foreign_keys}
    links_b = {(fk.column, fk.target) for fk in b.foreign_keys}
    out += [f"link {c} -> {t} added" for c, t in sorted(links_b - links_a)]
    out += [f"link {c} -> {t} removed" for c, t in sorted(links_a - links_b)]
    if a.time_column != b.time_column:
        out.append(f"time column {b.time_column!r}, was {a.time_column!r}")
    return sorted(out)
