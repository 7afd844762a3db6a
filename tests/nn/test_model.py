from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from relgraph.graph.features import build_features
from relgraph.nn import HeteroGNN, ModelConfig, RelGNN, col_names
from relgraph.nn.encoder import NO_TIME
from relgraph.nn.gnn import tree_depth
from relgraph.testing import shop_snapshot

EDGE_TYPES = [
    ("orders", "user_id", "users"),
    ("users", "rev_user_id", "orders"),
    ("orders", "item_id", "items"),
    ("items", "rev_item_id", "orders"),
]


@dataclass
class HandBatch:
    """A Batch as the sampler contract describes it, written by hand."""

    seed_table: str
    num_seeds: int
    node_ids: dict[str, torch.Tensor]
    batch: dict[str, torch.Tensor]
    node_time: dict[str, torch.Tensor]
    seed_time: torch.Tensor
    edge_index: dict[tuple[str, str, str], torch.Tensor]


def shop_batch() -> HandBatch:
    # Seeds: users 0 and 1; user 0's orders 0, 1; user 1's order 2; their items.
    # Like the sampler's output, each subgraph is a tree with edges towards the seed.
    t = 1_711_843_200  # 2024-03-31
    return HandBatch(
        seed_table="users",
        num_seeds=2,
        node_ids={
            "users": torch.tensor([0, 1]),
            "orders": torch.tensor([0, 1, 2]),
            "items": torch.tensor([0, 2, 1]),
        },
        batch={
            "users": torch.tensor([0, 1]),
            "orders": torch.tensor([0, 0, 1]),
            "items": torch.tensor([0, 0, 1]),
        },
        node_time={
            "users": torch.full((2,), NO_TIME),
            "orders": torch.tensor([t - 80 * 86400, t - 70 * 86400, t - 85 * 86400]),
            "items": torch.full((3,), NO_TIME),
        },
        seed_time=torch.tensor([t, t]),
        edge_index={
            ("orders", "user_id", "users"): torch.tensor([[0, 1, 2], [0, 0, 1]]),
            ("users", "rev_user_id", "orders"): torch.zeros(2, 0, dtype=torch.long),
            ("orders", "item_id", "items"): torch.zeros(2, 0, dtype=torch.long),
            ("items", "rev_item_id", "orders"): torch.tensor([[0, 1, 2], [0, 1, 2]]),
        },
    )


@pytest.fixture(scope="module")
def shop_features(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return build_features(shop_snapshot(Path(tmp_path_factory.mktemp("shop"))))


def test_features_skip_keys_and_time(shop_features) -> None:  # type: ignore[no-untyped-def]
    cols = {c for names in shop_features.frames["orders"].col_names_dict.values() for c in names}
    assert cols == {"quantity"}
    users = {c for names in shop_features.frames["users"].col_names_dict.values() for c in names}
    assert users == {"name", "age", "country"}
    # Text is embedded with the 384-d MiniLM model.
    assert (
        shop_features.frames["users"].feat_dict[__import__("torch_frame").embedding].values.shape[1]
        == 384
    )


@pytest.mark.parametrize("attention", [False, True])
def test_forward_shapes_and_grad(shop_features, attention: bool) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    cfg = ModelConfig(channels=16, attention=attention)
    model = RelGNN(
        config=cfg,
        node_types=["users", "items", "orders"],
        edge_types=EDGE_TYPES,
        col_names_dict=col_names(shop_features.frames),
        col_stats=shop_features.col_stats,
        seed_table="users",
        out_channels=3,
    )
    out = model(shop_features.frames, shop_batch())
    assert out.shape == (2, 3)
    out.sum().backward()
    conv_grads = [p.grad for p in model.gnn.parameters() if p.grad is not None]
    assert conv_grads and all(torch.isfinite(g).all() for g in conv_grads)


def test_gnn_messages_reach_seed_from_two_hops() -> None:
    torch.manual_seed(0)
    gnn = HeteroGNN(node_types=["users", "items", "orders"], edge_types=EDGE_TYPES, channels=8)
    assert repr(gnn) == "HeteroGNN(SAGE(aggr=sum), channels=8, layers=2)"
    b = shop_batch()
    x = {nt: torch.zeros(len(ids), 8) for nt, ids in b.node_ids.items()}
    num = {nt: len(ids) for nt, ids in b.node_ids.items()}
    depth = tree_depth(num, b.edge_index, "users", 2, hops=2)
    assert depth["items"].tolist() == [2, 2, 2] and depth["orders"].tolist() == [1, 1, 1]
    base = gnn(x, b.edge_index)["users"].detach().clone()
    x["items"][2] += 1.0  # item of user 1's order: 2 hops from seed 1, unreachable from seed 0
    moved = gnn(x, b.edge_index)["users"]
    assert torch.allclose(moved[0], base[0])
    assert not torch.allclose(moved[1], base[1])
    # Skipping the nodes that cannot reach a seed any more changes nothing at the seeds.
    trimmed = gnn(x, b.edge_index, depth)["users"]
    assert torch.allclose(trimmed, moved, atol=1e-6)
