"""The baseline's as-of aggregates see only rows at or before each anchor."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from relgraph.testing import shop_snapshot
from relgraph.train.baseline import compute_features

TASK = SimpleNamespace(
    task_type="binary", entity_table="users", entity_column="user_id", metric="auroc",
    window=timedelta(days=30), classes=None,
)  # fmt: skip


def test_no_rows_after_the_anchor(tmp_path: Path) -> None:
    snap = shop_snapshot(tmp_path)
    # User 1 ordered on 01-03 (qty 2), 01-20 (qty 1) and 02-14 (qty 2).
    anchors = pa.table(
        {
            "ENTITY": pa.array([1, 1, 3]),
            "ANCHOR_TIMESTAMP": pa.array(
                [datetime(2024, 1, 31), datetime(2024, 3, 1), datetime(2024, 1, 31)],
                pa.timestamp("us"),
            ),
        }
    )
    f = compute_features(snap, TASK, anchors).to_pylist()
    assert f[0]["orders.user_id.all.count"] == 2  # the 02-14 order is in the future
    assert f[0]["orders.user_id.all.mean.quantity"] == pytest.approx(1.5)
    assert f[0]["orders.user_id.last.quantity"] == 1
    assert f[1]["orders.user_id.all.count"] == 3
    assert f[1]["orders.user_id.30d.count"] == 1  # 03-01 − 30 days: only 02-14
    assert f[2]["orders.user_id.all.count"] == 0  # user 3's only order is on 02-10
    assert f[0]["own__age"] == 36


def test_past_labels_end_by_the_input_time(tmp_path: Path) -> None:
    """Lag k is the label at input − k·Δ (its window ends by the input: no future)."""
    snap = shop_snapshot(tmp_path)
    task = SimpleNamespace(
        **vars(TASK), query="PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"
    )
    day = [datetime(2024, 3, 1, 5), datetime(2024, 1, 31), datetime(2024, 2, 1)]
    rows = pa.table(
        {
            "ENTITY": pa.array([1, 3, 1]),
            "ANCHOR_TIMESTAMP": pa.array(
                [day[0], day[1], datetime(2024, 3, 1)], pa.timestamp("us")
            ),
            "INPUT_TIMESTAMP": pa.array(day, pa.timestamp("us")),
        }
    )
    f = compute_features(snap, task, rows).to_pylist()
    # User 1 at 03-01 (floored from 05:00): (01-31, 03-01] has 02-14; (01-01, 01-31] two.
    assert [f[0][f"past_label.{k}"] for k in (1, 2, 3, 4)] == [1.0, 1.0, 0.0, 0.0]
    assert (f[0]["past_label.last"], f[0]["past_label.mean"], f[0]["past_label.known"]) == (
        1.0, 0.5, 4,
    )  # fmt: skip
    assert f[1]["past_label.1"] == 0.0  # user 3 orders on 02-10, after 01-31
    # Inputs cut at 02-01 (frozen): the 02-14 order is not read, although the anchor is 03-01.
    assert [f[2][f"past_label.{k}"] for k in (1, 2)] == [1.0, 0.0]
    # A task without a window (static target) has no past labels.
    static = SimpleNamespace(
        **(vars(TASK) | {"window": None}), query="PREDICT users.age FOR EACH users.user_id"
    )
    assert not any(
        c.startswith("past_label") for c in compute_features(snap, static, rows).column_names
    )
