"""Warm starts: a model's weights carried to a grown snapshot whose categories moved."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from relgraph import api
from relgraph.graph import build_graph
from relgraph.graph.features import build_features
from relgraph.nn import ModelConfig
from relgraph.testing import write_planted
from relgraph.train import GNNTrainer
from relgraph.train.warm import _CAT_EMB, _categories, remap_categories
from tests.train.test_planted import TASK

CONFIG = ModelConfig(channels=8, fanouts=(4, 2))


def _trainer(folder: Path, ws: Path) -> GNNTrainer:
    snap = api.ingest(str(folder), workspace=ws).snapshot
    return GNNTrainer(
        task=TASK, graph=build_graph(snap), features=build_features(snap), config=CONFIG
    )


def test_categories_keep_their_vectors_when_the_snapshot_grows(tmp_path: Path) -> None:
    data = write_planted(tmp_path / "src", num_users=40, num_items=10, seed=0)
    old = _trainer(data.folder, tmp_path / "ws")
    # The grown snapshot: a new segment 'd' that is now the most frequent (codes move).
    users = (data.folder / "users.csv").read_text().splitlines()
    grown = users + [f"{100 + i},30,d" for i in range(60)]
    (data.folder / "users.csv").write_text("\n".join(grown) + "\n")
    new = _trainer(data.folder, tmp_path / "ws")
    old_cats = _categories(old.features.col_stats["users"], "segment")
    new_cats = _categories(new.features.col_stats["users"], "segment")
    assert new_cats[0] == "d" and set(old_cats) < set(new_cats)  # reordered and grown
    torch.manual_seed(0)
    m_old, m_new = old._build_model(), new._build_model()
    name = next(k for k in m_new.state_dict() if k.endswith(_CAT_EMB) and "users" in k)
    assert m_old.state_dict()[name].shape != m_new.state_dict()[name].shape
    cat_cols = {"users": ["segment"], "items": ["kind"]}
    for unseen in ("fresh", "missing"):
        fit, kept = remap_categories(
            m_new.state_dict(), m_old.state_dict(), new.features, old.features.col_stats,
            cat_cols, unseen=unseen,
        )  # fmt: skip
        assert kept["users"] == len(old_cats)
        w_old, w_new = m_old.state_dict()[name], fit[name]
        for v in old_cats:  # one categorical column: row = 1 + code
            assert torch.equal(w_new[1 + new_cats.index(v)], w_old[1 + old_cats.index(v)])
        d = w_new[1 + new_cats.index("d")]
        if unseen == "missing":
            assert torch.equal(d, w_old[0])
        else:
            assert torch.equal(d, m_new.state_dict()[name][1 + new_cats.index("d")])
        # Every other tensor of the same shape is carried over as is.
        assert len(fit) == len(m_new.state_dict())
    with pytest.raises(KeyError):
        _categories(old.features.col_stats["users"], "no_such_column")
