"""The GNN training loop: temporal mini-batches, early stopping on the validation metric.

``GNNTrainer(...).fit(train, val)`` follows scikit-learn: learned state ends in ``_``,
``predict`` before ``fit`` raises :class:`~relgraph.errors.TrainingError`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch
import torch.nn.functional as F
from torch import Tensor

from relgraph import cancel
from relgraph.errors import TrainingError
from relgraph.graph.build import REVERSE_PREFIX
from relgraph.graph.features import FeatureSet
from relgraph.nn.model import ModelConfig, RelGNN, col_names
from relgraph.nn.topk import Exclude, topk_inner
from relgraph.query.task import hidden_columns
from relgraph.train.metrics import evaluate, higher_is_better, link_metrics
from relgraph.train.protocol import INPUT_TIMESTAMP

log = logging.getLogger(__name__)

# Called after each epoch with (epoch, epochs, train loss, val metric value).
EpochCallback = Callable[[int, int, float, float], None]


def task_kind(task: Any) -> str:
    """The task type as a plain string ('binary', 'regression', 'multiclass', 'link', ...)."""
    tt = task.task_type
    return str(getattr(tt, "value", tt))


def metric_key(task: Any) -> str:
    """The task's metric as reported (``map@k`` becomes e.g. ``map@10``)."""
    m = str(task.metric)
    return f"map@{int(task.k or 10)}" if m == "map@k" else m


def seed_everything(seed: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)


def anchor_seconds(table: pa.Table, column: str = "ANCHOR_TIMESTAMP") -> np.ndarray:
    """``ANCHOR_TIMESTAMP`` (or another timestamp column) as int64 seconds since the epoch."""
    col = table.column(column).cast(pa.timestamp("us"))
    us = pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)
    return np.asarray(us // 1_000_000, dtype=np.int64)


@dataclass
class SeedSet:
    """Seed nodes and times of one split, aligned with the rows of its table."""

    nodes: np.ndarray
    times: np.ndarray  # the anchors: the reference of relative-time encodings
    target: Any  # np.ndarray (binary/regression/multiclass) or list[np.ndarray] (link)
    # What the sampler may see up to (the frozen protocol's cut-off); None: the anchors.
    input_times: np.ndarray | None = None
    # Link: target nodes each row's entity already has (not ranked, not a negative).
    exclude: Exclude | None = None
    # Link: the targets as the metrics count them: unknown keys (no row in the target
    # table) become distinct negative ids that no ranking holds, so they count as misses
    # here as they do for the trivial baselines, which rank keys.
    truth: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.nodes)


class GNNTrainer:
    """Trains a :class:`RelGNN` for one task on one graph.

    Args:
        task: the ``relgraph.query.Task``.
        graph: the ``relgraph.graph.RelGraph`` of the snapshot.
        features: the snapshot's :class:`FeatureSet`.
        config: model and optimisation settings.
        seed: seeds torch, NumPy and the sampler (runs are repeatable).
        sampler_factory: ``(graph, fanouts, strategy, seed) -> sampler`` (defaults to
            ``relgraph.sample.TemporalSampler``).
        warm: a :class:`relgraph.train.warm.WarmStart` (``train --warm-start``): the
            stored model's weights start this one.
        init_state: pretrained trunk tensors (``relgraph.train.pretrain``) that
            initialise the model where names and shapes match; the rest starts random.
        seen: link tasks: a ``relgraph.train.seen.SeenItems``; when given, the items
            each entity already has (as of its row's input time) are left out of its
            ranking — in validation, ``score``, ``rank`` — and out of the training
            softmax's negatives.
    """

    def __init__(
        self,
        *,
        task: Any,
        graph: Any,
        features: FeatureSet,
        config: ModelConfig,
        seed: int = 0,
        sampler_factory: Callable[..., Any] | None = None,
        init_state: dict[str, Tensor] | None = None,
        seen: Any = None,
        warm: Any = None,
    ) -> None:
        self.task = task
        self.graph = graph
        self.features = features
        self.config = config
        self.seed = seed
        self.kind = task_kind(task)
        self.sampler_factory = sampler_factory or _default_sampler
        self.init_state = init_state
        self.seen = seen
        # A relgraph.train.warm.WarmStart: every stored tensor that fits starts the model.
        self.warm = warm

    def __repr__(self) -> str:
        return f"GNNTrainer(task={self.kind}, config={self.config.to_json()})"

    # -- data ---------------------------------------------------------------
    def seeds(
        self, table: pa.Table, *, with_target: bool = True, node_table: str | None = None
    ) -> SeedSet:
        """Seed nodes of the rows' ``ENTITY`` keys (the entity table's, or ``node_table``'s)."""
        node_table = node_table or self.task.entity_table
        keys = table.column("ENTITY").to_numpy(zero_copy_only=False)
        nodes = np.asarray(self.graph.key_to_node(node_table, keys), dtype=np.int64)
        if (nodes < 0).any():
            bad = keys[np.flatnonzero(nodes < 0)[0]]
            raise TrainingError(
                f"training table refers to {node_table} key {bad!r}, which is not "
                "in the snapshot; rebuild the training table from this snapshot"
            )
        target: Any = None
        truth: list[np.ndarray] | None = None
        if with_target and "TARGET" in table.column_names:
            col = table.column("TARGET")
            if self.kind == "link":
                tgt_table = self.task.target_entity_table
                target = [
                    np.asarray(
                        self.graph.key_to_node(tgt_table, np.asarray(v or [])), dtype=np.int64
                    )
                    for v in col.to_pylist()
                ]
                truth = [np.where(t >= 0, t, -2 - np.arange(len(t))) for t in target]
                target = [t[t >= 0] for t in target]
            else:
                target = col.to_numpy(zero_copy_only=False).astype(
                    np.int64 if self.kind == "multiclass" else np.float64
                )
        times = anchor_seconds(table)
        inputs = None
        if INPUT_TIMESTAMP in table.column_names:
            inputs = anchor_seconds(table, INPUT_TIMESTAMP)
            inputs = None if np.array_equal(inputs, times) else inputs
        return SeedSet(nodes=nodes, times=times, target=target, input_times=inputs, truth=truth)

    def _exclude(self, table: pa.Table, s: SeedSet) -> SeedSet:
        """``s`` with the owned items of its rows to exclude (link tasks with ``seen``)."""
        if self.kind != "link" or self.seen is None or len(s) == 0:
            return s
        target = self.task.target_entity_table
        rows, nodes = self.seen.pairs(table, lambda k: self.graph.key_to_node(target, k))
        s.exclude = Exclude.from_pairs(rows, nodes, len(s))
        return s

    def _batches(
        self,
        s: SeedSet,
        order: np.ndarray,
        sampler: Any,
        node_table: str | None = None,
        *,
        stable: bool = False,
    ) -> Iterator[tuple[np.ndarray, Any]]:
        """Sampled batches of ``s`` in ``order``.

        ``stable``: every seed's subgraph is drawn from a stream of its own (node,
        time) under a fixed key, so an entity's prediction does not depend on which
        rows share its batch: one entity asked online gets the features it gets in
        a batch of thousands (:mod:`relgraph.predict.online`).
        """
        bs = self.config.batch_size
        seed_table = node_table or self.task.entity_table
        chunks = [order[i : i + bs] for i in range(0, len(order), bs)]

        def gen() -> Iterator[tuple[np.ndarray, Any]]:
            visible = s.times if s.input_times is None else s.input_times
            for idx in chunks:
                extra: dict[str, Any] = {}
                if stable:
                    extra = {
                        "key": self.seed + 10_000,
                        "salts": _seed_salts(s.nodes[idx], visible[idx]),
                    }
                batch = sampler.sample(
                    seed_table,
                    torch.from_numpy(s.nodes[idx]),
                    torch.from_numpy(visible[idx]),
                    **extra,
                )
                if s.input_times is not None:
                    # Frozen protocol: rows up to the cut-off, timed from the anchor.
                    batch.seed_time = torch.from_numpy(s.times[idx].copy())
                yield idx, batch

        def checked(batches: Iterator[tuple[np.ndarray, Any]]) -> Iterator[tuple[np.ndarray, Any]]:
            # Here, in the thread that trains (the prefetcher samples in another): a
            # cancelled job stops within one batch, in training and in evaluation alike.
            for item in batches:
                cancel.check()
                yield item

        try:
            from relgraph.sample import Prefetcher
        except ImportError:  # the sampler package is optional for hand-built batches
            return checked(gen())
        return checked(iter(Prefetcher(gen(), depth=2)))

    # -- training -----------------------------------------------------------
    def _build_model(self) -> RelGNN:
        out = 1
        target_table = None
        num_targets = 0
        if self.kind == "multiclass":
            out = len(self.task.classes or ()) or int(self._num_classes)
        elif self.kind == "link":
            out = self.config.channels
            target_table = self.task.target_entity_table
            num_targets = int(self.graph.num_nodes[target_table])
        # A static target that is a foreign key (PREDICT warriors.gender_id) is its
        # own link: the edge to the row it names would answer the question.
        text = getattr(self.task, "query", None)
        cols = (
            hidden_columns(text).get(self.task.entity_table, frozenset()) if text else frozenset()
        )
        hidden = {
            et
            for et in self.graph.edge_types
            if (et[0] == self.task.entity_table and et[1] in cols)
            or (et[2] == self.task.entity_table and et[1] in {REVERSE_PREFIX + c for c in cols})
        }
        return RelGNN(
            config=self.config,
            node_types=list(self.graph.node_types),
            edge_types=[tuple(et) for et in self.graph.edge_types if et not in hidden],
            col_names_dict=col_names(self.features.frames),
            col_stats=self.features.col_stats,
            seed_table=self.task.entity_table,
            out_channels=out,
            target_table=target_table,
            num_targets=num_targets,
        )

    def _loss(self, out: Tensor, s: SeedSet, idx: np.ndarray) -> Tensor:
        if self.kind == "binary":
            y = torch.from_numpy(s.target[idx]).float()
            return F.binary_cross_entropy_with_logits(out.view(-1), y, pos_weight=self.pos_weight_)
        if self.kind == "regression":
            y = (torch.from_numpy(s.target[idx]).float() - self.y_mean_) / self.y_std_
            return F.l1_loss(out.view(-1), y)
        if self.kind == "multiclass":
            y = torch.from_numpy(s.target[idx]).long()
            return F.cross_entropy(out, y, weight=self.class_weight_)
        if self.kind == "link":
            cand = self.model_.candidates(
                self.features.frames.get(self.task.target_entity_table), self.num_targets_
            )
            logits = out @ cand.t()
            y = torch.zeros_like(logits)
            for row, i in enumerate(idx):
                if len(s.target[i]):
                    y[row, torch.from_numpy(s.target[i])] = 1.0
            if s.exclude is not None:
                # Owned items are never ranked, so they are no negatives either: the
                # softmax compares the positives with what could be recommended.
                ex = s.exclude
                counts = ex.indptr[idx + 1] - ex.indptr[idx]
                rr = np.repeat(np.arange(len(idx)), counts)
                cc = np.concatenate([ex.indices[ex.indptr[i] : ex.indptr[i + 1]] for i in idx])
                if len(cc):
                    mask = torch.zeros_like(logits, dtype=torch.bool)
                    mask[torch.from_numpy(rr), torch.from_numpy(cc)] = True
                    logits = logits.masked_fill(mask & (y == 0), -torch.inf)
            keep = y.sum(1) > 0
            if not keep.any():
                return logits.sum() * 0.0
            # Softmax over all candidates, averaged over each seed's positives.
            logp = torch.log_softmax(logits[keep], dim=1)
            yk = y[keep]
            # where, not a product: an excluded item's log-probability is -inf (and 0·-inf
            # is NaN).
            picked = torch.where(yk > 0, logp, torch.zeros_like(logp))
            return -(picked.sum(1) / yk.sum(1)).mean()
        raise TrainingError(f"task type '{self.kind}' cannot be trained by the GNN")

    def _prepare_targets(self, s: SeedSet) -> None:
        self.pos_weight_: Tensor | None = None
        self.class_weight_: Tensor | None = None
        self.y_mean_, self.y_std_ = 0.0, 1.0
        self.clip_: tuple[float, float] | None = None
        self._num_classes = 0
        if self.kind == "binary":
            pos = float(s.target.mean()) if len(s) else 0.0
            if 0.0 < pos < 0.2 or 0.8 < pos < 1.0:
                # Heavy imbalance: up-weight the rare class (square root: full inverse
                # frequency over-corrects and hurts calibration).
                self.pos_weight_ = torch.tensor(math.sqrt((1 - pos) / pos))
        elif self.kind == "regression":
            y = s.target.astype(np.float64)
            self.y_mean_ = float(np.mean(y))
            self.y_std_ = float(np.std(y)) or 1.0
            # RelBench clips regression predictions to the train targets' 2nd-98th percentiles.
            self.clip_ = (float(np.percentile(y, 2)), float(np.percentile(y, 98)))
        elif self.kind == "multiclass":
            n = len(self.task.classes or ()) or int(s.target.max()) + 1
            self._num_classes = n
            counts = np.bincount(s.target, minlength=n).astype(np.float64)
            if counts.max() > 5 * max(counts.min(), 1):
                w = 1.0 / np.sqrt(np.maximum(counts, 1))
                self.class_weight_ = torch.tensor(w / w.mean(), dtype=torch.float32)
        elif self.kind == "link":
            self.num_targets_ = int(self.graph.num_nodes[self.task.target_entity_table])

    def fit(
        self,
        train: pa.Table,
        val: pa.Table,
        *,
        time_limit: float | None = None,
        patience: int = 3,
        on_epoch: EpochCallback | None = None,
        min_steps: int = 0,
    ) -> GNNTrainer:
        """Train; keep the weights with the best validation metric.

        ``min_steps``: an epoch passes over the training rows as often as it takes for
        ``epochs`` epochs to make at least this many optimizer steps (a small table
        would otherwise train for a handful of steps); validation stays once per epoch.
        """
        seed_everything(self.seed)
        tr, va = self._exclude(train, self.seeds(train)), self._exclude(val, self.seeds(val))
        if len(tr) == 0:
            raise TrainingError("the training table is empty: widen the time range or the query")
        self._prepare_targets(tr)
        self.model_ = self._build_model()
        self.init_loaded_: list[str] = []
        if self.init_state is not None:
            from relgraph.train.pretrain import init_from_trunk

            self.init_loaded_ = init_from_trunk(self.model_, self.init_state)
        if self.warm is not None:
            from relgraph.train.warm import warm_init

            self.init_loaded_ = warm_init(self.model_, self.warm, self.features)
        opt = torch.optim.Adam(
            self.model_.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        metric = metric_key(self.task)
        sign = 1.0 if higher_is_better(metric) else -1.0
        best, best_state, bad_epochs = -math.inf, copy.deepcopy(self.model_.state_dict()), 0
        self.history_: list[dict[str, float]] = []
        start = time.monotonic()
        rng = np.random.default_rng(self.seed)
        val_s = 0.0  # the last validation pass's duration (unknown before the first)
        # Passes are concatenated, then cut into batches: steps = ceil(passes·rows / bs).
        want = math.ceil(min_steps / max(self.config.epochs, 1))
        passes = max(1, math.ceil(want * self.config.batch_size / len(tr)))
        self.steps_ = 0
        for epoch in range(self.config.epochs):
            self.model_.train()
            sampler = self.sampler_factory(
                self.graph, list(self.config.fanouts), self.config.strategy, self.seed + epoch
            )
            total, n = 0.0, 0
            order = np.concatenate([rng.permutation(len(tr)) for _ in range(passes)])
            for idx, batch in self._batches(tr, order, sampler):
                opt.zero_grad()
                loss = self._loss(self.model_(self.features.frames, batch), tr, idx)
                if not torch.isfinite(loss):
                    # One bad batch must not poison the weights; skip it and say so.
                    log.warning("non-finite loss in epoch %d; batch skipped", epoch + 1)
                    continue
                loss.backward()  # type: ignore[no-untyped-call]
                norm = torch.nn.utils.clip_grad_norm_(self.model_.parameters(), 1.0)
                if not torch.isfinite(norm):
                    log.warning("non-finite gradient in epoch %d; batch skipped", epoch + 1)
                    opt.zero_grad()
                    continue
                opt.step()
                self.steps_ += 1
                total += float(loss.detach()) * len(idx)
                n += len(idx)
                # Stop early enough that the validation pass still fits in the budget.
                if time_limit is not None and time.monotonic() - start + val_s > time_limit:
                    break
            t_val = time.monotonic()
            val_metrics = self._score(va) if len(va) else {metric: float("nan")}
            val_s = time.monotonic() - t_val
            value = val_metrics.get(metric, float("nan"))
            self.history_.append({"epoch": epoch + 1, "loss": total / max(n, 1), **val_metrics})
            if on_epoch is not None:
                on_epoch(epoch + 1, self.config.epochs, total / max(n, 1), value)
            if math.isnan(value) or sign * value > best:
                best = sign * value if not math.isnan(value) else best
                best_state = copy.deepcopy(self.model_.state_dict())
                bad_epochs = 0
            else:
                bad_epochs += 1
            if bad_epochs >= patience:
                break
            if time_limit is not None and time.monotonic() - start + val_s > time_limit:
                log.info("time budget reached after epoch %d", epoch + 1)
                break
        self.model_.load_state_dict(best_state)
        self.best_val_ = sign * best if best != -math.inf else float("nan")
        self.fit_seconds_ = time.monotonic() - start
        return self

    # -- persistence --------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """JSON-ready learned state besides the weights (target scaling, clipping)."""
        self._check_fitted()
        return {
            "y_mean": self.y_mean_,
            "y_std": self.y_std_,
            "clip": list(self.clip_) if self.clip_ else None,
            "num_classes": self._num_classes,
            "best_val": self.best_val_,
            "history": self.history_,
            "steps": getattr(self, "steps_", None),
        }

    def restore(self, state: dict[str, Any], weights: dict[str, Tensor]) -> GNNTrainer:
        """Rebuild a fitted trainer from :meth:`state` and saved weights."""
        self.y_mean_, self.y_std_ = float(state["y_mean"]), float(state["y_std"])
        self.clip_ = tuple(state["clip"]) if state.get("clip") else None  # type: ignore[assignment]
        self._num_classes = int(state.get("num_classes") or 0)
        self.best_val_ = float(state.get("best_val", float("nan")))
        self.history_ = list(state.get("history", []))
        if self.kind == "link":
            self.num_targets_ = int(self.graph.num_nodes[self.task.target_entity_table])
        self.model_ = self._build_model()
        self.model_.load_state_dict(weights)
        self.model_.eval()
        return self

    # -- inference ----------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise TrainingError("this GNNTrainer is not fitted yet; call fit() first")

    @torch.no_grad()
    def _run(self, s: SeedSet, what: str = "out", node_table: str | None = None) -> np.ndarray:
        self._check_fitted()
        self.model_.eval()
        sampler = self.sampler_factory(
            self.graph, list(self.config.fanouts), self.config.strategy, self.seed + 10_000
        )
        outs = []
        batches = self._batches(s, np.arange(len(s)), sampler, node_table, stable=True)
        for _idx, batch in batches:
            if what == "embed":
                outs.append(self.model_.embed(self.features.frames, batch))
            else:
                outs.append(self.model_(self.features.frames, batch))
        if not outs:
            return np.zeros((0, 1), dtype=np.float32)
        return torch.cat(outs).numpy()

    def predict_raw(self, table: pa.Table) -> np.ndarray:
        """Probabilities (binary: P(1), multiclass: [n, C]) or values (regression)."""
        return self._postprocess(self._run(self.seeds(table, with_target=False)))

    def _postprocess(self, out: np.ndarray) -> np.ndarray:
        if self.kind == "binary":
            return np.asarray(1.0 / (1.0 + np.exp(-out.reshape(-1))))
        if self.kind == "regression":
            pred = out.reshape(-1) * self.y_std_ + self.y_mean_
            return np.clip(pred, *self.clip_) if self.clip_ else pred
        if self.kind == "multiclass":
            return np.asarray(torch.softmax(torch.from_numpy(out), dim=1).numpy())
        return out

    @torch.no_grad()
    def rank(self, table: pa.Table, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Link prediction: top-``k`` target node ids and their scores per row.

        With ``seen``, the entity's owned items are left out; a row with fewer than
        ``k`` other items gets node -1 (score -inf) in the places left.
        """
        s = self._exclude(table, self.seeds(table, with_target=False))
        return topk_inner(self._run(s), self._candidates(), k, exclude=s.exclude)

    @torch.no_grad()
    def _candidates(self) -> Tensor:
        return self.model_.candidates(
            self.features.frames.get(self.task.target_entity_table), self.num_targets_
        )

    def embed(self, table: pa.Table, *, node_table: str | None = None) -> np.ndarray:
        """GNN embeddings of the rows' entities as of their anchor times.

        ``node_table``: embed rows of another table (``ENTITY`` = its keys) with the
        same trunk; by default the task's entity table.
        """
        s = self.seeds(table, with_target=False, node_table=node_table)
        return self._run(s, what="embed", node_table=node_table)

    def _score(self, s: SeedSet) -> dict[str, float]:
        out = self._run(s)
        if self.kind == "link":
            k = int(self.task.k or 10)
            ranked, _ = topk_inner(out, self._candidates(), k, exclude=s.exclude)
            truth: Any = s.truth if s.truth is not None else s.target
            return link_metrics(truth, ranked, k)
        pred = self._postprocess(out)
        if not np.isfinite(pred).all():
            raise TrainingError(
                f"the model produced {int((~np.isfinite(pred)).sum())} non-finite predictions; "
                "lower the learning rate or check the features for extreme values"
            )
        return evaluate(self.kind, s.target, pred)

    def score(self, table: pa.Table) -> dict[str, float]:
        """All metrics of the task type on a labelled table."""
        return self._score(self._exclude(table, self.seeds(table)))


def _seed_salts(nodes: np.ndarray, times: np.ndarray) -> np.ndarray:
    from relgraph.sample import seed_salts

    return seed_salts(nodes, times)


def _default_sampler(graph: Any, fanouts: list[int], strategy: str, seed: int) -> Any:
    try:
        from relgraph.sample import TemporalSampler
    except ImportError as e:  # pragma: no cover - depends on the graph branch being merged
        raise TrainingError(
            "relgraph.sample is not available: the temporal sampler is missing"
        ) from e
    return TemporalSampler(graph, fanouts=fanouts, strategy=strategy, seed=seed)
