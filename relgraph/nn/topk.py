"""Top-k of every query against every item by inner product, without the full score matrix.

Here (not in predict) because training scores its link models with it as well.

Link prediction and embedding search score n queries against m items (a million
customers against a hundred thousand products). The n x m matrix does not fit in
memory, so the work goes in blocks: one float32 GEMM per (query block, item block)
— the part that runs at the BLAS's FLOP rate — then the block's k best per row,
merged into a running k best. Items a query must not get (what the customer already
bought) are set to -inf inside the block they fall in, in the same pass.

Example:
    >>> import numpy as np
    >>> q = np.eye(2, dtype=np.float32); items = np.eye(2, dtype=np.float32)
    >>> idx, val = topk_inner(q, items, 1)
    >>> idx.tolist()
    [[0], [1]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Exclude:
    """Per query row r, the items it must not get: ``indices[indptr[r]:indptr[r + 1]]``."""

    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int64, item indices

    @classmethod
    def from_pairs(cls, rows: np.ndarray, items: np.ndarray, n: int) -> Exclude:
        order = np.lexsort((items, rows))
        rows, items = np.asarray(rows)[order], np.asarray(items)[order]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, rows + 1, 1)
        return cls(np.cumsum(indptr), items.astype(np.int64))


def topk_inner(
    queries: np.ndarray | torch.Tensor,
    items: np.ndarray | torch.Tensor,
    k: int,
    *,
    exclude: Exclude | None = None,
    query_block: int = 2048,
    item_block: int = 32768,
) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores), each n x min(k, m): row i's best items, best first.

    An excluded item never appears; a row with fewer than k allowed items gets
    index -1 and score -inf in the remaining places.
    """
    q = torch.as_tensor(queries, dtype=torch.float32)
    it = torch.as_tensor(items, dtype=torch.float32)
    if q.ndim != 2 or it.ndim != 2 or q.shape[1] != it.shape[1]:
        raise ValueError(
            f"queries {tuple(q.shape)} and items {tuple(it.shape)} must be n x d, m x d"
        )
    n, m = q.shape[0], it.shape[0]
    k = min(k, m)
    out_idx = np.empty((n, k), dtype=np.int64)
    out_val = np.empty((n, k), dtype=np.float32)
    item_t = it.t().contiguous()  # d x m: each block is a column slice of one layout
    # One score buffer for every block: a fresh 256 MB tensor per block costs its page
    # faults again each time, which on 2 cores is a third of the GEMM's own time.
    buf = torch.empty(min(query_block, n) * min(item_block, m))
    with torch.no_grad():
        for r0 in range(0, n, query_block):
            r1 = min(n, r0 + query_block)
            best_val = torch.full((r1 - r0, k), -torch.inf)
            best_idx = torch.full((r1 - r0, k), -1, dtype=torch.int64)
            banned = _block_exclusions(exclude, r0, r1)
            for c0 in range(0, m, item_block):
                c1 = min(m, c0 + item_block)
                scores = buf[: (r1 - r0) * (c1 - c0)].view(r1 - r0, c1 - c0)
                torch.mm(q[r0:r1], item_t[:, c0:c1], out=scores)
                if banned is not None:
                    ex_rows, ex_cols = banned  # sorted by item: one slice per item block
                    lo, hi = torch.searchsorted(ex_cols, torch.tensor([c0, c1])).tolist()
                    scores[ex_rows[lo:hi], ex_cols[lo:hi] - c0] = -torch.inf
                kb = min(k, c1 - c0)
                top = scores.topk(kb, dim=1, sorted=False)
                merged_val = torch.cat([best_val, top.values], dim=1)
                merged_idx = torch.cat([best_idx, top.indices + c0], dim=1)
                keep = merged_val.topk(k, dim=1, sorted=False).indices
                best_val = merged_val.gather(1, keep)
                best_idx = merged_idx.gather(1, keep)
            order = best_val.argsort(dim=1, descending=True)
            best_val = best_val.gather(1, order)
            best_idx = best_idx.gather(1, order)
            best_idx[torch.isneginf(best_val)] = -1
            out_idx[r0:r1] = best_idx.numpy()
            out_val[r0:r1] = best_val.numpy()
    return out_idx, out_val


def _block_exclusions(
    exclude: Exclude | None, r0: int, r1: int
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(row within the block, item) pairs to exclude for query rows r0..r1, by item."""
    if exclude is None:
        return None
    lo, hi = int(exclude.indptr[r0]), int(exclude.indptr[r1])
    if lo == hi:
        return None
    counts = np.diff(exclude.indptr[r0 : r1 + 1])
    rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), counts)
    cols = exclude.indices[lo:hi]
    order = np.argsort(cols, kind="stable")
    return torch.from_numpy(rows[order]), torch.from_numpy(cols[order])
