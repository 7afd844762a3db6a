"""Per-table column encoders (pytorch-frame) and the relative-time encoding."""

from __future__ import annotations

from typing import Any

import torch
import torch_frame
from torch import Tensor, nn
from torch_frame import NAStrategy
from torch_frame.data.stats import StatType
from torch_frame.nn import (
    EmbeddingEncoder,
    LinearEmbeddingEncoder,
    LinearEncoder,
    MultiCategoricalEmbeddingEncoder,
    ResNet,
    TimestampEncoder,
)
from torch_geometric.nn import PositionalEncoding

# Seconds per day: relative times are encoded in days, the scale of most business events.
DAY = 86400.0
NO_TIME = int(torch.iinfo(torch.int64).min)


def key(node_type: str) -> str:
    """ModuleDict key for a table (table names such as ``items`` clash with dict methods)."""
    return safe_module_name(f"t_{node_type}")


def safe_module_name(name: str) -> str:
    """``name`` as a torch module name: no '.' (``HomeGames."park.key"`` is a real column)."""
    return name.replace(".", "\u00b7")


def _stype_encoders() -> dict[torch_frame.stype, Any]:
    return {
        torch_frame.categorical: EmbeddingEncoder(),
        # NULLs become the column mean: with no strategy pytorch-frame zeroes the
        # output but the weight gradient is NaN * 0 = NaN, which poisons training.
        torch_frame.numerical: LinearEncoder(na_strategy=NAStrategy.MEAN),
        torch_frame.multicategorical: MultiCategoricalEmbeddingEncoder(),
        torch_frame.embedding: LinearEmbeddingEncoder(),
        torch_frame.timestamp: TimestampEncoder(),
    }


class HeteroEncoder(nn.Module):
    """One pytorch-frame ResNet per table maps its rows to ``channels`` vectors.

    Tables without feature columns get one learned vector shared by all their rows,
    so that their nodes still carry (structural) messages.
    """

    def __init__(
        self,
        *,
        channels: int,
        node_types: list[str],
        col_names_dict: dict[str, dict[torch_frame.stype, list[str]]],
        col_stats: dict[str, dict[str, dict[StatType, Any]]],
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.keys_ = set(node_types)
        self.encoders = nn.ModuleDict()
        self.constant = nn.ParameterDict()
        for nt in node_types:
            if nt in col_names_dict:
                self.encoders[key(nt)] = ResNet(
                    channels=channels,
                    out_channels=channels,
                    num_layers=num_layers,
                    col_stats=col_stats[nt],
                    col_names_dict=col_names_dict[nt],
                    stype_encoder_dict=_stype_encoders(),
                )
            else:
                self.constant[key(nt)] = nn.Parameter(torch.randn(channels) * 0.1)

    def forward(
        self, frames: dict[str, torch_frame.TensorFrame], num_nodes: dict[str, int]
    ) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for nt, n in num_nodes.items():
            if nt not in self.keys_:
                continue
            k = key(nt)
            if k in self.encoders and nt in frames:
                out[nt] = self.encoders[k](frames[nt])
            elif k in self.constant:
                out[nt] = self.constant[k].expand(n, -1)
        return out


class HeteroTemporalEncoder(nn.Module):
    """Sinusoidal encoding of each node's age (seed time − node time, in days).

    Nodes of tables without a time (``NO_TIME``) get no time signal: their rows are
    timeless facts, and their age against the seed would be meaningless.
    """

    def __init__(self, *, channels: int, node_types: list[str]) -> None:
        super().__init__()
        self.pe = PositionalEncoding(channels)
        self.lin = nn.ModuleDict({key(nt): nn.Linear(channels, channels) for nt in node_types})

    def forward(
        self,
        seed_time: Tensor,
        node_time: dict[str, Tensor],
        batch: dict[str, Tensor],
    ) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for nt, t in node_time.items():
            timed = t != NO_TIME
            seed_t = seed_time[batch[nt]]
            rel = seed_t - torch.where(timed, t, seed_t)
            # Many nodes share an age (seeds share anchor times, rows share dates):
            # encode each distinct age once and gather.
            uniq, inv = torch.unique(rel, return_inverse=True)
            enc = self.lin[key(nt)](self.pe(uniq.float() / DAY))[inv]
            out[nt] = enc * timed.unsqueeze(-1).to(enc.dtype)
        return out
