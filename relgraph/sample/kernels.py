"""The sampler's compiled core: one disjoint temporal subgraph per seed.

Every seed is sampled by one thread with its own counter-based random stream
(splitmix64 of the call key and the seed's position in the batch), so a batch
does not depend on how many threads ran it or in which order.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit, prange

IntArray = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S1 = np.uint64(1)
_INT64_MAX = np.iinfo(np.int64).max


@njit(cache=True, inline="always")
def mix64(z: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """splitmix64's finaliser: a bijective scramble of 64 bits."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def derive_key(seed: np.uint64, call: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """The random key of call ``call`` of a sampler seeded with ``seed``."""
    return mix64(mix64(seed) + call * _GOLDEN)


@njit(cache=True, inline="always")
def _below(state: np.uint64, n: np.int64) -> tuple[np.uint64, np.int64]:  # pragma: no cover
    """Advance the stream; a uniform integer in [0, n) (modulo bias < n / 2**63)."""
    state = state + _GOLDEN
    r = np.int64(mix64(state) >> _S1)
    return state, r % n


@njit(cache=True, parallel=True, nogil=True)
def sample_disjoint(
    indptr_all: IntArray,
    indices_all: IntArray,
    time_all: IntArray,
    node_off: IntArray,
    et_src: IntArray,
    et_ip_off: IntArray,
    et_ix_off: IntArray,
    in_ptr: IntArray,
    in_et: IntArray,
    seed_type: np.int64,
    seeds: IntArray,
    seed_times: IntArray,
    fanouts: IntArray,
    recent: bool,
    key: np.uint64,
    cap: np.int64,
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]:  # pragma: no cover
    """Sample a computation tree per seed.

    Returns ``(nodes, batch, ntime, edges, type_total, et_total)``: ``nodes``,
    ``batch`` and ``ntime`` are grouped by node type (``type_total`` nodes each,
    seeds first in the seed type), ``edges`` holds one ``[2, E_e]`` block per
    edge type (``et_total`` edges each) of local (src, dst) indices.
    """
    n_seeds = seeds.shape[0]
    n_types = node_off.shape[0] - 1
    n_et = et_src.shape[0]
    out_type = np.empty((n_seeds, cap), dtype=np.int64)
    out_node = np.empty((n_seeds, cap), dtype=np.int64)
    out_parent = np.empty((n_seeds, cap), dtype=np.int64)
    out_et = np.empty((n_seeds, cap), dtype=np.int64)
    count = np.empty(n_seeds, dtype=np.int64)
    type_count = np.zeros((n_seeds, n_types), dtype=np.int64)
    et_count = np.zeros((n_seeds, n_et), dtype=np.int64)
    maxk = 1
    for h in range(fanouts.shape[0]):
        maxk = max(maxk, fanouts[h])

    # 1. Sample: breadth-first, hop by hop, every frontier node along every
    #    edge type that ends at its type. Nodes are appended, never merged.
    for s in prange(n_seeds):
        sel = np.empty(maxk, dtype=np.int64)
        state = mix64(key ^ mix64(np.uint64(s) + _GOLDEN))
        tlim = seed_times[s]
        if tlim == _INT64_MAX:  # UNKNOWN_TIME is never visible
            tlim = _INT64_MAX - 1
        out_type[s, 0] = seed_type
        out_node[s, 0] = seeds[s]
        out_parent[s, 0] = -1
        out_et[s, 0] = -1
        n = 1
        start = 0
        end = 1
        for h in range(fanouts.shape[0]):
            k = fanouts[h]
            for i in range(start, end):
                t = out_type[s, i]
                v = out_node[s, i]
                for q in range(in_ptr[t], in_ptr[t + 1]):
                    e = in_et[q]
                    lo = indptr_all[et_ip_off[e] + v]
                    hi = indptr_all[et_ip_off[e] + v + 1]
                    ixb = et_ix_off[e]
                    toff = node_off[et_src[e]]
                    # Neighbours are sorted by time: the visible ones are a prefix.
                    a = lo
                    b = hi
                    while a < b:
                        m = (a + b) >> 1
                        if time_all[toff + indices_all[ixb + m]] <= tlim:
                            a = m + 1
                        else:
                            b = m
                    nvis = a - lo
                    if nvis == 0:
                        continue
                    use_sel = False
                    first = 0
                    take = nvis
                    if k >= 0 and nvis > k:
                        take = k
                        if recent:
                            first = nvis - k
                        else:
                            # Floyd's algorithm: k distinct draws from [0, nvis); k is small.
                            use_sel = True
                            c = 0
                            for j in range(nvis - k, nvis):
                                state, r = _below(state, j + 1)
                                dup = False
                                for z in range(c):
                                    if sel[z] == r:
                                        dup = True
                                        break
                                sel[c] = j if dup else r
                                c += 1
                    st = et_src[e]
                    for j in range(take):
                        p = lo + (sel[j] if use_sel else first + j)
                        out_type[s, n] = st
                        out_node[s, n] = indices_all[ixb + p]
                        out_parent[s, n] = i
                        out_et[s, n] = e
                        n += 1
                    type_count[s, st] += take
                    et_count[s, e] += take
            start = end
            end = n
        count[s] = n

    # 2. Where each seed's nodes and edges go: seeds first, then seed by seed.
    type_start = np.empty((n_seeds, n_types), dtype=np.int64)
    type_total = np.zeros(n_types, dtype=np.int64)
    for t in range(n_types):
        acc = n_seeds if t == seed_type else 0
        for s in range(n_seeds):
            type_start[s, t] = acc
            acc += type_count[s, t]
        type_total[t] = acc
    et_start = np.empty((n_seeds, n_et), dtype=np.int64)
    et_total = np.zeros(n_et, dtype=np.int64)
    for e in range(n_et):
        acc = 0
        for s in range(n_seeds):
            et_start[s, e] = acc
            acc += et_count[s, e]
        et_total[e] = acc
    type_base = np.zeros(n_types + 1, dtype=np.int64)
    for t in range(n_types):
        type_base[t + 1] = type_base[t] + type_total[t]
    et_base = np.zeros(n_et + 1, dtype=np.int64)
    for e in range(n_et):
        et_base[e + 1] = et_base[e] + 2 * et_total[e]
    nodes = np.empty(type_base[n_types], dtype=np.int64)
    batch = np.empty(type_base[n_types], dtype=np.int64)
    ntime = np.empty(type_base[n_types], dtype=np.int64)
    edges = np.empty(et_base[n_et], dtype=np.int64)

    # 3. Scatter: local index = rank within the node type; one edge per non-seed node.
    for s in prange(n_seeds):
        local = np.empty(count[s], dtype=np.int64)
        tcur = type_start[s].copy()
        ecur = et_start[s].copy()
        pos = type_base[seed_type] + s
        nodes[pos] = seeds[s]
        batch[pos] = s
        ntime[pos] = time_all[node_off[seed_type] + seeds[s]]
        local[0] = s
        for i in range(1, count[s]):
            t = out_type[s, i]
            li = tcur[t]
            tcur[t] += 1
            local[i] = li
            pos = type_base[t] + li
            nodes[pos] = out_node[s, i]
            batch[pos] = s
            ntime[pos] = time_all[node_off[t] + out_node[s, i]]
            e = out_et[s, i]
            j = ecur[e]
            ecur[e] += 1
            edges[et_base[e] + j] = li
            edges[et_base[e] + et_total[e] + j] = local[out_parent[s, i]]
    return nodes, batch, ntime, edges, type_total, et_total
