"""Metrics per task type (scikit-learn where it has them) and which direction is better.

Example:
    >>> import numpy as np
    >>> round(evaluate("binary", np.array([0.0, 1.0, 1.0]), np.array([0.2, 0.9, 0.6]))["auroc"], 3)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    roc_auc_score,
)

# Metrics where lower is better; everything else is maximised.
LOWER_IS_BETTER = frozenset({"mae", "rmse"})


def higher_is_better(metric: str) -> bool:
    return metric.split("@")[0] not in LOWER_IS_BETTER


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def binary_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """AUROC, average precision and accuracy at 0.5 (AUROC/AP are NaN on one class)."""
    out = {"accuracy": float(accuracy_score(y, prob >= 0.5))}
    if len(np.unique(y)) < 2:
        out |= {"auroc": float("nan"), "ap": float("nan")}
    else:
        out |= {
            "auroc": float(roc_auc_score(y, prob)),
            "ap": float(average_precision_score(y, prob)),
        }
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
    }


def multiclass_metrics(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    pred = prob.argmax(axis=1)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro")),
    }


def map_at_k(truth: Sequence[Sequence[int]], ranked: np.ndarray, k: int) -> float:
    """Mean average precision at ``k`` (RelBench's definition: divide by min(k, |truth|))."""
    scores = []
    for true, pred in zip(truth, ranked, strict=True):
        true_set = set(int(t) for t in true)
        if not true_set:
            continue
        hits, total = 0, 0.0
        for i, p in enumerate(pred[:k]):
            if int(p) in true_set:
                hits += 1
                total += hits / (i + 1)
        scores.append(total / min(k, len(true_set)))
    return float(np.mean(scores)) if scores else float("nan")


def ndcg_at_k(truth: Sequence[Sequence[int]], ranked: np.ndarray, k: int) -> float:
    """Mean NDCG at ``k`` with binary relevance (ideal: every true item ranked first).

    Example:
        >>> round(ndcg_at_k([[1, 2]], np.array([[3, 1, 2]]), 3), 4)
        0.6934
    """
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    scores = []
    for true, pred in zip(truth, ranked, strict=True):
        true_set = set(int(t) for t in true)
        if not true_set:
            continue
        gains = np.array([int(p) in true_set for p in pred[:k]], dtype=np.float64)
        dcg = float((gains * discount[: len(gains)]).sum())
        ideal = float(discount[: min(k, len(true_set))].sum())
        scores.append(dcg / ideal)
    return float(np.mean(scores)) if scores else float("nan")


def link_metrics(truth: Sequence[Sequence[int]], ranked: np.ndarray, k: int) -> dict[str, float]:
    hit = [
        bool(set(map(int, t)) & set(map(int, r[:k])))
        for t, r in zip(truth, ranked, strict=True)
        if len(t)
    ]
    return {
        f"map@{k}": map_at_k(truth, ranked, k),
        f"hit@{k}": float(np.mean(hit)) if hit else float("nan"),
        f"ndcg@{k}": ndcg_at_k(truth, ranked, k),
    }


def key_link_metrics(
    truth: Sequence[Sequence[Any]], ranked: Sequence[Sequence[Any]], k: int
) -> dict[str, float]:
    """:func:`link_metrics` on keys of any type (numbered in order of appearance)."""
    ids: dict[Any, int] = {}
    t = [[ids.setdefault(v, len(ids)) for v in row] for row in truth]
    r = [[ids.setdefault(v, len(ids)) for v in row] for row in ranked]
    width = max((len(x) for x in r), default=0)
    arr = np.full((len(r), width), -1, dtype=np.int64)  # -1: no item (never a hit)
    for i, row in enumerate(r):
        arr[i, : len(row)] = row
    return link_metrics(t, arr, k)


def evaluate(task_type: str, y: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Metrics for binary (``out`` = P(y=1)), regression and multiclass (``out`` = probs)."""
    if task_type == "binary":
        return binary_metrics(y, out)
    if task_type == "regression":
        return regression_metrics(y, out)
    if task_type == "multiclass":
        return multiclass_metrics(y, out)
    raise ValueError(f"no metrics for task type '{task_type}'")
