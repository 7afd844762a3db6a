"""What each job type does: a thin adapter from a job's params and inputs to :mod:`relgraph.api`.

A job function receives a :class:`JobContext` and returns its outputs, a JSON
dict whose values name what it made (a snapshot id, a model id, a file under
the workspace). Files go into ``ctx.out_dir``, a staging folder that becomes
the job's output folder in one rename when the job succeeds.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from relgraph import api
from relgraph.errors import JobError
from relgraph.jobs.progress import PRETRAIN_STAGES, TRAIN_STAGES, StagedProgress, Stages

log = logging.getLogger("relgraph.jobs")

ProgressFn = Callable[[str, int, int], None]
# (fraction of the whole job done, what it is doing); the worker never lets it go back.
ReportFn = Callable[[float, str], None]
JobFn = Callable[["JobContext"], dict[str, Any]]


@dataclass
class JobContext:
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

    def input(self, key: str) -> Any:
        """The first upstream output called ``key`` (in the order of ``needs``)."""
        for outputs in self.inputs.values():
            if key in outputs:
                return outputs[key]
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


# -- job types --------------------------------------------------------------------------------
def ingest(ctx: JobContext) -> dict[str, Any]:
    result = api.ingest(
        ctx.params["uri"],
        workspace=ctx.workspace,
        schema_file=ctx.params.get("schema"),
        strict=bool(ctx.params.get("strict", False)),
        progress=ctx.progress,
    )
    report = result.report
    return {
        "snapshot": result.snapshot.id,
        "created": result.created,
        "warnings": len(report.warnings),
    }


def ingest_labels(ctx: JobContext) -> dict[str, Any]:
    path, rel = ctx.file("labels.parquet")
    unknown_path, unknown_rel = ctx.file("unknown_keys.parquet")
    res = api.ingest_labels(
        ctx.params["uri"],
        table=ctx.params["table"],
        key=ctx.params.get("key"),
        label_table=ctx.params.get("label_table"),
        workspace=ctx.workspace,
        snapshot=ctx.input("snapshot"),
        to=path,
        unknown_to=unknown_path,
    )
    if res.unknown:
        log.warning(
            "%d label row(s) have keys not in table '%s'; listed in %s",
            res.unknown,
            ctx.params["table"],
            unknown_rel,
        )
    return {
        "snapshot": ctx.input("snapshot"),
        "labels": rel,
        "label_rows": res.rows,
        "unknown_keys": res.unknown,
        "unknown_keys_file": unknown_rel,
    }


def _ref(ctx: JobContext, param: str, output: str) -> str | None:
    """A param that names a job in ``needs`` (that job's ``output``) or is an id itself."""
    value = ctx.params.get(param)
    if value is None:
        return None
    name = str(value)
    if name in ctx.inputs:
        made = ctx.inputs[name].get(output)
        if made is None:
            raise JobError(
                f"job '{ctx.name}' ({ctx.type}): '{param}: {name}' names a job that made no "
                f"'{output}' (it made {sorted(ctx.inputs[name]) or 'nothing'})"
            )
        return str(made)
    return name


def gnn_embed(params: Mapping[str, Any]) -> bool:
    """Whether an embed job embeds entities with a trained GNN (not text columns)."""
    return "model" in params or params.get("from") == "model"


def embed(ctx: JobContext) -> dict[str, Any]:
    """Text columns with the packaged sentence model (``table:``, ``columns:``), or GNN
    entity embeddings from a trained model (``model: <train job or model id>``, or
    ``from: model`` for the first upstream model; optional ``table:``, ``at:``)."""
    path, rel = ctx.file("embeddings.parquet")
    if gnn_embed(ctx.params):
        model_id = _ref(ctx, "model", "model") or ctx.input("model")
        fn = _need_api("embed_entities", "embed")
        res = fn(
            model_id,
            workspace=ctx.workspace,
            table=ctx.params.get("table"),
            at=ctx.params.get("at"),
            to=path,
        )
        return {
            "snapshot": res.snapshot_id,
            "model": model_id,
            "embeddings": rel,
            "rows": res.rows,
            "dim": res.dim,
        }
    api.embed_text(
        ctx.params["table"],
        columns=ctx.params.get("columns"),
        workspace=ctx.workspace,
        snapshot=ctx.input("snapshot"),
        to=path,
        progress=ctx.progress,
    )
    return {"snapshot": ctx.maybe_input("snapshot"), "embeddings": rel}


_TRAIN_KEYS = ("query", "query_text", "uri", "schema", "from_pretrained")


def _stage_progress(ctx: JobContext, stages: Stages) -> Callable[[str, dict[str, Any]], None]:
    """A trainer's ``(stage, info)`` reports as the job's one forward-only fraction."""
    staged = StagedProgress(stages)

    def progress(stage: str, info: dict[str, Any]) -> None:
        epoch, epochs = info.get("epoch"), info.get("epochs")
        message = f"{stage} {epoch}/{epochs}" if epoch is not None and epochs else stage
        ctx.report(staged.report(stage, info), message)

    return progress


def train(ctx: JobContext) -> dict[str, Any]:
    """``from_pretrained: <pretrain job or trunk id>`` starts the GNN from a trunk."""
    fn = _need_api("train", "train")
    extra = {k: v for k, v in ctx.params.items() if k not in _TRAIN_KEYS}
    extra.setdefault("progress", _stage_progress(ctx, TRAIN_STAGES))
    trunk = _ref(ctx, "from_pretrained", "pretrained")
    if trunk is not None:
        extra["from_pretrained"] = trunk
    result = fn(
        ctx.params["query_text"], workspace=ctx.workspace, snapshot=ctx.input("snapshot"), **extra
    )
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
        "snapshot": ctx.input("snapshot"),
        "model": str(model_id),
        "metrics": metrics,
        "selected": getattr(result, "selected", None),
    }


_PRETRAIN_KEYS = ("budget", "steps", "batch_size", "minutes", "until", "tables", "seed")


def pretrain(ctx: JobContext) -> dict[str, Any]:
    """A trunk pretrained on the upstream snapshot (``budget``, ``steps``, ``until``, ...)."""
    fn = _need_api("pretrain", "pretrain")
    unknown = sorted(set(ctx.params) - set(_PRETRAIN_KEYS))
    if unknown:
        raise JobError(
            f"job '{ctx.name}' (pretrain) has unknown option(s) {unknown}; "
            f"allowed: {', '.join(_PRETRAIN_KEYS)}"
        )
    result = fn(
        workspace=ctx.workspace,
        snapshot=ctx.input("snapshot"),
        progress=_stage_progress(ctx, PRETRAIN_STAGES),
        **dict(ctx.params),
    )
    return {
        "snapshot": ctx.input("snapshot"),
        "pretrained": str(result.pretrained_id),
        "metrics": {"loss_start": result.loss_start, "loss_end": result.loss_end},
    }


def predict(ctx: JobContext) -> dict[str, Any]:
    fn = _need_api("predict", "predict")
    path, rel = ctx.file("predictions.parquet")
    kind = ctx.params.get("model_kind")  # default: the candidate chosen on validation
    result = fn(ctx.input("model"), workspace=ctx.workspace, to=str(path), model_kind=kind)
    out: dict[str, Any] = {
        "model": ctx.input("model"),
        "predictions": rel,
        "model_kind": getattr(result, "model_kind", None),
    }
    emb = getattr(result, "embeddings_path", None)
    if emb is not None and Path(emb).is_file():
        # GNN entity embeddings, when the model's predict makes them.
        epath, erel = ctx.file("embeddings.parquet")
        if Path(emb) != epath:
            Path(epath).write_bytes(Path(emb).read_bytes())
        out["embeddings"] = erel
    return out


def cluster(ctx: JobContext) -> dict[str, Any]:
    path, rel = ctx.file("clusters.parquet")
    table = api.cluster(
        ctx.path(ctx.input("embeddings")),
        k=int(ctx.params.get("k", 8)),
        seed=int(ctx.params.get("seed", 0)),
    )
    _write_parquet(table, path)
    return {
        "embeddings": ctx.input("embeddings"),
        "clusters": rel,
        "k": int(ctx.params.get("k", 8)),
    }


def project(ctx: JobContext) -> dict[str, Any]:
    path, rel = ctx.file("projection.parquet")
    methods = ctx.params.get("methods", ["pca", "umap"])
    table = api.project(
        ctx.path(ctx.input("embeddings")),
        methods=list(methods),
        seed=int(ctx.params.get("seed", 0)),
    )
    clusters = ctx.maybe_input("clusters")
    if clusters is not None:
        # The dashboard colours points by cluster: carry the labels along.
        import pyarrow.parquet as pq

        labels = pq.read_table(ctx.path(clusters), columns=["ENTITY", "cluster_label"])
        if labels["ENTITY"].equals(table["ENTITY"]):
            table = table.append_column("cluster_label", labels["cluster_label"])
    _write_parquet(table, path)
    return {"embeddings": ctx.input("embeddings"), "projection": rel}


def python(ctx: JobContext) -> dict[str, Any]:
    """A user step: ``function: package.module:callable``, called with the context."""
    target = str(ctx.params.get("function", ""))
    mod_name, _, attr = target.partition(":")
    if not mod_name or not attr:
        raise JobError(
            f"job '{ctx.name}': 'function:' must look like 'package.module:callable', "
            f"got '{target}'"
        )
    try:
        fn = getattr(importlib.import_module(mod_name), attr)
    except (ImportError, AttributeError) as e:
        raise JobError(f"job '{ctx.name}': cannot import '{target}': {e}") from e
    out = fn(ctx)
    if not isinstance(out, dict):
        raise JobError(
            f"job '{ctx.name}': '{target}' must return a dict of outputs, got {type(out).__name__}"
        )
    return out


def _write_parquet(table: Any, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


KINDS: dict[str, JobFn] = {
    "ingest": ingest,
    "ingest-labels": ingest_labels,
    "embed": embed,
    "train": train,
    "predict": predict,
    "cluster": cluster,
    "project": project,
    "pretrain": pretrain,
    "python": python,
}


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


def extra_fingerprint(job_type: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a job reads outside the pipeline (source bytes, a schema file, user code)."""
    out: dict[str, Any] = {}
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
    for name, outputs in inputs.items():
        snap_id = outputs.get("snapshot") if isinstance(outputs, dict) else None
        if not isinstance(snap_id, str):
            narrowed[name] = outputs
            continue
        try:
            m = Workspace(workspace).snapshot(snap_id).manifest
        except Exception:  # a missing snapshot: fall back to its id
            narrowed[name] = outputs
            continue
        if table not in m.table_hashes:
            narrowed[name] = outputs
            continue
        rest = {k: v for k, v in outputs.items() if k not in ("snapshot", "created", "warnings")}
        narrowed[name] = rest | {
            "table": table,
            "table_hash": m.table_hashes[table],
            "table_schema": m.schema[table].to_dict(),
        }
    return narrowed
