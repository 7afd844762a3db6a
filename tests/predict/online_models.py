"""Tiny stored models for the online tests: one GNN epoch and a few LightGBM rounds.

``api.train`` searches configurations and scores every candidate (minutes); these
tests need a stored model of each kind, not a good one, so the model is fitted and
stored here with the same classes and :func:`save_model` that training uses.
"""

from __future__ import annotations

from pathlib import Path

from relgraph.graph import build_graph
from relgraph.graph.features import build_features
from relgraph.nn.model import ModelConfig
from relgraph.query import build_task_tables
from relgraph.query.task import hidden_columns
from relgraph.store.workspace import Workspace
from relgraph.train.artifacts import model_dir, save_model
from relgraph.train.baseline import LightGBMBaseline
from relgraph.train.loop import GNNTrainer
from relgraph.train.run import _lgbm_state

CONFIG = ModelConfig(channels=16, fanouts=(2, 2), epochs=1, batch_size=32, encoder_layers=1)


def tiny_model(workspace: Path, query: str, model_id: str, *, lightgbm: bool = True) -> str:
    """Fit and store a model for ``query`` on the workspace's latest snapshot."""
    snap = Workspace(workspace).snapshot()
    tables = build_task_tables(snap, query)
    task = tables.task
    trainer = GNNTrainer(
        task=task,
        graph=build_graph(snap),
        features=build_features(snap).without(hidden_columns(query)),
        config=CONFIG,
        seed=0,
    ).fit(tables.train.table, tables.val.table)
    lgbm = None
    if lightgbm:
        lgbm = LightGBMBaseline(task, snap, num_rounds=20).fit(tables.train.table, tables.val.table)
    cands = ["gnn"] + (["lightgbm", "ensemble"] if lgbm is not None else [])
    meta = {
        "model_id": model_id,
        "query": query,
        "task": task.to_dict(),
        "snapshot_id": snap.id,
        "config": CONFIG.to_dict(),
        "seed": 0,
        "val_cutoff": tables.val_cutoff.isoformat(),
        "test_cutoff": tables.test_cutoff.isoformat(),
        "gnn_state": trainer.state(),
        "lightgbm_state": _lgbm_state(lgbm),
        "candidates": {c: {} for c in cands},
        "selected": "gnn",
    }
    save_model(
        model_dir(workspace, model_id),
        meta,
        trainer.model_.state_dict(),
        lgbm.booster_ if lgbm is not None else None,
    )
    return model_id
