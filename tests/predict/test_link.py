"""Link prediction (RANK TOP k): two-tower model with ID embeddings, MAP@k, ranked rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from relgraph import api
from relgraph.testing import planted_snapshot

QUERY = "PREDICT LIST_DISTINCT(orders.item_id, 0, 30, days) RANK TOP 3 FOR EACH users.user_id"


@pytest.mark.slow
def test_rank_top_k_trains_and_writes_ranked_rows(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    planted_snapshot(ws, num_users=60, num_items=12)
    result = api.train(QUERY, workspace=ws, budget="fast", minutes=1)
    assert result.metric == "map@3"
    assert result.baseline is None  # LightGBM does not rank
    assert 0.0 <= result.gnn.test["map@3"] <= 1.0
    pred = api.predict(result.model_id, workspace=ws)
    t = pred.table
    assert {"CLASS", "SCORE", "RANK", "EMBEDDING"} <= set(t.column_names)
    assert sorted(set(t.column("RANK").to_pylist())) == [1, 2, 3]
    items = set(range(12))
    assert set(t.column("CLASS").to_pylist()) <= items
    # One embedding per entity: on its rank-1 row only.
    ranks = t.column("RANK").to_pylist()
    embs = t.column("EMBEDDING").to_pylist()
    assert all((e is not None) == (r == 1) for r, e in zip(ranks, embs, strict=True))
