"""Immutable, content-addressed snapshots: Parquet per table + a JSON manifest.

Layout (format 2): ``<id>/manifest.json`` and ``<id>/tables/<file>``, where each
table's file name is chosen by :func:`relgraph.store.paths.table_file` and kept in
the manifest's ``table_files`` (the table's real name is data there, never a path).
Format-1 snapshots, which named the file ``<table>.parquet``, are still read.

Format 3 adds delta tables: a table that only grew since the snapshot's parent is
stored as the parent's files (hard links) plus one file of the new rows, listed in
order under ``table_parts``; reading it concatenates the parts, which gives exactly
the full table (checked when it is written; see :mod:`relgraph.store.delta`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph._sql import quote_ident, quote_literal
from relgraph.errors import StoreError
from relgraph.schema.numeric_text import NUMBER_TEXT_MACRO
from relgraph.schema.types import Schema
from relgraph.store.paths import is_plain_table_file, legacy_table_file

MANIFEST = "manifest.json"
# 2: table files named by relgraph (``table_files``), not by the table's name.
# 3: a table may be stored as parts (base + deltas, ``table_parts``).
FORMAT_VERSION = 3
# A snapshot id names folders (the snapshot's, its cache's): hex digits only.
_ID = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass(frozen=True)
class Manifest:
    """Everything known about a snapshot besides its table bytes."""

    id: str
    schema: Schema
    row_counts: dict[str, int]
    table_hashes: dict[str, str]
    source: str
    created: str
    parent: str | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # table name -> file name inside ``tables/`` (empty in format-1 manifests).
    table_files: dict[str, str] = field(default_factory=dict)
    # table name -> its parts in row order (format 3; only tables stored as base + deltas).
    table_parts: dict[str, list[TablePart]] = field(default_factory=dict)
    # How each table was stored ("full", "shared", "delta") and why a delta was not used.
    storage: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "id": self.id,
            "parent": self.parent,
            "source": self.source,
            "created": self.created,
            "row_counts": self.row_counts,
            "table_hashes": self.table_hashes,
            "table_files": self.table_files,
            "table_parts": {n: [p.to_dict() for p in ps] for n, ps in self.table_parts.items()},
            "storage": self.storage,
            "notes": self.notes,
            "schema": self.schema.to_dict(),
            "validation": self.validation,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        return cls(
            id=d["id"],
            schema=Schema.from_dict(d["schema"]),
            row_counts={k: int(v) for k, v in d["row_counts"].items()},
            table_hashes=dict(d["table_hashes"]),
            source=d["source"],
            created=d["created"],
            parent=d.get("parent"),
            validation=d.get("validation", {}),
            # A manifest without the key predates format 2.
            format_version=int(d.get("format_version", 1)),
            table_files=dict(d.get("table_files", {})),
            table_parts={
                str(n): [TablePart.from_dict(p) for p in ps]
                for n, ps in d.get("table_parts", {}).items()
            },
            storage=dict(d.get("storage", {})),
            notes=[str(n) for n in d.get("notes", [])],
        )


@dataclass(frozen=True)
class TablePart:
    """One file of a table stored as parts: its name inside ``tables/``, rows and hash."""

    file: str
    rows: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TablePart:
        return cls(file=str(d["file"]), rows=int(d["rows"]), sha256=str(d["sha256"]))


class Snapshot:
    """A read-only view of one stored snapshot folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        mpath = self.path / MANIFEST
        if not mpath.is_file():
            raise StoreError(f"'{self.path}' is not a snapshot: {MANIFEST} is missing")
        try:
            self.manifest = Manifest.from_dict(json.loads(mpath.read_text()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StoreError(f"corrupt manifest in '{self.path}': {e}") from e
        m = self.manifest
        if not isinstance(m.id, str) or not _ID.match(m.id):
            raise StoreError(f"corrupt manifest in '{self.path}': id {m.id!r} is not a snapshot id")
        if m.format_version > FORMAT_VERSION:
            raise StoreError(
                f"snapshot '{self.path.name}' was written by a newer relgraph (format "
                f"{m.format_version}, this one reads up to {FORMAT_VERSION}); upgrade relgraph"
            )
        files = list(m.table_files.values()) + [p.file for ps in m.table_parts.values() for p in ps]
        bad = [f for f in files if not is_plain_table_file(str(f))]
        if bad:
            raise StoreError(
                f"corrupt manifest in '{self.path}': table file {bad[0]!r} is not a plain "
                "file name inside tables/"
            )

    def __repr__(self) -> str:
        return f"Snapshot(id={self.id[:12]!r}, tables={len(self.manifest.row_counts)})"

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def schema(self) -> Schema:
        return self.manifest.schema

    @property
    def table_names(self) -> list[str]:
        return list(self.manifest.row_counts)

    def _check_table(self, name: str) -> None:
        if name not in self.manifest.row_counts:
            raise StoreError(
                f"snapshot {self.id[:12]} has no table '{name}'; "
                f"tables: {', '.join(self.table_names)}"
            )

    def table_paths(self, name: str) -> list[Path]:
        """The Parquet files of table ``name`` in row order: one, or a base and its deltas.

        Every reader of a table's files goes through here (or :meth:`read_table`,
        :meth:`parquet_sql`): reading only the first file of a delta table would
        silently lose its newest rows.
        """
        self._check_table(name)
        parts = self.manifest.table_parts.get(name)
        if parts:
            return [self.path / "tables" / p.file for p in parts]
        return [self._single_path(name)]

    def is_delta(self, name: str) -> bool:
        """Whether table ``name`` is stored as a base plus deltas (several files)."""
        return bool(self.manifest.table_parts.get(name))

    def table_path(self, name: str) -> Path:
        """The one Parquet file of table ``name`` (see :meth:`table_paths` for delta tables)."""
        self._check_table(name)
        if self.manifest.table_parts.get(name):
            raise StoreError(
                f"table {name!r} of snapshot {self.id[:12]} is stored as a base and deltas "
                "(several files): read it with table_paths(), read_table() or parquet_sql()"
            )
        return self._single_path(name)

    def _single_path(self, name: str) -> Path:
        file = self.manifest.table_files.get(name)
        if file is None and self.manifest.format_version < 2:
            file = legacy_table_file(name)
            if file is None:
                raise StoreError(
                    f"snapshot {self.id[:12]} was written by an older relgraph that named "
                    f"table files after the table, and table {name!r} is not a safe file "
                    "name; ingest the source again (the new snapshot files it by a hash)"
                )
        if file is None:
            raise StoreError(f"corrupt manifest of snapshot {self.id[:12]}: no file for {name!r}")
        return self.path / "tables" / file

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        """Table ``name`` (all its parts, in order) as one Arrow table."""
        paths = self.table_paths(name)
        if len(paths) == 1:
            return pq.read_table(paths[0], columns=columns)
        return pa.concat_tables([pq.read_table(p, columns=columns) for p in paths])

    def parquet_sql(self, name: str) -> str:
        """DuckDB SQL that reads table ``name``: ``read_parquet([...])`` over its parts, in order.

        The files are listed in row order and read with insertion order kept (DuckDB's
        default), so row ``i`` is the same row as in :meth:`read_table`.
        """
        paths = self.table_paths(name)
        if len(paths) == 1:
            # One file: the plain form (DuckDB's get_table_names cannot bind a list
            # argument inside a view, and most tables are one file).
            return f"read_parquet({quote_literal(str(paths[0]))})"
        files = ", ".join(quote_literal(str(p)) for p in paths)
        return f"read_parquet([{files}])"

    def all_table_files(self) -> list[Path]:
        """Every file this snapshot's tables are read from (the only ones its DuckDB may open)."""
        return [p for name in self.table_names for p in self.table_paths(name)]

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table, named as the table.

        It also has the macro ``rg_number(text)``, which reads numbers and clock
        times stored as text (``'1:26.572'`` -> 86.572), as schema inference does.

        A connection made here can reach no file but this snapshot's tables: no
        other read, no write (``COPY … TO``), no ``ATTACH`` or extension install,
        and that setting cannot be undone on it. Names are quoted anyway; this is
        the second wall, should a name ever reach SQL unquoted.
        """
        if con is None:
            con = duckdb.connect()
            allowed = ", ".join(quote_literal(str(p)) for p in self.all_table_files())
            con.execute(f"SET allowed_paths = [{allowed}]")
            con.execute("SET enable_external_access = false")
        con.execute(NUMBER_TEXT_MACRO)
        for name in self.table_names:
            con.execute(
                f"CREATE OR REPLACE VIEW {quote_ident(name)} AS "
                f"SELECT * FROM {self.parquet_sql(name)}"
            )
        return con

    def cache_dir(self, kind: str) -> Path:
        """A folder for derived artefacts of this snapshot (graph, embeddings, ...)."""
        p = self.path.parent.parent / "cache" / self.id / kind
        p.mkdir(parents=True, exist_ok=True)
        return p
