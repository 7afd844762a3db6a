"""Masked-feature reconstruction: a self-supervised objective for the GNN trunk.

A seed row's own columns are hidden (its encoder output is replaced by a learned
mask vector, in every copy of the row in its sampled subgraph) and the trunk must
recover them from the row's temporal neighbourhood: numerical columns (standardised,
Huber loss) and categorical columns (cross-entropy). Text, timestamp and list
columns are inputs only. The trunk is the task-free part of
:class:`~relgraph.nn.model.RelGNN` (``TRUNK_PARTS``), so its weights initialise a
later task model as they are.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torch_frame
from torch import Tensor, nn
from torch_frame.data.stats import StatType

from relgraph.nn.encoder import key
from relgraph.nn.model import RelGNN

# Standardised targets beyond this many standard deviations are clipped: heavy
# tails (lap times in milliseconds) must not dominate the loss.
CLIP_STD = 5.0


def reconstructable(tf: torch_frame.TensorFrame) -> bool:
    """Whether a table has columns the objective can reconstruct."""
    names = tf.col_names_dict
    return bool(names.get(torch_frame.numerical) or names.get(torch_frame.categorical))


class MaskedFeatureModel(nn.Module):
    """A :class:`RelGNN` trunk plus one reconstruction head per seed table.

    Args:
        trunk: the model whose ``encoder``/``temporal``/``gnn`` are pretrained (its
            task head is unused).
        frames: the snapshot's frames (row ``i`` = node ``i``).
        col_stats: pytorch-frame column statistics (means/stds, category counts).
        tables: the tables whose rows serve as seeds (each must be
            :func:`reconstructable`).
    """

    def __init__(
        self,
        *,
        trunk: RelGNN,
        frames: dict[str, torch_frame.TensorFrame],
        col_stats: dict[str, dict[str, dict[StatType, Any]]],
        tables: list[str],
    ) -> None:
        super().__init__()
        c = trunk.config.channels
        self.trunk = trunk
        self.tables = list(tables)
        self.mask = nn.ParameterDict({key(t): nn.Parameter(torch.randn(c) * 0.1) for t in tables})
        self.num_heads = nn.ModuleDict()
        self.cat_heads = nn.ModuleDict()
        # Standardisation of numerical targets, per table (frozen parameters: a
        # ParameterDict accepts any table name that the encoders' ModuleDicts accept).
        self.num_mean = nn.ParameterDict()
        self.num_std = nn.ParameterDict()
        for t in tables:
            names = frames[t].col_names_dict
            num = names.get(torch_frame.numerical, [])
            if num:
                self.num_heads[key(t)] = nn.Linear(c, len(num))
                mean = [float(col_stats[t][n].get(StatType.MEAN, 0.0)) for n in num]
                std = [float(col_stats[t][n].get(StatType.STD, 1.0)) or 1.0 for n in num]
                self.num_mean[key(t)] = nn.Parameter(torch.tensor(mean), requires_grad=False)
                self.num_std[key(t)] = nn.Parameter(torch.tensor(std), requires_grad=False)
            heads = nn.ModuleList()
            for n in names.get(torch_frame.categorical, []):
                heads.append(nn.Linear(c, len(col_stats[t][n][StatType.COUNT][0])))
            if len(heads):
                self.cat_heads[key(t)] = heads

    def __repr__(self) -> str:
        return (
            f"MaskedFeatureModel(tables={len(self.tables)}, channels={self.trunk.config.channels})"
        )

    def forward(self, frames: dict[str, torch_frame.TensorFrame], batch: Any) -> Tensor:
        """The reconstruction loss of the batch's seeds (rows of ``batch.seed_table``)."""
        out = self.represent(frames, batch)
        seed_ids = batch.node_ids[batch.seed_table][: batch.num_seeds]
        return self.loss(out, frames[batch.seed_table][seed_ids], batch.seed_table)

    def represent(self, frames: dict[str, torch_frame.TensorFrame], batch: Any) -> Tensor:
        """The seeds' trunk outputs with their own rows hidden (blind to their own columns)."""
        table = batch.seed_table
        x = self.trunk.encode(frames, batch)
        # 1. Hide the seed's own row wherever the sampler reached it again (a result's
        #    driver's results lead back to the result itself), not just at the root.
        ids = batch.node_ids[table]
        seed_ids = ids[: batch.num_seeds]
        hidden = ids == seed_ids[batch.batch[table]]
        h = x[table]
        x[table] = torch.where(hidden.unsqueeze(-1), self.mask[key(table)].expand_as(h), h)
        # 2. Message passing; read the seeds.
        return self.trunk.propagate(x, batch)

    def loss(self, out: Tensor, tf: torch_frame.TensorFrame, table: str) -> Tensor:
        """Mean Huber loss over numerical columns plus mean cross-entropy over categorical ones."""
        k = key(table)
        terms: list[Tensor] = []
        if k in self.num_heads:
            y = tf.feat_dict[torch_frame.numerical].float()
            y = ((y - self.num_mean[k]) / self.num_std[k]).clamp(-CLIP_STD, CLIP_STD)
            seen = torch.isfinite(y)
            if bool(seen.any()):
                pred = self.num_heads[k](out)
                terms.append(F.smooth_l1_loss(pred[seen], y[seen]))
        if k in self.cat_heads:
            y_cat = tf.feat_dict[torch_frame.categorical].long()
            heads: nn.ModuleList = self.cat_heads[k]  # type: ignore[assignment]
            for j, head in enumerate(heads):
                col = y_cat[:, j]
                seen = col >= 0  # pytorch-frame codes NULL as -1
                if bool(seen.any()):
                    terms.append(F.cross_entropy(head(out[seen]), col[seen]))
        if not terms:
            return out.sum() * 0.0
        return torch.stack(terms).mean()
