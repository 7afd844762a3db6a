"""The one Python facade that the CLI, the REST service and the SDK all call.

Example:
    >>> import relgraph.api as rg
    >>> result = rg.ingest("examples/f1", workspace="/tmp/rg-doctest")  # doctest: +SKIP
    >>> result.snapshot.schema["results"].primary_key  # doctest: +SKIP
    'resultId'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relgraph.schema.derive import derive_time_columns
from relgraph.schema.entities import derive_entities
from relgraph.schema.infer import infer_schema
from relgraph.schema.names import check_names
from relgraph.schema.overrides import apply_overrides, load_overrides
from relgraph.schema.types import Schema
from relgraph.schema.validate import Finding, ValidationReport, validate
from relgraph.sources import ProgressFn, SourceTables, open_source, redact
from relgraph.sources.base import is_relgraph_output
from relgraph.store.diff import SnapshotDiff
from relgraph.store.diff import diff_snapshots as diff
from relgraph.store.snapshot import Snapshot
from relgraph.store.workspace import DEFAULT_WORKSPACE, Workspace


@dataclass(frozen=True)
class InferResult:
    source: SourceTables
    schema: Schema
    report: ValidationReport


@dataclass(frozen=True)
class IngestResult:
    snapshot: Snapshot
    created: bool
    report: ValidationReport

    def to_dict(self) -> dict[str, Any]:
        return snapshot_summary(self.snapshot) | {
            "created": self.created,
            "validation": self.report.to_dict(),
        }


def read_and_infer(
    source: str,
    *,
    schema_file: str | Path | None = None,
    s3_endpoint: str | None = None,
    progress: ProgressFn | None = None,
) -> InferResult:
    """Read a source, infer its schema, apply overrides and validate (stores nothing)."""
    src = open_source(source, s3_endpoint=s3_endpoint).read(progress)
    # Names are checked before anything puts them into SQL or the store.
    check_names(src.tables, source=redact(src.uri))
    # Predictions relgraph wrote into this database are its output, not new data.
    outputs = sorted(n for n, t in src.tables.items() if is_relgraph_output(t))
    if outputs:
        kept = {n: t for n, t in src.tables.items() if n not in outputs}
        src = SourceTables(
            uri=src.uri, tables=kept, declared=src.declared, overrides_file=src.overrides_file
        )
    # A schema.yaml shipped inside the source folder applies first, then the user's file.
    # The same file named twice (a pipeline's `schema:` pointing at the folder's own
    # schema.yaml) applies once: a second pass would find its dropped columns gone.
    paths = dict.fromkeys(Path(p).resolve() for p in (src.overrides_file, schema_file) if p)
    files = [(str(p), load_overrides(p)) for p in paths]
    # Entities named in a file become tables before inference, which then links them.
    for origin, doc in files:
        if doc.get("entities"):
            derived = derive_entities(src.tables, doc["entities"], origin=origin)
            src = SourceTables(
                uri=src.uri,
                tables=derived,
                declared=src.declared,
                overrides_file=src.overrides_file,
            )
    if progress is not None:
        progress("inferring keys, links and times", 0, 0)
    schema = infer_schema(src.tables, src.declared)
    for origin, doc in files:
        schema = apply_overrides(schema, doc, origin=origin, data=src.tables)
    # The snapshot holds what the schema names: tables left out and columns dropped go.
    tables = {
        n: t.select([c for c in t.column_names if schema[n].has_column(c)])
        for n, t in src.tables.items()
        if n in schema.tables
    }
    src = SourceTables(uri=src.uri, tables=tables, declared=src.declared)
    if progress is not None:
        progress("validating", 0, 0)
    report = validate(tables, schema)
    report.findings += [
        Finding(
            "info",
            "skipped_table",
            n,
            "",
            f"table '{n}' holds relgraph predictions (ENTITY, MODEL_ID, SNAPSHOT_ID): "
            "left out of the snapshot",
        )
        for n in outputs
    ]
    return InferResult(source=src, schema=schema, report=report)


def ingest(
    source: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    schema_file: str | Path | None = None,
    s3_endpoint: str | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
) -> IngestResult:
    """Read ``source`` and store it as an immutable snapshot in ``workspace``.

    Raises :class:`~relgraph.errors.DataValidationError` when the data cannot be
    used (and, with ``strict``, on any warning too); nothing is written then.
    """
    inferred = read_and_infer(
        source, schema_file=schema_file, s3_endpoint=s3_endpoint, progress=progress
    )
    report = inferred.report
    if strict and report.warnings:
        report = ValidationReport(
            [f.__class__(**{**f.__dict__, "severity": "error"}) for f in report.findings]
        )
    report.raise_for_errors()
    if progress is not None:
        progress("writing the snapshot", 0, 0)
    tables = derive_time_columns(inferred.source.tables, inferred.schema)
    result = Workspace(workspace).write_snapshot(
        tables, inferred.schema, source=redact(inferred.source.uri), validation=report.to_dict()
    )
    return IngestResult(snapshot=result.snapshot, created=result.created, report=report)


def snapshots(workspace: str | Path = DEFAULT_WORKSPACE) -> list[Snapshot]:
    return Workspace(workspace).snapshots()


def snapshot(
    snapshot_id: str | None = None, *, workspace: str | Path = DEFAULT_WORKSPACE
) -> Snapshot:
    return Workspace(workspace).snapshot(snapshot_id)


def tag_snapshot(
    snapshot_id: str, name: str, *, workspace: str | Path = DEFAULT_WORKSPACE
) -> Snapshot:
    """Name a snapshot; the name then works wherever a snapshot id does."""
    return Workspace(workspace).tag(snapshot_id, name)


def untag_snapshot(name: str, *, workspace: str | Path = DEFAULT_WORKSPACE) -> None:
    Workspace(workspace).untag(name)


def snapshot_tags(workspace: str | Path = DEFAULT_WORKSPACE) -> dict[str, str]:
    """Tag name -> snapshot id."""
    return Workspace(workspace).tags()


def diff_snapshots(
    before: str, after: str | None = None, *, workspace: str | Path = DEFAULT_WORKSPACE
) -> SnapshotDiff:
    """Tables, rows and schema that changed from ``before`` to ``after`` (default: latest)."""
    ws = Workspace(workspace)
    return diff(ws.snapshot(before), ws.snapshot(after))


def collect_garbage(
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    keep_last: int | None = None,
    delete: bool = False,
) -> dict[str, Any]:
    """Unreferenced data of a workspace (see :mod:`relgraph.store.gc`); deleted only with
    ``delete=True``, otherwise a dry run that says what would go and the bytes freed."""
    from relgraph.store import gc

    ws = Workspace(workspace)
    plan = gc.plan_gc(ws, keep_last=keep_last)
    result = gc.run_gc(ws, plan) if delete else plan
    return result.to_dict() | {"deleted": delete}


def export_window(
    days: float,
    to: str | Path,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    model: str | None = None,
) -> dict[str, Any]:
    """The last ``days`` days of stored predictions (by ``ANCHOR_TIMESTAMP``) in one file."""
    from relgraph.predict.window import export_window as export

    return export(workspace, days, to, model=model).to_dict()


def snapshot_summary(snap: Snapshot) -> dict[str, Any]:
    """A JSON-ready description of a snapshot: tables, keys, links, times."""
    m = snap.manifest
    return {
        "snapshot_id": m.id,
        "parent": m.parent,
        "source": m.source,
        "created": m.created,
        # How each table is stored (full / shared / delta) and why a delta was not used.
        "storage": m.storage,
        "storage_notes": m.notes,
        "tables": {
            name: {
                "rows": m.row_counts.get(name, 0),
                "primary_key": t.primary_key,
                "time_column": t.time_column,
                "time": t.time_spec.to_dict()
                if t.time_spec
                else ({"kind": "column", "date_column": t.time_column} if t.time_column else None),
                "foreign_keys": {fk.column: fk.target for fk in t.foreign_keys},
                "columns": {c.name: c.stype.value for c in t.columns},
            }
            for name, t in m.schema.tables.items()
        },
        "links": [str(link) for link in m.schema.links],
    }


# --- query ---
# Predictive queries: PQL text → Task → train/val/test tables (relgraph.query).
from relgraph.query import Task, TaskTables  # noqa: E402
from relgraph.query.table import build_task_tables, compile_on_snapshot  # noqa: E402


def _query_snapshot(workspace: str | Path, snapshot: str | Snapshot | None) -> Snapshot:
    if isinstance(snapshot, Snapshot):
        return snapshot
    return Workspace(workspace).snapshot(snapshot)


def compile_query(
    text: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | Snapshot | None = None,
) -> Task:
    """Parse and validate a predictive query against a snapshot; infer its task.

    Raises:
        QueryError: with the line and column of the offending token.
    """
    return compile_on_snapshot(_query_snapshot(workspace, snapshot), text)


def training_tables(
    task_or_text: Task | str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | Snapshot | None = None,
    val_cutoff: Any = None,
    test_cutoff: Any = None,
) -> TaskTables:
    """Train/val/test tables of a query (test labels only via ``test_labels()``).

    ``val_cutoff``/``test_cutoff``: datetimes or ISO strings; default from the
    data's time range (≈ 80/10/10 of the target table's rows).
    """
    snap = _query_snapshot(workspace, snapshot)
    return build_task_tables(snap, task_or_text, val_cutoff=val_cutoff, test_cutoff=test_cutoff)


# --- train ---
def train(
    query_text: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | None = None,
    budget: str = "normal",
    trials: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    val_cutoff: str | None = None,
    test_cutoff: str | None = None,
    gnn: bool = True,
    baseline: bool = True,
    progress: Any = None,
    from_pretrained: str | None = None,
    protocol: str = "rolling",
    exclude_seen: str = "auto",
    warm_start: str | None = None,
) -> Any:
    """Train a GNN (searched within ``budget``) and the LightGBM baseline for a query.

    Trivial baselines are scored beside them; the best candidate on validation under
    ``protocol`` (``frozen``: RelBench's, or ``rolling``) is what :func:`predict` uses.

    Returns a :class:`relgraph.train.TrainResult`; the model is stored under
    ``workspace/models/<model_id>/``. ``from_pretrained``: a trunk id from
    :func:`pretrain` to start the GNN from; the result's ``pretraining`` then holds
    the same run from scratch and the difference. ``exclude_seen`` (link tasks:
    ``auto``, ``always``, ``never``) leaves the items an entity already has out of its
    rankings. ``warm_start``: a stored model of
    the same query (e.g. trained on an older snapshot) whose GNN this one continues.
    """
    from relgraph.train import Budget, train_task

    snap = Workspace(workspace).snapshot(snapshot)
    return train_task(
        snap,
        query_text,
        workspace=workspace,
        budget=Budget.preset(budget, trials=trials, minutes=minutes),
        seed=seed,
        val_cutoff=val_cutoff,
        test_cutoff=test_cutoff,
        gnn=gnn,
        baseline=baseline,
        progress=progress,
        from_pretrained=from_pretrained,
        protocol=protocol,
        exclude_seen=exclude_seen,
        warm_start=warm_start,
    )


def audit(
    query_text: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | None = None,
    val_cutoff: str | None = None,
    test_cutoff: str | None = None,
    model: str | None = None,
    sample: int = 40,
) -> Any:
    """Leakage audit of a query; returns a :class:`relgraph.audit.report.AuditReport`.

    With ``model``, also whether that stored model beats the trivial baselines on test.
    """
    from relgraph.audit.report import audit_query

    snap = Workspace(workspace).snapshot(snapshot)
    return audit_query(
        snap, query_text, val_cutoff=val_cutoff, test_cutoff=test_cutoff, sample=sample,
        workspace=workspace, model_id=model,
    )  # fmt: skip


def predict(
    model_id: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    to: str | None = None,
    split: str = "test",
    snapshot: str | None = None,
    model_kind: str | None = None,
) -> Any:
    """Predict with a stored model ("test" split or "now"); Parquet in the workspace or ``to``.

    ``model_kind``: ``gnn``, ``lightgbm``, ``ensemble`` or ``trivial:<name>``; by default
    the candidate chosen on validation at training. Returns a
    :class:`relgraph.predict.PredictResult` (its ``model_kind`` says which predicted).
    """
    from relgraph.predict import predict_model

    return predict_model(
        model_id, workspace=workspace, split=split, to=to, snapshot_id=snapshot,
        model_kind=model_kind,
    )  # fmt: skip


def models(workspace: str | Path = DEFAULT_WORKSPACE) -> list[dict[str, Any]]:
    """Stored models, newest first, with their query and test metrics."""
    import json

    out = []
    for p in sorted((Path(workspace) / "models").glob("*/model.json")):
        meta = json.loads(p.read_text())
        out.append(
            {
                k: meta.get(k)
                for k in (
                    "model_id",
                    "query",
                    "metric",
                    "gnn",
                    "lightgbm",
                    "selected",
                    "protocol",
                    "created",
                    "snapshot_id",
                )
            }
        )
    return sorted(out, key=lambda m: str(m.get("created")), reverse=True)


DEMO_QUERY = """PREDICT MIN(qualifying.position, 0, 30, days) <= 3
FOR EACH drivers.driverId
ASSUMING COUNT(qualifying.*, 0, 30, days) > 0"""


def demo(
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    budget: str = "fast",
    seed: int = 0,
    progress: Any = None,
) -> tuple[Any, Any]:
    """Ingest the bundled F1 example, train driver-top3 on RelBench's splits, predict.

    Returns ``(TrainResult, PredictResult)``.
    """
    from relgraph.errors import SourceError

    example = Path(__file__).resolve().parent.parent / "examples" / "f1"
    if not example.is_dir():
        raise SourceError(f"the F1 example is not at '{example}'; run from a relgraph checkout")
    snap = ingest(str(example), workspace=workspace).snapshot
    result = train(
        DEMO_QUERY,
        workspace=workspace,
        snapshot=snap.id,
        budget=budget,
        seed=seed,
        val_cutoff="2005-01-01",
        test_cutoff="2010-01-01",
        progress=progress,
    )
    return result, predict(result.model_id, workspace=workspace)


# --- analyses ---
# What the jobs of a pipeline run (relgraph.analyze). Pipelines themselves are
# relgraph.jobs (run_pipeline, list_jobs, show_job, cancel_job, retry_job): the job layer
# calls this facade, never the other way round (docs/architecture.md).


def ingest_labels(
    source: str,
    *,
    table: str,
    key: str | None = None,
    label_table: str | None = None,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | None = None,
    to: str | Path,
    unknown_to: str | Path | None = None,
) -> Any:
    """Join labels from ``source`` to ``table`` by key; unknown keys are counted and kept aside."""
    from relgraph.analyze.labels import join_labels

    src = open_source(source).read()
    return join_labels(
        src.tables,
        Workspace(workspace).snapshot(snapshot),
        table=table,
        key=key,
        label_table=label_table,
        to=Path(to),
        unknown_to=Path(unknown_to) if unknown_to else None,
    )


def embed_text(
    table: str,
    *,
    columns: list[str] | None = None,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | None = None,
    to: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> Any:
    """Embed each row's text columns with the packaged sentence model; a pyarrow Table
    (``ENTITY``, ``embedding``), also written to ``to`` as Parquet when given."""
    import pyarrow.parquet as pq

    from relgraph.analyze.text import embed_table

    out = embed_table(
        Workspace(workspace).snapshot(snapshot), table, columns=columns, progress=progress
    )
    if to is not None:
        pq.write_table(out, str(to))
    return out


def cluster(embeddings: str | Path, *, k: int, seed: int = 0) -> Any:
    """k-means on an embeddings Parquet file: ``ENTITY``, ``cluster_label`` (cluster_0…)."""
    from relgraph.analyze import cluster_embeddings, load_embeddings

    return cluster_embeddings(load_embeddings(embeddings), k=k, seed=seed)


def project(embeddings: str | Path, *, methods: list[str] | None = None, seed: int = 0) -> Any:
    """3-D PCA and UMAP coordinates of an embeddings Parquet file."""
    from relgraph.analyze import load_embeddings, project_embeddings
    from relgraph.analyze.project import METHODS

    return project_embeddings(
        load_embeddings(embeddings), methods=methods or list(METHODS), seed=seed
    )


# GNN trunks pretrained without labels (relgraph.train.pretrain) and GNN entity
# embeddings from trained models (relgraph.predict.run): the pretrain and embed jobs.
def pretrain(
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    snapshot: str | None = None,
    budget: str = "fast",
    steps: int = 300,
    batch_size: int = 64,
    minutes: float = 5.0,
    until: str | None = None,
    tables: list[str] | None = None,
    seed: int = 0,
    progress: Any = None,
) -> Any:
    """Pretrain a GNN trunk on a snapshot by masked-feature reconstruction (no labels).

    ``budget`` picks the architecture (the same presets as :func:`train`; train with
    the same one); ``until``: no row after this date is seen (use the test cut-off).
    Returns a :class:`relgraph.train.pretrain.PretrainResult`; the trunk is stored
    under ``workspace/pretrained/<id>/`` for ``train(..., from_pretrained=id)``.
    """
    from relgraph.train import Budget
    from relgraph.train.pretrain import PretrainConfig, pretrain_trunk

    snap = Workspace(workspace).snapshot(snapshot)
    config = PretrainConfig(
        model=Budget.preset(budget).base,
        steps=int(steps),
        batch_size=int(batch_size),
        minutes=float(minutes),
        until=until,
        tables=tuple(tables or ()),
        seed=int(seed),
    )
    return pretrain_trunk(snap, workspace=workspace, config=config, progress=progress)


def embed_entities(
    model_id: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    table: str | None = None,
    at: str | None = None,
    to: str | Path | None = None,
    snapshot: str | None = None,
) -> Any:
    """GNN embeddings of every row of an entity table from a trained model, to Parquet.

    ``at``: "now" (default), "test" (the model's test cut-off) or an ISO date.
    Returns a :class:`relgraph.predict.EmbedResult` (``ENTITY``, ``ANCHOR_TIMESTAMP``,
    ``embedding``, ``MODEL_ID``, ``SNAPSHOT_ID``), readable by :func:`cluster`.
    """
    from relgraph.predict import embed_entities as _embed

    return _embed(model_id, workspace=workspace, table=table, at=at, to=to, snapshot_id=snapshot)


def online_cache(
    workspace: str | Path = DEFAULT_WORKSPACE,
    *,
    bundle: bool = False,
    snapshot_dir: str | Path | None = None,
    max_keys: int | None = None,
) -> Any:
    """Warm online predictors of a workspace, or of a bundle folder (``bundle=True``).

    Returns a :class:`relgraph.predict.online.OnlineCache`; keep it for the life of
    the server and pass it to :func:`predict_online`. ``snapshot_dir`` (bundles only):
    serve another snapshot folder, refused when its schema is not the bundle's.
    """
    from relgraph.predict.bundle import BundleCache
    from relgraph.predict.online import MAX_KEYS, OnlineCache

    limit = max_keys or MAX_KEYS
    if bundle:
        return BundleCache(workspace, snapshot_dir=snapshot_dir, max_keys=limit)
    return OnlineCache(workspace, max_keys=limit)


def predict_online(
    model_id: str,
    keys: list[Any],
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    at: str | None = None,
    embedding: bool = False,
    model_kind: str | None = None,
    snapshot: str | None = None,
    cache: Any = None,
) -> Any:
    """Predictions for a few entity keys now (or ``at``), by batch prediction's code.

    Returns a :class:`relgraph.predict.online.OnlineResult` (``to_dict()`` for JSON):
    one result per key, in order, with a per-key ``error`` for unknown keys.
    ``snapshot``: None (the model's snapshot) or ``"latest"`` (the workspace's newest,
    when its schema is the model's). ``cache``: an :func:`online_cache` to reuse.
    """
    c = cache if cache is not None else online_cache(workspace)
    pred = c.get(model_id, model_kind=model_kind, snapshot=snapshot)
    return pred.predict(list(keys), at=at, embedding=embedding)


def export_model(
    model_id: str,
    *,
    to: str | Path,
    workspace: str | Path = DEFAULT_WORKSPACE,
    model_kind: str | None = None,
) -> Any:
    """Write a self-contained serving bundle (:mod:`relgraph.predict.bundle`) to ``to``."""
    from relgraph.predict.bundle import export_bundle

    return export_bundle(model_id, workspace=workspace, to=to, model_kind=model_kind)


def explain(
    model_id: str,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    entity: Any = None,
    model_kind: str | None = None,
    at: str = "test",
    sample: int = 64,
    top: int = 10,
    snapshot: str | None = None,
    seed: int = 0,
) -> Any:
    """Why a stored model predicts what it does; returns a :class:`relgraph.explain.Explanation`.

    Global: inputs (table columns, LightGBM's aggregates, the GNN's edge types) ranked
    by their attributions over a seeded ``sample`` of the rows at ``at`` (``test``,
    ``now`` or an ISO date), and cohorts of the top inputs. With ``entity`` (a key of
    the entity table), also the local view of its prediction: its columns' and its
    sampled neighbours' contributions. ``model_kind``: ``gnn`` or ``lightgbm``
    (default: the candidate chosen at training when it is one of them).
    """
    from relgraph.explain import explain_model

    return explain_model(
        model_id, workspace=workspace, entity=entity, model_kind=model_kind, at=at,
        sample=sample, top=top, snapshot_id=snapshot, seed=seed,
    )  # fmt: skip


def drift(
    new_snapshot: str | None = None,
    *,
    workspace: str | Path = DEFAULT_WORKSPACE,
    old_snapshot: str | None = None,
    model: str | None = None,
    query: str | None = None,
) -> Any:
    """Drift between two snapshots: label rate, per-column PSI, and a model's scores.

    ``old_snapshot`` defaults to ``model``'s training snapshot, ``new_snapshot`` to the
    latest. Returns a :class:`relgraph.explain.drift.DriftReport`.
    """
    from relgraph.explain.drift import drift_report

    return drift_report(
        workspace, new_snapshot, old_snapshot=old_snapshot, model_id=model, query=query
    )


def document(
    mapping: str | Path,
    *,
    snapshots: list[str] | None = None,
    workspace: str | Path = DEFAULT_WORKSPACE,
    glossary: str | Path | None = None,
    lineage_files: list[str] | None = None,
    sql_scripts: list[str] | None = None,
    sql_dialect: str | None = None,
    view_sources: list[str] | None = None,
    out: str | Path | None = None,
    holdout_databases: list[str] | None = None,
    embed_names: bool = False,
    epochs: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Suggest business terms (top-2, with evidence) for every unmapped column; JSON-able result.

    See :mod:`relgraph.document`: the columns of ``snapshots`` (default: the latest)
    form one graph with same-table, foreign-key and lineage edges; a GraphSAGE learns
    from the columns ``mapping`` names (``column,term`` CSV, columns as
    ``database.table.column``) and writes suggestions for the others to ``out``.
    """
    from relgraph.document.job import DocumentParams, run_document

    params = DocumentParams(
        mapping=str(mapping),
        snapshots=tuple(snapshots or ()),
        glossary=str(glossary) if glossary else None,
        lineage_files=tuple(lineage_files or ()),
        sql_scripts=tuple(sql_scripts or ()),
        sql_dialect=sql_dialect,
        view_sources=tuple(view_sources or ()),
        out=str(out) if out else None,
        holdout_databases=tuple(holdout_databases or ()),
        embed_names=embed_names,
        epochs=epochs,
        seed=seed,
    )
    return run_document(params, workspace=workspace)
