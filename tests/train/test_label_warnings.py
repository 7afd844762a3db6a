"""Warnings about training labels that are all one class, heavily skewed or constant."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from relgraph import api
from relgraph.query import Task, TaskType
from relgraph.testing import planted_snapshot
from relgraph.train.run import label_warnings


def task(kind: TaskType, classes: tuple[str, ...] | None = None) -> Task:
    return Task(
        query="PREDICT ...",
        entity_table="users",
        entity_column="user_id",
        task_type=kind,
        metric="auroc",
        target_table="orders",
        window=timedelta(days=30),
        k=None,
        target_entity_table=None,
        classes=classes,
        temporal=True,
    )


def labels(values: list[float] | list[int]) -> pa.Table:
    n = len(values)
    return pa.table(
        {
            "ENTITY": pa.array(range(n), pa.int64()),
            "ANCHOR_TIMESTAMP": pa.array([datetime(2024, 1, 1)] * n, pa.timestamp("us")),
            "TARGET": pa.array(values),
        }
    )


BINARY, MULTI = task(TaskType.binary), task(TaskType.multiclass, ("app", "store", "web"))


@pytest.mark.parametrize(
    ("t", "values", "expected"),
    [
        (BINARY, [0.0] * 40, ["all 40 training labels are 0: the model cannot learn"]),
        (BINARY, [1.0] + [0.0] * 39, ["the rarest class (1) is 2.5% of 40 training rows"]),
        (BINARY, [1.0] * 2 + [0.0] * 38, []),  # 5% is not heavily skewed
        (MULTI, [2] * 30, ["all 30 training labels are 'web'"]),
        (MULTI, [0] * 50 + [1] * 49 + [2], ["the rarest class ('web') is 1.0%", "macro-F1"]),
        (MULTI, [0, 1, 2] * 10, []),
        (task(TaskType.regression), [3.5] * 9, ["every training target equals 3.5"]),
        (task(TaskType.regression), [3.5, 4.0], []),
        (BINARY, [], ["the training table is empty"]),
    ],
)
def test_label_warnings(t: Task, values: list[float], expected: list[str]) -> None:
    got = label_warnings(t, labels(values))
    if not expected:
        assert got == []
    else:
        assert len(got) == 1
        for part in expected:
            assert part in got[0]


def test_train_reports_and_logs_one_class_labels(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nobody in the planted data orders more than 50 times a month: every label is 0.
    planted_snapshot(tmp_path, num_users=30, num_items=8)
    query = "PREDICT COUNT(orders.*, 0, 30, days) > 50 FOR EACH users.user_id"
    with caplog.at_level(logging.WARNING, logger="relgraph.train.run"):
        result = api.train(query, workspace=tmp_path, gnn=False, baseline=False)
    (warning,) = result.warnings
    assert warning.startswith(f"all {result.rows['train']} training labels are 0")
    assert result.to_dict()["warnings"] == [warning]
    assert warning in caplog.text
