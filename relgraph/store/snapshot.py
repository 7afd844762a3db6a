"""Immutable, content-addressed snapshots: Parquet per table + a JSON manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import StoreError
from relgraph.schema.numeric_text import NUMBER_TEXT_MACRO
from relgraph.schema.types import Schema

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "id": self.id,
            "parent": self.parent,
            "source": self.source,
            "created": self.created,
            "row_counts": self.row_counts,
            "table_hashes": self.table_hashes,
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
            format_version=int(d.get("format_version", FORMAT_VERSION)),
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
        except (ValueError, KeyError) as e:
            raise StoreError(f"corrupt manifest in '{self.path}': {e}") from e

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
        if name not in self.manifest.row_counts:
            raise StoreError(
                f"snapshot {self.id[:12]} has no table '{name}'; "
                f"tables: {', '.join(self.table_names)}"
            )
        return self.path / "tables" / f"{name}.parquet"

    def read_table(self, name: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self.table_path(name), columns=columns)

    def duckdb(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with one view per table, named as the table.

        It also has the macro ``rg_number(text)``, which reads numbers and clock
        times stored as text (``'1:26.572'`` -> 86.572), as schema inference does.
        """
        con = con or duckdb.connect()
        con.execute(NUMBER_TEXT_MACRO)
        for name in self.table_names:
            path = str(self.table_path(name)).replace("'", "''")
            con.execute(
                f"CREATE OR REPLACE VIEW \"{name}\" AS SELECT * FROM read_parquet('{path}')"
            )
        return con

    def cache_dir(self, kind: str) -> Path:
        """A folder for derived artefacts of this snapshot (graph, embeddings, ...)."""
        p = self.path.parent.parent / "cache" / self.id / kind
        p.mkdir(parents=True, exist_ok=True)
        return p
