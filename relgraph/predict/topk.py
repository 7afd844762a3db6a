"""The streaming top-k lives in :mod:`relgraph.nn.topk` (training scores with it too)."""

from relgraph.nn.topk import Exclude, topk_inner

__all__ = ["Exclude", "topk_inner"]
