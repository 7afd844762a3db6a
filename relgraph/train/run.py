"""One training run: labels → GNN search → LightGBM baseline → metrics → model files."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.audit.static import future_static_columns
from relgraph.errors import TrainingError
from relgraph.graph.features import build_features
from relgraph.nn.model import ModelConfig
from relgraph.query.task import hidden_columns
from relgraph.store.snapshot import Snapshot
from relgraph.train.artifacts import model_dir, save_model
from relgraph.train.baseline import LightGBMBaseline
from relgraph.train.candidates import (
    CONFIDENCE,
    TRIVIAL_PREFIX,
    Candidate,
    beats_trivial,
    best_trivial,
    confidence,
    is_trivial,
    ranking,
    select,
    within_noise,
)
from relgraph.train.loop import GNNTrainer, metric_key, task_kind
from relgraph.train.metrics import evaluate, higher_is_better
from relgraph.train.pretrain import PretrainedTrunk, load_pretrained
from relgraph.train.protocol import (
    DEFAULT_PROTOCOL,
    PROTOCOLS,
    as_of,
    check_protocol,
    val_view,
    with_gaps,
)
from relgraph.train.search import Budget, TrialResult, search
from relgraph.train.seen import ExcludeSeen, SeenItems, check_mode, decide, repeat_rate
from relgraph.train.trivial import TrivialBaseline, trivial_names

log = logging.getLogger(__name__)

# Called with a human-readable stage and, for epochs, (epoch, epochs, loss, val metric).
Progress = Callable[[str, dict[str, Any]], None]


@dataclass
class ModelScores:
    """Validation and test metrics of one model and how long it trained."""

    val: dict[str, float]
    test: dict[str, float]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"val": self.val, "test": self.test, "seconds": round(self.seconds, 1)}


@dataclass
class Pretraining:
    """The difference a pretrained trunk made: the GNN from scratch, same config and seed.

    ``delta`` is pretrained − scratch per split and metric (positive is better for
    AUROC/accuracy, negative for MAE).
    """

    pretrained_id: str
    loaded: int  # trunk tensors copied into the model
    scratch: ModelScores
    delta: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "pretrained_id": self.pretrained_id,
            "loaded_tensors": self.loaded,
            "scratch": self.scratch.to_dict(),
            "delta": self.delta,
        }


def score_delta(with_: ModelScores, without: ModelScores) -> dict[str, dict[str, float]]:
    """``with_ − without`` for every metric both have, per split."""
    return {
        split: {
            m: float(getattr(with_, split)[m]) - float(v)
            for m, v in getattr(without, split).items()
            if m in getattr(with_, split)
        }
        for split in ("val", "test")
    }


@dataclass
class TrainResult:
    """What ``relgraph train`` reports and stores."""

    model_id: str
    path: Path
    query: str
    task: dict[str, Any]
    snapshot_id: str
    metric: str
    gnn: ModelScores | None
    baseline: ModelScores | None
    config: ModelConfig
    trials: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # With --from-pretrained: the trunk, and the same run from scratch beside it.
    pretraining: Pretraining | None = None
    # Every candidate (learned and trivial) under both protocols, and the one chosen
    # on validation under ``protocol``.
    candidates: list[Candidate] = field(default_factory=list)
    selected: str = "gnn"
    protocol: str = DEFAULT_PROTOCOL
    # Link tasks: whether owned items are left out of rankings, and why.
    exclude_seen: ExcludeSeen | None = None
    # With --warm-start: the model continued and what of it was kept.
    warm_start: dict[str, Any] | None = None

    def __repr__(self) -> str:
        g = self.gnn.test.get(self.metric) if self.gnn else None
        b = self.baseline.test.get(self.metric) if self.baseline else None
        return (
            f"TrainResult({self.model_id!r}, {self.metric}: gnn={g}, lightgbm={b}, "
            f"selected={self.selected!r}, protocol={self.protocol!r})"
        )

    def candidate(self, name: str) -> Candidate:
        for c in self.candidates:
            if c.name == name:
                return c
        raise TrainingError(
            f"no candidate '{name}' in model '{self.model_id}'; "
            f"candidates: {', '.join(c.name for c in self.candidates)}"
        )

    def ranking(self) -> list[Candidate]:
        """Candidates best first on validation under the selection protocol."""
        return ranking(self.candidates, self.metric, self.protocol)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "path": str(self.path),
            "query": self.query,
            "task": self.task,
            "snapshot_id": self.snapshot_id,
            "metric": self.metric,
            "gnn": self.gnn.to_dict() if self.gnn else None,
            "lightgbm": self.baseline.to_dict() if self.baseline else None,
            "config": self.config.to_dict(),
            "trials": self.trials,
            "warnings": self.warnings,
            "rows": self.rows,
            "seconds": round(self.seconds, 1),
            "pretraining": self.pretraining.to_dict() if self.pretraining else None,
            "protocol": self.protocol,
            "selected": self.selected,
            "candidates": {c.name: c.to_dict() for c in self.ranking()},
            "exclude_seen": self.exclude_seen.to_dict() if self.exclude_seen else None,
            "warm_start": self.warm_start,
        }


# Part of the budget kept for scoring the chosen model on val/test and saving it.
_EVAL_RESERVE = 0.05
_EVAL_RESERVE_S = 30.0


def _label_name(task: Any, value: Any) -> str:
    """A training label as a reader knows it: the class itself, not its index."""
    classes = getattr(task, "classes", None)
    if task_kind(task) == "multiclass" and classes and 0 <= int(value) < len(classes):
        return repr(classes[int(value)])
    v = value.item() if isinstance(value, np.generic) else value
    return repr(int(v)) if float(v).is_integer() else repr(v)


def label_warnings(task: Any, train: pa.Table) -> list[str]:
    """Warnings about training labels that make a model useless or misleading."""
    kind = task_kind(task)
    if "TARGET" not in train.column_names or train.num_rows == 0:
        return ["the training table is empty"]
    out: list[str] = []
    if kind in ("binary", "multiclass"):
        y = train.column("TARGET").to_numpy(zero_copy_only=False)
        values, counts = np.unique(y, return_counts=True)
        if len(values) < 2:
            out.append(
                f"all {train.num_rows} training labels are {_label_name(task, values[0])}: "
                "the model cannot learn; change the query's condition or time window"
            )
        else:
            share = counts.min() / counts.sum()
            if share < 0.05:
                rarest = _label_name(task, values[int(np.argmin(counts))])
                out.append(
                    f"labels are heavily skewed: the rarest class ({rarest}) is {share:.1%} "
                    f"of {train.num_rows} training rows; rare classes are up-weighted, "
                    + ("judge by macro-F1" if kind == "multiclass" else "judge by AUROC/AP")
                )
    elif kind == "regression":
        y = train.column("TARGET").to_numpy(zero_copy_only=False).astype(np.float64)
        if np.nanstd(y) == 0:
            out.append(f"every training target equals {float(y[0]):g}: there is nothing to learn")
    return out


def eval_warnings(task: Any, splits: dict[str, pa.Table]) -> list[str]:
    """Evaluation splits whose labels make the metric undefined (AUROC of one class)."""
    if task_kind(task) not in ("binary", "multiclass"):
        return []
    out = []
    for name, t in splits.items():
        if "TARGET" not in t.column_names or t.num_rows == 0:
            out.append(f"the {name} split has no labelled rows: it cannot be scored")
            continue
        values = np.unique(t.column("TARGET").to_numpy(zero_copy_only=False))
        if len(values) < 2:
            out.append(
                f"every {name} label is {_label_name(task, values[0])}: AUROC/AP are undefined "
                "there (reported as null); move the cut-offs or widen the window"
            )
    return out


def _scores(trainer: GNNTrainer, val: pa.Table, test_labels: pa.Table) -> ModelScores:
    return ModelScores(
        val=trainer.score(val) if val.num_rows else {},
        test=trainer.score(test_labels) if test_labels.num_rows else {},
        seconds=trainer.fit_seconds_,
    )


def new_model_id(task: Any) -> str:
    return f"{task.entity_table}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def train_task(
    snapshot: Snapshot,
    query: str,
    *,
    workspace: str | Path,
    budget: Budget,
    seed: int = 0,
    val_cutoff: str | datetime | None = None,
    test_cutoff: str | datetime | None = None,
    gnn: bool = True,
    baseline: bool = True,
    model_id: str | None = None,
    progress: Progress | None = None,
    from_pretrained: str | None = None,
    protocol: str = DEFAULT_PROTOCOL,
    exclude_seen: str = "auto",
    warm_start: str | None = None,
) -> TrainResult:
    """Train the GNN (with search) and the LightGBM baseline for one query, store both.

    Every candidate (GNN, LightGBM, their average, the trivial baselines) is scored on
    validation and test under both protocols (:mod:`relgraph.train.protocol`); the
    best on validation under ``protocol`` is recorded as ``selected``, and it is what
    ``predict`` uses.

    With ``from_pretrained`` (a trunk id from ``relgraph pretrain``), every GNN starts
    from the trunk's weights (architecture pinned to the trunk's), and the chosen
    configuration is trained once more from scratch with the same seed and time
    limit, so that the result reports the difference pretraining made.

    Link tasks: ``exclude_seen`` (``auto``/``always``/``never``, :mod:`relgraph.train.seen`)
    leaves the items an entity already has out of the GNN's and popularity's rankings;
    ``auto`` decides from the training labels' repeat rate.
    With ``warm_start`` (a stored model of the same query, usually trained on an older
    snapshot), the GNN keeps that model's configuration (no search) and starts from its
    weights (:mod:`relgraph.train.warm`: new categories start fresh, new entities need
    nothing); LightGBM and the trivial baselines are trained anew (seconds).
    """
    from relgraph.graph import build_graph
    from relgraph.query import build_task_tables

    say: Progress = progress or (lambda stage, info: None)
    start = time.monotonic()
    check_protocol(protocol)
    check_mode(exclude_seen)
    # 0. A pretrained trunk must fit this snapshot: say so before any work.
    trunk: PretrainedTrunk | None = None
    if from_pretrained is not None:
        if not gnn:
            raise TrainingError("--from-pretrained initialises the GNN; drop --no-gnn")
        trunk = load_pretrained(workspace, from_pretrained)
        trunk.check_snapshot(snapshot)
    warm = None
    if warm_start is not None:
        if not gnn:
            raise TrainingError("--warm-start continues the GNN; drop --no-gnn")
        if trunk is not None:
            raise TrainingError("use --warm-start or --from-pretrained, not both")
        from relgraph.train.warm import load_warm_start

        warm = load_warm_start(workspace, warm_start, query)
        budget = replace(
            budget, trials=1, base=ModelConfig.from_dict(warm.files.meta["config"])
        )
    # 1. Labels.
    say("labels", {})
    tables = build_task_tables(snapshot, query, val_cutoff=val_cutoff, test_cutoff=test_cutoff)
    task = tables.task
    train_t, val_t = tables.train.table, tables.val.table
    test_labels = tables.test_labels()
    warns = label_warnings(task, train_t)
    if not warns or "training labels are" not in warns[0]:
        # (One-class training labels are warned about already; the rest follows.)
        warns += eval_warnings(task, {"validation": val_t, "test": test_labels})
    # Static columns that encode the future (relgraph audit): the model would read them.
    warns += [f.message() for f in future_static_columns(snapshot) if f.flagged]
    for w in warns:
        log.warning(w)
    if train_t.num_rows == 0:
        raise TrainingError(
            f"the query gives no training rows before {tables.val_cutoff:%Y-%m-%d}; "
            "move --val-cutoff later or widen the query"
        )
    metric = metric_key(task)
    seen: SeenItems | None = None
    excl: ExcludeSeen | None = None
    if task_kind(task) == "link":
        # Shallow per-item vectors let the ranker remember popular targets.
        budget = replace(budget, base=budget.base.replace(id_embeddings=True))
        say("owned items", {})
        owned = SeenItems(snapshot, query)
        rate = repeat_rate(train_t.column("TARGET").to_pylist(), owned.lists(train_t))
        excl = ExcludeSeen(exclude_seen, rate, decide(exclude_seen, rate))
        seen = owned if excl.exclude else None
        log.info("exclude owned items: %s (%s; repeat rate %.3f)", excl.exclude, exclude_seen, rate)
    result_gnn: ModelScores | None = None
    result_bl: ModelScores | None = None
    trials: list[dict[str, Any]] = []
    best_trainer: GNNTrainer | None = None
    init: dict[str, Any] | None = None
    if trunk is not None:
        init = trunk.state()
        budget = replace(budget, base=trunk.pin(budget.base))
        if trunk.until is None or datetime.fromisoformat(trunk.until) > tables.test_cutoff:
            warns.append(
                f"pretrained trunk '{from_pretrained}' saw rows up to "
                f"{trunk.until or 'the end of the snapshot'}, after this run's test cut-off "
                f"{tables.test_cutoff:%Y-%m-%d}: pretrain with --until "
                f"{tables.test_cutoff:%Y-%m-%d} for an honest comparison"
            )
    pretraining: Pretraining | None = None
    config = budget.base
    # 2. The LightGBM baseline on as-of aggregates (first: its time is bounded, the
    # GNN's search then gets whatever is left of the budget).
    booster_model: LightGBMBaseline | None = None
    gap_model: LightGBMBaseline | None = None
    refit: dict[str, Any] = {}  # name -> LightGBMBaseline / GNNTrainer
    extra_models: dict[str, LightGBMBaseline] = {}  # lightgbm_gap, lightgbm_residual
    if baseline and task_kind(task) in ("binary", "regression", "multiclass"):
        say("lightgbm", {})
        booster_model = LightGBMBaseline(task, snapshot, seed=seed).fit(train_t, val_t)
        # The same model trained for the frozen protocol's gap: half its rows see up to a
        # random time before their anchor (as far back as the test anchors reach past
        # the cut-off), early-stopped on validation rows cut at the validation cut-off.
        test_anchors = tables.anchors.test if tables.anchors is not None else ()
        span = (max(test_anchors) - tables.test_cutoff) if test_anchors else None
        if span is not None and span.total_seconds() > 0:
            say("lightgbm (gap)", {})
            gap_model = LightGBMBaseline(task, snapshot, seed=seed).fit(
                with_gaps(train_t, span, seed=seed),
                val_view(val_t, "frozen", tables.val_cutoff),
            )
        # Refit on training + validation rows for the rounds validation chose: the
        # copies score test and are what predict uses (validation chose on the originals).
        if val_t.num_rows:
            say("lightgbm (refit)", {})
            both = _stack(train_t, val_t)
            refit["lightgbm"] = booster_model.refit(both)
            if gap_model is not None and span is not None:
                refit["lightgbm_gap"] = gap_model.refit(with_gaps(both, span, seed=seed))
        # The same model learning the change from the entity's latest known label
        # (regression on a temporal target): it can follow a level that moved.
        if task_kind(task) == "regression" and tables.anchors is not None:
            say("lightgbm (residual)", {})
            extra_models["lightgbm_residual"] = LightGBMBaseline(
                task, snapshot, seed=seed, residual=True
            ).fit(train_t, val_t)
            if val_t.num_rows:
                refit["lightgbm_residual"] = extra_models["lightgbm_residual"].refit(
                    _stack(train_t, val_t)
                )
        result_bl = ModelScores(
            val=booster_model.score(val_t),
            test=booster_model.score(test_labels) if test_labels.num_rows else {},
            seconds=booster_model.fit_seconds_,
        )
    # 3. GNN: graph, features, search — all within the budget's wall time from the
    # start of this run, less a reserve for scoring val/test and saving.
    deadline = start + budget.minutes * 60 * (1 - _EVAL_RESERVE) - _EVAL_RESERVE_S
    if gnn:
        say("graph", {})
        graph = build_graph(snapshot)
        say("features", {})
        # A static target's own column is no input (it would answer itself).
        feats = build_features(snapshot).without(hidden_columns(task.query))

        limits: list[float] = []

        def fit(cfg: ModelConfig, seconds: float) -> tuple[float, Any]:
            if trunk is not None:
                # Searched trials vary the rest; the trunk fixes width and depth.
                cfg = trunk.pin(cfg)
            say("trial", {"config": cfg.to_dict()})
            limits.append(seconds)
            tr = GNNTrainer(
                task=task, graph=graph, features=feats, config=cfg, seed=seed, init_state=init,
                seen=seen,
                warm=warm,
            )  # fmt: skip
            tr.fit(
                train_t,
                val_t,
                time_limit=seconds,
                min_steps=budget.min_steps,
                on_epoch=lambda e, n, loss, v: say(
                    "epoch", {"epoch": e, "epochs": n, "loss": loss, metric: v}
                ),
            )
            return tr.best_val_, tr

        def on_trial(r: TrialResult) -> None:
            trials.append(
                {
                    "trial": r.number,
                    "value": r.value,
                    "seconds": round(r.seconds, 1),
                    "config": (trunk.pin(r.config) if trunk is not None else r.config).to_dict(),
                }
            )

        best, _ = search(budget, metric, fit, seed=seed, on_trial=on_trial, deadline=deadline)
        best_trainer = best.trainer
        config = trunk.pin(best.config) if trunk is not None else best.config
        say("evaluate", {})
        assert best_trainer is not None
        result_gnn = _scores(best_trainer, val_t, test_labels)
        if trunk is not None:
            # The same configuration, seed and time limit, without the trunk.
            say("scratch", {})
            scratch = GNNTrainer(
                task=task, graph=graph, features=feats, config=config, seed=seed, seen=seen
            )
            scratch.fit(train_t, val_t, time_limit=limits[best.number], min_steps=budget.min_steps)
            scratch_scores = _scores(scratch, val_t, test_labels)
            pretraining = Pretraining(
                pretrained_id=trunk.pretrained_id,
                loaded=len(best_trainer.init_loaded_),
                scratch=scratch_scores,
                delta=score_delta(result_gnn, scratch_scores),
            )
        # Refit on training + validation rows for the epochs validation chose, as
        # LightGBM is, when the budget has room (not with a trunk: the pretraining
        # comparison is of the early-stopped models).
        left = deadline - time.monotonic()
        need = best_trainer.fit_seconds_ * (train_t.num_rows + val_t.num_rows) / train_t.num_rows
        if trunk is None and val_t.num_rows and left > need:
            say("gnn (refit)", {})
            epochs = best_epoch(best_trainer.history_, metric)
            again = GNNTrainer(
                task=task, graph=graph, features=feats, config=config.replace(epochs=epochs),
                seed=seed, seen=seen, warm=warm,
            )  # fmt: skip
            # No validation rows: every epoch counts and the last one is kept.
            refit["gnn"] = again.fit(
                _stack(train_t, val_t), val_t.slice(0, 0), time_limit=left,
                min_steps=budget.min_steps,
            )  # fmt: skip
    # 4. Every candidate on the same rows under both protocols; choose on validation.
    say("candidates", {})
    trivial = {name: TrivialBaseline(name, task).fit(train_t) for name in trivial_names(task)}
    candidates = score_candidates(
        task, tables.val_cutoff, tables.test_cutoff, val_t, test_labels,
        history=label_history(train_t, val_t, test_labels),
        gnn=best_trainer, lightgbm=booster_model, trivial=trivial,
        extra=extra_models | ({"lightgbm_gap": gap_model} if gap_model is not None else {}),
        refit=refit, seen=seen,
    )  # fmt: skip
    fit_s = {"gnn": result_gnn, "lightgbm": result_bl}
    for c in candidates:
        scores = fit_s.get(c.name)
        c.seconds = scores.seconds if scores is not None else 0.0
    selected = select(candidates, metric, protocol)
    by_name = {c.name: c for c in candidates}
    # The headline gnn/lightgbm figures are the selection protocol's.
    if result_gnn is not None and "gnn" in by_name:
        sc = by_name["gnn"].scores[protocol]
        result_gnn = ModelScores(val=sc["val"], test=sc["test"], seconds=result_gnn.seconds)
    if result_bl is not None and "lightgbm" in by_name:
        sc = by_name["lightgbm"].scores[protocol]
        result_bl = ModelScores(val=sc["val"], test=sc["test"], seconds=result_bl.seconds)
    for w in selection_warnings(candidates, metric, protocol, selected):
        log.warning(w)
        warns.append(w)
    # 5. Store.
    mid = model_id or new_model_id(task)
    path = model_dir(workspace, mid)
    result = TrainResult(
        model_id=mid,
        path=path,
        query=query,
        task=task.to_dict(),
        snapshot_id=snapshot.id,
        metric=metric,
        gnn=result_gnn,
        baseline=result_bl,
        config=config,
        trials=trials,
        warnings=warns,
        rows={"train": train_t.num_rows, "val": val_t.num_rows, "test": test_labels.num_rows},
        seconds=time.monotonic() - start,
        pretraining=pretraining,
        candidates=candidates,
        selected=selected,
        protocol=protocol,
        exclude_seen=excl,
    )
    if warm is not None:
        result.warm_start = {
            "model_id": warm.model_id,
            "from_snapshot": warm.files.snapshot_id,
            "tensors_loaded": len(warm.loaded),
            "categories_kept": warm.remapped,
        }
    shipped_gnn = refit.get("gnn", best_trainer)
    shipped = refit.get("lightgbm", booster_model)
    shipped_gap = refit.get("lightgbm_gap", gap_model)
    meta = result.to_dict() | {
        "seed": seed,
        "budget": budget.name,
        "val_cutoff": tables.val_cutoff.isoformat(),
        "test_cutoff": tables.test_cutoff.isoformat(),
        "created": datetime.now().isoformat(timespec="seconds"),
        "gnn_state": shipped_gnn.state() if shipped_gnn is not None else None,
        # What predict uses: the refit copies where there are any.
        "lightgbm_state": _lgbm_state(shipped),
        "trivial_state": {name: b.state() for name, b in trivial.items()},
        "lightgbm_gap_state": _lgbm_state(shipped_gap),
        **{f"{name}_state": _lgbm_state(refit.get(name, m)) for name, m in extra_models.items()},
        "lightgbm_refit": sorted(refit),
    }
    save_model(
        path,
        meta,
        shipped_gnn.model_.state_dict() if shipped_gnn is not None else None,
        shipped.booster_ if shipped is not None else None,
        extra_boosters={
            name: m.booster_
            for name, m in [("lightgbm_gap", shipped_gap)]
            + [(n, refit.get(n, m)) for n, m in extra_models.items()]
            if m is not None
        }
        or None,
    )
    return result


def best_epoch(history: list[dict[str, float]], metric: str) -> int:
    """The 1-based epoch with the best validation ``metric`` (the last if none is known).

    Example:
        >>> best_epoch([{"mae": 3.0}, {"mae": 2.0}, {"mae": 2.5}], "mae")
        2
        >>> best_epoch([{"auroc": 0.7}, {"auroc": 0.7}, {"auroc": float("nan")}], "auroc")
        1
    """
    sign = 1.0 if higher_is_better(metric) else -1.0
    scored = [
        (sign * h[metric], -i) for i, h in enumerate(history) if not np.isnan(h.get(metric, np.nan))
    ]
    # Ties go to the earliest epoch, as the trainer's early stopping keeps it.
    return (1 - max(scored)[1]) if scored else max(1, len(history))


def _stack(*tables: pa.Table) -> pa.Table:
    """Labelled rows of several splits as one training table."""
    cols = ["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"]
    return pa.concat_tables([t.select(cols) for t in tables], promote_options="permissive")


def _lgbm_state(m: LightGBMBaseline | None) -> dict[str, Any] | None:
    """What rebuilds a stored LightGBM model besides its booster file."""
    if m is None:
        return None
    return {
        "categories": m.categories_,
        "feature_names": m.feature_names_,
        "clip": list(getattr(m, "clip_", []) or []) or None,
        "residual": bool(getattr(m, "residual_", False)),
        "fill": getattr(m, "fill_", None),
    }


def label_history(*tables: pa.Table) -> pa.Table:
    """The labelled rows past-label baselines may read (each only once its window ended)."""
    parts = [t.select(["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"]) for t in tables if t.num_rows]
    if not parts:
        return tables[0].select(["ENTITY", "ANCHOR_TIMESTAMP", "TARGET"])
    return pa.concat_tables(parts, promote_options="permissive")


def score_candidates(
    task: Any,
    val_cutoff: datetime,
    test_cutoff: datetime,
    val: pa.Table,
    test_labels: pa.Table,
    *,
    history: pa.Table,
    gnn: GNNTrainer | None,
    lightgbm: LightGBMBaseline | None,
    trivial: dict[str, TrivialBaseline],
    extra: dict[str, LightGBMBaseline] | None = None,
    refit: dict[str, Any] | None = None,
    seen: SeenItems | None = None,
) -> list[Candidate]:
    """Every candidate's metrics on validation and test under each protocol.

    ``refit``: per model (``gnn``, ``lightgbm``, ``lightgbm_gap``), its copy refit on
    training + validation rows, which scores test in its place (validation stays the
    early-stopped model's).

    ``seen`` (link tasks that exclude owned items): the GNN excludes them itself; the
    trivial rankers get the same lists for the same rows, so popularity skips them too.
    """
    refit = refit or {}
    kind = task_kind(task)
    scores: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    sure: dict[str, dict[str, float]] = {}

    def put(name: str, protocol: str, split: str, metrics: dict[str, float]) -> None:
        scores.setdefault(name, {p: {"val": {}, "test": {}} for p in PROTOCOLS})
        scores[name][protocol][split] = metrics

    for protocol in PROTOCOLS:
        views = {
            "val": val_view(val, protocol, val_cutoff),
            "test": as_of(test_labels, protocol, test_cutoff),
        }
        for split, rows in views.items():
            if rows.num_rows == 0:
                continue
            y = rows.column("TARGET").to_numpy(zero_copy_only=False)
            if kind != "link":
                y = y.astype(np.int64 if kind == "multiclass" else np.float64)
            preds: dict[str, np.ndarray] = {}
            if gnn is not None:
                g = refit.get("gnn", gnn) if split == "test" else gnn
                if kind == "link":
                    put("gnn", protocol, split, g.score(rows))
                else:
                    preds["gnn"] = g.predict_raw(rows)
            if lightgbm is not None:
                m = refit.get("lightgbm", lightgbm) if split == "test" else lightgbm
                preds["lightgbm"] = m.predict_raw(rows)
            if len(preds) == 2:
                # The plain average: no weights to fit, so nothing to overfit on val.
                preds["ensemble"] = (preds["gnn"] + preds["lightgbm"]) / 2
            for name, model in (extra or {}).items():
                m = refit.get(name, model) if split == "test" else model
                preds[name] = m.predict_raw(rows)
            for name, pred in preds.items():
                put(name, protocol, split, evaluate(kind, y, pred))
            triv: dict[str, np.ndarray] = {}
            had = seen.lists(rows) if seen is not None and kind == "link" else None
            for name, b in trivial.items():
                got = b.score(rows, history, had) if kind == "link" else b.score(rows, history)
                put(TRIVIAL_PREFIX + name, protocol, split, got)
                if kind != "link":
                    triv[name] = b.predict_raw(rows, history)
            if split == "val":
                # How sure validation is that each model beats the best trivial one.
                for name, p in beats_trivial(y, preds, triv, kind, metric_key(task)).items():
                    sure.setdefault(name, {})[protocol] = p
    return [
        Candidate(name, s, extra={"beats_trivial": sure[name]} if name in sure else {})
        for name, s in scores.items()
    ]


def selection_warnings(
    candidates: list[Candidate], metric: str, protocol: str, selected: str
) -> list[str]:
    """What the user must know about the choice (a trivial model won, or nearly)."""
    out: list[str] = []
    learned = [c.name for c in candidates if not is_trivial(c.name)]
    top = ranking(candidates, metric, protocol)[0]
    if is_trivial(selected) and within_noise(top, protocol):
        out.append(
            f"'{top.name}' was better than '{selected}' on validation {metric} but within "
            f"noise: it won on {confidence(top, protocol):.0%} of bootstrap resamples of the "
            f"validation rows (below {CONFIDENCE:.0%}; {protocol} protocol); predict uses "
            f"the trivial baseline; pass --model-kind {top.name} to use the model"
        )
    elif is_trivial(selected) and learned:  # none trained (--no-gnn --no-baseline): no news
        out.append(
            f"no learned model ({', '.join(learned)}) beat the trivial "
            f"baseline '{selected}' on validation {metric} ({protocol} protocol): predict "
            "uses the trivial baseline; pass --model-kind to use another candidate"
        )
    else:
        bt = best_trivial(candidates, metric, protocol)
        chosen = next(c for c in candidates if c.name == selected)
        if bt is not None:
            # On test the trivial baseline won although validation said otherwise.
            t_sel = chosen.value(protocol, "test", metric)
            t_bt = bt.value(protocol, "test", metric)
            worse = t_sel < t_bt if higher_is_better(metric) else t_sel > t_bt
            if worse:
                out.append(
                    f"'{selected}' won on validation but the trivial baseline '{bt.name}' "
                    f"is better on test {metric} ({t_bt:.4g} vs {t_sel:.4g}, {protocol} "
                    "protocol): the model may not generalise; check the test period"
                )
    return out
