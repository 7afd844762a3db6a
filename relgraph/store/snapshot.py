"""Immutable, content-addressed snapshots: Parquet per table + a JSON manifest.

Layout (format 2): ``<id>/manifest.json`` and ``<id>/tables/<file>``, where each
table's file name is chosen by :func:`relgraph.store.paths.table_file` and kept in
the manifest's ``table_files`` (the table's real name is data there, never a path).
Format-1 snapshots, which named the file ``<table>.parquet``, are still read.
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
FORMAT_VERSION = 2
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
        )


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
        bad = [f for f in m.table_files.values() if not is_plain_table_file(str(f))]
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

    def table_path(self, name: str) -> Path:
        """The Parquet file of table ``name``, as the manifest names it."""
        if name not in self.manifest.row_counts:
            raise StoreError(
                f"snapshot {self.id[:12]} has no table '{name}'; "
                f"tables: {', '.join(self.table_names)}"
            )
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
        return pq.read_table(self.table_path(name), columns=columns)

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table, named as the table.

        It also has the macro ``rg_number(text)``, which reads numbers and clock
        times stored as text (``'1:26.572'`` -> 86.572), as schema inference does.

        A connection made here can reach no file but this snapshot's tables: no
        other read, no write (``COPY … TO``), no ``ATTACH`` or extension install,
        and that setting cannot be undone on it. Names are quoted anyway; this is
        the second wall, should a name ever reach SQL unquoted.
        """
        paths = {name: str(self.table_path(name)) for name in self.table_names}
        if con is None:
            con = duckdb.connect()
            con.execute(
                "SET allowed_paths = [" + ", ".join(quote_literal(p) for p in paths.values()) + "]"
            )
            con.execute("SET enable_external_access = false")
        con.execute(NUMBER_TEXT_MACRO)
        for name, path in paths.items():
            con.execute(
                f"CREATE OR REPLACE VIEW {quote_ident(name)} AS "
                f"SELECT * FROM read_parquet({quote_literal(path)})"
            )
        return con

    def cache_dir(self, kind: str) -> Path:
        """A folder for derived artefacts of this snapshot (graph, embeddings, ...)."""
        p = self.path.parent.parent / "cache" / self.id / kind
        p.mkdir(parents=True, exist_ok=True)
        return p
