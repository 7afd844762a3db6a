"""A static target's own column is never a model input (it would answer itself).

Before this, ``PREDICT People.bats FOR EACH People.playerID`` on the corpus scored
accuracy 1.0 for the GNN and LightGBM on every split: the column was a feature.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pytest

from relgraph.graph.features import build_features
from relgraph.query.task import hidden_columns
from relgraph.testing import shop_snapshot
from relgraph.train.baseline import compute_features


@pytest.mark.parametrize(
    ("query", "hidden"),
    [
        ("PREDICT users.age FOR EACH users.user_id", {"users": {"age"}}),
        ("PREDICT users.age > 30 AND users.country = 'US' FOR EACH users.user_id",
         {"users": {"age", "country"}}),
        ("PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id", {}),
        ("PREDICT SUM(orders.quantity, 0, 30, days) FOR EACH users.user_id", {}),
    ],
)  # fmt: skip
def test_hidden_columns(query: str, hidden: dict[str, set[str]]) -> None:
    assert hidden_columns(query) == {t: frozenset(c) for t, c in hidden.items()}


def _rows() -> pa.Table:
    return pa.table(
        {
            "ENTITY": pa.array([1, 2]),
            "ANCHOR_TIMESTAMP": pa.array([datetime(2024, 4, 1)] * 2, pa.timestamp("us")),
        }
    )


def test_lightgbm_features_leave_out_the_static_target(tmp_path: Path) -> None:
    snap = shop_snapshot(tmp_path)
    task = SimpleNamespace(
        task_type="regression", entity_table="users", entity_column="user_id", metric="mae",
        window=None, classes=None, query="PREDICT users.age FOR EACH users.user_id",
    )  # fmt: skip
    cols = compute_features(snap, task, _rows()).column_names
    assert "own__age" not in cols
    assert "own__country" in cols  # the other columns stay
    # A temporal target hides nothing: the entity's age is an input then.
    task.query = "PREDICT COUNT(orders.*, 0, 30, days) FOR EACH users.user_id"
    task.window = timedelta(days=30)
    assert "own__age" in compute_features(snap, task, _rows()).column_names


def test_gnn_features_leave_out_the_static_target(tmp_path: Path) -> None:
    feats = build_features(shop_snapshot(tmp_path))
    before = {c for names in feats.frames["users"].col_names_dict.values() for c in names}
    assert "age" in before
    cut = feats.without(hidden_columns("PREDICT users.age FOR EACH users.user_id"))
    after = {c for names in cut.frames["users"].col_names_dict.values() for c in names}
    assert after == before - {"age"}
    assert "age" not in cut.col_stats["users"]
    assert cut.frames["users"].num_rows == feats.frames["users"].num_rows
    assert cut.frames["items"] is feats.frames["items"]  # other tables untouched
    # Hiding every column of a table drops its frame (learned per-table embedding).
    gone = feats.without({"items": frozenset({"title", "category", "price"})})
    assert "items" not in gone.frames and "items" not in gone.col_stats


def test_gnn_drops_the_link_a_foreign_key_target_names(tmp_path: Path) -> None:
    """``PREDICT orders.item_id``: the order→item edge would answer it, both directions."""
    from relgraph import api
    from relgraph.graph import build_graph
    from relgraph.nn.model import ModelConfig
    from relgraph.train.loop import GNNTrainer

    snap = shop_snapshot(tmp_path)
    task = api.compile_query(
        "PREDICT orders.item_id FOR EACH orders.order_id", workspace=tmp_path, snapshot=snap.id
    )
    feats = build_features(snap)
    graph = build_graph(snap)
    trainer = GNNTrainer(task=task, graph=graph, features=feats, config=ModelConfig(channels=8))
    kept = set(trainer._build_model().gnn.edge_types)
    assert ("orders", "item_id", "items") not in kept
    assert ("items", "rev_item_id", "orders") not in kept
    assert ("orders", "user_id", "users") in kept and ("users", "rev_user_id", "orders") in kept
