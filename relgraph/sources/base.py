"""What every source hands to the rest of relgraph: Arrow tables plus declared keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pyarrow as pa

from relgraph.redact import redact
from relgraph.schema.types import ForeignKey

__all__ = ["DeclaredKeys", "ProgressFn", "Source", "SourceTables", "redact"]

# progress(table_name, tables_done, tables_total); after the reads, ingest announces
# its later stages as progress(stage, 0, 0): a stage of unknown length.
ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DeclaredKeys:
    """Keys a source declares itself (SQL constraints); files declare none."""

    primary_keys: dict[str, str] = field(default_factory=dict)
    foreign_keys: dict[str, tuple[ForeignKey, ...]] = field(default_factory=dict)
    # Declared primary keys of two or more columns (link tables, facts).
    composite_keys: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class SourceTables:
    """The tables read from one source, ready for schema inference."""

    uri: str
    tables: dict[str, pa.Table]
    declared: DeclaredKeys = field(default_factory=DeclaredKeys)
    # A schema override file shipped with the source (``schema.yaml`` in a folder).
    overrides_file: Path | None = None

    def __repr__(self) -> str:
        return f"SourceTables(uri={self.uri!r}, tables={len(self.tables)})"


# Every table relgraph writes with ``predict --to`` carries these columns
# (relgraph/predict/run.py); a source holding one is not data to learn from.
RELGRAPH_OUTPUT_COLUMNS = frozenset({"ENTITY", "MODEL_ID", "SNAPSHOT_ID"})


def is_relgraph_output(table: pa.Table) -> bool:
    """A table of relgraph's own predictions, written back into the source."""
    return set(table.schema.names) >= RELGRAPH_OUTPUT_COLUMNS


class Source(Protocol):
    """Anything that can be read into :class:`SourceTables`."""

    uri: str

    def read(self, progress: ProgressFn | None = None) -> SourceTables: ...
