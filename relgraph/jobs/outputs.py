"""The output store: what jobs made in the workspace, by id (models, predictions,
embeddings, clusters, projections). Workspace state, not HTTP: pipeline and REST job
kinds make these things, the REST routes, the dashboard and the CLI read them.

Three layouts are read:

- the trainer's (``relgraph.train`` / ``relgraph.predict``)::

      models/<model_id>/model.json                    query, task, metrics, gnn_state.history
      outputs/<model_id>/predictions-<split>.parquet  ENTITY, ANCHOR_TIMESTAMP, PREDICTION, ...

  a prediction file's id is ``<model_id>.<split>``;
- the service's own (projection jobs, :func:`register_output`)::

      outputs/<output_id>/meta.json            {"kind": "predictions"|"embeddings", ...}
      outputs/<output_id>/data.parquet         rows
      outputs/<output_id>/projection.parquet   ENTITY, x, y, z, cluster [, label, prediction], row

- a pipeline job's folder (:func:`relgraph.jobs.worker.output_rel`)::

      outputs/<job type>/<input hash>/result.json           the job's outputs
      outputs/<job type>/<input hash>/embeddings.parquet    (embed, predict, python),
                                                           clusters.parquet (cluster),
                                                           projection.parquet (project)

  its id is ``pipe-<job type>-<input hash>``; it lists as embeddings beside the
  service's own.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from relgraph.errors import StoreError
from relgraph.store import atomic
from relgraph.store.ids import ID_PATTERN as ID_PATTERN  # re-exported: job parameters use it
from relgraph.store.ids import check_id as check_id

MAX_JSON_BYTES = 20_000_000
PRED_PREFIX = "predictions-"


def json_value(v: Any) -> Any:
    """A JSON-safe value: NaN/inf become null, times ISO strings, bytes are elided."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, timedelta):
        return v.total_seconds()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, list | tuple):
        return [json_value(x) for x in v]
    if isinstance(v, dict):
        return {str(k): json_value(x) for k, x in v.items()}
    return v


# -- models ---------------------------------------------------------------------------
def model_dir(workspace: Path, model_id: str) -> Path:
    check_id("model", model_id)
    d = workspace / "models" / model_id
    if not d.is_dir():
        raise StoreError(
            f"no model '{model_id}' in workspace '{workspace}'; train one with a 'train' job"
        )
    return d


def _read_json(f: Path) -> Any:
    if f.stat().st_size > MAX_JSON_BYTES:
        return None
    try:
        return json.loads(f.read_text())
    except ValueError:
        return None


def model_info(workspace: Path, model_id: str, *, full: bool = True) -> dict[str, Any]:
    """A model's stored JSON: ``metrics`` (GNN and baseline per split) and ``history``
    (learning curve) pulled to the top, the rest under its file stem when ``full``."""
    d = model_dir(workspace, model_id)
    info: dict[str, Any] = {"id": model_id, "created": _mtime(d)}
    files = {f.stem: _read_json(f) for f in sorted(d.glob("*.json"))}
    model = files.get("model")
    if isinstance(model, dict):
        for k in ("query", "metric", "snapshot_id", "created", "rows", "task"):
            if k in model:
                info[k] = model[k]
        info["metrics"] = {k: model[k] for k in ("gnn", "lightgbm") if model.get(k) is not None}
        state = model.get("gnn_state") or {}
        if isinstance(state, dict) and state.get("history"):
            info["history"] = state["history"]
    if isinstance(files.get("metrics"), dict):
        info["metrics"] = files["metrics"]
    if files.get("history") is not None:
        info["history"] = files["history"]
    if full:
        info |= {k: v for k, v in files.items() if k not in info}
    return dict(json_value(info))


def list_models(workspace: Path) -> list[dict[str, Any]]:
    root = workspace / "models"
    if not root.is_dir():
        return []
    dirs = sorted(
        (p for p in root.iterdir() if p.is_dir() and ID_PATTERN.match(p.name)),
        key=_mtime,
        reverse=True,
    )
    return [model_info(workspace, p.name, full=False) for p in dirs]


# -- outputs (predictions, embeddings) ----------------------------------------------------
@dataclass(frozen=True)
class Output:
    id: str
    kind: str
    meta: dict[str, Any]
    data: Path | None
    projection: Path | None


def _meta(d: Path) -> dict[str, Any] | None:
    f = d / "meta.json"
    if not f.is_file():
        return None
    meta = _read_json(f)
    return meta if isinstance(meta, dict) else None


# A pipeline job's folder: what it made, by job type (the file its ``result.json`` names).
PIPELINE_FILES = {
    "embed": "embeddings",
    "cluster": "clusters",
    "project": "projection",
    "predict": "embeddings",
    "python": "embeddings",  # a user step that made embeddings (its result says so)
}
PIPELINE_ID = re.compile(r"^pipe-(?P<type>[a-z]+)-(?P<hash>[0-9a-f]{8,64})$")


def _pipeline_output(workspace: Path, output_id: str) -> Output | None:
    """A pipeline job's embeddings, clusters or projection, as an embeddings output."""
    m = PIPELINE_ID.match(output_id)
    if m is None or m["type"] not in PIPELINE_FILES:
        return None
    d = workspace / "outputs" / m["type"] / m["hash"]
    result = _read_json(d / "result.json") if (d / "result.json").is_file() else None
    if not isinstance(result, dict):
        return None
    rel = result.get(PIPELINE_FILES[m["type"]])
    if not isinstance(rel, str):
        return None
    data = (workspace / rel).resolve()
    if not data.is_file() or not data.is_relative_to(d.resolve()):
        return None  # a file of another job's (reused input): listed under that job
    meta: dict[str, Any] = {
        "source": "pipeline",
        "job_type": m["type"],
        "file": rel,
        "created": _mtime(d / "result.json"),
    }
    for k in ("snapshot", "model", "k", "rows", "dim"):
        if isinstance(result.get(k), str | int | float):
            meta[k] = result[k]
    return Output(output_id, "embeddings", meta, data, None)


def _pipeline_outputs(workspace: Path) -> list[tuple[str, Path]]:
    """(id, folder) of every pipeline job folder that made a file an output lists."""
    found = []
    for jtype in PIPELINE_FILES:
        root = workspace / "outputs" / jtype
        if not root.is_dir() or (root / "meta.json").is_file():
            continue
        for d in root.iterdir():
            oid = f"pipe-{jtype}-{d.name}"
            if d.is_dir() and PIPELINE_ID.match(oid) and _pipeline_output(workspace, oid):
                found.append((oid, d))
    return found


def find_output(workspace: Path, output_id: str, kind: str | None = None) -> Output:
    """An output by id; a trainer's prediction file counts as predictions and as embeddings,
    a pipeline job's embeddings, clusters or projection as embeddings."""
    check_id("output", output_id)
    root = workspace / "outputs"
    if kind in (None, "embeddings") and output_id.startswith("pipe-"):
        pipe = _pipeline_output(workspace, output_id)
        if pipe is not None:
            return pipe
    d = root / output_id
    meta = _meta(d) if d.is_dir() else None
    if meta is not None and (kind is None or meta.get("kind") == kind):
        data, proj = d / "data.parquet", d / "projection.parquet"
        return Output(
            output_id,
            str(meta.get("kind")),
            meta,
            data if data.is_file() else None,
            proj if proj.is_file() else None,
        )
    if "." in output_id and kind in (None, "predictions", "embeddings"):
        model_id, split = output_id.rsplit(".", 1)
        f = root / model_id / f"{PRED_PREFIX}{split}.parquet"
        if f.is_file() and (kind != "embeddings" or "EMBEDDING" in pq.read_schema(f).names):
            return Output(
                output_id,
                "predictions",
                {"model_id": model_id, "split": split, "created": _mtime(f)},
                f,
                None,
            )
    raise StoreError(f"no {kind or 'output'} '{output_id}' in workspace '{workspace}'")


def output_dir(workspace: Path, output_id: str, kind: str | None = None) -> Path:
    """The folder of one of the service's own outputs."""
    out = find_output(workspace, output_id, kind)
    if out.data is not None and out.data.name != "data.parquet":
        return out.data.parent
    return workspace / "outputs" / output_id


def list_outputs(workspace: Path, kind: str) -> list[dict[str, Any]]:
    root = workspace / "outputs"
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir(), key=_mtime, reverse=True):
        if not d.is_dir() or not ID_PATTERN.match(d.name):
            continue
        meta = _meta(d)
        if meta is not None:
            if meta.get("kind") == kind:
                out.append(output_info(workspace, d.name, kind))
            continue
        if kind == "predictions":
            for f in sorted(d.glob(f"{PRED_PREFIX}*.parquet")):
                out.append(output_info(workspace, f"{d.name}.{f.stem[len(PRED_PREFIX) :]}", kind))
    if kind == "embeddings":
        # Pipeline jobs' outputs beside the service's, newest first among them.
        pipes = sorted(_pipeline_outputs(workspace), key=lambda x: _mtime(x[1]), reverse=True)
        out += [output_info(workspace, oid, kind) for oid, _ in pipes]
    return out


def output_info(workspace: Path, output_id: str, kind: str | None = None) -> dict[str, Any]:
    o = find_output(workspace, output_id, kind)
    info: dict[str, Any] = {"id": o.id, "kind": o.kind, **json_value(o.meta)}
    if o.data is not None:
        md = pq.read_metadata(o.data)
        info |= {"rows": md.num_rows, "columns": md.schema.to_arrow_schema().names}
    info["has_projection"] = o.projection is not None
    return info


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
