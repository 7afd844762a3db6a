"""A heterogeneous GraphSAGE built natively from PyG modules (no ``to_hetero`` tracing)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv, SAGEConv
from torch_geometric.nn import LayerNorm as PygLayerNorm

from relgraph.nn.encoder import key, safe_module_name

EdgeType = tuple[str, str, str]
UNREACHED = 1 << 30


def _et_key(et: EdgeType) -> str:
    return safe_module_name("__".join(et))


def tree_depth(
    num_nodes: dict[str, int],
    edge_index: dict[EdgeType, Tensor],
    seed_table: str,
    num_seeds: int,
    hops: int,
) -> dict[str, Tensor]:
    """Hop distance of each node from its seed in the sampler's computation trees.

    Every non-seed node has exactly one edge, towards the node it was reached from,
    so ``hops`` rounds of "depth(src) = depth(dst) + 1" label the whole tree.
    """
    depth = {nt: torch.full((n,), UNREACHED, dtype=torch.long) for nt, n in num_nodes.items()}
    depth[seed_table][:num_seeds] = 0
    for _ in range(hops):
        for (src, _rel, dst), ei in edge_index.items():
            if ei.numel():
                d = depth[dst][ei[1]] + 1
                depth[src][ei[0]] = torch.minimum(depth[src][ei[0]], d)
    return depth


class HeteroGNN(nn.Module):
    """``num_layers`` rounds of message passing, one convolution per edge type.

    Each round: per edge type a ``SAGEConv`` (``aggr`` over neighbours; or a
    ``GATConv`` with ``attention``), summed over the edge types that reach a node
    type (what PyG's ``HeteroConv(aggr="sum")`` does) plus one root (self) linear
    map per node type, then a node-wise layer norm,
    ReLU, dropout and a residual connection; nodes that get no message keep their
    state. With ``depth`` (hops from the seed), round ``l`` only updates nodes that
    can still influence a seed (depth ≤ num_layers − 1 − l): on the sampler's trees
    this skips the leaves, most of the work, with the same seed outputs.
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
        self.edge_types: list[EdgeType] = [(et[0], et[1], et[2]) for et in edge_types]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.roots = nn.ModuleList()
        for _ in range(num_layers):
            convs: dict[str, nn.Module] = {}
            for et in self.edge_types:
                if attention:
                    convs[_et_key(et)] = GATConv(
                        (channels, channels), channels, heads=1, add_self_loops=False
                    )
                else:
                    # The root term lives once per node type (below), not once per
                    # edge type: sum_et W_et x_dst is one linear map anyway, and
                    # this saves a matmul per extra edge type on every node.
                    convs[_et_key(et)] = SAGEConv(
                        (channels, channels), channels, aggr=aggr, root_weight=False
                    )
            self.convs.append(nn.ModuleDict(convs))
            self.roots.append(
                nn.ModuleDict(
                    {key(nt): nn.Linear(channels, channels, bias=False) for nt in node_types}
                )
            )
            self.norms.append(
                nn.ModuleDict({key(nt): PygLayerNorm(channels, mode="node") for nt in node_types})
            )
        self.dropout = nn.Dropout(dropout)

    def __repr__(self) -> str:
        kind = "GAT" if self.attention else f"SAGE(aggr={self.aggr})"
        return f"HeteroGNN({kind}, channels={self.channels}, layers={self.num_layers})"

    def forward(
        self,
        x: dict[str, Tensor],
        edge_index: dict[EdgeType, Tensor],
        depth: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        edges = {(et[0], et[1], et[2]): ei for et, ei in edge_index.items() if ei.numel() > 0}
        for layer in range(self.num_layers):
            convs: nn.ModuleDict = self.convs[layer]  # type: ignore[assignment]
            norms: nn.ModuleDict = self.norms[layer]  # type: ignore[assignment]
            roots: nn.ModuleDict = self.roots[layer]  # type: ignore[assignment]
            # 1. Which destination nodes this round updates (all, or those near a seed).
            active: dict[str, Tensor] = {}
            remap: dict[str, Tensor] = {}
            if depth is not None:
                limit = self.num_layers - 1 - layer
                for nt, d in depth.items():
                    idx = (d <= limit).nonzero().view(-1)
                    active[nt] = idx
                    pos = torch.full((d.numel(),), -1, dtype=torch.long)
                    pos[idx] = torch.arange(idx.numel())
                    remap[nt] = pos
            # 2. One convolution per edge type; sum over edge types per node type.
            msg: dict[str, Tensor] = {}
            dst_x: dict[str, Tensor] = {}
            for et, ei in edges.items():
                src, _rel, dst = et
                if _et_key(et) not in convs:
                    continue  # an edge type the model was built without (a hidden link)
                if depth is not None:
                    keep = remap[dst][ei[1]] >= 0
                    if not bool(keep.any()):
                        continue
                    ei = torch.stack([ei[0][keep], remap[dst][ei[1][keep]]])
                if dst not in dst_x:
                    dst_x[dst] = x[dst][active[dst]] if dst in active else x[dst]
                out = convs[_et_key(et)]((x[src], dst_x[dst]), ei)
                msg[dst] = msg[dst] + out if dst in msg else out
            # 3. Root term, norm, ReLU, residual.
            new = dict(x)
            for nt, m in msg.items():
                if not self.attention:
                    m = m + roots[key(nt)](dst_x[nt])
                h = self.dropout(norms[key(nt)](m).relu())
                if nt in active:
                    new[nt] = x[nt].index_add(0, active[nt], h)
                else:
                    new[nt] = x[nt] + h
            x = new
        return x
