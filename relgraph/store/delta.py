"""Decide how a grown table is stored: as its previous version plus a delta of new rows.

A table of a new snapshot is stored as a delta of its parent's version (the last
snapshot of the same source) only when that is exactly the same table:

* the database's schema did not change (any change: the whole snapshot is written
  in full, with a note saying what changed);
* the new table has more rows, and its first rows are *exactly* the parent's rows
  in the same order (Arrow equality of the decoded Parquet, so reading base + delta
  gives the table row for row; the parent's files are hash-checked again when they
  are linked);
* the chain of parts stays short (:data:`MAX_PARTS`; past it the table is
  compacted into one file).

When the old rows are not a prefix, the primary key (or unique key) tells what
happened, for the note: existing keys whose row changed, keys removed, or new rows
placed among the old ones. Such a table is stored in full, never appended to.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

from relgraph._sql import quote_ident
from relgraph.schema.types import Schema, TableSchema
from relgraph.store.diff import _schema_changes
from relgraph.store.snapshot import Snapshot

# A table read from more files than this is compacted into one (reads stay fast).
MAX_PARTS = 64
# Keys named in a note, at most.
_SHOW_KEYS = 3


@dataclass(frozen=True)
class DeltaPlan:
    """Store ``table`` as the parent's parts plus rows ``base_rows ..`` of the new table."""

    table: str
    base_rows: int


@dataclass(frozen=True)
class Plans:
    deltas: dict[str, DeltaPlan]
    notes: list[str]


def schema_changes(old: Schema, new: Schema) -> list[str]:
    """What changed in a database's schema, in words (tables added/removed, per-table changes)."""
    out = [f"table '{t}' added" for t in new.tables if t not in old.tables]
    out += [f"table '{t}' removed" for t in old.tables if t not in new.tables]
    for t in new.tables:
        if t in old.tables and old[t].to_dict() != new[t].to_dict():
            words = _schema_changes(old[t], new[t]) or ["details (statistics, options) changed"]
            out += [f"table '{t}': {w}" for w in words]
    return out


def plan_deltas(
    parent: Snapshot | None,
    schema: Schema,
    decoded: dict[str, pa.Table],
    hashes: dict[str, str],
) -> Plans:
    """Which tables of a new snapshot to store as deltas of ``parent``, and notes on the rest.

    ``decoded`` holds each new table as read back from its Parquet bytes (what a
    reader of the snapshot gets), ``hashes`` those bytes' hashes.
    """
    if parent is None:
        return Plans({}, [])
    changes = schema_changes(parent.schema, schema)
    if changes:
        shown = "; ".join(changes[:5]) + ("; …" if len(changes) > 5 else "")
        return Plans(
            {},
            [
                f"schema changed since snapshot {parent.id[:12]} ({shown}): "
                "stored as a full snapshot, no deltas"
            ],
        )
    deltas: dict[str, DeltaPlan] = {}
    notes: list[str] = []
    for name, new in decoded.items():
        if name not in parent.manifest.row_counts:
            continue
        if parent.manifest.table_hashes.get(name) == hashes[name]:
            continue  # unchanged: shared as it is
        old_rows = parent.manifest.row_counts[name]
        if len(parent.table_paths(name)) >= MAX_PARTS:
            notes.append(f"table '{name}': {MAX_PARTS} parts reached, compacted into one file")
            continue
        old = parent.read_table(name)
        if new.num_rows > old_rows and new.slice(0, old_rows).equals(old):
            deltas[name] = DeltaPlan(name, old_rows)
            continue
        notes.append(f"table '{name}': {_why_not_appended(schema[name], old, new)}: stored in full")
    return Plans(deltas, notes)


def _why_not_appended(ts: TableSchema, old: pa.Table, new: pa.Table) -> str:
    """Why ``new`` is not ``old`` plus rows at the end, told by key where there is one."""
    if new.num_rows < old.num_rows:
        return f"rows went from {old.num_rows:,} to {new.num_rows:,} (removed)"
    key = [ts.primary_key] if ts.primary_key else list(ts.unique_key)
    if not key or not all(k in old.column_names and k in new.column_names for k in key):
        return "existing rows changed or moved (no key to tell which)"
    con = duckdb.connect()
    try:
        con.execute("SET enable_external_access = false")
        con.register("old_rows", old)
        con.register("new_rows", new)
        on = " AND ".join(
            f"o.{quote_ident(k)} IS NOT DISTINCT FROM n.{quote_ident(k)}" for k in key
        )
        values = [c for c in old.column_names if c in new.column_names and c not in key]
        differs = (
            " OR ".join(f"o.{quote_ident(c)} IS DISTINCT FROM n.{quote_ident(c)}" for c in values)
            or "false"
        )
        keys = ", ".join(f"o.{quote_ident(k)}" for k in key)
        changed = con.execute(
            f"SELECT {keys} FROM old_rows o JOIN new_rows n ON {on} WHERE {differs} "
            f"LIMIT {_SHOW_KEYS + 1}"
        ).fetchall()
        removed = con.execute(
            f"SELECT count(*) FROM old_rows o ANTI JOIN new_rows n ON {on}"
        ).fetchone()
    finally:
        con.close()
    names = ", ".join(key)
    if changed:
        shown = ", ".join(_key_text(r) for r in changed[:_SHOW_KEYS])
        more = ", …" if len(changed) > _SHOW_KEYS else ""
        return f"existing rows changed (key {names} = {shown}{more}), not only appended"
    if removed and removed[0]:
        return f"{removed[0]:,} existing rows removed (by key {names})"
    return "new rows were placed among the old ones (the source's row order changed)"


def _key_text(row: tuple[object, ...]) -> str:
    return str(row[0]) if len(row) == 1 else "(" + ", ".join(str(v) for v in row) + ")"


def appended_rows(parent: Snapshot, child: Snapshot) -> dict[str, int] | None:
    """Rows of each table in ``parent`` when ``child`` is ``parent`` plus rows at the end.

    True when both have the same tables (in the same order) and schema, and each of
    ``child``'s tables is the parent's (same hash) or the parent's parts plus deltas
    (the parts' hashes say so). ``None`` otherwise: derived data must then be rebuilt.
    """
    if parent.table_names != child.table_names or schema_changes(parent.schema, child.schema):
        return None
    out: dict[str, int] = {}
    for name in parent.table_names:
        rows = parent.manifest.row_counts[name]
        if parent.manifest.table_hashes[name] != child.manifest.table_hashes[name]:
            old = _part_hashes(parent, name)
            new = [p.sha256 for p in child.manifest.table_parts.get(name, [])]
            if len(new) <= len(old) or new[: len(old)] != old:
                return None
        out[name] = rows
    return out


def _part_hashes(snap: Snapshot, name: str) -> list[str]:
    parts = snap.manifest.table_parts.get(name)
    if parts:
        return [p.sha256 for p in parts]
    return [snap.manifest.table_hashes[name]]
