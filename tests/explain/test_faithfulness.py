"""Faithfulness on planted-signal data: removing the top-attributed inputs moves the
output more than removing as many random ones — for LightGBM and for the GNN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from relgraph.explain.gnn import attributors, explain_gnn
from relgraph.explain.lgbm import explain_lightgbm, feature_matrix, masked_output
from relgraph.graph import build_graph
from relgraph.graph.features import build_features
from relgraph.nn import ModelConfig
from relgraph.testing import planted_snapshot
from relgraph.train import GNNTrainer, LightGBMBaseline
from tests.train.test_planted import TASK


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return planted_snapshot(Path(tmp_path_factory.mktemp("planted")), num_users=160, seed=3)


def _random_effect(effect: Any, shape: tuple[int, int], k: int, rng: Any, reps: int = 5) -> float:
    """Mean |output change| when k random inputs per row are removed (``reps`` draws)."""
    out = []
    for _ in range(reps):
        mask = np.zeros(shape, dtype=bool)
        for i in range(shape[0]):
            mask[i, rng.choice(shape[1], size=k, replace=False)] = True
        out.append(effect(mask))
    return float(np.mean(out))


def test_lightgbm_shap_adds_up_and_its_top_features_matter_most(planted: Any) -> None:
    snap, data = planted
    model = LightGBMBaseline(TASK, snap, seed=0).fit(data.train, data.val)
    la = explain_lightgbm(model, data.test)
    raw = model.booster_.predict(feature_matrix(model, data.test), raw_score=True)
    # TreeSHAP's completeness: expected output + contributions = the raw output.
    np.testing.assert_allclose(la.output, raw, atol=1e-6)
    x, k = la.values, 3
    base = masked_output(model, x, np.zeros_like(x, dtype=bool))

    def effect(mask: np.ndarray) -> float:
        return float(np.abs(masked_output(model, x, mask) - base).mean())

    top = np.zeros_like(x, dtype=bool)
    order = np.argsort(-np.abs(la.contrib), axis=1)[:, :k]
    np.put_along_axis(top, order, True, axis=1)
    rng = np.random.default_rng(0)
    assert effect(top) > 1.5 * _random_effect(effect, x.shape, k, rng)


@pytest.mark.slow
def test_gnn_attributions_are_faithful_and_find_the_planted_column(planted: Any) -> None:
    snap, data = planted
    config = ModelConfig(channels=16, fanouts=(8, 4), epochs=3, batch_size=32, lr=0.02)
    tr = GNNTrainer(
        task=TASK, graph=build_graph(snap), features=build_features(snap), config=config, seed=0
    ).fit(data.train, data.val, patience=5)
    rows = data.test.slice(0, 16)
    # The attributed model is the model: its outputs are the trainer's.
    ga = explain_gnn(tr, rows, n_steps=32, edges=True)
    np.testing.assert_allclose(ga.output, tr._run(tr.seeds(rows)).reshape(-1), atol=1e-5)
    # Completeness (Integrated Gradients): per seed, the attributions add up to the
    # output minus the output with every column removed.
    total = np.zeros(ga.n)
    for r in ga.rows:
        np.add.at(total, r.seed, r.attr.sum(axis=1))
    gap = ga.output - ga.baseline_output
    assert np.abs(total - gap).mean() < 0.1 * np.abs(gap).mean() + 1e-3
    # The label is the share of bad items (items.kind, two hops away): the column the
    # GNN's attributions rank first.
    mean_abs = {
        f"{r.table}.{c}": float(np.abs(r.attr[:, j]).sum()) / ga.n
        for r in ga.rows
        for j, c in enumerate(r.columns)
    }
    assert max(mean_abs, key=lambda c: mean_abs[c]) == "items.kind", mean_abs
    # And the edge types that carry it (items → orders → users) matter most.
    ranked = sorted(zip(np.abs(ga.edge_attr).mean(axis=0), ga.edge_types, strict=True))
    assert {et[0] for _, et in ranked[-2:]} == {"items", "orders"}
    # Faithfulness: per seed, removing its k most attributed (row, column) inputs moves
    # the output more than removing k random ones.
    rng = np.random.default_rng(0)
    top_effect, rand_effect = [], []
    for _idx, ba in attributors(tr, rows, seeds_per_batch=8):
        attr = ba.column_attributions(32)
        flat = torch.cat([a.reshape(-1) for a in attr])
        owner = torch.cat(
            [
                ba.batch.batch[nt].repeat_interleave(a.shape[1])
                for nt, a in zip(ba.tables, attr, strict=True)
            ]
        )
        base = ba.output()
        k = 2

        def removed(
            pick: torch.Tensor, attr: list[torch.Tensor] = attr, ba: Any = ba
        ) -> torch.Tensor:
            mask, start = [], 0
            for a in attr:
                m = torch.zeros(a.numel(), dtype=torch.bool)
                sel = pick[(pick >= start) & (pick < start + a.numel())] - start
                m[sel] = True
                mask.append(m.view_as(a))
                start += a.numel()
            return ba.masked_output(mask)

        for s in range(ba.batch.num_seeds):
            mine = torch.nonzero(owner == s).view(-1)
            best = mine[flat[mine].abs().argsort(descending=True)[:k]]
            top_effect.append(float((removed(best) - base)[s].abs()))
            for _ in range(3):
                pick = mine[torch.from_numpy(rng.choice(mine.numel(), k, replace=False))]
                rand_effect.append(float((removed(pick) - base)[s].abs()))
    assert np.mean(top_effect) > 1.5 * np.mean(rand_effect)
