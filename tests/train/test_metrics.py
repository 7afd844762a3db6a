from __future__ import annotations

import math

import numpy as np
import pytest

from relgraph.train.metrics import evaluate, higher_is_better, link_metrics, map_at_k


def test_map_at_k_by_hand() -> None:
    # Row 1: hits at ranks 1 and 3 of 2 relevant → (1/1 + 2/3) / 2.
    # Row 2: one relevant item at rank 2 → (1/2) / 1.
    truth = [[5, 7], [9]]
    ranked = np.array([[5, 1, 7], [3, 9, 4]])
    expected = ((1 + 2 / 3) / 2 + 0.5) / 2
    assert map_at_k(truth, ranked, 3) == pytest.approx(expected)
    assert link_metrics(truth, ranked, 1)["hit@1"] == pytest.approx(0.5)


def test_ndcg_at_k_by_hand() -> None:
    # Row 1: hits at ranks 1 and 3 of 2 relevant: (1 + 1/log2(4)) / (1 + 1/log2(3)).
    # Row 2: one relevant item at rank 2: (1/log2(3)) / 1. Row 3 has no truth: skipped.
    truth = [[5, 7], [9], []]
    ranked = np.array([[5, 1, 7], [3, 9, 4], [1, 2, 3]])
    row1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    expected = (row1 + 1 / math.log2(3)) / 2
    assert link_metrics(truth, ranked, 3)["ndcg@3"] == pytest.approx(expected)
    perfect = link_metrics([[5, 7]], np.array([[7, 5, 1]]), 3)
    assert perfect["ndcg@3"] == pytest.approx(1.0) and perfect["map@3"] == pytest.approx(1.0)


def test_binary_single_class_is_nan_not_crash() -> None:
    m = evaluate("binary", np.ones(4), np.array([0.1, 0.9, 0.6, 0.7]))
    assert math.isnan(m["auroc"]) and m["accuracy"] == pytest.approx(0.75)


def test_regression_and_multiclass() -> None:
    m = evaluate("regression", np.array([1.0, 3.0]), np.array([2.0, 3.0]))
    assert m["mae"] == pytest.approx(0.5) and m["rmse"] == pytest.approx(math.sqrt(0.5))
    prob = np.array([[0.7, 0.3], [0.2, 0.8], [0.6, 0.4]])
    mc = evaluate("multiclass", np.array([0, 1, 1]), prob)
    assert mc["accuracy"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(("metric", "up"), [("auroc", True), ("mae", False), ("map@10", True)])
def test_direction(metric: str, up: bool) -> None:
    assert higher_is_better(metric) is up
