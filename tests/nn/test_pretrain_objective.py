"""The masked-feature objective cannot see the columns it has to reconstruct."""

from __future__ import annotations

from pathlib import Path

import torch
import torch_frame

from relgraph.graph import build_graph
from relgraph.graph.features import build_features
from relgraph.nn.model import ModelConfig
from relgraph.nn.pretrain import MaskedFeatureModel
from relgraph.sample import TemporalSampler
from relgraph.testing import planted_snapshot
from relgraph.train.pretrain import build_trunk


def _with_numbers(tf: torch_frame.TensorFrame, rows: torch.Tensor, add: float):  # type: ignore[no-untyped-def]
    feat = dict(tf.feat_dict)
    num = feat[torch_frame.numerical].clone()
    num[rows] += add
    feat[torch_frame.numerical] = num
    return torch_frame.TensorFrame(feat, tf.col_names_dict)


def test_seed_rows_are_hidden_everywhere_in_their_subgraph(tmp_path: Path) -> None:
    snap, _ = planted_snapshot(tmp_path, num_users=20, num_items=6)
    graph, feats = build_graph(snap), build_features(snap)
    torch.manual_seed(0)
    trunk = build_trunk(graph, feats, ModelConfig(channels=16, fanouts=(8, 8)))
    model = MaskedFeatureModel(
        trunk=trunk, frames=feats.frames, col_stats=feats.col_stats, tables=["orders", "users"]
    ).eval()
    # Orders at their own times: 2 hops (order → user → the user's orders) reach the
    # seed order again, which must stay hidden there too.
    seeds = torch.arange(8)
    times = torch.from_numpy(graph.node_time["orders"][:8].copy())
    batch = TemporalSampler(graph, fanouts=[8, 8], seed=0).sample("orders", seeds, times)
    ids = batch.node_ids["orders"]
    assert (ids[batch.num_seeds :] == ids[batch.batch["orders"][batch.num_seeds :]]).any()
    with torch.no_grad():
        base = model.represent(feats.frames, batch)
        # Each seed is blind to its own columns (another seed's row may be its neighbour).
        for i in range(8):
            own = dict(feats.frames)
            own["orders"] = _with_numbers(feats.frames["orders"], seeds[i : i + 1], 1000.0)
            assert torch.allclose(model.represent(own, batch)[i], base[i])
        others = dict(feats.frames)
        others["orders"] = _with_numbers(
            feats.frames["orders"], torch.arange(8, graph.num_nodes["orders"]), 1000.0
        )
        assert not torch.allclose(model.represent(others, batch), base)  # sees the neighbours
        loss = model(feats.frames, batch)
    assert torch.isfinite(loss) and loss > 0
