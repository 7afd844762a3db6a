"""Job parameters as typed, checked objects: one frozen dataclass per job kind.

:meth:`Params.from_dict` turns what a pipeline spec, a REST request, the CLI or the SDK
sent into the kind's dataclass, or raises :class:`~relgraph.errors.JobParameterError`
naming the bad parameter: unknown keys, wrong types, values out of range, ids that are
not ids (they become folder names: never a path). The same checks run on every surface,
so a REST caller gets a 422 on submit for what would have failed the job.

Example:
    >>> ClusterParams.from_dict({"embeddings": "emb-1", "k": 3}, kind="cluster")
    ClusterParams(embeddings='emb-1', k=3, seed=0)
    >>> ClusterParams.from_dict({"k": 1}, kind="cluster")
    Traceback (most recent call last):
    ...
    relgraph.errors.JobParameterError: job parameter 'k' must be within 2..100, got 1
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from relgraph.errors import JobParameterError
from relgraph.store.ids import ID_PATTERN

# Job parameters that name something of the workspace: each must be an id of its
# pattern (never a path), checked when a job is submitted and again when it runs.
ID_PARAMS: dict[str, re.Pattern[str]] = {
    "snapshot": re.compile(r"^(?:[0-9a-f]{1,64}|latest)$"),
    "model_id": ID_PATTERN,
    "embeddings": ID_PATTERN,
    "predictions": ID_PATTERN,
    "from_pretrained": ID_PATTERN,
    "warm_start": ID_PATTERN,
    "old_snapshot": re.compile(r"^(?:[0-9a-f]{1,64}|latest)$"),
    "new_snapshot": re.compile(r"^(?:[0-9a-f]{1,64}|latest)$"),
    "labels": re.compile(r"^[A-Za-z0-9_-]{1,64}$"),
}
# What ``relgraph.predict`` accepts (named here so that checking a job needs no torch; a
# test checks they agree).
PREDICT_SPLITS = ("test", "now")
MAX_K = 100
MAX_PROJECT_K = 50


def check_ids(params: Mapping[str, Any]) -> None:
    """Every id parameter present is a string of its pattern (:data:`ID_PARAMS`)."""
    for name, pattern in ID_PARAMS.items():
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise JobParameterError(
                f"job parameter '{name}' must be a str, got {type(value).__name__}"
            )
        if not pattern.match(value) or value.startswith(".") or ".." in value:
            raise JobParameterError(
                f"job parameter '{name}' must be an id matching {pattern.pattern}, "
                f"got {value[:80]!r}"
            )


def _typed(name: str, value: Any, hint: Any) -> Any:
    """``value`` as the field's type (``str``, ``int``, ``float``, ``bool``, ``list[str]``,
    any of them ``| None``), or a :class:`JobParameterError` saying what was wrong."""
    if isinstance(hint, types.UnionType):
        if value is None:
            return None
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    origin = typing.get_origin(hint) or hint
    if origin is Any:
        return value
    if origin is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (origin is int and isinstance(value, bool)) or not isinstance(value, origin):
        raise JobParameterError(
            f"job parameter '{name}' must be a {origin.__name__}, got {type(value).__name__}"
        )
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if item is str and not all(isinstance(v, str) for v in value):
            raise JobParameterError(
                f"job parameter '{name}' must be a list of names, got {value!r:.80}"
            )
        return tuple(value)
    return value


@dataclass(frozen=True)
class Params:
    """Base of every kind's parameters.

    Class settings a kind's dataclass may override:

    - ``ALIASES``: other spellings → field (``{"model": "model_id"}``): the REST names
      the dashboard and the SDK send, beside the pipeline's;
    - ``PIPELINE_ONLY``: fields a REST caller may not set (a server path, user code);
    - ``SERVICE_REQUIRES``: fields a REST job must give (a pipeline job reads them from
      the jobs it needs);
    - ``OPEN``: keep unknown keys in ``extra`` instead of refusing them (``python``).
    """

    ALIASES: ClassVar[Mapping[str, str]] = {}
    PIPELINE_ONLY: ClassVar[frozenset[str]] = frozenset()
    SERVICE_REQUIRES: ClassVar[tuple[str, ...]] = ()
    OPEN: ClassVar[bool] = False
    # Parameters that name files (a path or a list of paths): a pipeline resolves them
    # against the spec's folder, and a change of their bytes re-runs the job.
    PATHS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def normalise(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """Hook: fold a pipeline's resolved keys into the fields (before aliases)."""
        return raw

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any] | None, *, kind: str, surface: str = "pipeline"
    ) -> Self:
        """Checked parameters; ``surface`` is ``pipeline`` or ``service`` (REST, SDK)."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise JobParameterError(
                f"job parameters must be an object of name → value, got {type(raw).__name__}"
            )
        given = cls.normalise({str(k): v for k, v in raw.items()})
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "extra"}
        values: dict[str, Any] = {}
        spelled: dict[str, str] = {}  # field → the key the caller used, for messages
        extra: dict[str, Any] = {}
        for key, value in given.items():
            name = cls.ALIASES.get(key, key)
            if name not in fields:
                if cls.OPEN:
                    extra[key] = value
                    continue
                unknown = sorted(k for k in given if cls.ALIASES.get(k, k) not in fields)
                allowed = sorted(
                    {*fields, *cls.ALIASES}
                    - (cls.PIPELINE_ONLY if surface == "service" else frozenset())
                )
                raise JobParameterError(
                    f"unknown {kind} job parameter(s) {unknown}; allowed: {', '.join(allowed)}"
                )
            if name in values and values[name] != value and value is not None:
                raise JobParameterError(
                    f"job parameter '{name}' is given twice ('{key}' is another name for it) "
                    "with different values"
                )
            if surface == "service" and name in cls.PIPELINE_ONLY and value is not None:
                raise JobParameterError(
                    f"job parameter '{key}' is accepted in a pipeline spec only, not through "
                    "the API"
                )
            if value is not None or name not in values:
                values[name] = value
                spelled[name] = key
        check_ids(values)
        out: dict[str, Any] = {}
        for name, f in fields.items():
            if values.get(name) is None:
                required = f.default is dataclasses.MISSING and (
                    f.default_factory is dataclasses.MISSING
                )
                if required or (surface == "service" and name in cls.SERVICE_REQUIRES):
                    raise JobParameterError(f"job parameter '{name}' is required")
                continue
            out[name] = _typed(spelled.get(name, name), values[name], hints[name])
        if cls.OPEN:
            out["extra"] = extra
        params = cls(**out)
        params.validate()
        return params

    def validate(self) -> None:
        """Hook: ranges and relations between fields; raise :class:`JobParameterError`."""

    def to_dict(self) -> dict[str, Any]:
        """The given fields (not None), lists as lists: JSON for a record."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is None or f.name == "extra":
                continue
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out | dict(getattr(self, "extra", None) or {})


def _at_least(name: str, value: float | None, low: float) -> None:
    if value is not None and value < low:
        raise JobParameterError(f"job parameter '{name}' must be at least {low:g}, got {value}")


def _positive(name: str, value: float | None) -> None:
    if value is not None and not value > 0:
        raise JobParameterError(f"job parameter '{name}' must be positive, got {value}")


def _within(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise JobParameterError(f"job parameter '{name}' must be within {low}..{high}, got {value}")


# -- the kinds' parameters ------------------------------------------------------------------
@dataclass(frozen=True)
class IngestParams(Params):
    """``uri``: a folder, file or database URL. A pipeline names a source of its spec
    (``source: shop``, resolved to ``uri`` and ``schema``); REST sends the URI as ``source``
    (checked by the server's source policy)."""

    uri: str
    strict: bool = False
    schema: str | None = None  # an overrides YAML on this machine: pipelines only

    ALIASES: ClassVar[Mapping[str, str]] = {"source": "uri"}
    PIPELINE_ONLY: ClassVar[frozenset[str]] = frozenset({"schema"})

    @classmethod
    def normalise(cls, raw: dict[str, Any]) -> dict[str, Any]:
        if "uri" in raw:  # a pipeline's: 'source' named the spec's source, 'uri' is it
            raw.pop("source", None)
        return raw


@dataclass(frozen=True)
class IngestLabelsParams(Params):
    uri: str
    table: str
    key: str | None = None
    label_table: str | None = None
    schema: str | None = None

    ALIASES: ClassVar[Mapping[str, str]] = {"source": "uri"}
    PIPELINE_ONLY: ClassVar[frozenset[str]] = frozenset({"schema"})

    @classmethod
    def normalise(cls, raw: dict[str, Any]) -> dict[str, Any]:
        return IngestParams.normalise(raw)


@dataclass(frozen=True)
class TrainParams(Params):
    """``query``: the query's text (a pipeline names one of its ``queries:``, resolved to
    ``query_text``). ``budget`` and ``predict`` default by surface: REST trains on the
    ``fast`` budget and then predicts the test split and projects it (the dashboard's
    view); a pipeline trains on ``api.train``'s default and has ``predict`` jobs."""

    query: str
    snapshot: str | None = None
    budget: str | None = None
    trials: int | None = None
    minutes: float | None = None
    seed: int | None = None
    val_cutoff: str | None = None
    test_cutoff: str | None = None
    gnn: bool | None = None
    baseline: bool | None = None
    protocol: str | None = None
    from_pretrained: str | None = None  # a trunk id, or in a pipeline a pretrain job's name
    predict: bool | None = None
    exclude_seen: str | None = None  # link tasks: auto | always | never (api.train's default)
    warm_start: str | None = None  # a stored model of the same query whose GNN this continues

    @classmethod
    def normalise(cls, raw: dict[str, Any]) -> dict[str, Any]:
        if "query_text" in raw:  # a pipeline's: 'query' named it, 'query_text' is it
            raw["query"] = raw.pop("query_text")
        return raw

    def validate(self) -> None:
        _at_least("trials", self.trials, 1)
        _positive("minutes", self.minutes)
        # The same three as relgraph.train.seen.EXCLUDE_SEEN (jobs may not import train).
        if self.exclude_seen not in (None, "auto", "always", "never"):
            raise JobParameterError(
                "job parameter 'exclude_seen' must be one of auto, always, never, "
                f"got '{self.exclude_seen}'"
            )

    def api_kwargs(self) -> dict[str, Any]:
        """What goes to ``api.train`` besides the query and the workspace."""
        skip = {"query", "predict", "from_pretrained"}
        return {k: v for k, v in self.to_dict().items() if k not in skip}


@dataclass(frozen=True)
class PretrainParams(Params):
    snapshot: str | None = None
    budget: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    minutes: float | None = None
    until: str | None = None
    tables: list[str] | None = None
    seed: int | None = None

    def validate(self) -> None:
        _at_least("steps", self.steps, 1)
        _at_least("batch_size", self.batch_size, 1)
        _positive("minutes", self.minutes)


@dataclass(frozen=True)
class PredictParams(Params):
    """``model_id`` (``model``): a pipeline takes the model of the train job it needs."""

    model_id: str | None = None
    split: str = "test"
    model_kind: str | None = None

    ALIASES: ClassVar[Mapping[str, str]] = {"model": "model_id"}
    SERVICE_REQUIRES: ClassVar[tuple[str, ...]] = ("model_id",)

    def validate(self) -> None:
        if self.split not in PREDICT_SPLITS:
            raise JobParameterError(
                f"job parameter 'split' must be one of {', '.join(PREDICT_SPLITS)}, "
                f"got '{self.split}'"
            )


@dataclass(frozen=True)
class EmbedParams(Params):
    """GNN entity embeddings from a model (``model_id``, or in a pipeline ``model: <train
    job>`` or ``from: model``), or, in a pipeline, text columns (``table``, ``columns``)."""

    model_id: str | None = None
    from_: str | None = None
    table: str | None = None
    columns: list[str] | None = None
    at: str | None = None
    snapshot: str | None = None
    project: bool | None = None

    ALIASES: ClassVar[Mapping[str, str]] = {"model": "model_id", "from": "from_"}
    PIPELINE_ONLY: ClassVar[frozenset[str]] = frozenset({"columns", "from_"})
    SERVICE_REQUIRES: ClassVar[tuple[str, ...]] = ("model_id",)

    @property
    def gnn(self) -> bool:
        """Whether this embeds entities with a trained GNN (not text columns)."""
        return self.model_id is not None or self.from_ == "model"


@dataclass(frozen=True)
class ClusterParams(Params):
    """``embeddings``: an output id (REST); a pipeline reads its needs' embeddings."""

    embeddings: str | None = None
    k: int = 8
    seed: int = 0

    SERVICE_REQUIRES: ClassVar[tuple[str, ...]] = ("embeddings",)

    def validate(self) -> None:
        _within("k", self.k, 2, MAX_K)


@dataclass(frozen=True)
class ProjectParams(Params):
    """A pipeline projects its needs' embeddings (``methods``); REST projects a
    predictions output's embeddings (``predictions``) or a table's features (``table``)
    and clusters them (``k``)."""

    methods: list[str] | None = None
    seed: int = 0
    predictions: str | None = None
    table: str | None = None
    snapshot: str | None = None
    k: int = 5
    labels: str | None = None

    def validate(self) -> None:
        _within("k", self.k, 1, MAX_PROJECT_K)


@dataclass(frozen=True)
class LabelStatsParams(Params):
    """``val_cutoff``/``test_cutoff``: the cut-offs the editor typed (ISO dates), so the
    counts are those a training run with them would use."""

    query: str
    snapshot: str | None = None
    val_cutoff: str | None = None
    test_cutoff: str | None = None


@dataclass(frozen=True)
class PythonParams(Params):
    """``function: package.module:callable``; any other key is the step's own."""

    function: str
    extra: Mapping[str, Any] = field(default_factory=dict)

    OPEN: ClassVar[bool] = True


@dataclass(frozen=True)
class GcParams(Params):
    """``delete: false`` (the default) plans only: what would go, and the bytes freed."""

    keep_last: int | None = None
    delete: bool = False

    def validate(self) -> None:
        _at_least("keep_last", self.keep_last, 1)


@dataclass(frozen=True)
class ExportWindowParams(Params):
    """The last ``days`` days of stored predictions in one file; ``file`` names it inside
    the job's folder (``.parquet`` or ``.csv``)."""

    days: float
    model: str | None = None
    file: str = "window.parquet"

    def validate(self) -> None:
        _positive("days", self.days)
        if self.file not in ("window.parquet", "window.csv"):
            raise JobParameterError(
                "job parameter 'file' must be window.parquet or window.csv, "
                f"got '{self.file}'"
            )


@dataclass(frozen=True)
class ExportParams(Params):
    """A serving bundle of a model (``relgraph serve --bundle``) in the job's folder;
    ``model_id`` (``model``): by default the model of the train job it needs."""

    model_id: str | None = None
    model_kind: str | None = None

    ALIASES: ClassVar[Mapping[str, str]] = {"model": "model_id"}


@dataclass(frozen=True)
class ExplainParams(Params):
    """Why a model predicts what it does (``api.explain``): global, and with ``entity`` one
    entity's view. ``model_id`` (``model``): a pipeline's default is its train job's model."""

    model_id: str | None = None
    entity: str | None = None
    model_kind: str | None = None
    at: str = "test"
    sample: int = 64
    top: int = 10
    snapshot: str | None = None
    seed: int = 0

    ALIASES: ClassVar[Mapping[str, str]] = {"model": "model_id"}
    SERVICE_REQUIRES: ClassVar[tuple[str, ...]] = ("model_id",)

    def validate(self) -> None:
        _within("sample", self.sample, 1, 4096)
        _within("top", self.top, 1, 100)
        if self.model_kind not in (None, "gnn", "lightgbm"):
            raise JobParameterError(
                f"job parameter 'model_kind' must be gnn or lightgbm, got '{self.model_kind}'"
            )


@dataclass(frozen=True)
class DriftParams(Params):
    """Drift between two snapshots (``api.drift``): label rate, column PSI, a model's scores.
    ``new_snapshot`` defaults to the latest (a pipeline: the snapshot of the job it needs),
    ``old_snapshot`` to ``model``'s training snapshot."""

    new_snapshot: str | None = None
    old_snapshot: str | None = None
    model: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class DocumentParams(Params):
    """Business terms for columns (``api.document``): a ``mapping`` file of known column →
    term pairs, the snapshots' columns (default: the job's snapshot, else the latest) and
    lineage from files, SQL scripts and views; suggestions go to the job's folder."""

    mapping: str
    snapshots: list[str] | None = None
    glossary: str | None = None
    lineage_files: list[str] | None = None
    sql_scripts: list[str] | None = None
    sql_dialect: str | None = None
    view_sources: list[str] | None = None
    holdout_databases: list[str] | None = None
    embed_names: bool = False
    epochs: int | None = None
    seed: int = 0

    PATHS: ClassVar[tuple[str, ...]] = ("mapping", "glossary", "lineage_files", "sql_scripts")

    def validate(self) -> None:
        _at_least("epochs", self.epochs, 1)
