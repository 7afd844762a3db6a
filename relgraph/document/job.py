"""The plain entry point a CLI command, a job kind and a REST route share.

:class:`DocumentParams` holds only JSON-able values (ids, paths, names), so a job
record can store it; :func:`run_document` returns a JSON-able dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from relgraph.document.columns import ColumnProfile, database_name, profile_snapshot
from relgraph.document.glossary import read_glossary, read_mapping
from relgraph.document.lineage import LineageEdge, read_lineage_file, read_sql_scripts, read_views
from relgraph.document.run import document
from relgraph.errors import DataValidationError
from relgraph.store.workspace import DEFAULT_WORKSPACE, Workspace


@dataclass(frozen=True)
class DocumentParams:
    """What ``relgraph document`` is asked: which snapshots, which mapping, which lineage."""

    mapping: str
    snapshots: Sequence[str] = ()  # ids or tags; empty: the latest snapshot
    glossary: str | None = None
    lineage_files: Sequence[str] = ()
    sql_scripts: Sequence[str] = ()
    sql_dialect: str | None = None
    view_sources: Sequence[str] = ()  # sqlite:///… or postgresql://… whose views give lineage
    out: str | None = None
    holdout_databases: Sequence[str] = ()
    embed_names: bool = False
    epochs: int | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_document(
    params: DocumentParams, *, workspace: str | Path = DEFAULT_WORKSPACE
) -> dict[str, Any]:
    ws = Workspace(workspace)
    snaps = [ws.snapshot(s) for s in params.snapshots] if params.snapshots else [ws.snapshot(None)]
    profiles: list[ColumnProfile] = []
    names: list[str] = []
    tables: dict[str, list[str]] = {}
    for snap in snaps:
        name = database_name(snap)
        if name in names:
            raise DataValidationError(
                f"two snapshots are both named '{name}' in the catalogue; document them apart"
            )
        names.append(name)
        profiles += profile_snapshot(snap, name)
        for t, ts in snap.schema.tables.items():
            tables.setdefault(t, [c.name for c in ts.columns])
    glossary = read_glossary(params.glossary) if params.glossary else None
    mapping = read_mapping(params.mapping, glossary)
    # Lineage read from files, scripts and views names tables, not databases: it applies
    # in every database of the catalogue that has both columns ("*").
    edges: list[LineageEdge] = []
    skipped: list[str] = []
    for f in params.lineage_files:
        r = read_lineage_file(f)
        edges += r.edges
        skipped += r.skipped
    if params.sql_scripts:
        r = read_sql_scripts(params.sql_scripts, dialect=params.sql_dialect, schema=tables)
        edges += r.edges
        skipped += r.skipped
    for uri in params.view_sources:
        r = read_views(uri, schema=tables)
        edges += r.edges
        skipped += r.skipped
    res = document(
        profiles,
        mapping,
        lineage={"*": edges},
        out=params.out,
        holdout_databases=params.holdout_databases,
        embed_names=params.embed_names,
        epochs=params.epochs,
        seed=params.seed,
    )
    return res.to_dict() | {
        "databases": names,
        "snapshots": [s.id for s in snaps],
        "lineage_edges_read": len(edges),
        "lineage_skipped": skipped[:50],
    }
