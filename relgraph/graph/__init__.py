"""Record-level graph: one node per row, edges per foreign key, CSR sorted by time."""

from __future__ import annotations

from relgraph.graph.build import build_graph, load_graph
from relgraph.graph.graph import CSR, EdgeType, RelGraph
from relgraph.graph.times import NO_TIME, UNKNOWN_TIME

__all__ = ["CSR", "NO_TIME", "UNKNOWN_TIME", "EdgeType", "RelGraph", "build_graph", "load_graph"]
