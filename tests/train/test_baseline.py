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
