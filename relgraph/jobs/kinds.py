"""What each job kind does: a thin adapter from a job's checked params and inputs to
:mod:`relgraph.api`. The kinds themselves (names, params, needs, makes) are listed once,
in :mod:`relgraph.jobs.registry`.

A kind's ``run(ctx, params)`` receives a context (:class:`Context`) and its parameters
(a dataclass of :mod:`relgraph.jobs.params`) and returns its outputs, a JSON dict whose
values name what it made (a snapshot id, a model id, an output id, a file under the
workspace). A pipeline job (``ctx.surface == "pipeline"``) reads what the jobs it needs
made (``ctx.input``) and writes files into ``ctx.out_dir``, a staging folder that becomes
the job's output folder in one rename when it succeeds; a job submitted through the REST
API or the SDK (``"service"``) names what it reads by id and registers what it makes in
the output store (:mod:`relgraph.jobs.outputs`). Where the two differ, a kind says so.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa

from relgraph import api
from relgraph.cancel import check as cancel_check
from relgraph.errors import JobError, JobParameterError, QueryError, RelgraphError, StoreError
from relgraph.jobs import outputs, views
from relgraph.jobs.params import (
    ClusterParams,
    DocumentParams,
    DriftParams,
    EmbedParams,
    ExplainParams,
    ExportParams,
    ExportWindowParams,
    GcParams,
    IngestLabelsParams,
    IngestParams,
    LabelStatsParams,
    PredictParams,
    PretrainParams,
    ProjectParams,
    PythonParams,
    TrainParams,
)
from relgraph.jobs.progress import PRETRAIN_STAGES, TRAIN_STAGES, StagedProgress, Stages
from relgraph.redact import redact

log = logging.getLogger("relgraph.jobs")

ProgressFn = Callable[[str, int, int], None]
# (fraction of the whole job done, what it is doing); the worker never lets it go back.
ReportFn = Callable[[float, str], None]
Surface = Literal["pipeline", "service"]
# Where relgraph.train.pretrain stores trunks (its PRETRAINED / PRETRAIN_JSON; a test checks
# they agree): named here so that checking a submitted job does not import torch.
PRETRAINED = "pretrained"
PRETRAIN_JSON = "pretrain.json"


class Context(Protocol):
    """What a kind's ``run`` may use, wherever the job runs."""

    @property
    def surface(self) -> Surface: ...
    @property
    def workspace(self) -> Path: ...
    @property
    def inputs(self) -> Mapping[str, Mapping[str, Any]]: ...
    def log(self, line: str) -> None: ...
    def report(self, fraction: float, message: str) -> None: ...


@dataclass
class JobContext:
    """A pipeline job's context (:mod:`relgraph.jobs.worker` makes it)."""

    job_id: int
    name: str
    type: str
    workspace: Path
    params: Mapping[str, Any]
    # Outputs of the jobs this one needs, by job name, in the order of ``needs``.
    inputs: Mapping[str, Mapping[str, Any]]
    out_dir: Path
    out_rel: str  # ``out_dir``'s final place, relative to the workspace
    # ``done`` of ``total`` items of the step ``name`` (tables read, lines written, ...).
    progress: ProgressFn = field(default=lambda name, done, total: None)
    # The job's own fraction, for kinds with weighted stages (train, pretrain).
    report: ReportFn = field(default=lambda fraction, message: None)
    surface: Surface = "pipeline"

    def log(self, line: str) -> None:
        """A line of the job's log (the worker writes ``relgraph.*`` logging there)."""
        log.info("%s", line)

    def check(self) -> None:
        cancel_check()

    def input(self, key: str) -> Any:
        """The first upstream output called ``key`` (in the order of ``needs``)."""
        for made in self.inputs.values():
            if key in made:
                return made[key]
        raise JobError(
            f"job '{self.name}' ({self.type}) needs a '{key}' from a job it depends on, but "
            f"none of {list(self.inputs) or 'its (no) needs'} made one; "
            "add such a job to its 'needs:'"
        )

    def maybe_input(self, key: str) -> Any:
        try:
            return self.input(key)
        except JobError:
            return None

    def path(self, rel: str) -> Path:
        """A workspace-relative output path as an absolute one."""
        return self.workspace / rel

    def file(self, name: str) -> tuple[Path, str]:
        """Where to write output file ``name`` now, and what to report it as."""
        return self.out_dir / name, f"{self.out_rel}/{name}"


def _need_api(name: str, job_type: str) -> Callable[..., Any]:
    fn = getattr(api, name, None)
    if fn is None:
        raise JobError(
            f"job type '{job_type}' needs relgraph.api.{name}, which this relgraph build lacks"
        )
    return fn  # type: ignore[no-any-return]


def _as_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    if hasattr(obj, "to_dict"):
        d = obj.to_dict()
        return d if isinstance(d, dict) else {}
    return {}


def gnn_embed(params: Mapping[str, Any]) -> bool:
    """Whether an embed job's raw params embed entities with a trained GNN (not text)."""
    return "model" in params or "model_id" in params or params.get("from") == "model"


# -- shared helpers ---------------------------------------------------------------------------
def _ref(ctx: Context, value: str | None, param: str, output: str) -> str | None:
    """A param that names a job in ``needs`` (that job's ``output``) or is an id itself."""
    if value is None:
        return None
    name = str(value)
    if name in ctx.inputs:
        made = ctx.inputs[name].get(output)
        if made is None:
            raise JobError(
                f"job '{_name(ctx)}': '{param}: {name}' names a job that made no "
                f"'{output}' (it made {sorted(ctx.inputs[name]) or 'nothing'})"
            )
        return str(made)
    return name


def _name(ctx: Context) -> str:
    return f"{getattr(ctx, 'name', '?')}' ({getattr(ctx, 'type', '?')})".rstrip("'")


def _input(ctx: Context, key: str) -> Any:
    fn = getattr(ctx, "input", None)
    if fn is None:
        raise JobError(f"this job has no upstream jobs to read a '{key}' from")
    return fn(key)


def _maybe_input(ctx: Context, key: str) -> Any:
    fn = getattr(ctx, "maybe_input", None)
    return fn(key) if fn is not None else None


def stage_progress(
    ctx: Context, stages: Stages, start: float = 0.0, end: float = 1.0
) -> Callable[[str, dict[str, Any]], None]:
    """A trainer's ``(stage, info)`` reports as the job's one forward-only fraction within
    ``[start, end]``, by the stages' declared weights (LightGBM runs before the graph)."""
    staged = StagedProgress(stages, start=start, end=end)

    def progress(stage: str, info: dict[str, Any]) -> None:
        epoch, epochs = info.get("epoch"), info.get("epochs")
        if ctx.surface == "pipeline":
            # The job's log is its worker's (relgraph.* logging); the message says the epoch.
            message = f"{stage} {epoch}/{epochs}" if epoch is not None and epochs else stage
        elif stage == "epoch" and epochs:
            metrics = ", ".join(
                f"{k} {v:.4g}"
                for k, v in info.items()
                if k not in ("epoch", "epochs") and isinstance(v, int | float)
            )
            ctx.log(f"epoch {epoch}/{epochs}: {metrics}")
            message = stage
        else:
            ctx.log(stage)
            message = stage
        ctx.report(staged.report(stage, info), message)

    return progress


# -- workspace checks: a REST job's ids name things that exist (on submit and when it runs) ---
def check_model(workspace: Path, model_id: str | None) -> None:
    if model_id is None:
        return
    try:
        outputs.model_dir(workspace, model_id)
    except StoreError as e:
        raise JobParameterError(f"job parameter 'model_id': {e.message}") from e


def check_trunk(workspace: Path, trunk: str | None) -> None:
    """``from_pretrained`` must name a trunk of this workspace."""
    if trunk is None:
        return
    outputs.check_id("pretrained trunk", trunk)
    if not (workspace / PRETRAINED / trunk / PRETRAIN_JSON).is_file():
        root = workspace / PRETRAINED
        known = sorted(p.name for p in root.glob("*") if p.is_dir()) if root.is_dir() else []
        raise JobParameterError(
            f"job parameter 'from_pretrained': no pretrained trunk '{trunk}' in this "
            f"workspace; pretrained: {', '.join(known[-5:]) or 'none'} "
            "(start a 'pretrain' job first)"
        )


def check_query(workspace: Path, query: str, snapshot: str | None) -> None:
    """A query that does not compile is refused with its position (a REST 422 with line
    and column, the SDK's ``QueryError``) instead of failing the job later. Only the
    query's own errors: a missing snapshot is the job's to report when it runs."""
    compile_query = getattr(api, "compile_query", None)
    if compile_query is None:
        return
    try:
        compile_query(query, workspace=workspace, snapshot=snapshot)
    except QueryError:
        raise
    except RelgraphError:
        return


def check_embeddings(workspace: Path, oid: str | None) -> None:
    if oid is None:
        return
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
    import pyarrow.parquet as pq

    names = pq.read_schema(out.data).names
    if "embedding" not in names and "EMBEDDING" not in names:
        raise JobParameterError(
            f"job parameter 'embeddings': output '{oid}' has no embedding vectors "
            f"(columns {', '.join(names[:8])}); cluster the output of an 'embed' job"
        )


# -- ingest --------------------------------------------------------------------------------
def ingest(ctx: Context, p: IngestParams) -> dict[str, Any]:
    if ctx.surface == "pipeline":
        progress: Callable[[str, int, int], None] = getattr(ctx, "progress")  # noqa: B009
    else:
        ctx.log(f"reading {redact(p.uri)}")

        def progress(name: str, done: int, total: int) -> None:
            if not total:  # a later stage (inferring, validating, writing)
                ctx.report(0.9, name)
                ctx.log(name)
                return
            ctx.report(done / total * 0.9, f"read {name}")
            ctx.log(f"read table {name} ({done}/{total})")

    result = api.ingest(
        p.uri, workspace=ctx.workspace, schema_file=p.schema, strict=p.strict, progress=progress
    )
    # A pipeline's downstream jobs read 'snapshot'; REST clients have read 'snapshot_id'.
    key = "snapshot"
    if ctx.surface == "service":
        ctx.log(f"snapshot {result.snapshot.id} ({'new' if result.created else 'unchanged'})")
        key = "snapshot_id"
    return {
        key: result.snapshot.id,
        "created": result.created,
        "warnings": len(result.report.warnings),
    }


def ingest_labels(ctx: Context, p: IngestLabelsParams) -> dict[str, Any]:
    path, rel = ctx.file("labels.parquet")  # type: ignore[attr-defined]
    unknown_path, unknown_rel = ctx.file("unknown_keys.parquet")  # type: ignore[attr-defined]
    snapshot = _input(ctx, "snapshot")
    res = api.ingest_labels(
        p.uri,
        table=p.table,
        key=p.key,
        label_table=p.label_table,
        workspace=ctx.workspace,
        snapshot=snapshot,
        to=path,
        unknown_to=unknown_path,
    )
    if res.unknown:
        log.warning(
            "%d label row(s) have keys not in table '%s'; listed in %s",
            res.unknown,
            p.table,
            unknown_rel,
        )
    return {
        "snapshot": snapshot,
        "labels": rel,
        "label_rows": res.rows,
        "unknown_keys": res.unknown,
        "unknown_keys_file": unknown_rel,
    }


# -- embed -----------------------------------------------------------------------------------
def embed(ctx: Context, p: EmbedParams) -> dict[str, Any]:
    """GNN entity embeddings of a model (``model_id``; in a pipeline also ``model: <train
    job>`` or ``from: model``), or, in a pipeline, text columns with the packaged sentence
    model (``table``, ``columns``). A REST job registers an embeddings output (with a 3-D
    PCA view unless ``project: false``) that ``GET /embeddings/{id}/rows`` pages."""
    if ctx.surface == "service":
        return _embed_service(ctx, p)
    path, rel = ctx.file("embeddings.parquet")  # type: ignore[attr-defined]
    if p.gnn:
        model_id = _ref(ctx, p.model_id, "model", "model") or _input(ctx, "model")
        fn = _need_api("embed_entities", "embed")
        res = fn(model_id, workspace=ctx.workspace, table=p.table, at=p.at, to=path)
        return {
            "snapshot": res.snapshot_id,
            "model": model_id,
            "embeddings": rel,
            "rows": res.rows,
            "dim": res.dim,
        }
    if p.table is None:
        raise JobParameterError("job parameter 'table' is required to embed text columns")
    api.embed_text(
        p.table,
        columns=list(p.columns) if p.columns is not None else None,
        workspace=ctx.workspace,
        snapshot=_input(ctx, "snapshot"),
        to=path,
        progress=getattr(ctx, "progress"),  # noqa: B009
    )
    return {"snapshot": _maybe_input(ctx, "snapshot"), "embeddings": rel}


def _embed_service(ctx: Context, p: EmbedParams) -> dict[str, Any]:
    import tempfile

    model_id = str(p.model_id)  # required on this surface
    ctx.log(f"embedding {p.table or 'the entity table'} with model {model_id}")
    ctx.report(0.05, "embedding")
    with tempfile.TemporaryDirectory(prefix="rg-embed-") as tmp:
        res = api.embed_entities(
            model_id,
            workspace=ctx.workspace,
            table=p.table,
            at=p.at,
            snapshot=p.snapshot,
            to=Path(tmp) / "embeddings.parquet",
        )
    ctx.report(0.8, "storing")
    proj = None
    if p.project is not False and res.rows:
        x = views.embedding_matrix(res.table)
        proj = views.projection(res.table.column("ENTITY").to_pylist(), x)
    meta = {
        "source": "model",
        "model_id": model_id,
        "table": res.entity_table,
        "anchor": res.anchor.isoformat(),
        "dim": res.dim,
        "snapshot_id": res.snapshot_id,
    }
    oid = outputs.register_output(ctx.workspace, "embeddings", res.table, meta, projection=proj)
    ctx.log(f"embeddings {oid}: {res.rows} rows of {res.entity_table}, dim {res.dim}")
    return {"output_id": oid, **meta, "rows": res.rows}


# -- train, pretrain ---------------------------------------------------------------------------
def train(ctx: Context, p: TrainParams) -> dict[str, Any]:
    """Train (``api.train``). A pipeline job reads the snapshot of the job it needs and
    reports model and metrics; a REST job by default then predicts the test split and
    projects the entities' embeddings (``predict: false`` skips it), so the dashboard has
    metrics, curves and a 3-D view at the end."""
    fn = _need_api("train", "train")
    kwargs = p.api_kwargs()
    trunk = _ref(ctx, p.from_pretrained, "from_pretrained", "pretrained")
    if trunk is not None:
        kwargs["from_pretrained"] = trunk
    if ctx.surface == "pipeline":
        kwargs.setdefault("snapshot", _input(ctx, "snapshot"))
        result = fn(
            p.query,
            workspace=ctx.workspace,
            progress=stage_progress(ctx, TRAIN_STAGES),
            **kwargs,
        )
        return _train_outputs(result, snapshot=kwargs["snapshot"])
    check_trunk(ctx.workspace, trunk)
    kwargs.setdefault("budget", "fast")
    then_predict = p.predict is not False
    ctx.log(
        f"training ({kwargs['budget']} budget"
        + (f", from pretrained trunk {trunk})" if trunk else ")")
    )
    ctx.report(0.01, "labels")
    result = fn(
        p.query,
        workspace=ctx.workspace,
        progress=stage_progress(ctx, TRAIN_STAGES, 0.0, 0.8 if then_predict else 0.98),
        **kwargs,
    )
    out = views.result_dict(result)
    out.pop("path", None)  # a server path: of no use to a client
    ctx.log(f"model {result.model_id}")
    if then_predict:
        ctx.report(0.82, "predicting the test split")
        pred = api.predict(result.model_id, workspace=ctx.workspace)  # type: ignore[attr-defined]
        out["predictions"] = f"{result.model_id}.{pred.split}"
        ctx.log(f"predictions {out['predictions']}: {pred.rows} rows")
        ctx.report(0.92, "projecting embeddings")
        out["output_id"] = views.project_predictions(
            ctx.workspace, out["predictions"], k=5, labels=None
        )
        ctx.log(f"projection {out['output_id']}")
    return out


def _train_outputs(result: Any, *, snapshot: Any) -> dict[str, Any]:
    model_id = getattr(result, "model_id", None) or _as_dict(result).get("model_id")
    if model_id is None:
        raise JobError("api.train returned no model_id")
    metrics: dict[str, float] = {}
    for family in ("gnn", "baseline"):
        scores = getattr(result, family, None)
        for split in ("val", "test"):
            for k, v in (getattr(scores, split, None) or {}).items():
                if isinstance(v, int | float):
                    metrics[f"{family}_{split}_{k}"] = float(v)
    pre = getattr(result, "pretraining", None)
    if pre is not None:
        # The same GNN from scratch, and what the trunk changed (pretrained − scratch).
        for split in ("val", "test"):
            for k, v in getattr(pre.scratch, split).items():
                metrics[f"scratch_{split}_{k}"] = float(v)
            for k, v in pre.delta[split].items():
                metrics[f"pretrain_delta_{split}_{k}"] = float(v)
    return {
        "snapshot": snapshot,
        "model": str(model_id),
        "metrics": metrics,
        "selected": getattr(result, "selected", None),
    }


def pretrain(ctx: Context, p: PretrainParams) -> dict[str, Any]:
    """A GNN trunk pretrained without labels (``api.pretrain``), for ``train`` jobs'
    ``from_pretrained``: ``budget`` (train with the same one), ``steps``, ``batch_size``,
    ``minutes``, ``until`` (the test cut-off, so that the trunk never sees test rows),
    ``tables``, ``seed``; a pipeline's on the snapshot of the job it needs."""
    fn = _need_api("pretrain", "pretrain")
    kwargs = p.to_dict()
    if ctx.surface == "pipeline":
        kwargs.setdefault("snapshot", _input(ctx, "snapshot"))
        result = fn(
            workspace=ctx.workspace, progress=stage_progress(ctx, PRETRAIN_STAGES), **kwargs
        )
        return {
            "snapshot": kwargs["snapshot"],
            "pretrained": str(result.pretrained_id),
            "metrics": {"loss_start": result.loss_start, "loss_end": result.loss_end},
        }
    ctx.log(f"pretraining ({kwargs.get('steps', 'default')} steps)")
    result = fn(
        workspace=ctx.workspace,
        progress=stage_progress(ctx, PRETRAIN_STAGES, 0.0, 0.98),
        **kwargs,
    )
    out = views.result_dict(result)
    out.pop("path", None)  # a server path: of no use to a client
    ctx.log(
        f"pretrained trunk {result.pretrained_id}: loss {result.loss_start:.4g} -> "
        f"{result.loss_end:.4g}"
    )
    return out


# -- predict -----------------------------------------------------------------------------------
def predict(ctx: Context, p: PredictParams) -> dict[str, Any]:
    """Predictions of a model (``model_id``; a pipeline's from the train job it needs):
    a pipeline writes ``predictions.parquet`` into its folder, a REST job the predictor's
    own file, listed as ``<model_id>.<split>``."""
    fn = _need_api("predict", "predict")
    if ctx.surface == "service":
        ctx.log(f"predicting the {p.split} split with model {p.model_id}")
        result = fn(p.model_id, workspace=ctx.workspace, split=p.split, model_kind=p.model_kind)
        out = views.result_dict(result)
        out["predictions"] = f"{p.model_id}.{result.split}"
        return out
    model_id = p.model_id or _input(ctx, "model")
    path, rel = ctx.file("predictions.parquet")  # type: ignore[attr-defined]
    # model_kind default: the candidate chosen on validation.
    result = fn(model_id, workspace=ctx.workspace, to=str(path), model_kind=p.model_kind)
    made: dict[str, Any] = {
        "model": model_id,
        "predictions": rel,
        "model_kind": getattr(result, "model_kind", None),
    }
    emb = getattr(result, "embeddings_path", None)
    if emb is not None and Path(emb).is_file():
        # GNN entity embeddings, when the model's predict makes them.
        epath, erel = ctx.file("embeddings.parquet")  # type: ignore[attr-defined]
        if Path(emb) != epath:
            Path(epath).write_bytes(Path(emb).read_bytes())
        made["embeddings"] = erel
    return made


# -- cluster, project --------------------------------------------------------------------------
def cluster(ctx: Context, p: ClusterParams) -> dict[str, Any]:
    """k-means over embeddings (``api.cluster``): a pipeline's of the jobs it needs, a REST
    job's of an embeddings output (``embeddings``: an ``embed`` job's, a pipeline's, or a
    trainer's ``<model_id>.<split>`` predictions); the latter registers the rows plus
    ``cluster_label`` and ``cluster_distance`` (with a 3-D view coloured by cluster)."""
    if ctx.surface == "service":
        return _cluster_service(ctx, p)
    path, rel = ctx.file("clusters.parquet")  # type: ignore[attr-defined]
    table = api.cluster(ctx.workspace / _input(ctx, "embeddings"), k=p.k, seed=p.seed)
    _write_parquet(table, path)
    return {"embeddings": _input(ctx, "embeddings"), "clusters": rel, "k": p.k}


def _cluster_service(ctx: Context, p: ClusterParams) -> dict[str, Any]:
    import tempfile

    import pyarrow.parquet as pq

    src_id = str(p.embeddings)
    src = outputs.find_output(ctx.workspace, src_id, "embeddings")
    assert src.data is not None  # checked: projection-only outputs are refused
    ctx.report(0.1, "reading")
    tbl = pq.read_table(src.data)
    if "embedding" not in tbl.column_names and "EMBEDDING" in tbl.column_names:
        # A trainer's predictions file names its vectors in capitals.
        tbl = tbl.rename_columns(["embedding" if c == "EMBEDDING" else c for c in tbl.column_names])
    if "embedding" not in tbl.column_names:
        raise JobParameterError(
            f"job parameter 'embeddings': output '{src_id}' has no embedding vectors "
            f"(columns {tbl.column_names[:8]}); cluster the output of an 'embed' job"
        )
    with tempfile.TemporaryDirectory(prefix="rg-cluster-") as tmp:
        # api.cluster reads an embeddings file: ENTITY and embedding only.
        f = Path(tmp) / "embeddings.parquet"
        pq.write_table(tbl.select(["ENTITY", "embedding"]), f)
        ctx.report(0.3, f"k-means, k={p.k}")
        clusters = api.cluster(f, k=p.k, seed=p.seed)
    labels = clusters.column("cluster_label").to_pylist()
    made = tbl.append_column("cluster_label", clusters.column("cluster_label"))
    made = made.append_column("cluster_distance", clusters.column("cluster_distance"))
    ctx.report(0.8, "storing")
    proj = views.projection(tbl.column("ENTITY").to_pylist(), views.embedding_matrix(tbl), labels)
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
        "k": p.k,
        "seed": p.seed,
        "sizes": sizes,
        "table": src.meta.get("table") or views.entity_table(ctx.workspace, src_id),
    }
    oid = outputs.register_output(ctx.workspace, "embeddings", made, meta, projection=proj)
    ctx.log(f"clusters {oid}: {made.num_rows} rows, sizes {sizes}")
    return {"output_id": oid, "source": src_id, "k": p.k, "seed": p.seed, "sizes": sizes}


def project(ctx: Context, p: ProjectParams) -> dict[str, Any]:
    """3-D coordinates. A pipeline job: PCA/UMAP (``methods``) of the embeddings of the
    jobs it needs, with their cluster labels when one made clusters. A REST job: PCA +
    k-means (``k``) of a predictions output's embeddings (``predictions``: ``<model>.test``,
    coloured by cluster, prediction and, with ``labels`` (a label set), label) or of a
    table's standardised numerical and one-hot categorical columns (``table``)."""
    if ctx.surface == "service":
        return _project_service(ctx, p)
    path, rel = ctx.file("projection.parquet")  # type: ignore[attr-defined]
    methods = list(p.methods) if p.methods is not None else ["pca", "umap"]
    table = api.project(ctx.workspace / _input(ctx, "embeddings"), methods=methods, seed=p.seed)
    clusters = _maybe_input(ctx, "clusters")
    if clusters is not None:
        # The dashboard colours points by cluster: carry the labels along.
        import pyarrow.parquet as pq

        labels = pq.read_table(ctx.workspace / clusters, columns=["ENTITY", "cluster_label"])
        if labels["ENTITY"].equals(table["ENTITY"]):
            table = table.append_column("cluster_label", labels["cluster_label"])
    _write_parquet(table, path)
    return {"embeddings": _input(ctx, "embeddings"), "projection": rel}


def _project_service(ctx: Context, p: ProjectParams) -> dict[str, Any]:
    import json

    from sklearn.cluster import KMeans

    workspace, k = ctx.workspace, p.k
    ctx.report(0.1, "reading")
    if p.predictions is not None:
        oid = views.project_predictions(workspace, p.predictions, k=k, labels=p.labels)
        ctx.log(f"projection {oid}")
        return {"output_id": oid}
    if p.table is None:
        raise JobParameterError("job parameter 'table' is required (or 'predictions')")
    table = p.table
    snap = api.snapshot(p.snapshot, workspace=workspace)
    tbl = snap.read_table(table).slice(0, views.MAX_PROJECTION_ROWS)
    x = views.features(snap.schema.tables[table], tbl)
    pk = snap.schema.tables[table].primary_key
    entity = tbl.column(pk) if pk else pa.array(range(tbl.num_rows))
    if x.shape[0] < 2 or x.shape[1] == 0:
        raise JobError(
            f"nothing to project for '{table}': {x.shape[0]} rows, {x.shape[1]} features"
        )
    ctx.report(0.4, "projecting")
    coords = views.pca3(x)
    ctx.report(0.7, "clustering")
    k = min(k, x.shape[0])
    clusters = KMeans(n_clusters=k, n_init=1, random_state=0).fit_predict(x)
    rows = [
        json.dumps({c: views.short(v) for c, v in list(r.items())[:8]}, default=str)
        for r in tbl.to_pylist()
    ]
    cols: dict[str, Any] = {
        "ENTITY": pa.array([str(e) for e in entity.to_pylist()]),
        "x": coords[:, 0],
        "y": coords[:, 1],
        "z": coords[:, 2],
        "cluster": pa.array([f"cluster_{c}" for c in clusters]),
    }
    label_of = views.label_map(workspace, p.labels)
    if label_of:
        cols["label"] = pa.array(
            [None if (v := label_of.get(str(e))) is None else str(v) for e in entity.to_pylist()]
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


# -- label-stats, python -----------------------------------------------------------------------
def label_stats(ctx: Context, p: LabelStatsParams) -> dict[str, Any]:
    """Compile a query and count its training labels per split (the query editor's numbers)."""
    ctx.report(0.1, "compiling")
    tables = api.training_tables(  # type: ignore[attr-defined]
        p.query,
        workspace=ctx.workspace,
        snapshot=p.snapshot,
        val_cutoff=p.val_cutoff,
        test_cutoff=p.test_cutoff,
    )
    ctx.report(0.8, "counting labels")
    out: dict[str, Any] = {"task": views.task_dict(tables.task), "splits": {}}
    for split in ("train", "val"):
        out["splits"][split] = views.target_stats(getattr(tables, split).table)
    out["splits"]["test"] = views.target_stats(tables.test_labels())
    for k in ("val_cutoff", "test_cutoff"):
        out[k] = str(getattr(tables, k, None))
    return out


def python(ctx: Context, p: PythonParams) -> dict[str, Any]:
    """A user step: ``function: package.module:callable``, called with the context (its
    ``params`` hold every key of the job, ``function`` included)."""
    target = p.function
    mod_name, _, attr = target.partition(":")
    if not mod_name or not attr:
        raise JobError(
            f"job '{_name(ctx)}: 'function:' must look like 'package.module:callable', "
            f"got '{target}'"
        )
    try:
        fn = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise JobError(f"job '{_name(ctx)}: cannot import '{target}': {e}") from e
    out = fn(ctx)
    if not isinstance(out, dict):
        raise JobError(
            f"job '{_name(ctx)}: '{target}' must return a dict of outputs, got {type(out).__name__}"
        )
    return out


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


# -- fingerprints of what a job reads besides its upstream outputs -------------------------------
def path_fingerprint(p: str | Path, *, only: tuple[str, ...] | None = None) -> str | None:
    """sha256 of a file's bytes, or of a folder's files (names and bytes); None when absent.

    ``only``: in a folder, hash just the files whose names end so (what a reader reads).
    """
    path = Path(p)
    h = hashlib.sha256()
    if path.is_file():
        files = [path]
        root = path.parent
    elif path.is_dir():
        files = sorted(
            f
            for f in path.rglob("*")
            if f.is_file()
            and not f.name.startswith(".")
            and (only is None or f.name.lower().endswith(only))
        )
        root = path
    else:
        return None
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def source_fingerprint(uri: str) -> str | None:
    """A content hash for local sources; ``None`` (always re-read) for remote ones."""
    if uri.startswith("sqlite:///"):
        return path_fingerprint(uri[len("sqlite:///") :])
    if "://" in uri:
        return None
    # A folder source reads its data files and schema.yaml, not a pipeline spec or a README
    # lying beside them.
    from relgraph.sources.files import OVERRIDES_NAMES, SUPPORTED

    return path_fingerprint(uri, only=(*SUPPORTED, *OVERRIDES_NAMES))


def extra_fingerprint(
    job_type: str, params: Mapping[str, Any], paths: Sequence[str] = ()
) -> dict[str, Any]:
    """What a job reads outside the pipeline (source bytes, a schema file, user code, and
    the files its kind's ``paths`` parameters name)."""
    out: dict[str, Any] = {}
    for key in paths:
        value = params.get(key)
        for p in [value] if isinstance(value, str) else list(value or ()):
            out.setdefault("files", {})[str(p)] = path_fingerprint(str(p))
    if "uri" in params:
        fp = source_fingerprint(str(params["uri"]))
        # An unhashable source (a database URL) is re-read every run; ingest is
        # content-addressed, so its dependents still skip when the data did not change.
        out["source"] = fp if fp is not None else {"volatile": _nonce()}
    if params.get("schema"):
        out["schema"] = path_fingerprint(str(params["schema"]))
    if job_type == "python" and params.get("function"):
        mod = str(params["function"]).partition(":")[0]
        try:
            spec = importlib.util.find_spec(mod)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            out["code"] = path_fingerprint(spec.origin)
    return out


def _nonce() -> str:
    import uuid

    return uuid.uuid4().hex


def hash_inputs(
    job_type: str, params: Mapping[str, Any], inputs: dict[str, Any], workspace: Path
) -> dict[str, Any]:
    """The part of a job's upstream outputs that its result depends on.

    A text ``embed`` reads one table of the snapshot: it depends on that table's
    bytes and schema, not on the snapshot id, so new rows elsewhere do not redo it.
    """
    table = params.get("table")
    if job_type != "embed" or gnn_embed(params) or not isinstance(table, str):
        return inputs
    from relgraph.store.workspace import Workspace

    narrowed: dict[str, Any] = {}
    for name, made in inputs.items():
        snap_id = made.get("snapshot") if isinstance(made, dict) else None
        if not isinstance(snap_id, str):
            narrowed[name] = made
            continue
        try:
            m = Workspace(workspace).snapshot(snap_id).manifest
        except Exception:  # a missing snapshot: fall back to its id
            narrowed[name] = made
            continue
        if table not in m.table_hashes:
            narrowed[name] = made
            continue
        rest = {k: v for k, v in made.items() if k not in ("snapshot", "created", "warnings")}
        narrowed[name] = rest | {
            "table": table,
            "table_hash": m.table_hashes[table],
            "table_schema": m.schema[table].to_dict(),
        }
    return narrowed


# -- workspace upkeep and hand-offs (pipelines only: they write where the job says) --------
def gc(ctx: Context, p: GcParams) -> dict[str, Any]:
    """Unreferenced data of the workspace: planned, or deleted with ``delete: true``."""
    ctx.report(0.1, "deleting" if p.delete else "planning")
    res = api.collect_garbage(workspace=ctx.workspace, keep_last=p.keep_last, delete=p.delete)
    return dict(res)


def export_window(ctx: Context, p: ExportWindowParams) -> dict[str, Any]:
    """The last ``days`` days of predictions in one file of the job's folder."""
    path, rel = ctx.file(p.file)  # type: ignore[attr-defined]
    res = api.export_window(p.days, path, workspace=ctx.workspace, model=p.model)
    return {"window": rel, **{k: v for k, v in res.items() if k != "destination"}}


def export(ctx: Context, p: ExportParams) -> dict[str, Any]:
    """A self-contained serving bundle of the model, in the job's folder."""
    model_id = p.model_id or _input(ctx, "model")
    path, rel = ctx.file("bundle")  # type: ignore[attr-defined]
    ctx.report(0.1, "writing the bundle")
    api.export_model(model_id, to=path, workspace=ctx.workspace, model_kind=p.model_kind)
    return {"model": model_id, "bundle": rel}


# -- explanations and drift (relgraph.explain through api) --------------------------------
def explain(ctx: Context, p: ExplainParams) -> dict[str, Any]:
    """Ranked inputs, edge types and cohorts of a model, and one entity's view when asked."""
    model_id = p.model_id or _input(ctx, "model")
    ctx.report(0.1, "explaining")
    res = api.explain(
        model_id, workspace=ctx.workspace, entity=p.entity, model_kind=p.model_kind, at=p.at,
        sample=p.sample, top=p.top, snapshot=p.snapshot, seed=p.seed,
    )  # fmt: skip
    return {"model": model_id, "explanation": res.to_dict()}


def drift(ctx: Context, p: DriftParams) -> dict[str, Any]:
    """What changed between two snapshots, for the labels, the columns and a model's scores."""
    new = p.new_snapshot or _maybe_input(ctx, "snapshot")
    ctx.report(0.1, "comparing snapshots")
    res = api.drift(
        new, workspace=ctx.workspace, old_snapshot=p.old_snapshot, model=p.model, query=p.query
    )
    return {"drift": res.to_dict()}


# -- column documentation (relgraph.document through api) ----------------------------------
def document(ctx: Context, p: DocumentParams) -> dict[str, Any]:
    """Top-2 business terms for every unmapped column, and the held-out scores."""
    snapshots = p.snapshots or [s for s in [_maybe_input(ctx, "snapshot")] if s]
    path, rel = ctx.file("suggestions.parquet")  # type: ignore[attr-defined]
    ctx.report(0.1, "profiling columns")
    res = api.document(
        p.mapping, snapshots=snapshots or None, workspace=ctx.workspace, glossary=p.glossary,
        lineage_files=p.lineage_files, sql_scripts=p.sql_scripts, sql_dialect=p.sql_dialect,
        view_sources=p.view_sources, out=path, holdout_databases=p.holdout_databases,
        embed_names=p.embed_names, epochs=p.epochs, seed=p.seed,
    )  # fmt: skip
    # 'suggestions' is the file (what downstream jobs read); the count moves to 'suggested'.
    rest = {k: v for k, v in res.items() if k not in ("output", "suggestions")}
    return {**rest, "suggested": res.get("suggestions"), "suggestions": rel}
