"""Training: the GNN loop, metrics, the LightGBM baseline, search and budgets."""

from __future__ import annotations

from relgraph.train.baseline import LightGBMBaseline, compute_features
from relgraph.train.loop import GNNTrainer, metric_key, task_kind
from relgraph.train.metrics import evaluate, higher_is_better, map_at_k
from relgraph.train.run import ModelScores, TrainResult, label_warnings, train_task
from relgraph.train.search import Budget, search

__all__ = [
    "Budget",
    "GNNTrainer",
    "LightGBMBaseline",
    "ModelScores",
    "TrainResult",
    "compute_features",
    "evaluate",
    "higher_is_better",
    "label_warnings",
    "map_at_k",
    "metric_key",
    "search",
    "task_kind",
    "train_task",
]
