"""The job kinds the service runs, each a thin call into :mod:`relgraph.api`.

Kinds whose facade function is not in this build (``train`` before the training stack
lands, say) are left out of :func:`default_kinds`, so ``GET /jobs/kinds`` tells the truth.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph import api
from relgraph.errors import JobError
from relgraph.service import outputs
from relgraph.service.runner import JobContext, JobFn

MAX_PROJECTION_ROWS = 20_000


def _param(
    params: dict[str, Any], name: str, typ: type, default: Any = None, *, required: bool = False
) -> Any:
    if name not in params or params[name] is None:
        if required:
            raise JobError(f"job parameter '{name}' is required")
        return default
    value = params[name]
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise JobError(
            f"job parameter '{name}' must be a {typ.__name__}, got {type(value).__name__}"
        )
    return value


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def ingest_job(workspace: Path) -> JobFn:
    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        source = _param(params, "source", str, required=True)
        strict = _param(params, "strict", bool, False)
        ctx.log(f"reading {_redacted(source)}")

        def progress(name: str, done: int, total: int) -> None:
            ctx.progress(done / max(total, 1) * 0.9, f"read {name}")
            ctx.log(f"read table {name} ({done}/{total})")

        res = api.ingest(source, workspace=workspace, strict=strict, progress=progress)
        ctx.log(f"snapshot {res.snapshot.id} ({'new' if res.created else 'unchanged'})")
        return {
            "snapshot_id": res.snapshot.id,
            "created": res.created,
            "warnings": len(res.report.warnings),
        }

    return run


def label_stats_job(workspace: Path) -> JobFn:
    """Compile a query and count its training labels per split (the query editor's numbers)."""

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        query = _param(params, "query", str, required=True)
        snapshot = _param(params, "snapshot", str)
        ctx.progress(0.1, "compiling")
        tables = api.training_tables(query, workspace=workspace, snapshot=snapshot)  # type: ignore[attr-defined]
        ctx.progress(0.8, "counting labels")
        out: dict[str, Any] = {"task": task_dict(tables.task), "splits": {}}
        for split in ("train", "val"):
            tt = getattr(tables, split)
            out["splits"][split] = _target_stats(tt.table)
        out["splits"]["test"] = _target_stats(tables.test_labels())
        for k in ("val_cutoff", "test_cutoff"):
            out[k] = str(getattr(tables, k, None))
        return out

    return run


def _target_stats(table: pa.Table) -> dict[str, Any]:
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


def train_job(workspace: Path) -> JobFn:
    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        query = _param(params, "query", str, required=True)
        kwargs: dict[str, Any] = {
            "workspace": workspace,
            "snapshot": _param(params, "snapshot", str),
        }
        budget = _param(params, "budget", str)
        if budget is not None:
            kwargs["budget"] = budget
        train = api.train  # type: ignore[attr-defined]
        if _accepts(train, "progress"):
            kwargs["progress"] = _progress_adapter(ctx)
        ctx.log("training")
        result = train(query, **kwargs)
        return _result_dict(result)

    return run


def predict_job(workspace: Path) -> JobFn:
    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        model_id = _param(params, "model_id", str, required=True)
        outputs.model_dir(workspace, model_id)
        ctx.log(f"predicting with model {model_id}")
        result = api.predict(model_id, workspace=workspace)  # type: ignore[attr-defined]
        return _result_dict(result)

    return run


def _progress_adapter(ctx: JobContext) -> Callable[..., None]:
    """Accept the common progress shapes: (fraction), (done, total), (name, done, total)."""

    def progress(*args: Any, **_: Any) -> None:
        nums = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
        text = " ".join(str(a) for a in args if isinstance(a, str))
        if len(nums) >= 2:
            ctx.progress(nums[-2] / max(nums[-1], 1), text)
        elif nums:
            ctx.progress(float(nums[0]), text)
        else:
            ctx.check()
        if text:
            ctx.log(text)

    return progress


def _result_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        d: dict[str, Any] = result.to_dict()
        out: dict[str, Any] = json.loads(json.dumps(d, default=str))
        return out
    from dataclasses import asdict, is_dataclass

    if is_dataclass(result) and not isinstance(result, type):
        out2: dict[str, Any] = json.loads(json.dumps(asdict(result), default=str))
        return out2
    return {"result": str(result)}


def project_job(workspace: Path) -> JobFn:
    """3-D projection (PCA) + k-means clusters of an embeddings output, or of a table's features.

    With ``embeddings`` (an output id) it projects the ``EMBEDDING`` column; otherwise it
    projects the standardised numerical and one-hot categorical columns of ``table``.
    """

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        from sklearn.cluster import KMeans

        k = _param(params, "k", int, 5)
        if not 1 <= k <= 50:
            raise JobError(f"job parameter 'k' must be within 1..50, got {k}")
        emb_id = _param(params, "embeddings", str)
        ctx.progress(0.1, "reading")
        if emb_id is not None:
            d = outputs.output_dir(workspace, emb_id, "embeddings")
            import pyarrow.parquet as pq

            tbl = pq.read_table(d / "data.parquet").slice(0, MAX_PROJECTION_ROWS)
            x = np.asarray(tbl.column("EMBEDDING").to_pylist(), dtype=np.float64)
            entity = tbl.column("ENTITY")
            hover = tbl.drop_columns(["EMBEDDING"])
            table = json.loads((d / "meta.json").read_text()).get("table", "")
        else:
            table = _param(params, "table", str, required=True)
            snap = api.snapshot(_param(params, "snapshot", str), workspace=workspace)
            tbl = snap.read_table(table).slice(0, MAX_PROJECTION_ROWS)
            x = _features(snap.schema.tables[table], tbl)
            pk = snap.schema.tables[table].primary_key
            entity = tbl.column(pk) if pk else pa.array(range(tbl.num_rows))
            hover = tbl
        if x.shape[0] < 2 or x.shape[1] == 0:
            raise JobError(
                f"nothing to project for '{table}': {x.shape[0]} rows, {x.shape[1]} features"
            )
        ctx.progress(0.4, "projecting")
        coords = _pca3(x)
        ctx.progress(0.7, "clustering")
        k = min(k, x.shape[0])
        clusters = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(x)
        rows = [
            json.dumps({c: _short(v) for c, v in list(r.items())[:8]}, default=str)
            for r in hover.to_pylist()
        ]
        proj = pa.table(
            {
                "ENTITY": pa.array([str(e) for e in entity.to_pylist()]),
                "x": coords[:, 0],
                "y": coords[:, 1],
                "z": coords[:, 2],
                "cluster": pa.array([f"cluster_{c}" for c in clusters]),
                "row": pa.array(rows),
            }
        )
        oid = outputs.register_output(
            workspace,
            "embeddings",
            None,
            {"table": table, "source": emb_id or "features", "k": k, "method": "pca"},
            projection=proj,
        )
        ctx.log(f"projection {oid}: {proj.num_rows} points, {k} clusters")
        return {"output_id": oid, "points": proj.num_rows}

    return run


def _short(v: Any) -> Any:
    if isinstance(v, str) and len(v) > 60:
        return v[:57] + "..."
    return v


def _features(ts: Any, tbl: pa.Table) -> np.ndarray:
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


def _pca3(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    coords = u[:, :3] * s[:3]
    if coords.shape[1] < 3:
        coords = np.hstack([coords, np.zeros((coords.shape[0], 3 - coords.shape[1]))])
    return np.asarray(coords)


def _redacted(uri: str) -> str:
    from relgraph.service.secrets import redact_uri

    return redact_uri(uri)


def default_kinds(workspace: Path) -> dict[str, JobFn]:
    """Job kinds whose facade functions exist in this build."""
    kinds: dict[str, JobFn] = {"ingest": ingest_job(workspace), "project": project_job(workspace)}
    if hasattr(api, "training_tables"):
        kinds["label-stats"] = label_stats_job(workspace)
    if hasattr(api, "train"):
        kinds["train"] = train_job(workspace)
    if hasattr(api, "predict"):
        kinds["predict"] = predict_job(workspace)
    return kinds


__all__ = ["default_kinds", "task_dict"]
