"""The sampler's compiled core: one disjoint temporal subgraph per seed.

Every seed is sampled with its own counter-based random stream (splitmix64 of
the call key and the seed's salt: by default its position in the batch), so a
batch does not depend on how many threads ran it or in which order. Inference
salts each seed with its (node, time) instead, so that a seed's subgraph does not
depend on which other seeds share its batch either (online = batch predictions).
The kernels take a range of seeds and release the GIL; the caller runs ranges on
Python threads. (numba's
``prange`` on OpenMP was tried first: on a shared 2-core machine its threads
spin at every barrier while a core is taken, and 2 threads ran 9x slower than 1.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int64]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S1 = np.uint64(1)
_INT64_MAX = np.iinfo(np.int64).max
_NO_TIME = np.iinfo(np.int64).min


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
def _below(state: np.uint64, n: int) -> tuple[np.uint64, np.int64]:  # pragma: no cover
    """Advance the stream; a uniform integer in [0, n) (modulo bias < n / 2**63)."""
    state = state + _GOLDEN
    r = np.int64(mix64(state) >> _S1)
    return state, r % n


@njit(cache=True, nogil=True)
def sample_range(
    lo_seed: int,
    hi_seed: int,
    indptr_all: IntArray,
    indices_all: npt.NDArray[np.integer[Any]],
    nbr_time_all: IntArray,
    et_src: IntArray,
    et_ip_off: IntArray,
    et_ix_off: IntArray,
    et_tx_off: IntArray,
    in_ptr: IntArray,
    in_et: IntArray,
    et_unit: npt.NDArray[np.bool_],
    type_timed: npt.NDArray[np.bool_],
    seed_type: int,
    seeds: IntArray,
    seed_times: IntArray,
    salts: npt.NDArray[np.uint64],
    fanouts: IntArray,
    recent: bool,
    key: np.uint64,
    out_type: IntArray,
    out_node: IntArray,
    out_parent: IntArray,
    out_et: IntArray,
    out_time: IntArray,
    count: IntArray,
    type_count: IntArray,
    et_count: IntArray,
) -> None:  # pragma: no cover - compiled
    """Sample the computation tree of seeds ``lo_seed..hi_seed-1`` into row ``s`` of the outputs.

    Breadth-first, hop by hop: every frontier node expands along every edge type
    that ends at its type. Nodes are appended (never merged), each with the
    local position of the node it was reached from (``out_parent``).
    """
    maxk = 1
    for h in range(fanouts.shape[0]):
        maxk = max(maxk, fanouts[h])
    sel = np.empty(maxk, dtype=np.int64)
    max_in = 0
    for t in range(in_ptr.shape[0] - 1):
        max_in = max(max_in, in_ptr[t + 1] - in_ptr[t])
    r_lo = np.empty(out_type.shape[1] * max_in, dtype=np.int64)
    r_hi = np.empty(out_type.shape[1] * max_in, dtype=np.int64)
    # For identity edge types pass A loads the one neighbour and its time itself.
    r_nb = np.empty(out_type.shape[1] * max_in, dtype=np.int64)
    r_t = np.empty(out_type.shape[1] * max_in, dtype=np.int64)
    for s in range(lo_seed, hi_seed):
        state = mix64(key ^ mix64(salts[s] + _GOLDEN))
        tlim = seed_times[s]
        if tlim == _INT64_MAX:  # UNKNOWN_TIME is never visible
            tlim = _INT64_MAX - 1
        type_count[s, :] = 0
        et_count[s, :] = 0
        out_type[s, 0] = seed_type
        out_node[s, 0] = seeds[s]
        out_parent[s, 0] = -1
        out_et[s, 0] = -1
        n = 1
        start = 0
        end = 1
        for h in range(fanouts.shape[0]):
            k = fanouts[h]
            # Pass A: every (frontier node, edge type) range first. These loads are
            # independent, so the CPU overlaps their cache misses (sampling is
            # memory-latency bound); pass B then searches and draws.
            nr = 0
            for i in range(start, end):
                t = out_type[s, i]
                v = out_node[s, i]
                for q in range(in_ptr[t], in_ptr[t + 1]):
                    e = in_et[q]
                    if et_unit[e]:
                        # Exactly one neighbour per node (a foreign key without
                        # NULLs, child -> parent): its indptr is the identity, so
                        # skip that load and fetch the neighbour (and its time) here,
                        # among the other independent loads.
                        r_lo[nr] = v
                        r_hi[nr] = v + 1
                        r_nb[nr] = indices_all[et_ix_off[e] + v]
                        if type_timed[et_src[e]]:
                            r_t[nr] = nbr_time_all[et_tx_off[e] + v]
                        else:
                            r_t[nr] = _NO_TIME
                    else:
                        p0 = et_ip_off[e] + v
                        r_lo[nr] = indptr_all[p0]
                        r_hi[nr] = indptr_all[p0 + 1]
                    nr += 1
            nr = 0
            for i in range(start, end):
                t = out_type[s, i]
                for q in range(in_ptr[t], in_ptr[t + 1]):
                    e = in_et[q]
                    lo = r_lo[nr]
                    hi = r_hi[nr]
                    nr += 1
                    ixb = et_ix_off[e]
                    txb = et_tx_off[e]
                    st = et_src[e]
                    src_timed = type_timed[st]
                    unit = et_unit[e]
                    if unit:
                        # Visible unless its time is later (UNKNOWN_TIME never is).
                        a = hi if r_t[nr - 1] <= tlim else lo
                    else:
                        # Neighbours are sorted by time: the visible ones are a prefix.
                        # A table without times is all visible (and stores no neighbour
                        # times): no memory reads needed.
                        a = lo
                        b = hi
                        if not src_timed:
                            a = hi
                        while a < b:
                            m = (a + b) >> 1
                            if nbr_time_all[txb + m] <= tlim:
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
                                c += 1  # noqa: SIM113 (numba: a plain counter)
                    for j in range(take):
                        p = lo + (sel[j] if use_sel else first + j)
                        out_type[s, n] = st
                        out_parent[s, n] = i
                        out_et[s, n] = e
                        if unit:
                            out_node[s, n] = r_nb[nr - 1]
                            out_time[s, n] = r_t[nr - 1]
                        else:
                            out_node[s, n] = indices_all[ixb + p]
                            out_time[s, n] = nbr_time_all[txb + p] if src_timed else _NO_TIME
                        n += 1
                    type_count[s, st] += take
                    et_count[s, e] += take
            start = end
            end = n
        count[s] = n


@njit(cache=True, nogil=True)
def plan_layout(
    type_count: IntArray, et_count: IntArray, seed_type: int
) -> tuple[IntArray, IntArray, IntArray, IntArray, IntArray, IntArray]:  # pragma: no cover
    """Where each seed's nodes and edges go: per type, seeds first, then seed by seed.

    Returns ``(type_start, type_total, type_base, et_start, et_total, et_base)``;
    ``*_start[s, x]`` is seed ``s``'s first local index of type/edge type ``x``,
    ``*_base`` the offsets of each type's block in the flat outputs (an edge
    type's block is ``[2, E]``: all sources, then all destinations).
    """
    n_seeds, n_types = type_count.shape
    n_et = et_count.shape[1]
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
    return type_start, type_total, type_base, et_start, et_total, et_base


@njit(cache=True, nogil=True)
def scatter_range(
    lo_seed: int,
    hi_seed: int,
    time_all: IntArray,
    node_off: IntArray,
    seed_type: int,
    seeds: IntArray,
    out_type: IntArray,
    out_node: IntArray,
    out_parent: IntArray,
    out_et: IntArray,
    out_time: IntArray,
    count: IntArray,
    type_start: IntArray,
    type_base: IntArray,
    et_start: IntArray,
    et_total: IntArray,
    et_base: IntArray,
    nodes: IntArray,
    batch: IntArray,
    ntime: IntArray,
    edges: IntArray,
) -> None:  # pragma: no cover - compiled
    """Write seeds ``lo_seed..hi_seed-1``: local index = rank within the node type;
    one edge per non-seed node, towards the node it was reached from."""
    local = np.empty(out_type.shape[1], dtype=np.int64)
    tcur = np.empty(type_start.shape[1], dtype=np.int64)
    ecur = np.empty(et_start.shape[1], dtype=np.int64)
    for s in range(lo_seed, hi_seed):
        tcur[:] = type_start[s]
        ecur[:] = et_start[s]
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
            ntime[pos] = out_time[s, i]
            e = out_et[s, i]
            j = ecur[e]
            ecur[e] += 1
            edges[et_base[e] + j] = li
            edges[et_base[e] + et_total[e] + j] = local[out_parent[s, i]]
