"""Blocked streaming top-k equals the brute-force ranking, exclusions included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relgraph.predict.topk import Exclude, topk_inner


def _brute(q: np.ndarray, items: np.ndarray, k: int, banned: set[tuple[int, int]]):  # type: ignore[no-untyped-def]
    s = q @ items.T
    for r, c in banned:
        s[r, c] = -np.inf
    order = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(s, order, axis=1)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    m=st.integers(1, 60),
    d=st.integers(1, 8),
    k=st.integers(1, 12),
    qb=st.integers(1, 16),
    ib=st.integers(1, 16),
    seed=st.integers(0, 10_000),
    ban=st.floats(0, 0.5),
)
def test_blocks_equal_brute_force(
    n: int, m: int, d: int, k: int, qb: int, ib: int, seed: int, ban: float
) -> None:
    rng = np.random.default_rng(seed)
    # Distinct scores (no ties), so the ranking is unique.
    q = rng.normal(size=(n, d)).astype(np.float32)
    items = rng.normal(size=(m, d)).astype(np.float32)
    mask = rng.random((n, m)) < ban
    rows, cols = np.nonzero(mask)
    banned = set(zip(rows.tolist(), cols.tolist(), strict=True))
    ex = Exclude.from_pairs(rows, cols, n)
    idx, val = topk_inner(q, items, k, exclude=ex, query_block=qb, item_block=ib)
    q64, items64 = q.astype(np.float64), items.astype(np.float64)
    _, want_val = _brute(q64, items64, min(k, m), banned)
    allowed = np.isfinite(want_val)
    assert (idx[~allowed] == -1).all() and np.isneginf(val[~allowed]).all()
    assert np.allclose(val[allowed], want_val[allowed], rtol=1e-4, atol=1e-4)
    for r in range(n):
        got = idx[r][allowed[r]]
        assert len(set(got.tolist())) == len(got)  # no item twice
        assert not any((r, int(c)) in banned for c in got)
        # The items returned score what the k best score (ties may swap equal items).
        exact = np.sort(q64[r] @ items64[got].T)[::-1]
        assert np.allclose(exact, want_val[r][allowed[r]], rtol=1e-4, atol=1e-4)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="must be n x d"):
        topk_inner(np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32), 1)
