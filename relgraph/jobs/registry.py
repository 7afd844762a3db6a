"""The one registry of job kinds: every surface (pipelines, the REST API, the CLI, the
SDK) looks a kind up here.

A :class:`Kind` says what a job of its name takes (``params``: a dataclass of
:mod:`relgraph.jobs.params` whose ``from_dict`` checks types, ranges and ids), what it
reads from the jobs it needs (``needs``: output keys), what it makes (``makes``), which
:mod:`relgraph.api` function it calls (``api``; a kind whose function this build lacks is
left out of :func:`available`), where it may run (``surfaces``), and ``run(ctx, params)``
(in :mod:`relgraph.jobs.kinds`). ``check`` is what a submitted job's parameters must
meet in the workspace (a model that exists), checked when a REST job is submitted (a 4xx
instead of a failed job) and again when it runs (a retry may come after the workspace
changed).

Adding a kind is one entry in :data:`KINDS` (see "How to add a job kind" in
``docs/architecture.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relgraph import api
from relgraph.errors import JobParameterError
from relgraph.jobs import kinds, params
from relgraph.jobs.kinds import Context, Surface

PIPELINE: frozenset[Surface] = frozenset({"pipeline"})
SERVICE: frozenset[Surface] = frozenset({"service"})
BOTH: frozenset[Surface] = PIPELINE | SERVICE
# What a REST ``ingest`` may read: the service's source policy (``SourcePolicy.check``);
# returns the source to read (a named connection resolved).
SourceCheck = Callable[[str], str]


@dataclass(frozen=True)
class Env:
    """What a kind's workspace checks may look at."""

    workspace: Path
    check_source: SourceCheck | None = None


@dataclass(frozen=True)
class Kind:
    name: str
    params: type[params.Params]
    run: Callable[[Context, Any], dict[str, Any]]
    api: str | None = None  # the relgraph.api function it calls
    needs: tuple[str, ...] = ()  # output keys it reads from upstream jobs (pipelines)
    makes: tuple[str, ...] = ()  # output keys of its result
    surfaces: frozenset[Surface] = BOTH
    check: Callable[[Any, Env], Any] | None = None  # may return the params, changed
    doc: str = ""

    def available(self) -> bool:
        """Whether this build has the api function the kind calls."""
        return self.api is None or hasattr(api, self.api)

    def parse(
        self, raw: Mapping[str, Any] | None, *, surface: Surface, env: Env | None = None
    ) -> Any:
        """Checked parameters (and, given ``env``, checked against the workspace)."""
        if surface not in self.surfaces:
            where = "a pipeline" if surface == "pipeline" else "the API"
            raise JobParameterError(f"job kind '{self.name}' cannot run in {where}")
        p = self.params.from_dict(raw, kind=self.name, surface=surface)
        if env is not None and self.check is not None:
            changed = self.check(p, env)
            if changed is not None:
                p = changed
        return p


# -- workspace checks of REST jobs -------------------------------------------------------------
def _check_ingest(p: params.IngestParams, env: Env) -> params.IngestParams:
    if env.check_source is None:
        # A service always has a source policy; without one, nothing may be read.
        raise JobParameterError("this server reads no sources (no source policy)")
    # The policy may resolve a named connection; the job reads what it returned.
    from dataclasses import replace

    return replace(p, uri=env.check_source(p.uri))


def _check_train(p: params.TrainParams, env: Env) -> None:
    kinds.check_trunk(env.workspace, p.from_pretrained)
    kinds.check_query(env.workspace, p.query, p.snapshot)


def _check_predict(p: params.PredictParams, env: Env) -> None:
    kinds.check_model(env.workspace, p.model_id)


def _check_embed(p: params.EmbedParams, env: Env) -> None:
    kinds.check_model(env.workspace, p.model_id)


def _check_cluster(p: params.ClusterParams, env: Env) -> None:
    kinds.check_embeddings(env.workspace, p.embeddings)


# -- the kinds ----------------------------------------------------------------------------------
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "ingest",
            params.IngestParams,
            kinds.ingest,
            api="ingest",
            makes=("snapshot",),
            check=_check_ingest,
            doc="Read a source into a content-addressed snapshot.",
        ),
        Kind(
            "ingest-labels",
            params.IngestLabelsParams,
            kinds.ingest_labels,
            api="ingest_labels",
            needs=("snapshot",),
            makes=("snapshot", "labels"),
            surfaces=PIPELINE,
            doc="Read externally made labels for a table of the snapshot.",
        ),
        Kind(
            "label-stats",
            params.LabelStatsParams,
            kinds.label_stats,
            api="training_tables",
            surfaces=SERVICE,
            doc="Compile a query and count its training labels per split.",
        ),
        Kind(
            "embed",
            params.EmbedParams,
            kinds.embed,
            api="embed_entities",
            needs=("snapshot", "model"),
            makes=("embeddings",),
            check=_check_embed,
            doc="GNN entity embeddings of a model, or (pipelines) text-column embeddings.",
        ),
        Kind(
            "train",
            params.TrainParams,
            kinds.train,
            api="train",
            needs=("snapshot", "pretrained"),
            makes=("model", "metrics"),
            check=_check_train,
            doc="Train the GNN and the baselines for a predictive query.",
        ),
        Kind(
            "predict",
            params.PredictParams,
            kinds.predict,
            api="predict",
            needs=("model",),
            makes=("predictions",),
            check=_check_predict,
            doc="Predict with a trained model.",
        ),
        Kind(
            "cluster",
            params.ClusterParams,
            kinds.cluster,
            api="cluster",
            needs=("embeddings",),
            makes=("clusters",),
            check=_check_cluster,
            doc="k-means over embeddings.",
        ),
        Kind(
            "explain",
            params.ExplainParams,
            kinds.explain,
            api="explain",
            needs=("model",),
            makes=("explanation",),
            check=lambda p, env: kinds.check_model(env.workspace, p.model_id),
            doc="Explain a model's predictions: inputs, edge types, cohorts, one entity.",
        ),
        Kind(
            "drift",
            params.DriftParams,
            kinds.drift,
            api="drift",
            needs=("snapshot",),
            makes=("drift",),
            check=lambda p, env: kinds.check_model(env.workspace, p.model),
            doc="Drift between two snapshots: label rate, column PSI, a model's scores.",
        ),
        Kind(
            "document",
            params.DocumentParams,
            kinds.document,
            api="document",
            needs=("snapshot",),
            makes=("suggestions",),
            # Its files are paths on the server: pipelines only until the source policy
            # covers them.
            surfaces=PIPELINE,
            doc="Suggest business terms for columns (GraphSAGE over the column graph).",
        ),
        Kind(
            "gc",
            params.GcParams,
            kinds.gc,
            api="collect_garbage",
            surfaces=PIPELINE,
            doc="Plan (or, with delete: true, do) the removal of unreferenced workspace data.",
        ),
        Kind(
            "export-window",
            params.ExportWindowParams,
            kinds.export_window,
            api="export_window",
            makes=("window",),
            surfaces=PIPELINE,
            doc="The last N days of stored predictions in one Parquet or CSV file.",
        ),
        Kind(
            "export",
            params.ExportParams,
            kinds.export,
            api="export_model",
            needs=("model",),
            makes=("bundle",),
            surfaces=PIPELINE,
            doc="A self-contained serving bundle of a model (relgraph serve --bundle).",
        ),
        Kind(
            "project",
            params.ProjectParams,
            kinds.project,
            api="project",
            needs=("embeddings", "clusters"),
            makes=("projection",),
            doc="3-D coordinates of embeddings (or of a table's features) for the dashboard.",
        ),
        Kind(
            "pretrain",
            params.PretrainParams,
            kinds.pretrain,
            api="pretrain",
            needs=("snapshot",),
            makes=("pretrained",),
            doc="Pretrain a GNN trunk without labels, for train's from_pretrained.",
        ),
        Kind(
            "python",
            params.PythonParams,
            kinds.python,
            surfaces=PIPELINE,
            doc="A user step: function: package.module:callable.",
        ),
    )
}


def kind(name: str, *, surface: Surface) -> Kind:
    """The kind called ``name`` that runs on ``surface``, or a :class:`JobParameterError`
    listing those that do."""
    k = KINDS.get(name)
    if k is None or surface not in k.surfaces or not k.available():
        raise JobParameterError(
            f"unknown job kind '{name[:64]}'; kinds: {', '.join(names(surface))}"
        )
    return k


def names(surface: Surface) -> tuple[str, ...]:
    """The kinds that run on ``surface`` in this build, in registry order."""
    return tuple(n for n, k in KINDS.items() if surface in k.surfaces and k.available())


def available(surface: Surface) -> dict[str, Kind]:
    return {n: KINDS[n] for n in names(surface)}


class ServiceKind:
    """A kind bound to a service's workspace and source policy: what the service's job
    runner calls. ``check_params`` runs on submit, and again before each run."""

    def __init__(self, kind: Kind, env: Env) -> None:
        self.kind = kind
        self.env = env

    def __repr__(self) -> str:
        return f"ServiceKind({self.kind.name!r})"

    def check_params(self, raw: dict[str, Any]) -> Any:
        return self.kind.parse(raw, surface="service", env=self.env)

    def __call__(self, ctx: Context, raw: dict[str, Any]) -> dict[str, Any]:
        return self.kind.run(ctx, self.check_params(raw))


def service_kinds(
    workspace: str | Path, check_source: SourceCheck | None = None
) -> dict[str, ServiceKind]:
    """The kinds a service on ``workspace`` runs, bound to it. ``check_source``: what a
    REST ``ingest`` may read (the service's ``SourcePolicy.check``)."""
    env = Env(Path(workspace), check_source)
    return {n: ServiceKind(k, env) for n, k in available("service").items()}


__all__ = ["KINDS", "Env", "Kind", "ServiceKind", "available", "kind", "names", "service_kinds"]
