"""Compiled kernels that lay edges out as CSR, neighbours sorted by time.

A comparison argsort of 20M int64 times takes 3.6 s on one core here. Instead,
each edge gets one integer key, ``parent << time_bits | time``, over only the
bits the time range and the parent count need, and an LSD radix sort of those
keys (:func:`radix_csr`) gives every parent's neighbours in time order. Each
pass streams through memory; the earlier layout — sort the rows by time, then
counting-sort them by parent — read and wrote one random cache line per edge,
and the whole build took twice as long (benchmarks/RESULTS.md § Sampler). The sort is stable (ties
keep row order), so the layout is the same on every machine. When the key would
need more than 64 bits, the two-step layout (:func:`time_order` then
:func:`scatter_in_order`) is the fallback.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numba import njit

IntArray = npt.NDArray[np.int64]

_NO_TIME = np.iinfo(np.int64).min
_UNKNOWN_TIME = np.iinfo(np.int64).max


@njit(cache=True, nogil=True)
def _bit_length(x: np.uint64) -> int:  # pragma: no cover - compiled
    b = 0
    while x > np.uint64(0):
        b += 1
        x = x >> np.uint64(1)
    return b


@njit(cache=True, nogil=True)
def _time_key(v: int, lo: int, top: np.uint64) -> np.uint64:  # pragma: no cover
    # NO_TIME -> 0, real times -> 1 + (v - lo), UNKNOWN_TIME -> top: the sentinels sort first/last.
    if v == _NO_TIME:
        return np.uint64(0)
    if v == _UNKNOWN_TIME:
        return top
    return np.uint64(v) - np.uint64(lo) + np.uint64(1)


@njit(cache=True, nogil=True)
def _key_time(tk: np.uint64, lo: int, top: np.uint64) -> int:  # pragma: no cover
    # The inverse of _time_key.
    if tk == np.uint64(0):
        return _NO_TIME
    if tk == top:
        return _UNKNOWN_TIME
    return int(np.int64(tk - np.uint64(1) + np.uint64(lo)))


@njit(cache=True, nogil=True)
def time_order(times: IntArray) -> tuple[IntArray, IntArray]:  # pragma: no cover - compiled
    """Stable argsort of ``times`` (sentinels included) by LSD radix sort.

    Returns ``(order, times[order])``: the sort has the sorted keys at hand, so
    the sorted times cost nothing here (a gather afterwards is a random read per row).
    """
    n = times.shape[0]
    order = np.arange(n)
    # 1. Range of the real times; the sentinels go below and above it.
    lo = _UNKNOWN_TIME
    hi = _NO_TIME
    any_real = False
    for i in range(n):
        v = times[i]
        if v != _NO_TIME and v != _UNKNOWN_TIME:
            any_real = True
            lo = min(lo, v)
            hi = max(hi, v)
    if not any_real:
        lo = 0
        hi = 0
    top = np.uint64(hi) - np.uint64(lo) + np.uint64(2)  # wraps correctly: hi >= lo
    keys = np.empty(n, dtype=np.uint64)
    done = True
    for i in range(n):
        k = _time_key(times[i], lo, top)
        keys[i] = k
        if i and k < keys[i - 1]:
            done = False
    if done:  # already in time order (data often arrives so)
        return order, times.copy()
    # 2. As few passes of at most 11 bits (2048 buckets stay in cache) as the keys need.
    bits = _bit_length(top)
    passes = (bits + 10) // 11
    dbits = (bits + passes - 1) // passes
    mask = np.uint64((1 << dbits) - 1)
    keys2 = np.empty_like(keys)
    order2 = np.empty_like(order)
    for p in range(passes):
        shift = np.uint64(p * dbits)
        count = np.zeros((1 << dbits) + 1, dtype=np.int64)
        for i in range(n):
            count[np.int64((keys[i] >> shift) & mask) + 1] += 1
        for b in range(1 << dbits):
            count[b + 1] += count[b]
        for i in range(n):
            d = np.int64((keys[i] >> shift) & mask)
            q = count[d]
            count[d] = q + 1
            keys2[q] = keys[i]
            order2[q] = order[i]
        keys, keys2 = keys2, keys
        order, order2 = order2, order
    # Back from keys to times (keys2 is free now).
    out = keys2.view(np.int64)
    for i in range(n):
        out[i] = _key_time(keys[i], lo, top)
    return order, out


@njit(cache=True, nogil=True)
def scatter_in_order(
    order: IntArray,
    src: IntArray,
    dst: IntArray,
    identity_src: bool,
    n_dst: int,
    src_time: IntArray,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> None:  # pragma: no cover - compiled
    """Counting sort of edges ``src[j] -> dst[j]`` by ``dst``, visiting ``j`` in ``order``.

    ``dst[j] < 0`` is no edge. With ``identity_src`` the source of edge ``j`` is ``j``
    (a foreign key: row ``j`` of the child table) and ``src`` is not read.
    ``src_time[q]`` is the time of edge ``order[q]``'s source; it is copied next to
    the neighbour (``out_time``) so the sampler's binary search reads one array.
    """
    out_indptr[:] = 0
    for j in range(dst.shape[0]):
        d = dst[j]
        if d >= 0:
            out_indptr[d + 1] += 1
    for i in range(n_dst):
        out_indptr[i + 1] += out_indptr[i]
    pos = out_indptr[:n_dst].copy()
    with_time = out_time.shape[0] == out_indptr[n_dst]  # empty: no times wanted
    for q in range(order.shape[0]):
        j = order[q]
        d = dst[j]
        if d >= 0:
            p = pos[d]
            out_indices[p] = j if identity_src else src[j]
            if with_time:
                out_time[p] = src_time[q]
            pos[d] = p + 1


# Digit width of the radix passes: measured on 20M keys here, a pass with 2^8
# buckets takes 0.09 s and one with 2^10 or 2^11 twice that (more write fronts than
# the TLB and L1 hold), so six 8-bit passes beat four or five wider ones.
_DIGIT_BITS = 8


@njit(cache=True, nogil=True)
def _edge_key(d: int, tk: np.uint64, tbits: int) -> np.uint64:  # pragma: no cover
    if tbits >= 64:  # then dst is always 0 (the bits were checked), and a 64-bit shift is undefined
        return tk
    return (np.uint64(d) << np.uint64(tbits)) | tk


@njit(cache=True, nogil=True)
def radix_csr(
    dst: IntArray,
    edge_time: IntArray,
    src: IntArray,
    identity_src: bool,
    n_dst: int,
    keys_a: npt.NDArray[np.uint64],
    keys_b: npt.NDArray[np.uint64],
    rows_a: npt.NDArray[Any],
    rows_b: npt.NDArray[Any],
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> bool:  # pragma: no cover - compiled
    """CSR of edges ``j -> dst[j]`` grouped by ``dst``, each group in (time, j) order.

    One LSD radix sort on the key ``dst << tbits | time key``: every pass reads
    sequentially and writes to at most 2^8 streams, where a counting sort by
    ``dst`` in time order writes (and reads ``dst``) at random — two cache misses
    per edge. Passes whose digit is the same for every edge are skipped, and the
    time digits are not sorted at all when the edges come in time order already.

    ``dst[j] < 0`` is no edge; ``edge_time[j]`` is the edge's time (the source's);
    an empty ``out_time`` means the times are not wanted (an untimed source);
    ``keys_*``/``rows_*`` are scratch as long as ``dst`` (unsigned 32-bit rows are
    enough below 2^32 edges); numpy allocates them, not the kernel, because numpy
    asks for transparent huge pages and the passes' scattered writes need them.
    Returns False when the key would need more than 64 bits (times spanning
    centuries to the second and billions of parents); the outputs are then not
    filled and the caller sorts times and scatters in two steps.
    """
    n = dst.shape[0]
    # 1. Edges per dst, range of the real times, and whether times already ascend.
    out_indptr[:] = 0
    lo = _UNKNOWN_TIME
    hi = _NO_TIME
    ordered = True
    prev = _NO_TIME
    for j in range(n):
        d = dst[j]
        if d >= 0:
            out_indptr[d + 1] += 1
            v = edge_time[j]
            if v < prev:
                ordered = False
            prev = v
            if v != _NO_TIME and v != _UNKNOWN_TIME:
                lo = min(lo, v)
                hi = max(hi, v)
    if lo > hi:  # no real times
        lo = 0
        hi = 0
    top = np.uint64(hi) - np.uint64(lo) + np.uint64(2)
    tbits = _bit_length(top)
    dbits = _bit_length(np.uint64(max(n_dst - 1, 0)))
    if tbits + dbits > 64:
        return False
    for i in range(n_dst):
        out_indptr[i + 1] += out_indptr[i]
    m = out_indptr[n_dst]
    with_time = out_time.shape[0] == m  # empty: the caller keeps no times
    tmask = np.uint64((1 << tbits) - 1) if tbits < 64 else ~np.uint64(0)
    # 2. Digits over the key bits that need sorting; a histogram per digit in one read.
    start = tbits if ordered else 0
    nbits = tbits + dbits - start
    passes = (nbits + _DIGIT_BITS - 1) // _DIGIT_BITS
    width = (nbits + passes - 1) // passes if passes else 0
    dmask = np.uint64((1 << width) - 1)
    hist = np.zeros((max(passes, 1), (1 << width) + 1), dtype=np.int64)
    for j in range(n):
        d = dst[j]
        if d >= 0:
            key = _edge_key(d, _time_key(edge_time[j], lo, top), tbits)
            for p in range(passes):
                hist[p, np.int64((key >> np.uint64(start + p * width)) & dmask) + 1] += 1
    active = np.empty(passes, dtype=np.int64)
    n_active = 0
    for p in range(passes):
        if hist[p].max() < m:  # else every edge has the same digit: nothing to move
            active[n_active] = p
            n_active += 1
            for b in range(1 << width):
                hist[p, b + 1] += hist[p, b]
    # 3. The passes: the first reads the inputs, the last writes the outputs.
    for a in range(max(n_active, 1)):
        first = a == 0
        last = a >= n_active - 1
        p = active[a] if n_active else 0
        shift = np.uint64(start + p * width)
        count = hist[p]
        q_in = n if first else m
        w = 0  # output slot when there is no pass at all
        for q in range(q_in):
            if first:
                d = dst[q]
                if d < 0:
                    continue
                key = _edge_key(d, _time_key(edge_time[q], lo, top), tbits)
                row = q
            else:
                key = keys_a[q]
                row = int(rows_a[q])
            if n_active:
                digit = np.int64((key >> shift) & dmask)
                w = count[digit]
                count[digit] = w + 1
            if last:
                out_indices[w] = row if identity_src else src[row]
                if with_time:
                    out_time[w] = _key_time(key & tmask, lo, top)
                if not n_active:
                    w += 1
            else:
                keys_b[w] = key
                rows_b[w] = row
        keys_a, keys_b = keys_b, keys_a
        rows_a, rows_b = rows_b, rows_a
    return True


def _scratch(n: int) -> list[npt.NDArray[Any]]:
    # Lazily mapped: a buffer's pages are only touched if a pass writes it.
    rows = np.uint32 if n < 2**32 else np.int64
    return [np.empty(n, dtype=dtype) for dtype in (np.uint64, np.uint64, rows, rows)]


def build_csr(
    src: IntArray,
    dst: IntArray,
    n_dst: int,
    src_time: IntArray,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> None:
    """Fill ``out_indptr`` (n_dst+1), ``out_indices`` and ``out_time`` for edges ``src -> dst``.

    Args:
        src: source node of each edge.
        dst: destination node of each edge; negative means the edge does not exist.
        n_dst: number of destination nodes.
        src_time: time of every source node (the sort key).
        out_indptr: output offsets, length ``n_dst + 1``.
        out_indices: output neighbour ids, length = number of edges with ``dst >= 0``.
        out_time: output neighbour times, aligned with ``out_indices``.
    """
    edge_time = np.ascontiguousarray(src_time[src], dtype=np.int64)
    _sorted_csr(src, dst, False, n_dst, edge_time, out_indptr, out_indices, out_time)


def fk_csr(
    dst: IntArray,
    times: IntArray,
    n_dst: int,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> None:
    """CSR from parents to the child rows that reference them (row ``j`` -> ``dst[j]``).

    ``times`` = the children's times; each parent's children come in (time, row) order.
    """
    _sorted_csr(dst, dst, True, n_dst, times, out_indptr, out_indices, out_time)


def _sorted_csr(
    src: IntArray,
    dst: IntArray,
    identity_src: bool,
    n_dst: int,
    edge_time: IntArray,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> None:
    keys_a, keys_b, rows_a, rows_b = _scratch(dst.shape[0])
    done = radix_csr(
        dst, edge_time, src, identity_src, n_dst, keys_a, keys_b, rows_a, rows_b,
        out_indptr, out_indices, out_time,
    )  # fmt: skip
    if not done:
        order, sorted_time = time_order(edge_time)
        scatter_in_order(
            order, src, dst, identity_src, n_dst, sorted_time, out_indptr, out_indices, out_time
        )


@njit(cache=True, nogil=True)
def reverse_fk_csr(
    dst: IntArray,
    dst_time: IntArray,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> None:  # pragma: no cover - compiled
    """CSR from each child row to its (at most one) parent: ``dst[i]`` or none when < 0.

    ``out_time`` gets the parent's time. Either output may be empty, and is then
    not written: ``out_indptr`` when every child has a parent (it would be the
    identity), ``out_time`` when the parent table has no times.
    """
    with_ptr = out_indptr.shape[0] > 0
    with_time = out_time.shape[0] > 0
    if with_ptr:
        out_indptr[0] = 0
    m = 0
    for i in range(dst.shape[0]):
        d = dst[i]
        if d >= 0:
            out_indices[m] = d
            if with_time:
                out_time[m] = dst_time[d]
            m += 1
        if with_ptr:
            out_indptr[i + 1] = m
