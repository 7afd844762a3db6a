"""Views of what jobs made, for the dashboard: label statistics, 3-D projections
(PCA) of embeddings and of a table's features, k-means colours, hover rows.

Shared by the job kinds of :mod:`relgraph.jobs.kinds`; numbers only, no HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph import api
from relgraph.errors import JobError
from relgraph.jobs import outputs

MAX_PROJECTION_ROWS = 20_000


def target_stats(table: pa.Table) -> dict[str, Any]:
    n = table.num_rows
    stats: dict[str, Any] = {"rows": n}
    if "ANCHOR_TIMESTAMP" in table.column_names and n:
        stats["anchors"] = len(set(table.column("ANCHOR_TIMESTAMP").to_pylist()))
    if "TARGET" in table.column_names and n:
        col = table.column("TARGET")
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            arr = np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)
            arr = arr[np.isfinite(arr)]
            if arr.size:
                stats |= {
                    "mean": float(arr.mean()),
                    "min": float(arr.min()),
                    "max": float(arr.max()),
                }
                values, counts = np.unique(arr, return_counts=True)
                if values.size <= 20:
                    stats["distribution"] = {
                        str(v if v % 1 else int(v)): int(c)
                        for v, c in zip(values, counts, strict=True)
                    }
        elif pa.types.is_list(col.type):
            lens = [len(v or []) for v in col.to_pylist()]
            stats["mean_targets"] = float(np.mean(lens)) if lens else 0.0
    return stats


def task_dict(task: Any) -> dict[str, Any]:
    """A JSON-ready view of a :class:`relgraph.query.Task` (whatever its exact fields)."""
    from dataclasses import asdict, is_dataclass

    raw = asdict(task) if is_dataclass(task) and not isinstance(task, type) else dict(vars(task))
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if hasattr(v, "value"):
            v = v.value
        elif hasattr(v, "total_seconds"):
            v = {"seconds": v.total_seconds(), "text": str(v)}
        elif isinstance(v, tuple):
            v = [str(x) if not isinstance(x, int | float | str) else x for x in v]
        elif v is not None and not isinstance(v, int | float | str | bool | list | dict):
            v = str(v)
        out[k] = v
    return out


def result_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        d: dict[str, Any] = result.to_dict()
        out: dict[str, Any] = json.loads(json.dumps(d, default=str))
        return out
    from dataclasses import asdict, is_dataclass

    if is_dataclass(result) and not isinstance(result, type):
        out2: dict[str, Any] = json.loads(json.dumps(asdict(result), default=str))
        return out2
    return {"result": str(result)}


def label_map(workspace: Path, name: str | None) -> dict[str, Any]:
    if name is None:
        return {}
    f = workspace / "labels" / f"{name}.json"
    if not f.is_file():
        raise JobError(f"no label set '{name}'; create it with PUT /api/v1/labels/{name}")
    return {str(r["entity"]): r.get("label") for r in json.loads(f.read_text())["rows"]}


def project_predictions(workspace: Path, pred_id: str, *, k: int, labels: str | None) -> str:
    """Project the latest embedding of each entity of a predictions file."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from sklearn.cluster import KMeans

    out = outputs.find_output(workspace, pred_id, "embeddings")
    assert out.data is not None
    tbl = pq.read_table(out.data)
    if "RANK" in tbl.column_names:
        tbl = tbl.filter(pc.equal(tbl.column("RANK"), 1))
    # One point per entity: its latest anchor.
    order = pc.sort_indices(tbl, [("ENTITY", "ascending"), ("ANCHOR_TIMESTAMP", "descending")])
    tbl = tbl.take(order)
    ent = tbl.column("ENTITY").to_pylist()
    keep = [i for i in range(len(ent)) if i == 0 or ent[i] != ent[i - 1]][:MAX_PROJECTION_ROWS]
    tbl = tbl.take(pa.array(keep, pa.int64()))
    x = np.asarray(tbl.column("EMBEDDING").to_pylist(), dtype=np.float64)
    if x.shape[0] < 2:
        raise JobError(f"predictions '{pred_id}' have {x.shape[0]} entities: nothing to project")
    k = min(k, x.shape[0])
    coords = pca3(x)
    clusters = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(x)
    pred_col = next(
        (c for c in ("TRUE_PROB", "PREDICTION", "CLASS") if c in tbl.column_names), None
    )
    hover = entity_rows(workspace, pred_id, tbl.column("ENTITY").to_pylist())
    label_of = label_map(workspace, labels)
    cols: dict[str, Any] = {
        "ENTITY": pa.array([str(e) for e in ent_list(tbl)]),
        "x": coords[:, 0],
        "y": coords[:, 1],
        "z": coords[:, 2],
        "cluster": pa.array([f"cluster_{c}" for c in clusters]),
    }
    if pred_col is not None:
        cols["prediction"] = tbl.column(pred_col)
    if label_of:
        cols["label"] = pa.array(
            [None if (v := label_of.get(str(e))) is None else str(v) for e in ent_list(tbl)]
        )
    cols["row"] = pa.array(hover)
    meta = {"source": pred_id, "k": k, "method": "pca", "table": entity_table(workspace, pred_id)}
    return outputs.register_output(workspace, "embeddings", None, meta, projection=pa.table(cols))


def ent_list(tbl: pa.Table) -> list[Any]:
    return list(tbl.column("ENTITY").to_pylist())


def model_meta(workspace: Path, pred_id: str) -> dict[str, Any]:
    model_id = pred_id.rsplit(".", 1)[0]
    f = workspace / "models" / model_id / "model.json"
    meta: dict[str, Any] = json.loads(f.read_text()) if f.is_file() else {}
    return meta


def entity_table(workspace: Path, pred_id: str) -> str:
    task = model_meta(workspace, pred_id).get("task") or {}
    return str(task.get("entity_table", ""))


def entity_rows(workspace: Path, pred_id: str, entities: list[Any]) -> list[str]:
    """Each entity's row (first columns) as JSON, for the plot's hover text."""
    meta = model_meta(workspace, pred_id)
    task = meta.get("task") or {}
    table, key = task.get("entity_table"), task.get("entity_column")
    rows: dict[str, dict[str, Any]] = {}
    if table and key:
        try:
            snap = api.snapshot(meta.get("snapshot_id"), workspace=workspace)
            for r in snap.read_table(table).to_pylist():
                rows[str(r.get(key))] = {c: short(v) for c, v in list(r.items())[:8]}
        except Exception:  # hover text is a nicety; a missing snapshot must not fail the job
            rows = {}
    return [json.dumps(rows.get(str(e), {"ENTITY": e}), default=str) for e in entities]


def short(v: Any) -> Any:
    if isinstance(v, str) and len(v) > 60:
        return v[:57] + "..."
    return v


def features(ts: Any, tbl: pa.Table) -> np.ndarray:
    cols = []
    for c in ts.columns:
        if c.name not in tbl.column_names:
            continue
        if c.stype.value == "numerical":
            v = np.asarray(tbl.column(c.name).to_numpy(zero_copy_only=False), dtype=np.float64)
            v = np.where(np.isfinite(v), v, np.nanmean(v) if np.isfinite(v).any() else 0.0)
            sd = v.std()
            cols.append((v - v.mean()) / sd if sd > 0 else v * 0)
        elif c.stype.value == "categorical":
            vals = [str(x) for x in tbl.column(c.name).to_pylist()]
            uniq, counts = np.unique(vals, return_counts=True)
            for u in uniq[np.argsort(-counts)][:10]:
                cols.append(np.array([1.0 if x == u else 0.0 for x in vals]))
    return np.stack(cols, axis=1) if cols else np.zeros((tbl.num_rows, 0))


def pca3(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    coords = u[:, :3] * s[:3]
    if coords.shape[1] < 3:
        coords = np.hstack([coords, np.zeros((coords.shape[0], 3 - coords.shape[1]))])
    return np.asarray(coords)


def projection(ids: list[Any], x: np.ndarray, clusters: list[str] | None = None) -> pa.Table | None:
    """The 3-D view of embeddings (PCA) that the dashboard draws: at most
    :data:`MAX_PROJECTION_ROWS` points; None when there are too few to project."""
    n = min(len(ids), MAX_PROJECTION_ROWS)
    if n < 2:
        return None
    coords = pca3(x[:n])
    cols: dict[str, Any] = {
        "ENTITY": pa.array([str(e) for e in ids[:n]]),
        "x": coords[:, 0],
        "y": coords[:, 1],
        "z": coords[:, 2],
    }
    if clusters is not None:
        cols["cluster"] = pa.array(clusters[:n])
    cols["row"] = pa.array([json.dumps({"ENTITY": e}, default=str) for e in ids[:n]])
    return pa.table(cols)


def embedding_matrix(table: pa.Table) -> np.ndarray:
    import pyarrow.compute as pc

    col = table.column("embedding").combine_chunks()
    values = pc.list_flatten(col).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64).reshape(table.num_rows, -1)
