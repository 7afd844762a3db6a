"""Pretraining a trunk without labels, then training from it (tiny planted data)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console

from relgraph import api
from relgraph.cli.train import pretraining_table
from relgraph.errors import StoreError, TrainingError
from relgraph.graph import build_graph
from relgraph.graph.features import build_features
from relgraph.nn.model import TRUNK_PARTS
from relgraph.testing import planted_snapshot, shop_snapshot
from relgraph.train import Budget, GNNTrainer
from relgraph.train.artifacts import MODEL_JSON
from relgraph.train.pretrain import TRUNK_WEIGHTS, load_pretrained

QUERY = "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id"


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ws = Path(tmp_path_factory.mktemp("ws"))
    snap, _ = planted_snapshot(ws, num_users=60, num_items=16)
    result = api.pretrain(workspace=ws, steps=40, seed=0)
    return ws, snap, result


@pytest.fixture(scope="module")
def trained(pretrained):  # type: ignore[no-untyped-def]
    ws, _snap, pre = pretrained
    result = api.train(
        QUERY, workspace=ws, budget="fast", minutes=1, baseline=False,
        from_pretrained=pre.pretrained_id,
    )  # fmt: skip
    return result


def test_pretrain_stores_a_weights_only_trunk(pretrained) -> None:  # type: ignore[no-untyped-def]
    ws, snap, result = pretrained
    assert result.steps == 40
    assert set(result.tables) == {"items", "orders", "users"}
    assert result.path == ws / "pretrained" / result.pretrained_id
    state = torch.load(result.path / TRUNK_WEIGHTS, weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    assert {k.split(".", 1)[0] for k in state} == set(TRUNK_PARTS)  # no task head
    meta = json.loads((result.path / "pretrain.json").read_text())
    assert meta["snapshot_id"] == snap.id
    assert meta["config"]["model"]["channels"] == Budget.preset("fast").base.channels
    # The reconstruction loss went down: the trunk learned something about the rows.
    assert result.loss_end < result.loss_start


def test_trainer_starts_from_the_trunk(pretrained) -> None:  # type: ignore[no-untyped-def]
    ws, snap, pre = pretrained
    trunk = load_pretrained(ws, pre.pretrained_id)
    state = trunk.state()
    task = api.compile_query(QUERY, workspace=ws)
    tables = api.training_tables(task, workspace=ws)
    graph, feats = build_graph(snap), build_features(snap)
    # lr = 0: the weights after fit() are the initial ones.
    config = trunk.pin(Budget.preset("fast").base).replace(lr=0.0, epochs=1)
    warm = GNNTrainer(task=task, graph=graph, features=feats, config=config, init_state=state)
    warm.fit(tables.train.table, tables.val.table)
    cold = GNNTrainer(task=task, graph=graph, features=feats, config=config)
    cold.fit(tables.train.table, tables.val.table)
    assert len(warm.init_loaded_) == len(state)
    name = next(k for k in state if k.startswith("gnn.") and k.endswith("weight"))
    assert torch.equal(warm.model_.state_dict()[name], state[name])
    assert not torch.equal(cold.model_.state_dict()[name], state[name])


def test_train_reports_scratch_run_and_delta(pretrained, trained) -> None:  # type: ignore[no-untyped-def]
    _ws, _snap, pre = pretrained
    p = trained.pretraining
    assert p is not None and p.pretrained_id == pre.pretrained_id and p.loaded > 0
    for split in ("val", "test"):
        gnn, scratch = getattr(trained.gnn, split), getattr(p.scratch, split)
        assert set(p.delta[split]) == set(gnn) & set(scratch)
        for m, d in p.delta[split].items():
            assert d == pytest.approx(gnn[m] - scratch[m])
    stored = json.loads((trained.path / MODEL_JSON).read_text())["pretraining"]
    assert stored["pretrained_id"] == pre.pretrained_id
    assert stored["scratch"]["test"] == p.scratch.test
    assert stored["delta"]["test"]["auroc"] == pytest.approx(p.delta["test"]["auroc"])
    console = Console(width=160, record=True)
    console.print(pretraining_table(trained))
    text = console.export_text()
    assert "from pretrained" in text and "from scratch" in text and "delta" in text
    assert f"{trained.gnn.test['auroc']:.4f}" in text and f"{p.scratch.test['auroc']:.4f}" in text


def test_trunk_from_another_snapshot_is_refused(pretrained) -> None:  # type: ignore[no-untyped-def]
    ws, _snap, pre = pretrained
    shop = shop_snapshot(ws)
    with pytest.raises(TrainingError, match=f"trained on snapshot .* not on {shop.id}"):
        api.train(
            "PREDICT COUNT(orders.*, 0, 30, days) > 0 FOR EACH users.user_id",
            workspace=ws, snapshot=shop.id, budget="fast", from_pretrained=pre.pretrained_id,
        )  # fmt: skip
    with pytest.raises(StoreError, match="no pretrained trunk 'nope'"):
        api.train(QUERY, workspace=ws, budget="fast", from_pretrained="nope")
