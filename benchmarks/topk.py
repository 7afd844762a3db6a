"""Top-k scoring against the GEMM limit (issue 19, item 3).

Scores N queries against M items (d-dimensional float32 embeddings) with
relgraph.predict.topk.topk_inner and prints pairs/s per core beside the limit set by
this machine's float32 GEMM rate, measured in the same process: each pair costs 2 x d
FLOP, so the limit is GEMM FLOP/s / (2 d). Also times the same scoring with 1% of
pairs excluded (items already owned).

    python benchmarks/topk.py --queries 200000 --items 100000 --dim 128 --k 10
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from relgraph.predict.topk import Exclude, topk_inner


def gemm_flops(m: int, d: int, n: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` float32 FLOP/s of an (m x d) @ (d x n) product: the block shape
    top-k runs, so the limit is what this machine reaches on exactly that work."""
    a = torch.randn(m, d)
    b = torch.randn(d, n)
    out = torch.empty(m, n)
    torch.mm(a, b, out=out)  # warm-up: thread pool, pages
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t)
    return 2.0 * m * d * n / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--exclude-share", type=float, default=0.01)
    ap.add_argument("--query-block", type=int, default=2048)
    ap.add_argument("--item-block", type=int, default=32768)
    args = ap.parse_args()
    threads = torch.get_num_threads()
    rng = np.random.default_rng(0)
    q = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    items = rng.standard_normal((args.items, args.dim), dtype=np.float32)
    pairs = args.queries * args.items

    shape = (min(args.query_block, args.queries), args.dim, min(args.item_block, args.items))
    before = gemm_flops(*shape)
    print(f"machine: {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads")

    blocks = {"query_block": args.query_block, "item_block": args.item_block}
    t = time.perf_counter()
    topk_inner(q, items, args.k, **blocks)
    plain = time.perf_counter() - t

    per_row = max(1, int(args.items * args.exclude_share))
    rows = np.repeat(np.arange(args.queries), per_row)
    cols = rng.integers(0, args.items, size=rows.size)
    ex = Exclude.from_pairs(rows, cols, args.queries)
    t = time.perf_counter()
    topk_inner(q, items, args.k, exclude=ex, **blocks)
    excl = time.perf_counter() - t

    # The reference is taken before and after; the better one is the limit (a busy
    # machine lowers it, which would flatter the ratio).
    flops = max(before, gemm_flops(*shape))
    limit = flops / (2 * args.dim)
    print(f"GEMM float32 {shape[0]}x{shape[1]} @ {shape[1]}x{shape[2]}: {before / 1e9:.1f} "
          f"GFLOP/s before, {flops / 1e9:.1f} best -> limit {limit / 1e9:.2f} G pairs/s "
          f"({limit / threads / 1e9:.2f} G per core) at d={args.dim}")  # fmt: skip
    for name, secs in (("top-k", plain), (f"top-k, {per_row} excluded per query", excl)):
        rate = pairs / secs
        print(
            f"{name}: {args.queries:,} x {args.items:,} in {secs:.2f} s = "
            f"{rate / 1e9:.2f} G pairs/s ({rate / threads / 1e9:.2f} G per core); "
            f"ratio to the GEMM limit {rate / limit:.2f}"
        )


if __name__ == "__main__":
    main()
