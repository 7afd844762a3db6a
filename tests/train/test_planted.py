"""The planted 2-hop signal: the GNN finds it, models without the graph cannot."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from relgraph.graph import build_graph
from relgraph.graph.features import build_features
from relgraph.nn import ModelConfig
from relgraph.query import Task, TaskType
from relgraph.testing import planted_snapshot
from relgraph.train import GNNTrainer, LightGBMBaseline

TASK = Task(
    query="PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id",
    entity_table="users",
    entity_column="user_id",
    task_type=TaskType.binary,
    metric="auroc",
    target_table="orders",
    window=timedelta(days=30),
    k=None,
    target_entity_table=None,
    classes=None,
    temporal=True,
)
SMALL = ModelConfig(channels=32, fanouts=(16, 4), epochs=12, batch_size=32, lr=0.01)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    snap, data = planted_snapshot(Path(tmp_path_factory.mktemp("planted")), num_users=240, seed=1)
    return snap, data, build_graph(snap), build_features(snap)


def _gnn_auroc(planted, config: ModelConfig) -> float:  # type: ignore[no-untyped-def]
    _snap, data, graph, feats = planted
    tr = GNNTrainer(task=TASK, graph=graph, features=feats, config=config, seed=0)
    tr.fit(data.train, data.val, patience=20)
    return tr.score(data.test)["auroc"]


@pytest.mark.slow
def test_two_layer_gnn_finds_the_two_hop_signal(planted) -> None:  # type: ignore[no-untyped-def]
    assert _gnn_auroc(planted, SMALL) > 0.85


@pytest.mark.slow
def test_models_without_two_hops_stay_near_chance(planted) -> None:  # type: ignore[no-untyped-def]
    snap, data, _graph, _feats = planted
    # The users' own columns alone (no graph).
    users = snap.read_table("users").to_pandas().set_index("user_id")
    x = lambda t: users.loc[t.column("ENTITY").to_numpy(), ["age"]].to_numpy()  # noqa: E731
    y = lambda t: t.column("TARGET").to_numpy()  # noqa: E731
    lr = LogisticRegression().fit(x(data.train), y(data.train))
    assert roc_auc_score(y(data.test), lr.predict_proba(x(data.test))[:, 1]) < 0.7
    # LightGBM on one-hop aggregates of the users' orders.
    lgbm = LightGBMBaseline(TASK, snap).fit(data.train, data.val)
    assert lgbm.score(data.test)["auroc"] < 0.7
    # A one-layer GNN sees orders but not their items.
    assert _gnn_auroc(planted, SMALL.replace(num_layers=1, fanouts=(16,))) < 0.7


def test_training_is_deterministic(planted) -> None:  # type: ignore[no-untyped-def]
    _snap, data, graph, feats = planted
    cfg = SMALL.replace(epochs=1)
    a = GNNTrainer(task=TASK, graph=graph, features=feats, config=cfg, seed=3).fit(
        data.train, data.val
    )
    b = GNNTrainer(task=TASK, graph=graph, features=feats, config=cfg, seed=3).fit(
        data.train, data.val
    )
    np.testing.assert_allclose(a.predict_raw(data.test), b.predict_raw(data.test), rtol=1e-5)


def test_min_steps_scales_a_small_table_up(planted) -> None:  # type: ignore[no-untyped-def]
    _snap, data, graph, feats = planted
    cfg = SMALL.replace(epochs=2, batch_size=64)
    per_pass = -(-data.train.num_rows // 64)
    plain = GNNTrainer(task=TASK, graph=graph, features=feats, config=cfg, seed=0)
    plain.fit(data.train, data.val, patience=5)
    assert plain.steps_ == 2 * per_pass
    more = GNNTrainer(task=TASK, graph=graph, features=feats, config=cfg, seed=0)
    more.fit(data.train, data.val, patience=5, min_steps=100)
    # Each epoch passes over the rows as often as it takes: 50 steps at least.
    assert 100 <= more.steps_ <= 100 + 2 * per_pass
    assert len(more.history_) == 2


def test_refit_trains_on_train_and_val_for_the_rounds_validation_chose(planted) -> None:  # type: ignore[no-untyped-def]
    from relgraph.train.run import _stack

    snap, data, _graph, _feats = planted
    lgbm = LightGBMBaseline(TASK, snap).fit(data.train, data.val)
    again = lgbm.refit(_stack(data.train, data.val))
    assert again is not lgbm
    assert again.booster_.current_iteration() == max(1, lgbm.booster_.best_iteration)
    assert again.feature_names_ == lgbm.feature_names_
    # It learnt from more rows: its predictions are not the original's.
    assert not np.allclose(again.predict_raw(data.test), lgbm.predict_raw(data.test))


def test_residual_lightgbm_starts_from_the_latest_known_label(planted) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from relgraph.errors import TrainingError
    from relgraph.train.baseline import compute_features

    snap, data, _graph, _feats = planted
    reg = replace(
        TASK,
        query="PREDICT COUNT(orders.*, 0, 30, days) FOR EACH users.user_id",
        task_type=TaskType.regression,
        metric="mae",
    )
    # The planted labels are 0/1; as counts they train a regression all the same.
    m = LightGBMBaseline(reg, snap, residual=True).fit(data.train, data.val)
    assert m.residual_
    last = (
        compute_features(snap, reg, data.test)
        .column("past_label.last")
        .to_numpy(zero_copy_only=False)
    )
    pred = m.predict_raw(data.test)
    plain = np.clip(
        m.booster_.predict(m._xy(data.test)[0], num_iteration=m.booster_.best_iteration), *m.clip_
    )
    base = np.where(np.isnan(last.astype(float)), m.fill_, last)
    np.testing.assert_allclose(pred, base + plain)
    # A static target has no past labels to start from: a clear error.
    static = replace(reg, query="PREDICT users.age FOR EACH users.user_id", window=None)
    with pytest.raises(TrainingError, match="past labels"):
        LightGBMBaseline(static, snap, residual=True).fit(data.train, data.val)
