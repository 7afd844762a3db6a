"""The full model: column encoders + relative time → hetero GNN → a head per task type."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
import torch_frame
from torch import Tensor, nn
from torch_frame.data.stats import StatType

from relgraph.nn.encoder import HeteroEncoder, HeteroTemporalEncoder
from relgraph.nn.gnn import EdgeType, HeteroGNN, tree_depth


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and optimisation settings (RelBench's reference GNN by default)."""

    channels: int = 128
    num_layers: int = 2
    fanouts: tuple[int, ...] = (128, 64)
    aggr: str = "sum"
    attention: bool = False
    dropout: float = 0.0
    encoder_layers: int = 2
    lr: float = 0.005
    weight_decay: float = 0.0
    batch_size: int = 512
    epochs: int = 10
    strategy: str = "uniform"
    id_embeddings: bool = False
    head_layers: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fanouts"] = list(self.fanouts)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        if "fanouts" in known:
            known["fanouts"] = tuple(int(f) for f in known["fanouts"])
        return cls(**known)

    def replace(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


# The parts of a RelGNN that do not depend on the task: what pretraining trains and
# ``train --from-pretrained`` initialises (state-dict key prefixes).
TRUNK_PARTS = ("encoder", "temporal", "gnn")


def _mlp(channels: int, out: int, layers: int) -> nn.Module:
    mods: list[nn.Module] = []
    for _ in range(layers - 1):
        mods += [nn.Linear(channels, channels), nn.LayerNorm(channels), nn.ReLU()]
    mods.append(nn.Linear(channels, out))
    return nn.Sequential(*mods)


class RelGNN(nn.Module):
    """Relational deep learning model for one task.

    ``out_channels`` is 1 for binary and regression, the number of classes for
    multiclass, and the embedding width for link prediction. For link prediction
    (two-tower) the candidate tower encodes every row of ``target_table`` from its
    columns plus, with ``id_embeddings``, a learned vector per row (a shallow
    embedding that lets the model remember popular items).
    """

    def __init__(
        self,
        *,
        config: ModelConfig,
        node_types: list[str],
        edge_types: list[EdgeType],
        col_names_dict: dict[str, dict[torch_frame.stype, list[str]]],
        col_stats: dict[str, dict[str, dict[StatType, Any]]],
        seed_table: str,
        out_channels: int,
        target_table: str | None = None,
        num_targets: int = 0,
    ) -> None:
        super().__init__()
        c = config.channels
        self.config = config
        self.seed_table = seed_table
        self.target_table = target_table
        self.encoder = HeteroEncoder(
            channels=c,
            node_types=node_types,
            col_names_dict=col_names_dict,
            col_stats=col_stats,
            num_layers=config.encoder_layers,
        )
        self.temporal = HeteroTemporalEncoder(channels=c, node_types=node_types)
        self.gnn = HeteroGNN(
            node_types=node_types,
            edge_types=edge_types,
            channels=c,
            num_layers=config.num_layers,
            aggr=config.aggr,
            attention=config.attention,
            dropout=config.dropout,
        )
        self.head = _mlp(c, out_channels, config.head_layers)
        self.target_encoder: HeteroEncoder | None = None
        self.id_emb: nn.Embedding | None = None
        if target_table is not None:
            self.target_encoder = HeteroEncoder(
                channels=c,
                node_types=[target_table],
                col_names_dict={k: v for k, v in col_names_dict.items() if k == target_table},
                col_stats=col_stats,
                num_layers=config.encoder_layers,
            )
            self.target_head = _mlp(c, out_channels, 1)
            if config.id_embeddings:
                self.id_emb = nn.Embedding(num_targets, out_channels)
                nn.init.zeros_(self.id_emb.weight)

    def encode(self, frames: dict[str, torch_frame.TensorFrame], batch: Any) -> dict[str, Tensor]:
        """Column-encoder output (``channels`` wide) of every node in ``batch``, per table.

        ``frames`` are the full tables' frames; ``batch`` is a ``relgraph.sample.Batch``.
        """
        # The sampler copies a row once per path that reaches it; encode each
        # distinct row once and gather (the same result, a fraction of the work).
        x: dict[str, Tensor] = {}
        for nt, ids in batch.node_ids.items():
            if ids.numel() == 0:
                x[nt] = torch.zeros(0, self.config.channels)
                continue
            uniq, inv = torch.unique(ids, return_inverse=True)
            sub = {nt: frames[nt][uniq]} if nt in frames else {}
            x[nt] = self.encoder(sub, {nt: int(uniq.numel())})[nt][inv]
        return x

    def propagate(self, x: dict[str, Tensor], batch: Any) -> Tensor:
        """Relative time + message passing over encoded nodes; the seeds' rows, in seed order.

        Split from :meth:`encode` so that pretraining can mask encoded nodes in between.
        """
        num_nodes = {nt: int(ids.numel()) for nt, ids in batch.node_ids.items()}
        rel = self.temporal(batch.seed_time, batch.node_time, batch.batch)
        x = {nt: h + rel[nt] for nt, h in x.items()}
        depth = tree_depth(
            num_nodes, batch.edge_index, batch.seed_table, batch.num_seeds, self.config.num_layers
        )
        x = self.gnn(x, batch.edge_index, depth)
        out: Tensor = x[batch.seed_table][: batch.num_seeds]
        return out

    def embed(self, frames: dict[str, torch_frame.TensorFrame], batch: Any) -> Tensor:
        """GNN embeddings (``channels`` wide) of the batch's seed nodes, in seed order.

        ``frames`` are the full tables' frames; ``batch`` is a ``relgraph.sample.Batch``
        (its seeds may be rows of any table: the trunk is shared, only the head is not).
        """
        return self.propagate(self.encode(frames, batch), batch)

    def forward(self, frames: dict[str, torch_frame.TensorFrame], batch: Any) -> Tensor:
        """Head output per seed: logits (binary/multiclass), values, or query vectors (link)."""
        out: Tensor = self.head(self.embed(frames, batch))
        return out

    def candidates(self, frame: torch_frame.TensorFrame | None, num_targets: int) -> Tensor:
        """Candidate-tower vectors for every row of the target table (link prediction)."""
        if self.target_encoder is None or self.target_table is None:
            raise RuntimeError("candidates() needs a link-prediction model")
        frames = {self.target_table: frame} if frame is not None else {}
        h = self.target_encoder(frames, {self.target_table: num_targets})[self.target_table]
        vec: Tensor = self.target_head(h)
        if self.id_emb is not None:
            vec = vec + self.id_emb.weight
        return vec


def col_names(
    frames: dict[str, torch_frame.TensorFrame],
) -> dict[str, dict[torch_frame.stype, list[str]]]:
    """The ``col_names_dict`` of every frame (what the encoders need besides stats)."""
    return {nt: dict(tf.col_names_dict) for nt, tf in frames.items()}
