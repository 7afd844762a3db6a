"""The job kinds the service runs, each a thin call into :mod:`relgraph.api`.

Kinds whose facade function is not in this build (``train`` before the training stack
lands, say) are left out of :func:`default_kinds`, so ``GET /jobs/kinds`` tells the truth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph import api
from relgraph.errors import JobError, JobParameterError, StoreError
from relgraph.jobs.progress import PRETRAIN_STAGES, TRAIN_STAGES, StagedProgress, Stages
from relgraph.redact import redact
from relgraph.service import outputs
from relgraph.service.policy import SourcePolicy
from relgraph.service.runner import JobContext, JobFn

MAX_PROJECTION_ROWS = 20_000
# What ``relgraph.predict`` accepts (kept here so checking a submitted job needs no torch).
PREDICT_SPLITS = ("test", "now")
# Where relgraph.train.pretrain stores trunks (its PRETRAINED / PRETRAIN_JSON; a test checks
# they agree): named here so that checking a submitted job does not import torch.
PRETRAINED = "pretrained"
PRETRAIN_JSON = "pretrain.json"


def _param(
    params: dict[str, Any], name: str, typ: type, default: Any = None, *, required: bool = False
) -> Any:
    if name not in params or params[name] is None:
        if required:
            raise JobParameterError(f"job parameter '{name}' is required")
        return default
    value = params[name]
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise JobParameterError(
            f"job parameter '{name}' must be a {typ.__name__}, got {type(value).__name__}"
        )
    return value


# Job parameters that name something of the workspace: each must be an id of its
# pattern (never a path), checked when a job is submitted and again when it runs.
ID_PARAMS: dict[str, re.Pattern[str]] = {
    "snapshot": re.compile(r"^(?:[0-9a-f]{1,64}|latest)$"),
    "model_id": outputs.ID_PATTERN,
    "embeddings": outputs.ID_PATTERN,
    "predictions": outputs.ID_PATTERN,
    "from_pretrained": outputs.ID_PATTERN,
    "labels": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
}


def check_ids(params: dict[str, Any]) -> None:
    """Every id parameter is a string of its pattern (:data:`ID_PARAMS`)."""
    for name, pattern in ID_PARAMS.items():
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            _param(params, name, str)  # raises: "must be a str, got int"
        if not pattern.match(value) or value.startswith(".") or ".." in value:
            raise JobParameterError(
                f"job parameter '{name}' must be an id matching {pattern.pattern}, "
                f"got {value[:80]!r}"
            )


def ingest_job(workspace: Path, policy: SourcePolicy) -> JobFn:
    def check(params: dict[str, Any]) -> None:
        policy.check(_param(params, "source", str, required=True))
        _param(params, "strict", bool, False)

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        source = _param(params, "source", str, required=True)
        strict = _param(params, "strict", bool, False)
        ctx.log(f"reading {redact(source)}")
        # Checked again here: the policy may have changed since the job was queued.
        source = policy.check(source)

        def progress(name: str, done: int, total: int) -> None:
            if not total:  # a later stage (inferring, validating, writing)
                ctx.progress(0.9, name)
                ctx.log(name)
                return
            ctx.progress(done / total * 0.9, f"read {name}")
            ctx.log(f"read table {name} ({done}/{total})")

        res = api.ingest(source, workspace=workspace, strict=strict, progress=progress)
        ctx.log(f"snapshot {res.snapshot.id} ({'new' if res.created else 'unchanged'})")
        return {
            "snapshot_id": res.snapshot.id,
            "created": res.created,
            "warnings": len(res.report.warnings),
        }

    return CheckedJob(run, check)


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
    """Train (relgraph.api.train), then by default predict the test split and project the
    entities' embeddings, so the dashboard has metrics, curves and a 3-D view at the end."""

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        query = _param(params, "query", str, required=True)
        kwargs: dict[str, Any] = {
            "workspace": workspace,
            "snapshot": _param(params, "snapshot", str),
            "budget": _param(params, "budget", str, "fast"),
        }
        for name, typ in (
            ("trials", int),
            ("minutes", float),
            ("val_cutoff", str),
            ("test_cutoff", str),
        ):
            value = params.get(name)
            if value is not None:
                if typ is float and isinstance(value, int) and not isinstance(value, bool):
                    value = float(value)
                kwargs[name] = _param({name: value}, name, typ)
        trunk = _check_train(workspace, params)
        if trunk is not None:
            kwargs["from_pretrained"] = trunk
        then_predict = _param(params, "predict", bool, True)
        ctx.log(
            f"training ({kwargs['budget']} budget"
            + (f", from pretrained trunk {trunk})" if trunk else ")")
        )
        ctx.progress(0.01, "labels")
        result = api.train(
            query,
            progress=_train_progress(ctx, TRAIN_STAGES, 0.0, 0.8 if then_predict else 0.98),
            **kwargs,
        )  # type: ignore[attr-defined]
        out = _result_dict(result)
        out.pop("path", None)  # a server path: of no use to a client
        ctx.log(f"model {result.model_id}")
        if then_predict:
            ctx.progress(0.82, "predicting the test split")
            pred = api.predict(result.model_id, workspace=workspace)  # type: ignore[attr-defined]
            out["predictions"] = f"{result.model_id}.{pred.split}"
            ctx.log(f"predictions {out['predictions']}: {pred.rows} rows")
            ctx.progress(0.92, "projecting embeddings")
            out["output_id"] = _project_predictions(workspace, out["predictions"], k=5, labels=None)
            ctx.log(f"projection {out['output_id']}")
        return out

    def check(params: dict[str, Any]) -> None:
        _check_train(workspace, params)

    return CheckedJob(run, check)


def _check_train(workspace: Path, params: dict[str, Any]) -> str | None:
    """``from_pretrained`` must name a trunk of this workspace; returns it."""
    trunk: str | None = _param(params, "from_pretrained", str)
    if trunk is not None:
        _check_trunk(workspace, trunk)
    return trunk


def _check_trunk(workspace: Path, trunk: str) -> None:
    outputs.check_id("pretrained trunk", trunk)
    if not (workspace / PRETRAINED / trunk / PRETRAIN_JSON).is_file():
        root = workspace / PRETRAINED
        known = sorted(p.name for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
        raise JobParameterError(
            f"job parameter 'from_pretrained': no pretrained trunk '{trunk}' in this "
            f"workspace; pretrained: {', '.join(known[-5:]) or 'none'} "
            "(start a 'pretrain' job first)"
        )


def _train_progress(
    ctx: JobContext, stages: Stages, start: float, end: float
) -> Callable[[str, dict[str, Any]], None]:
    """relgraph.train reports ``(stage, info)``: each moves the job within ``[start, end]``
    by the stages' declared weights, never back (LightGBM runs before the graph)."""
    staged = StagedProgress(stages, start=start, end=end)

    def progress(stage: str, info: dict[str, Any]) -> None:
        if stage == "epoch" and info.get("epochs"):
            metrics = ", ".join(
                f"{k} {v:.4g}"
                for k, v in info.items()
                if k not in ("epoch", "epochs") and isinstance(v, int | float)
            )
            ctx.log(f"epoch {info['epoch']}/{info['epochs']}: {metrics}")
        else:
            ctx.log(stage)
        ctx.progress(staged.report(stage, info), stage)

    return progress


def _check_predict(workspace: Path) -> Callable[[dict[str, Any]], None]:
    def check(params: dict[str, Any]) -> None:
        split = _param(params, "split", str, "test")
        if split not in PREDICT_SPLITS:
            raise JobParameterError(
                f"job parameter 'split' must be one of {', '.join(PREDICT_SPLITS)}, got '{split}'"
            )
        _check_model(workspace, params)

    return check


def _check_model(workspace: Path, params: dict[str, Any]) -> None:
    """``model_id`` must name a trained model of this workspace."""
    model_id = _param(params, "model_id", str, required=True)
    try:
        outputs.model_dir(workspace, model_id)
    except StoreError as e:
        raise JobParameterError(f"job parameter 'model_id': {e.message}") from e


def predict_job(workspace: Path) -> JobFn:
    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        model_id = _param(params, "model_id", str, required=True)
        split = _param(params, "split", str, "test")
        ctx.log(f"predicting the {split} split with model {model_id}")
        result = api.predict(model_id, workspace=workspace, split=split)  # type: ignore[attr-defined]
        out = _result_dict(result)
        out["predictions"] = f"{model_id}.{result.split}"
        return out

    return CheckedJob(run, _check_predict(workspace))


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


def _label_map(workspace: Path, name: str | None) -> dict[str, Any]:
    if name is None:
        return {}
    f = workspace / "labels" / f"{name}.json"
    if not f.is_file():
        raise JobError(f"no label set '{name}'; create it with PUT /api/v1/labels/{name}")
    return {str(r["entity"]): r.get("label") for r in json.loads(f.read_text())["rows"]}


def _project_predictions(workspace: Path, pred_id: str, *, k: int, labels: str | None) -> str:
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
    coords = _pca3(x)
    clusters = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(x)
    pred_col = next(
        (c for c in ("TRUE_PROB", "PREDICTION", "CLASS") if c in tbl.column_names), None
    )
    entity_rows = _entity_rows(workspace, pred_id, tbl.column("ENTITY").to_pylist())
    label_of = _label_map(workspace, labels)
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
    cols["row"] = pa.array(entity_rows)
    meta = {"source": pred_id, "k": k, "method": "pca", "table": _entity_table(workspace, pred_id)}
    return outputs.register_output(workspace, "embeddings", None, meta, projection=pa.table(cols))


def ent_list(tbl: pa.Table) -> list[Any]:
    return list(tbl.column("ENTITY").to_pylist())


def _model_meta(workspace: Path, pred_id: str) -> dict[str, Any]:
    model_id = pred_id.rsplit(".", 1)[0]
    f = workspace / "models" / model_id / "model.json"
    meta: dict[str, Any] = json.loads(f.read_text()) if f.is_file() else {}
    return meta


def _entity_table(workspace: Path, pred_id: str) -> str:
    task = _model_meta(workspace, pred_id).get("task") or {}
    return str(task.get("entity_table", ""))


def _entity_rows(workspace: Path, pred_id: str, entities: list[Any]) -> list[str]:
    """Each entity's row (first columns) as JSON, for the plot's hover text."""
    meta = _model_meta(workspace, pred_id)
    task = meta.get("task") or {}
    table, key = task.get("entity_table"), task.get("entity_column")
    rows: dict[str, dict[str, Any]] = {}
    if table and key:
        try:
            snap = api.snapshot(meta.get("snapshot_id"), workspace=workspace)
            for r in snap.read_table(table).to_pylist():
                rows[str(r.get(key))] = {c: _short(v) for c, v in list(r.items())[:8]}
        except Exception:  # hover text is a nicety; a missing snapshot must not fail the job
            rows = {}
    return [json.dumps(rows.get(str(e), {"ENTITY": e}), default=str) for e in entities]


def project_job(workspace: Path) -> JobFn:
    """3-D projection (PCA) + k-means clusters of predictions' embeddings, or of a table's features.

    Params: ``predictions`` (an id like ``<model_id>.test``; coloured by cluster, prediction
    and, with ``labels`` (a label set), label) or ``table`` (standardised numerical and
    one-hot categorical columns), and ``k`` clusters.
    """

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        from sklearn.cluster import KMeans

        k = _param(params, "k", int, 5)
        if not 1 <= k <= 50:
            raise JobParameterError(f"job parameter 'k' must be within 1..50, got {k}")
        pred_id = _param(params, "predictions", str)
        ctx.progress(0.1, "reading")
        if pred_id is not None:
            oid = _project_predictions(
                workspace, pred_id, k=k, labels=_param(params, "labels", str)
            )
            ctx.log(f"projection {oid}")
            return {"output_id": oid}
        table = _param(params, "table", str, required=True)
        snap = api.snapshot(_param(params, "snapshot", str), workspace=workspace)
        tbl = snap.read_table(table).slice(0, MAX_PROJECTION_ROWS)
        x = _features(snap.schema.tables[table], tbl)
        pk = snap.schema.tables[table].primary_key
        entity = tbl.column(pk) if pk else pa.array(range(tbl.num_rows))
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
            for r in tbl.to_pylist()
        ]
        cols: dict[str, Any] = {
            "ENTITY": pa.array([str(e) for e in entity.to_pylist()]),
            "x": coords[:, 0],
            "y": coords[:, 1],
            "z": coords[:, 2],
            "cluster": pa.array([f"cluster_{c}" for c in clusters]),
        }
        label_of = _label_map(workspace, _param(params, "labels", str))
        if label_of:
            cols["label"] = pa.array(
                [
                    None if (v := label_of.get(str(e))) is None else str(v)
                    for e in entity.to_pylist()
                ]
            )
        cols["row"] = pa.array(rows)
        proj = pa.table(cols)
        oid = outputs.register_output(
            workspace,
            "embeddings",
            None,
            {"table": table, "source": "features", "k": k, "method": "pca"},
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


# -- embed, cluster, pretrain -------------------------------------------------------------
class CheckedJob:
    """A job kind whose parameters are checked when the job is submitted, so that a bad
    one is a 4xx answer rather than a failed job, and again when it runs (a retry may come
    after the workspace changed).

    Args:
        run: The job function.
        check: Raises a :class:`~relgraph.errors.RelgraphError` naming the bad parameter.
    """

    def __init__(self, run: JobFn, check: Callable[[dict[str, Any]], None]) -> None:
        self._run = run
        self._check = check

    def __repr__(self) -> str:
        return f"CheckedJob({getattr(self._run, '__qualname__', self._run)!r})"

    def check_params(self, params: dict[str, Any]) -> None:
        self._check(params)

    def __call__(self, ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        self._check(params)
        return self._run(ctx, params)


def _projection(
    ids: list[Any], x: np.ndarray, clusters: list[str] | None = None
) -> pa.Table | None:
    """The 3-D view of embeddings (PCA) that the dashboard draws: at most
    :data:`MAX_PROJECTION_ROWS` points; None when there are too few to project."""
    n = min(len(ids), MAX_PROJECTION_ROWS)
    if n < 2:
        return None
    coords = _pca3(x[:n])
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


def _check_embed(workspace: Path) -> Callable[[dict[str, Any]], None]:
    def check(params: dict[str, Any]) -> None:
        _check_model(workspace, params)
        for name in ("table", "at", "snapshot"):
            _param(params, name, str)
        _param(params, "project", bool)

    return check


def embed_job(workspace: Path) -> JobFn:
    """GNN embeddings of an entity table's rows from a trained model (``api.embed_entities``).

    Params: ``model_id``; optional ``table`` (default the model's entity table), ``at``
    (``now``, ``test`` or an ISO date), ``snapshot`` and ``project`` (a 3-D PCA view, on by
    default). Result: ``output_id`` of an embeddings output (``ENTITY``,
    ``ANCHOR_TIMESTAMP``, ``embedding``, ...) that ``GET /embeddings/{id}/rows`` pages and a
    ``cluster`` job reads.
    """

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        import tempfile

        model_id = params["model_id"]
        table, at = params.get("table"), params.get("at")
        ctx.log(f"embedding {table or 'the entity table'} with model {model_id}")
        ctx.progress(0.05, "embedding")
        with tempfile.TemporaryDirectory(prefix="rg-embed-") as tmp:
            res = api.embed_entities(
                model_id,
                workspace=workspace,
                table=table,
                at=at,
                snapshot=params.get("snapshot"),
                to=Path(tmp) / "embeddings.parquet",
            )
        ctx.progress(0.8, "storing")
        proj = None
        if _param(params, "project", bool, True) and res.rows:
            x = _embedding_matrix(res.table)
            proj = _projection(res.table.column("ENTITY").to_pylist(), x)
        meta = {
            "source": "model",
            "model_id": model_id,
            "table": res.entity_table,
            "anchor": res.anchor.isoformat(),
            "dim": res.dim,
            "snapshot_id": res.snapshot_id,
        }
        oid = outputs.register_output(workspace, "embeddings", res.table, meta, projection=proj)
        ctx.log(f"embeddings {oid}: {res.rows} rows of {res.entity_table}, dim {res.dim}")
        return {"output_id": oid, **meta, "rows": res.rows}

    return CheckedJob(run, _check_embed(workspace))


def _embedding_matrix(table: pa.Table) -> np.ndarray:
    import pyarrow.compute as pc

    col = table.column("embedding").combine_chunks()
    values = pc.list_flatten(col).to_numpy(zero_copy_only=False)
    return np.asarray(values, dtype=np.float64).reshape(table.num_rows, -1)


MAX_K = 100


def _check_cluster(workspace: Path) -> Callable[[dict[str, Any]], None]:
    def check(params: dict[str, Any]) -> None:
        oid = _param(params, "embeddings", str, required=True)
        k = _param(params, "k", int, 8)
        _param(params, "seed", int)
        if not 2 <= k <= MAX_K:
            raise JobParameterError(f"job parameter 'k' must be within 2..{MAX_K}, got {k}")
        try:
            out = outputs.find_output(workspace, oid, "embeddings")
        except StoreError as e:
            raise JobParameterError(
                f"job parameter 'embeddings': {e.message}; GET /api/v1/embeddings lists them"
            ) from e
        if out.data is None:
            raise JobParameterError(
                f"job parameter 'embeddings': output '{oid}' holds a 3-D projection only, "
                "no embedding vectors; cluster the output of an 'embed' job"
            )

    return check


def cluster_job(workspace: Path) -> JobFn:
    """k-means over an embeddings output (``api.cluster``).

    Params: ``embeddings`` (an output id from ``GET /embeddings``: an ``embed`` job's, or a
    trainer's ``<model_id>.<split>`` predictions), ``k`` (2..100, default 8), ``seed``.
    Result: ``output_id`` of a new embeddings output, the source's rows plus
    ``cluster_label`` and ``cluster_distance`` (with a 3-D view coloured by cluster), and
    ``sizes`` (rows per cluster).
    """

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        import tempfile

        import pyarrow.parquet as pq

        src_id = params["embeddings"]
        k = _param(params, "k", int, 8)
        seed = _param(params, "seed", int, 0)
        src = outputs.find_output(workspace, src_id, "embeddings")
        assert src.data is not None  # checked: projection-only outputs are refused
        ctx.progress(0.1, "reading")
        tbl = pq.read_table(src.data)
        if "embedding" not in tbl.column_names and "EMBEDDING" in tbl.column_names:
            # A trainer's predictions file names its vectors in capitals.
            tbl = tbl.rename_columns(
                ["embedding" if c == "EMBEDDING" else c for c in tbl.column_names]
            )
        with tempfile.TemporaryDirectory(prefix="rg-cluster-") as tmp:
            # api.cluster reads an embeddings file: ENTITY and embedding only.
            f = Path(tmp) / "embeddings.parquet"
            pq.write_table(tbl.select(["ENTITY", "embedding"]), f)
            ctx.progress(0.3, f"k-means, k={k}")
            clusters = api.cluster(f, k=k, seed=seed)
        labels = clusters.column("cluster_label").to_pylist()
        out = tbl.append_column("cluster_label", clusters.column("cluster_label"))
        out = out.append_column("cluster_distance", clusters.column("cluster_distance"))
        ctx.progress(0.8, "storing")
        proj = _projection(tbl.column("ENTITY").to_pylist(), _embedding_matrix(tbl), labels)
        values, counts = np.unique(np.asarray(labels, dtype=object), return_counts=True)
        sizes = {
            str(v): int(c)
            for v, c in sorted(
                zip(values, counts, strict=True), key=lambda vc: int(str(vc[0]).split("_")[-1])
            )
        }
        meta = {
            "source": src_id,
            "method": "kmeans",
            "k": k,
            "seed": seed,
            "sizes": sizes,
            "table": src.meta.get("table") or _entity_table(workspace, src_id),
        }
        oid = outputs.register_output(workspace, "embeddings", out, meta, projection=proj)
        ctx.log(f"clusters {oid}: {out.num_rows} rows, sizes {sizes}")
        return {"output_id": oid, "source": src_id, "k": k, "seed": seed, "sizes": sizes}

    return CheckedJob(run, _check_cluster(workspace))


PRETRAIN_PARAMS: dict[str, type] = {
    "snapshot": str,
    "budget": str,
    "steps": int,
    "batch_size": int,
    "minutes": float,
    "until": str,
    "tables": list,
    "seed": int,
}


def _pretrain_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(PRETRAIN_PARAMS))
    if unknown:
        raise JobParameterError(
            f"unknown pretrain job parameter(s) {unknown}; allowed: {', '.join(PRETRAIN_PARAMS)}"
        )
    kwargs: dict[str, Any] = {}
    for name, typ in PRETRAIN_PARAMS.items():
        value = params.get(name)
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        value = _param({name: value}, name, typ)
        if value is not None:
            kwargs[name] = value
    for name in ("steps", "batch_size"):
        if name in kwargs and kwargs[name] < 1:
            raise JobParameterError(
                f"job parameter '{name}' must be at least 1, got {kwargs[name]}"
            )
    if "minutes" in kwargs and not kwargs["minutes"] > 0:
        raise JobParameterError(
            f"job parameter 'minutes' must be positive, got {kwargs['minutes']}"
        )
    tables = kwargs.get("tables")
    if tables is not None and not all(isinstance(t, str) for t in tables):
        raise JobParameterError(
            f"job parameter 'tables' must be a list of table names, got {tables!r}"
        )
    return kwargs


def pretrain_job(workspace: Path) -> JobFn:
    """A GNN trunk pretrained without labels (``api.pretrain``), for ``train`` jobs'
    ``from_pretrained``.

    Params: those of ``relgraph pretrain``: ``snapshot``, ``budget`` (train with the same
    one), ``steps``, ``batch_size``, ``minutes``, ``until`` (the test cut-off, so that the
    trunk never sees test rows), ``tables``, ``seed``. Result: ``pretrained_id``, losses.
    """

    def run(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
        kwargs = _pretrain_kwargs(params)
        ctx.log(f"pretraining ({kwargs.get('steps', 'default')} steps)")
        result = api.pretrain(
            workspace=workspace, progress=_train_progress(ctx, PRETRAIN_STAGES, 0.0, 0.98), **kwargs
        )
        out = _result_dict(result)
        out.pop("path", None)  # a server path: of no use to a client
        ctx.log(
            f"pretrained trunk {result.pretrained_id}: loss {result.loss_start:.4g} -> "
            f"{result.loss_end:.4g}"
        )
        return out

    def check(params: dict[str, Any]) -> None:
        _pretrain_kwargs(params)

    return CheckedJob(run, check)


def _with_id_checks(fn: JobFn) -> JobFn:
    own = getattr(fn, "check_params", None)

    def check(params: dict[str, Any]) -> None:
        check_ids(params)
        if own is not None:
            own(params)

    inner = fn._run if isinstance(fn, CheckedJob) else fn
    return CheckedJob(inner, check)


def default_kinds(workspace: Path, policy: SourcePolicy | None = None) -> dict[str, JobFn]:
    """Job kinds whose facade functions exist in this build; every one checks its id
    parameters. ``policy`` says what ``ingest`` may read (default: nothing but named
    connections, which need a secret store)."""
    policy = policy or SourcePolicy(workspace=workspace)
    kinds: dict[str, JobFn] = {
        "ingest": ingest_job(workspace, policy),
        "project": project_job(workspace),
    }
    optional: list[tuple[str, str, Callable[[Path], JobFn]]] = [
        # (kind, the api function it calls, its job factory)
        ("label-stats", "training_tables", label_stats_job),
        ("train", "train", train_job),
        ("predict", "predict", predict_job),
        ("embed", "embed_entities", embed_job),
        ("cluster", "cluster", cluster_job),
        ("pretrain", "pretrain", pretrain_job),
    ]
    for kind, facade, make in optional:
        if hasattr(api, facade):
            kinds[kind] = make(workspace)
    return {k: _with_id_checks(fn) for k, fn in kinds.items()}


__all__ = ["ID_PARAMS", "CheckedJob", "check_ids", "default_kinds", "task_dict"]
