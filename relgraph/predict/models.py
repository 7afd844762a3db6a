"""The stored candidate a prediction uses: the GNN, LightGBM, their average or a trivial one.

``train`` records every candidate and the one chosen on validation (``selected`` in
``model.json``); :func:`load_predictor` rebuilds that one (or the ``model_kind`` the
user names) behind one interface, so the output code does not care which it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from relgraph.errors import TrainingError
from relgraph.store.snapshot import Snapshot
from relgraph.train.artifacts import ModelFiles
from relgraph.train.candidates import TRIVIAL_PREFIX, is_trivial
from relgraph.train.loop import GNNTrainer, task_kind
from relgraph.train.metrics import evaluate
from relgraph.train.trivial import TrivialBaseline


def model_kinds(files: ModelFiles) -> list[str]:
    """The candidates a stored model can predict with (models from before: the GNN)."""
    cands = files.meta.get("candidates")
    if cands:
        return list(cands)
    return ["gnn"] if files.meta.get("gnn_state") is not None else []


def chosen_kind(files: ModelFiles, model_kind: str | None) -> str:
    """``model_kind`` if given (checked), else the candidate chosen on validation."""
    kinds = model_kinds(files)
    kind = model_kind or str(files.meta.get("selected") or "gnn")
    if kind not in kinds and TRIVIAL_PREFIX + kind in kinds:
        kind = TRIVIAL_PREFIX + kind  # "--model-kind median" means the trivial median
    if kind not in kinds:
        raise TrainingError(
            f"model '{files.model_id}' has no candidate '{kind}'; "
            f"candidates: {', '.join(kinds) or 'none'}"
        )
    return kind


@dataclass
class Predictor:
    """One candidate of a stored model, ready to predict rows (``ENTITY, ANCHOR_TIMESTAMP``).

    ``history``: labelled rows for the trivial baselines that read an entity's past.
    """

    kind: str
    task: Any
    gnn: GNNTrainer | None = None
    lightgbm: Any = None
    trivial: TrivialBaseline | None = None
    history: pa.Table | None = field(default=None, repr=False)
    # The stored GNN, for the EMBEDDING column whichever candidate scores.
    embedder: GNNTrainer | None = field(default=None, repr=False)

    @property
    def task_type(self) -> str:
        return task_kind(self.task)

    def predict_raw(self, rows: pa.Table) -> np.ndarray:
        if self.trivial is not None:
            return self.trivial.predict_raw(rows, self.history)
        preds = []
        if self.gnn is not None:
            preds.append(self.gnn.predict_raw(rows))
        if self.lightgbm is not None:
            preds.append(self.lightgbm.predict_raw(rows))
        return np.asarray(sum(preds) / len(preds))

    def rank_keys(self, rows: pa.Table, k: int, snapshot: Snapshot) -> tuple[list[list[Any]], Any]:
        """Link: the top-``k`` target keys and their scores per row."""
        if self.trivial is not None:
            keys = self.trivial.rank(rows, self.history)
            # Rank-based scores: 1 for the first, falling by 1/k (no model score exists).
            scores = [[1.0 - i / k for i in range(len(r))] for r in keys]
            return keys, scores
        if self.gnn is None:
            raise TrainingError(f"candidate '{self.kind}' cannot rank")
        idx, sc = self.gnn.rank(rows, k)
        # Node i is row i of the target table: report its primary-key value.
        target = snapshot.schema[self.gnn.task.target_entity_table]
        keys_col = snapshot.read_table(target.name, columns=[target.primary_key or ""]).column(0)
        return [keys_col.take(pa.array(r)).to_pylist() for r in idx], [list(r) for r in sc]

    def embed(self, rows: pa.Table) -> np.ndarray | None:
        """The entities' GNN embeddings when the stored model has a GNN; None otherwise."""
        g = self.gnn or self.embedder
        return g.embed(rows) if g is not None else None

    @property
    def channels(self) -> int | None:
        g = self.gnn or self.embedder
        return g.config.channels if g is not None else None

    def score(self, labels: pa.Table, snapshot: Snapshot) -> dict[str, float]:
        kind = self.task_type
        if kind == "link":
            if self.trivial is not None:
                return self.trivial.score(labels, self.history)
            assert self.gnn is not None  # rank_keys raised otherwise
            return self.gnn.score(labels)
        y = labels.column("TARGET").to_numpy(zero_copy_only=False)
        y = y.astype(np.int64 if kind == "multiclass" else np.float64)
        return evaluate(kind, y, self.predict_raw(labels))


def load_predictor(
    files: ModelFiles,
    snapshot: Snapshot,
    kind: str,
    *,
    gnn_loader: Any,
    history: pa.Table | None = None,
) -> Predictor:
    """Rebuild candidate ``kind`` of ``files`` on ``snapshot``.

    ``gnn_loader(files, snapshot) -> GNNTrainer`` loads the GNN (the caller's, so that
    this module does not import the graph stack for LightGBM-only predictions).
    """
    from relgraph.query.table import compile_on_snapshot

    task = compile_on_snapshot(snapshot, files.meta["query"])
    # Predictions carry the entities' GNN embeddings whichever candidate scores them.
    stored_gnn = gnn_loader(files, snapshot) if files.meta.get("gnn_state") else None
    if is_trivial(kind):
        name = kind[len(TRIVIAL_PREFIX) :]
        state = (files.meta.get("trivial_state") or {}).get(name)
        if state is None:
            raise TrainingError(f"model '{files.model_id}' stores no trivial baseline '{name}'")
        return Predictor(
            kind, task, trivial=TrivialBaseline.from_state(task, state), history=history,
            embedder=stored_gnn,
        )  # fmt: skip
    gnn = stored_gnn if kind in ("gnn", "ensemble") else None
    lgbm = None
    if kind in ("lightgbm", "ensemble"):
        lgbm = load_lightgbm(files, snapshot, task)
    elif kind in ("lightgbm_gap", "lightgbm_residual"):
        lgbm = load_lightgbm(files, snapshot, task, name=kind)
    return Predictor(kind, task, gnn=gnn, lightgbm=lgbm, embedder=stored_gnn)


def load_lightgbm(files: ModelFiles, snapshot: Snapshot, task: Any, name: str = "lightgbm") -> Any:
    """A stored LightGBM model (``lightgbm``, ``lightgbm_gap``, ``lightgbm_residual``)."""
    from relgraph.train.baseline import LightGBMBaseline

    state = files.meta.get(f"{name}_state")
    booster = files.booster(name)
    if state is None or booster is None:
        raise TrainingError(f"model '{files.model_id}' has no LightGBM model")
    m = LightGBMBaseline(task, snapshot, seed=int(files.meta.get("seed", 0)))
    m.booster_ = booster
    m.categories_ = state["categories"]
    m.feature_names_ = state["feature_names"]
    if state.get("clip"):
        m.clip_ = tuple(state["clip"])
    if state.get("residual"):
        m.residual_, m.fill_ = True, float(state["fill"])
    return m
