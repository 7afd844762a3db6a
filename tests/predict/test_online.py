"""Online predictions are batch predictions: same rows, same numbers, per-key errors.

Tolerance: 1e-6 absolute on probabilities/values/scores. The online path runs the
batch writer's own code on a smaller batch, so the numbers differ only where a
float32 matrix product over a different number of rows rounds differently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from online_models import tiny_model

from relgraph import api
from relgraph.errors import TrainingError
from relgraph.predict.online import OnlineCache, OnlinePredictor
from relgraph.store.workspace import Workspace
from relgraph.testing import planted_snapshot
from relgraph.train.artifacts import load_model

pytestmark = pytest.mark.slow  # a snapshot and two small models: ~25 s on a loaded 2-core box

TOL = 1e-6
BINARY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"
LINK = "PREDICT LIST_DISTINCT(orders.item_id, 0, 30, days) RANK TOP 3 FOR EACH users.user_id"


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(tmp_path_factory.mktemp("online"))
    planted_snapshot(root, num_users=60, num_items=12)
    tiny_model(root, BINARY, "binary-m")
    return root


def _batch(ws: Path, model_kind: str) -> dict[int, float]:
    pred = api.predict("binary-m", workspace=ws, split="now", model_kind=model_kind)
    t = pred.table
    return dict(zip(t.column("ENTITY").to_pylist(), t.column("TRUE_PROB").to_pylist(), strict=True))


@pytest.mark.parametrize("kind", ["gnn", "lightgbm", "ensemble"])
def test_online_equals_batch(ws: Path, kind: str) -> None:
    batch = _batch(ws, kind)
    keys = sorted(batch)
    files = load_model(ws, "binary-m")
    online = OnlinePredictor(files, Workspace(ws).snapshot(files.snapshot_id), kind)
    # One key at a time, a handful, and all in a shuffled order: every entity's
    # number is the one the batch wrote, whoever shares its request.
    rng = np.random.default_rng(0)
    shuffled = [keys[i] for i in rng.permutation(len(keys))]
    for request in ([keys[0]], [keys[-1]], keys[5:12], shuffled):
        res = online.predict(request)
        assert [r.key for r in res.results] == request
        for r in res.results:
            assert r.error is None
            assert r.score == pytest.approx(batch[r.key], abs=TOL), (kind, r.key)
            assert r.prediction == (batch[r.key] >= 0.5)
    online.close()


def test_embedding_equals_batch(ws: Path) -> None:
    t = api.predict("binary-m", workspace=ws, split="now", model_kind="gnn").table
    emb = dict(zip(t.column("ENTITY").to_pylist(), t.column("EMBEDDING").to_pylist(), strict=True))
    res = OnlineCache(ws).get("binary-m").predict([3, 7], embedding=True)
    for r in res.results:
        assert r.embedding is not None
        np.testing.assert_allclose(r.embedding, emb[r.key], atol=TOL)


def test_unknown_and_malformed_keys_are_per_key_errors(ws: Path) -> None:
    online = OnlineCache(ws).get("binary-m")
    res = online.predict([1, 999_999, "2", "x'; DROP TABLE users", None, [1], 2**70, "9" * 30])
    errors = [r.error for r in res.results]
    assert errors[0] is None and errors[2] is None  # "2" is user 2, as JSON may send it
    assert "unknown key" in (errors[1] or "")
    assert all(e for e in errors[3:])
    assert res.results[2].score == pytest.approx(online.predict([2]).results[0].score, abs=TOL)


def test_too_many_keys_are_refused(ws: Path) -> None:
    online = OnlineCache(ws, max_keys=10).get("binary-m")
    with pytest.raises(TrainingError, match="at most 10"):
        online.predict(list(range(11)))


def test_anchor_defaults_to_latest_data_and_parses(ws: Path) -> None:
    online = OnlineCache(ws).get("binary-m")
    assert online.predict([1]).anchor == online.latest
    assert online.predict([1], at="2024-01-01").anchor.isoformat() == "2024-01-01T00:00:00"
    with pytest.raises(TrainingError, match="ISO date"):
        online.predict([1], at="yesterday")


def test_cache_keeps_one_predictor_per_snapshot(ws: Path) -> None:
    cache = OnlineCache(ws)
    a = cache.get("binary-m")
    assert cache.get("binary-m") is a
    assert cache.get("binary-m", snapshot="latest") is a  # the only snapshot
