"""A heterogeneous GraphSAGE built natively from PyG modules (no ``to_hetero`` tracing)."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.nn import GATConv, HeteroConv, SAGEConv
from torch_geometric.nn import LayerNorm as PygLayerNorm

from relgraph.nn.encoder import key

EdgeType = tuple[str, str, str]


class HeteroGNN(nn.Module):
    """``num_layers`` rounds of message passing, one convolution per edge type.

    Each round: per edge type a ``SAGEConv`` (``aggr`` over neighbours; or ``GATConv``
    with ``attention``), summed over the edge types that reach a node type, then a
    node-wise layer norm, ReLU, dropout, and a residual connection (nodes that get
    no message in a round keep their state).
    """

    def __init__(
        self,
        *,
        node_types: list[str],
        edge_types: list[EdgeType],
        channels: int,
        num_layers: int = 2,
        aggr: str = "sum",
        attention: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.num_layers = num_layers
        self.aggr = aggr
        self.attention = attention
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            convs: dict[EdgeType, nn.Module] = {}
            for et in edge_types:
                if attention:
                    convs[et] = GATConv(
                        (channels, channels), channels, heads=1, add_self_loops=False
                    )
                else:
                    convs[et] = SAGEConv((channels, channels), channels, aggr=aggr)
            self.convs.append(HeteroConv(convs, aggr="sum"))
            self.norms.append(
                nn.ModuleDict({key(nt): PygLayerNorm(channels, mode="node") for nt in node_types})
            )
        self.dropout = nn.Dropout(dropout)

    def __repr__(self) -> str:
        kind = "GAT" if self.attention else f"SAGE(aggr={self.aggr})"
        return f"HeteroGNN({kind}, channels={self.channels}, layers={self.num_layers})"

    def forward(
        self, x: dict[str, Tensor], edge_index: dict[EdgeType, Tensor]
    ) -> dict[str, Tensor]:
        edges = {et: ei for et, ei in edge_index.items() if ei.numel() > 0}
        for conv, norms in zip(self.convs, self.norms, strict=True):
            if not edges:
                break
            msg = conv(x, edges)
            x = {
                nt: (h + self.dropout(norms[key(nt)](msg[nt]).relu()) if nt in msg else h)
                for nt, h in x.items()
            }
        return x
