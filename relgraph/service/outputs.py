"""Reading what jobs wrote into the workspace: models, predictions, embeddings, projections.

Layout read here (written by the service's job kinds, and by ``relgraph.api.predict``
through :func:`register_output`)::

    models/<model_id>/*.json               metrics, history (learning curves), config
    outputs/<output_id>/meta.json          {"kind": "predictions"|"embeddings", ...}
    outputs/<output_id>/data.parquet       ENTITY, ANCHOR_TIMESTAMP, PREDICTION, ... / EMBEDDING
    outputs/<output_id>/projection.parquet ENTITY, x, y, z, cluster [, label, prediction], row
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import StoreError
from relgraph.service import pages
from relgraph.service.deps import json_value
from relgraph.store import atomic

_ID = re.compile(r"^[0-9A-Za-z_.-]{1,128}$")
MAX_JSON_BYTES = 20_000_000


def _check_id(kind: str, value: str) -> None:
    if not _ID.match(value) or value.startswith("."):
        raise StoreError(f"invalid {kind} id '{value[:80]}': use letters, digits, '_', '-', '.'")


# -- models ---------------------------------------------------------------------------
def model_dir(workspace: Path, model_id: str) -> Path:
    _check_id("model", model_id)
    d = workspace / "models" / model_id
    if not d.is_dir():
        raise StoreError(
            f"no model '{model_id}' in workspace '{workspace}'; train one with a 'train' job"
        )
    return d


def model_info(workspace: Path, model_id: str, *, full: bool = True) -> dict[str, Any]:
    """A model's JSON files merged by file stem (``metrics``, ``history``, ``config``, ...)."""
    d = model_dir(workspace, model_id)
    info: dict[str, Any] = {"id": model_id, "created": _mtime(d)}
    for f in sorted(d.glob("*.json")):
        if f.stat().st_size > MAX_JSON_BYTES:
            continue
        try:
            data = json.loads(f.read_text())
        except ValueError:
            continue
        if full or f.stem in ("metrics", "model", "task", "summary"):
            info[f.stem] = json_value(data)
    return info


def list_models(workspace: Path) -> list[dict[str, Any]]:
    root = workspace / "models"
    if not root.is_dir():
        return []
    dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and _ID.match(p.name)), key=_mtime, reverse=True
    )
    return [model_info(workspace, p.name, full=False) for p in dirs]


# -- outputs (predictions, embeddings) ----------------------------------------------------
def output_dir(workspace: Path, output_id: str, kind: str | None = None) -> Path:
    _check_id("output", output_id)
    d = workspace / "outputs" / output_id
    meta = _meta(d)
    if meta is None or (kind is not None and meta.get("kind") != kind):
        raise StoreError(f"no {kind or 'output'} '{output_id}' in workspace '{workspace}'")
    return d


def _meta(d: Path) -> dict[str, Any] | None:
    f = d / "meta.json"
    if not f.is_file():
        return None
    try:
        meta: dict[str, Any] = json.loads(f.read_text())
    except ValueError:
        return None
    return meta


def list_outputs(workspace: Path, kind: str) -> list[dict[str, Any]]:
    root = workspace / "outputs"
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir(), key=_mtime, reverse=True):
        meta = _meta(d) if d.is_dir() and _ID.match(d.name) else None
        if meta is not None and meta.get("kind") == kind:
            out.append(output_info(workspace, d.name))
    return out


def output_info(workspace: Path, output_id: str) -> dict[str, Any]:
    d = output_dir(workspace, output_id)
    meta = _meta(d) or {}
    data = d / "data.parquet"
    info = {"id": output_id, **json_value(meta)}
    if data.is_file():
        md = pq.read_metadata(data)
        info |= {"rows": md.num_rows, "columns": md.schema.to_arrow_schema().names}
    info["has_projection"] = (d / "projection.parquet").is_file()
    return info


def read_page(path: Path, limit: int, offset: int) -> list[dict[str, Any]]:
    return pages.read_page(path, limit, offset)


def num_rows(path: Path) -> int:
    return pages.num_rows(path)


def register_output(
    workspace: Path,
    kind: str,
    data: pa.Table | None,
    meta: dict[str, Any],
    *,
    projection: pa.Table | None = None,
) -> str:
    """Store an output folder atomically; returns its id."""
    oid = f"{kind[:4]}-{uuid.uuid4().hex[:10]}"
    final = workspace / "outputs" / oid
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic.staged_dir(final) as tmp:
        if data is not None:
            pq.write_table(data, tmp / "data.parquet")
        if projection is not None:
            pq.write_table(projection, tmp / "projection.parquet")
        created = datetime.now(UTC).isoformat(timespec="seconds")
        atomic.write_text(
            tmp / "meta.json", json.dumps({"kind": kind, "created": created, **meta}, default=str)
        )
    return oid


def _mtime(p: Path) -> str:
    return datetime.fromtimestamp(p.stat().st_mtime, UTC).isoformat(timespec="seconds")
