"""Sources and snapshots: schema, validation report, paged table previews and column stats."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import duckdb
from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, Field

from relgraph import api
from relgraph.redact import redact
from relgraph.schema.names import MAX_NAME_LENGTH
from relgraph.service import pages
from relgraph.service.auth import TokenInfo
from relgraph.service.deps import (
    Paging,
    ServiceState,
    editor,
    json_value,
    paging,
    state,
    viewer,
)
from relgraph.store.snapshot import Snapshot

router = APIRouter(tags=["data"])

SnapshotId = Path(
    ...,
    min_length=1,
    max_length=64,
    pattern=r"^([0-9a-f]+|latest)$",
    description="Id, unique prefix, or 'latest'.",
)
# As long as ingest allows (a longer one names no table anyway).
TableName = Path(..., min_length=1, max_length=MAX_NAME_LENGTH)


class IngestRequest(BaseModel):
    source: str = Field(
        ...,
        min_length=1,
        max_length=4096,
        description="A folder/file or sqlite:///… under a --source-root of the service, "
        "conn:NAME (GET /connections), or a postgresql://… / s3://… URL an admin allowed "
        "(--allow-url); anything else is 403 (docs/security.md).",
    )
    strict: bool = False


def _summary(snap: Snapshot) -> dict[str, Any]:
    s = api.snapshot_summary(snap)
    s["source"] = redact(s["source"])
    return s


@router.get("/sources", summary="Sources ingested so far, with their snapshots")
def list_sources(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    by_source: dict[str, list[str]] = {}
    for snap in api.snapshots(st.workspace):
        by_source.setdefault(redact(snap.manifest.source), []).append(snap.id)
    items = [{"source": k, "snapshots": v, "latest": v[-1]} for k, v in by_source.items()]
    return page.page(items[page.offset : page.offset + page.limit], len(items))


@router.post("/sources", status_code=202, summary="Ingest a source (starts an ingest job)")
def ingest_source(
    body: IngestRequest, st: ServiceState = Depends(state), who: TokenInfo = Depends(editor)
) -> dict[str, Any]:
    return st.runner.submit("ingest", body.model_dump(), created_by=who.id).to_dict()


@router.get("/snapshots", summary="Snapshots, newest first")
def list_snapshots(
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    snaps = list(reversed(api.snapshots(st.workspace)))
    items = [_summary(s) for s in snaps[page.offset : page.offset + page.limit]]
    return page.page(items, len(snaps))


@router.get(
    "/snapshots/{snapshot_id}", summary="One snapshot: tables, keys, links (id 'latest' allowed)"
)
def get_snapshot(
    snapshot_id: str = SnapshotId,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    return _summary(_snap(st, snapshot_id))


@router.get("/snapshots/{snapshot_id}/schema", summary="The snapshot's schema")
def get_schema(
    snapshot_id: str = SnapshotId,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    snap = _snap(st, snapshot_id)
    return {
        "snapshot_id": snap.id,
        "schema": json_value(snap.schema.to_dict()),
        "links": [str(link) for link in snap.schema.links],
    }


@router.get(
    "/snapshots/{snapshot_id}/validation", summary="The validation report written at ingest"
)
def get_validation(
    snapshot_id: str = SnapshotId,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    snap = _snap(st, snapshot_id)
    return {"snapshot_id": snap.id, "validation": json_value(snap.manifest.validation)}


@router.get("/snapshots/{snapshot_id}/tables/{table}/rows", summary="A page of a table's rows")
async def table_rows(
    snapshot_id: str = SnapshotId,
    table: str = TableName,
    page: Paging = Depends(paging),
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> Response:
    snap = _snap(st, snapshot_id)
    paths = snap.table_paths(table)  # StoreError (404) for an unknown table
    total = snap.manifest.row_counts[table]
    items, _n = await pages.page_json_parts_async(paths, page.limit, page.offset)
    return page.json_page(items, total, columns=pages.column_names(paths[0]))


@router.get(
    "/snapshots/{snapshot_id}/tables/{table}/stats", summary="Per-column statistics of a table"
)
def table_stats(
    snapshot_id: str = SnapshotId,
    table: str = TableName,
    st: ServiceState = Depends(state),
    _: TokenInfo = Depends(viewer),
) -> dict[str, Any]:
    snap = _snap(st, snapshot_id)
    source = snap.parquet_sql(table)  # StoreError (404) for an unknown table
    ts = snap.schema.tables[table]
    stypes = {c.name: c.stype.value for c in ts.columns}
    stats = _stats(snap.id, table, source)
    cols = [s | {"stype": stypes.get(s["column"])} for s in stats]
    return {
        "snapshot_id": snap.id,
        "table": table,
        "rows": snap.manifest.row_counts[table],
        "primary_key": ts.primary_key,
        "time_column": ts.time_column,
        "foreign_keys": {fk.column: fk.target for fk in ts.foreign_keys},
        "columns": cols,
    }


def _snap(st: ServiceState, snapshot_id: str) -> Snapshot:
    return api.snapshot(None if snapshot_id == "latest" else snapshot_id, workspace=st.workspace)


# Snapshots are immutable, so their column stats can be cached for the process's life.
_STATS: OrderedDict[tuple[str, str], list[dict[str, Any]]] = OrderedDict()
_STATS_LOCK = threading.Lock()
_STATS_MAX = 256


def _stats(snapshot_id: str, table: str, source: str) -> list[dict[str, Any]]:
    """Column statistics of ``source``: SQL that reads the table's files (``parquet_sql``)."""
    key = (snapshot_id, table)
    with _STATS_LOCK:
        if key in _STATS:
            return _STATS[key]
    con = duckdb.connect()
    try:
        cur = con.execute(f"SUMMARIZE SELECT * FROM {source}")
        names = [d[0] for d in cur.description]
        raw = cur.fetchall()
    finally:
        con.close()
    out = []
    for r in raw:
        d = dict(zip(names, r, strict=True))
        out.append(
            {
                "column": d["column_name"],
                "type": d["column_type"],
                "min": json_value(d["min"]),
                "max": json_value(d["max"]),
                "distinct": d["approx_unique"],
                "mean": _num(d["avg"]),
                "std": _num(d["std"]),
                "null_fraction": float(d["null_percentage"] or 0) / 100.0,
            }
        )
    with _STATS_LOCK:
        _STATS[key] = out
        while len(_STATS) > _STATS_MAX:
            _STATS.popitem(last=False)
    return out


def _num(v: Any) -> float | None:
    try:
        return json_value(float(v)) if v is not None else None
    except (TypeError, ValueError):
        return None
