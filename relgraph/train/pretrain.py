"""Pretraining: the GNN trunk learns the snapshot without labels; task models start from it.

``pretrain_trunk`` trains a :class:`~relgraph.nn.pretrain.MaskedFeatureModel` on
rows of every table with numerical or categorical columns, each seen at its own
time (tables without a time column at random anchor times), with the temporal
sampler: the trunk only ever sees rows with time ≤ the anchor, and with ``until``
no anchor (so no row) after that date. It stores the trunk under
``workspace/pretrained/<id>/``:

- ``pretrain.json`` — snapshot id, ``ModelConfig``, settings, loss history;
- ``trunk.pt`` — the trunk's ``state_dict`` (``encoder.*``, ``temporal.*``,
  ``gnn.*``; plain tensors, loaded with ``weights_only=True``).

``init_from_trunk`` copies those tensors into a task model where the shapes match.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from relgraph import cancel
from relgraph.errors import StoreError, TrainingError
from relgraph.graph.features import FeatureSet, build_features
from relgraph.graph.times import NO_TIME, UNKNOWN_TIME
from relgraph.nn.model import TRUNK_PARTS, ModelConfig, RelGNN, col_names
from relgraph.nn.pretrain import MaskedFeatureModel, reconstructable
from relgraph.store.atomic import staged_dir
from relgraph.store.snapshot import Snapshot

log = logging.getLogger(__name__)

PRETRAINED = "pretrained"
PRETRAIN_JSON = "pretrain.json"
TRUNK_WEIGHTS = "trunk.pt"
OBJECTIVE = "masked-features"
# What a task model must share with the trunk for the trunk's tensors to fit it.
ARCHITECTURE = ("channels", "num_layers", "fanouts", "encoder_layers", "aggr", "attention")

Progress = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class PretrainConfig:
    """How to pretrain: the trunk's architecture, the batches and when to stop.

    ``until`` (ISO date/time): no anchor later than it, so the trunk never sees a row
    after it; set it to the test cut-off of the tasks it will serve.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    steps: int = 300
    # Seeds per step. Smaller than a task's batch: a seed row of a hub table (a race)
    # reaches hundreds of rows, and many small steps learn more per minute.
    batch_size: int = 64
    minutes: float = 5.0
    until: str | None = None
    tables: tuple[str, ...] = ()  # empty: every table with reconstructable columns
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        d["tables"] = list(self.tables)
        return d


@dataclass
class PretrainResult:
    """What ``relgraph pretrain`` reports and stores.

    ``loss_start``/``loss_end``: the reconstruction loss on fixed probe batches (one
    per seed table) before and after training; ``history``: the training loss.
    """

    pretrained_id: str
    path: Path
    snapshot_id: str
    config: PretrainConfig
    tables: list[str]
    steps: int
    loss_start: float
    loss_end: float
    history: list[dict[str, float]]
    seconds: float

    def __repr__(self) -> str:
        return (
            f"PretrainResult({self.pretrained_id!r}, steps={self.steps}, "
            f"loss {self.loss_start:.3f} -> {self.loss_end:.3f})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "pretrained_id": self.pretrained_id,
            "path": str(self.path),
            "snapshot_id": self.snapshot_id,
            "objective": OBJECTIVE,
            "config": self.config.to_dict(),
            "tables": self.tables,
            "steps": self.steps,
            "loss_start": self.loss_start,
            "loss_end": self.loss_end,
            "history": self.history,
            "seconds": round(self.seconds, 1),
        }


def pretrained_dir(workspace: str | Path, pretrained_id: str) -> Path:
    return Path(workspace) / PRETRAINED / pretrained_id


def new_pretrained_id(snapshot: Snapshot) -> str:
    return f"{snapshot.id[:8]}-{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


def build_trunk(graph: Any, features: FeatureSet, config: ModelConfig) -> RelGNN:
    """A RelGNN over every table; only its trunk (``TRUNK_PARTS``) is pretrained."""
    return RelGNN(
        config=config,
        node_types=list(graph.node_types),
        edge_types=[(et[0], et[1], et[2]) for et in graph.edge_types],
        col_names_dict=col_names(features.frames),
        col_stats=features.col_stats,
        seed_table=str(graph.node_types[0]),
        out_channels=1,
    )


def _until_seconds(until: str | None) -> int:
    if until is None:
        return int(np.iinfo(np.int64).max - 1)
    try:
        return int(datetime.fromisoformat(until).timestamp())
    except ValueError as e:
        raise TrainingError(f"--until must be an ISO date such as 2010-01-01, got '{until}'") from e


@dataclass
class _SeedPool:
    """Candidate seed rows of one table and their anchor times (-1: draw one)."""

    table: str
    nodes: np.ndarray
    times: np.ndarray


def seed_pools(graph: Any, features: FeatureSet, tables: list[str], until: int) -> list[_SeedPool]:
    """Rows that can be seeds: known time ≤ ``until`` (own time = anchor), or timeless."""
    pools = []
    for t in tables:
        nt = np.asarray(graph.node_time[t], dtype=np.int64)
        timeless = nt == NO_TIME
        ok = timeless | ((nt != UNKNOWN_TIME) & (nt <= until))
        nodes = np.flatnonzero(ok).astype(np.int64)
        if len(nodes):
            times = np.where(timeless[nodes], -1, nt[nodes]).astype(np.int64)
            pools.append(_SeedPool(t, nodes, times))
    return pools


def pretrain_trunk(
    snapshot: Snapshot,
    *,
    workspace: str | Path,
    config: PretrainConfig,
    pretrained_id: str | None = None,
    progress: Progress | None = None,
) -> PretrainResult:
    """Pretrain the trunk on ``snapshot`` by masked-feature reconstruction and store it."""
    from relgraph.graph import build_graph
    from relgraph.sample import Prefetcher, TemporalSampler

    say: Progress = progress or (lambda stage, info: None)
    start = time.monotonic()
    if config.steps < 1 or config.batch_size < 1:
        raise TrainingError(
            f"--steps and --batch-size must be at least 1, got {config.steps} and "
            f"{config.batch_size}"
        )
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    # 1. Graph, features, the tables that can be reconstructed.
    say("graph", {})
    graph = build_graph(snapshot)
    say("features", {})
    feats = build_features(snapshot)
    usable = sorted(t for t, tf in feats.frames.items() if reconstructable(tf))
    if config.tables:
        unknown = [t for t in config.tables if t not in usable]
        if unknown:
            raise TrainingError(
                f"cannot pretrain on table(s) {unknown}: they have no numerical or categorical "
                f"columns in snapshot {snapshot.id}; choose among {usable}"
            )
        usable = list(config.tables)
    until = _until_seconds(config.until)
    pools = seed_pools(graph, feats, usable, until)
    if not pools:
        raise TrainingError(
            f"snapshot {snapshot.id} has no rows to pretrain on"
            + (f" before {config.until}" if config.until else "")
            + "; pretraining needs numerical or categorical columns"
        )
    # Anchor times for timeless rows: the times of real rows (≤ until), so that they
    # are seen with the neighbourhoods that rows really had.
    timed = [np.asarray(graph.node_time[t]) for t in graph.node_types]
    pool_times = np.concatenate(
        [t[(t != NO_TIME) & (t != UNKNOWN_TIME) & (t <= until)] for t in timed]
    )
    if not len(pool_times):
        pool_times = np.zeros(1, dtype=np.int64)
    weights = np.sqrt(np.array([len(p.nodes) for p in pools], dtype=np.float64))
    weights /= weights.sum()
    # 2. Model and optimiser.
    trunk = build_trunk(graph, feats, config.model)
    model = MaskedFeatureModel(
        trunk=trunk, frames=feats.frames, col_stats=feats.col_stats, tables=[p.table for p in pools]
    )
    params = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("trunk.head")
    ]
    opt = torch.optim.Adam(params, lr=config.model.lr, weight_decay=config.model.weight_decay)
    sampler = TemporalSampler(
        graph, fanouts=list(config.model.fanouts), strategy=config.model.strategy, seed=config.seed
    )
    bs = config.batch_size

    def draw(pool: _SeedPool, gen: np.random.Generator, smp: Any) -> Any:
        pick = gen.choice(len(pool.nodes), size=min(bs, len(pool.nodes)), replace=False)
        times = pool.times[pick].copy()
        untimed = times < 0
        times[untimed] = gen.choice(pool_times, size=int(untimed.sum()))
        return smp.sample(pool.table, torch.from_numpy(pool.nodes[pick]), torch.from_numpy(times))

    def batches() -> Iterator[Any]:
        for _ in range(config.steps):
            yield draw(pools[int(rng.choice(len(pools), p=weights))], rng, sampler)

    # 3. Probe batches (one per table, fixed): the loss before and after says what
    #    the trunk learned; the training loss alone mixes tables of unequal difficulty.
    probe_rng = np.random.default_rng(config.seed + 1)
    probe_sampler = TemporalSampler(
        graph, fanouts=list(config.model.fanouts), strategy=config.model.strategy,
        seed=config.seed + 1,
    )  # fmt: skip
    probes = [draw(p, probe_rng, probe_sampler) for p in pools]
    loss_start = _probe_loss(model, feats, probes)
    # 4. Train: a fixed number of steps within the time limit.
    model.train()
    losses: list[float] = []
    history: list[dict[str, float]] = []
    chunk = max(1, config.steps // 10)
    steps = 0
    for batch in Prefetcher(batches(), depth=2):
        cancel.check()  # a cancelled job stops within one step
        opt.zero_grad()
        loss = model(feats.frames, batch)
        if not torch.isfinite(loss):
            log.warning(
                "non-finite pretraining loss at step %d (table %s); skipped",
                steps + 1,
                batch.seed_table,
            )
            continue
        loss.backward()  # type: ignore[no-untyped-call]
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if not torch.isfinite(norm):
            opt.zero_grad()
            continue
        opt.step()
        steps += 1
        losses.append(float(loss.detach()))
        if steps % chunk == 0 or steps == config.steps:
            mean = float(np.mean(losses[-chunk:]))
            history.append({"step": steps, "loss": mean})
            say("epoch", {"epoch": steps, "epochs": config.steps, "loss": mean})
        if time.monotonic() - start > config.minutes * 60:
            log.info("pretraining time budget reached after %d steps", steps)
            break
    if not losses:
        raise TrainingError("pretraining made no step: every batch had a non-finite loss")
    loss_end = _probe_loss(model, feats, probes)
    # 5. Store the trunk (one rename: a killed run leaves no partial folder).
    pid = pretrained_id or new_pretrained_id(snapshot)
    path = pretrained_dir(workspace, pid)
    result = PretrainResult(
        pretrained_id=pid,
        path=path,
        snapshot_id=snapshot.id,
        config=config,
        tables=[p.table for p in pools],
        steps=steps,
        loss_start=loss_start,
        loss_end=loss_end,
        history=history,
        seconds=time.monotonic() - start,
    )
    state = trunk_state(trunk)
    meta = result.to_dict() | {
        "created": datetime.now().isoformat(timespec="seconds"),
        "schema": snapshot.schema.to_dict(),
    }
    with staged_dir(path) as tmp:
        torch.save(state, tmp / TRUNK_WEIGHTS)
        (tmp / PRETRAIN_JSON).write_text(json.dumps(meta, indent=2, default=str))
    return result


@torch.no_grad()
def _probe_loss(model: MaskedFeatureModel, feats: FeatureSet, probes: list[Any]) -> float:
    """Mean reconstruction loss over the probe batches, in eval mode."""
    was = model.training
    model.eval()
    try:
        return float(np.mean([float(model(feats.frames, b)) for b in probes]))
    finally:
        model.train(was)


def trunk_state(model: nn.Module) -> dict[str, Tensor]:
    """The task-free tensors of a RelGNN (``TRUNK_PARTS``), detached, on the CPU."""
    return {
        k: v.detach().cpu().contiguous()
        for k, v in model.state_dict().items()
        if k.split(".", 1)[0] in TRUNK_PARTS
    }


@dataclass
class PretrainedTrunk:
    """A stored pretrained trunk: its metadata and (lazily) its weights."""

    pretrained_id: str
    path: Path
    meta: dict[str, Any]

    def __repr__(self) -> str:
        return f"PretrainedTrunk({self.pretrained_id!r}, snapshot={self.snapshot_id!r})"

    @property
    def snapshot_id(self) -> str:
        return str(self.meta["snapshot_id"])

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.from_dict(self.meta["config"]["model"])

    @property
    def until(self) -> str | None:
        u = self.meta["config"].get("until")
        return str(u) if u else None

    def state(self) -> dict[str, Tensor]:
        """The trunk weights, loaded safely (``weights_only=True``: tensors only, no code)."""
        state: dict[str, Tensor] = torch.load(
            self.path / TRUNK_WEIGHTS, map_location="cpu", weights_only=True
        )
        return state

    def check_snapshot(self, snapshot: Snapshot) -> None:
        """Raise unless ``snapshot`` is the one the trunk was pretrained on.

        The encoders are tied to a snapshot's columns, category codes and statistics.
        """
        if snapshot.id != self.snapshot_id:
            same_schema = snapshot.schema.to_dict() == self.meta.get("schema")
            why = (
                "same schema, but category codes and column statistics differ between snapshots"
                if same_schema
                else "its schema differs"
            )
            raise TrainingError(
                f"pretrained trunk '{self.pretrained_id}' was trained on snapshot "
                f"{self.snapshot_id}, not on {snapshot.id} ({why}); pretrain on this snapshot "
                f"(`relgraph pretrain --snapshot {snapshot.id}`) or train on --snapshot "
                f"{self.snapshot_id}"
            )

    def pin(self, config: ModelConfig) -> ModelConfig:
        """``config`` with the trunk's architecture, so that every trunk tensor fits."""
        trunk = self.model_config
        return config.replace(**{k: getattr(trunk, k) for k in ARCHITECTURE})


def load_pretrained(workspace: str | Path, pretrained_id: str) -> PretrainedTrunk:
    path = pretrained_dir(workspace, pretrained_id)
    pj = path / PRETRAIN_JSON
    if not pj.is_file():
        root = Path(workspace) / PRETRAINED
        known = sorted(p.name for p in root.glob("*") if p.is_dir() and not p.name.startswith("."))
        raise StoreError(
            f"no pretrained trunk '{pretrained_id}' in workspace '{workspace}'; "
            f"pretrained: {', '.join(known) or 'none (run `relgraph pretrain` first)'}"
        )
    try:
        meta = json.loads(pj.read_text())
    except ValueError as e:
        raise StoreError(f"corrupt {pj}: {e}") from e
    return PretrainedTrunk(pretrained_id=pretrained_id, path=path, meta=meta)


def init_from_trunk(model: nn.Module, state: dict[str, Tensor], *, name: str = "") -> list[str]:
    """Copy the trunk tensors whose name and shape match into ``model``; their names.

    Raises:
        TrainingError: when not a single tensor fits (another architecture).
    """
    own = model.state_dict()
    fit = {
        k: v
        for k, v in state.items()
        if k.split(".", 1)[0] in TRUNK_PARTS and k in own and own[k].shape == v.shape
    }
    if not fit:
        raise TrainingError(
            f"no tensor of pretrained trunk '{name}' fits this model: pretrain with the "
            "same --budget (channels, layers) as the training run"
        )
    missed = [k for k in state if k not in fit]
    if missed:
        log.warning(
            "%d of %d pretrained tensors do not fit and were left as initialised: %s",
            len(missed),
            len(state),
            ", ".join(missed[:5]),
        )
    model.load_state_dict(fit, strict=False)
    return sorted(fit)
