"""Compiled kernels that lay edges out as CSR, neighbours sorted by time.

A comparison argsort of 20M int64 times takes 3.6 s on one core here. Instead,
each edge gets one integer key, ``parent << time_bits | time``, over only the
bits the time range and the parent count need, and an LSD radix sort of those
keys (:func:`radix_csr`) gives every parent's neighbours in time order. Each
pass streams through memory; the earlier layout — sort the rows by time, then
counting-sort them by parent — read and wrote one random cache line per edge,
and the whole build took twice as long (benchmarks/RESULTS.md § Sampler). The sort is stable (ties
keep row order), so the layout is the same on every machine and for any number
of threads (:func:`radix_csr` runs its numba passes over chunks of the edges side
by side). When the key would need more than 64 bits, the two-step layout (:func:`time_order` then
:func:`scatter_in_order`) is the fallback.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
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
# Fewest edges per chunk of a multi-threaded sort.
_MIN_CHUNK = 1 << 16


@njit(cache=True, nogil=True)
def _edge_key(d: int, tk: np.uint64, tbits: int) -> np.uint64:  # pragma: no cover
    if tbits >= 64:  # then dst is always 0 (the bits were checked), and a 64-bit shift is undefined
        return tk
    return (np.uint64(d) << np.uint64(tbits)) | tk


@njit(cache=True, nogil=True)
def _scan(
    dst: IntArray, edge_time: IntArray, q0: int, q1: int, counts: IntArray
) -> tuple[int, int, bool, int, int, int]:  # pragma: no cover - compiled
    """Edges per dst of rows ``q0:q1`` into ``counts[d + 1]``; the chunk's range of real
    times, whether its times ascend, its first and last time, and its number of edges."""
    lo = _UNKNOWN_TIME
    hi = _NO_TIME
    ordered = True
    first = _NO_TIME
    prev = _NO_TIME
    m = 0
    for j in range(q0, q1):
        d = dst[j]
        if d >= 0:
            counts[d + 1] += 1
            v = edge_time[j]
            if m == 0:
                first = v
            elif v < prev:
                ordered = False
            prev = v
            m += 1
            if v != _NO_TIME and v != _UNKNOWN_TIME:
                lo = min(lo, v)
                hi = max(hi, v)
    return lo, hi, ordered, first, prev, m


@njit(cache=True, nogil=True)
def _histogram(
    dst: IntArray,
    edge_time: IntArray,
    q0: int,
    q1: int,
    lo: int,
    top: np.uint64,
    tbits: int,
    start: int,
    width: int,
    hist: IntArray,
) -> None:  # pragma: no cover - compiled
    """Digit counts of rows ``q0:q1`` for every pass (``hist[pass, digit]``), in one read."""
    dmask = np.uint64((1 << width) - 1)
    for j in range(q0, q1):
        d = dst[j]
        if d >= 0:
            key = _edge_key(d, _time_key(edge_time[j], lo, top), tbits)
            for p in range(hist.shape[0]):
                hist[p, np.int64((key >> np.uint64(start + p * width)) & dmask)] += 1


@njit(cache=True, nogil=True)
def _radix_pass(
    first: bool,
    last: bool,
    q0: int,
    q1: int,
    dst: IntArray,
    edge_time: IntArray,
    src: IntArray,
    identity_src: bool,
    lo: int,
    top: np.uint64,
    tbits: int,
    keys_in: npt.NDArray[np.uint64],
    rows_in: npt.NDArray[Any],
    keys_out: npt.NDArray[np.uint64],
    rows_out: npt.NDArray[Any],
    shift: int,
    dmask: np.uint64,
    offsets: IntArray,
    next_shift: int,
    next_hist: IntArray,
    chunk: int,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
) -> None:  # pragma: no cover - compiled
    """One pass of the stable LSD radix sort over the input rows ``q0:q1`` (one chunk).

    The first pass reads the edges (``dst``, ``edge_time``), later ones the previous
    pass's keys and rows; the last writes the CSR outputs, the others the next
    scratch buffers. ``offsets[digit]`` is where this chunk's next row with that digit
    goes. While writing, the next pass's digit is counted per output chunk of
    ``chunk`` rows (``next_hist[out chunk, digit]``): the next pass needs each of its
    chunks' histograms, and this saves it a read of the keys.
    """
    with_time = out_time.shape[0] > 0
    tmask = np.uint64((1 << tbits) - 1) if tbits < 64 else ~np.uint64(0)
    sh = np.uint64(shift)
    nsh = np.uint64(max(next_shift, 0))
    for q in range(q0, q1):
        if first:
            d = dst[q]
            if d < 0:
                continue
            key = _edge_key(d, _time_key(edge_time[q], lo, top), tbits)
            row = q
        else:
            key = keys_in[q]
            row = int(rows_in[q])
        digit = np.int64((key >> sh) & dmask)
        w = offsets[digit]
        offsets[digit] = w + 1
        if last:
            out_indices[w] = row if identity_src else src[row]
            if with_time:
                out_time[w] = _key_time(key & tmask, lo, top)
        else:
            keys_out[w] = key
            rows_out[w] = row
            if next_shift >= 0:
                next_hist[w // chunk, np.int64((key >> nsh) & dmask)] += 1


def radix_csr(
    dst: IntArray,
    edge_time: IntArray,
    src: IntArray,
    identity_src: bool,
    n_dst: int,
    scratch: Sequence[npt.NDArray[Any]],
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
    threads: int = 1,
    *,
    min_chunk: int = _MIN_CHUNK,
) -> bool:
    """CSR of edges ``j -> dst[j]`` grouped by ``dst``, each group in (time, j) order.

    One LSD radix sort on the key ``dst << tbits | time key``: every pass reads
    sequentially and writes to at most 2^8 streams, where a counting sort by
    ``dst`` in time order writes (and reads ``dst``) at random — two cache misses
    per edge. Passes whose digit is the same for every edge are skipped, and the
    time digits are not sorted at all when the edges come in time order already.

    The rows are cut into ``threads`` chunks sorted side by side (the kernels release
    the GIL): each chunk writes its rows with a digit after those of the chunks before
    it, so the result is the same stable sort for any number of threads, and one
    foreign key at a time uses every core with one set of ``scratch`` buffers.

    ``dst[j] < 0`` is no edge; ``edge_time[j]`` is the edge's time (the source's);
    an empty ``out_time`` means the times are not wanted (an untimed source);
    ``scratch`` is two uint64 key buffers and two row buffers (unsigned 32-bit rows
    are enough below 2^32 edges), each at least as long as ``dst`` (see
    :func:`sort_scratch`). Returns False when the key would need more than 64 bits
    (times spanning centuries to the second and billions of parents); the outputs are
    then not filled and the caller sorts times and scatters in two steps.
    """
    n = dst.shape[0]
    # Small inputs in one chunk: a thread hand-off per pass costs more than it saves.
    t = max(1, min(threads, n // max(min_chunk, 1)))
    cuts = [n * c // t for c in range(t + 1)]
    pool = ThreadPoolExecutor(max_workers=t) if t > 1 else None

    def each(kernel: Callable[..., Any], calls: list[tuple[Any, ...]]) -> list[Any]:
        # One call per chunk, side by side (the kernels release the GIL).
        if pool is None:
            return [kernel(*args) for args in calls]
        return list(pool.map(lambda args: kernel(*args), calls))

    try:
        # 1. Edges per dst, range of the real times, and whether times already ascend.
        counts = [out_indptr] + [np.zeros(n_dst + 1, np.int64) for _ in range(t - 1)]
        out_indptr[:] = 0
        scans = each(_scan, [(dst, edge_time, cuts[c], cuts[c + 1], counts[c]) for c in range(t)])
        for extra in counts[1:]:
            out_indptr += extra
        np.cumsum(out_indptr, out=out_indptr)
        m = int(out_indptr[n_dst])
        lo = min((s[0] for s in scans), default=int(_UNKNOWN_TIME))
        hi = max((s[1] for s in scans), default=int(_NO_TIME))
        if lo > hi:  # no real times
            lo = hi = 0
        edges = [s for s in scans if s[5]]
        ordered = all(s[2] for s in edges) and all(
            a[4] <= b[3] for a, b in itertools.pairwise(edges)
        )
        top = np.uint64(hi - lo + 2)  # < 2^64: the sentinels are outside [lo, hi]
        tbits = int(top).bit_length()
        dbits = max(n_dst - 1, 0).bit_length()
        if tbits + dbits > 64:
            return False
        # 2. Digits over the key bits that need sorting; every pass's histogram, per
        #    chunk, in one read. A pass where every edge has the same digit is skipped.
        start = tbits if ordered else 0
        nbits = tbits + dbits - start
        passes = (nbits + _DIGIT_BITS - 1) // _DIGIT_BITS
        width = (nbits + passes - 1) // passes if passes else 0
        hists = [np.zeros((passes, 1 << width), np.int64) for _ in range(t)]
        each(
            _histogram,
            [
                (dst, edge_time, cuts[c], cuts[c + 1], lo, top, tbits, start, width, hists[c])
                for c in range(t)
            ],
        )
        total = np.sum(hists, axis=0)
        active = [p for p in range(passes) if total[p].max() < m]
        if active:
            shifts = [start + p * width for p in active]
            dmask = np.uint64((1 << width) - 1)
            chunk_hist = [h[active[0]] for h in hists]
        else:  # nothing to sort: one copy in input order (every edge has digit 0)
            shifts, dmask = [0], np.uint64(0)
            chunk_hist = [np.array([s[5]], np.int64) for s in scans]
        keys_in, keys_out, rows_in, rows_out = scratch
        in_cuts = cuts
        out_chunk = max(1, -(-m // t))  # the next pass's chunks, over the m sorted edges
        # 3. The passes: the first reads the inputs, the last writes the outputs.
        for a, shift in enumerate(shifts):
            first, last = a == 0, a == len(shifts) - 1
            next_shift = -1 if last else shifts[a + 1]
            # Chunk c's rows with digit b go after every row with a smaller digit and
            # after the rows with digit b of the chunks before c.
            per = np.stack(chunk_hist)  # [chunk, digit]
            digit_total = per.sum(axis=0)
            offsets = (np.cumsum(digit_total) - digit_total) + (np.cumsum(per, axis=0) - per)
            next_hist = [np.zeros((t, 1 << width), np.int64) for _ in range(t)]
            each(_radix_pass, [
                (
                    first, last, in_cuts[c], in_cuts[c + 1], dst, edge_time, src, identity_src,
                    lo, top, tbits, keys_in, rows_in, keys_out, rows_out, shift, dmask,
                    offsets[c], next_shift, next_hist[c], out_chunk, out_indices, out_time,
                )
                for c in range(t)
            ])  # fmt: skip
            chunk_hist = list(np.sum(next_hist, axis=0))
            in_cuts = [min(c * out_chunk, m) for c in range(t + 1)]
            keys_in, keys_out = keys_out, keys_in
            rows_in, rows_out = rows_out, rows_in
        return True
    finally:
        if pool is not None:
            pool.shutdown()


def sort_scratch(n: int) -> list[npt.NDArray[Any]]:
    """Scratch buffers for :func:`radix_csr` over ``n`` edges; reusable for fewer.

    Plain ``np.empty``: numpy asks for transparent huge pages, which the passes'
    scattered writes need, and pages are only touched if a pass writes them. (An
    anonymous ``mmap`` with huge pages populated up front was slower here: 1.01-1.07 s
    against 0.74-0.95 s for one 20M-edge sort, one-off timing.)
    """
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
    *,
    threads: int = 1,
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
        threads: how many threads sort (the layout is the same for any number).
    """
    edge_time = np.ascontiguousarray(src_time[src], dtype=np.int64)
    _sorted_csr(src, dst, False, n_dst, edge_time, out_indptr, out_indices, out_time, threads, None)


def fk_csr(
    dst: IntArray,
    times: IntArray,
    n_dst: int,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
    *,
    threads: int = 1,
    scratch: Sequence[npt.NDArray[Any]] | None = None,
) -> None:
    """CSR from parents to the child rows that reference them (row ``j`` -> ``dst[j]``).

    ``times`` = the children's times; each parent's children come in (time, row) order.
    ``threads`` sort side by side; ``scratch`` (:func:`sort_scratch`, at least as long
    as ``dst``) lets several foreign keys reuse one set of buffers.
    """
    _sorted_csr(dst, dst, True, n_dst, times, out_indptr, out_indices, out_time, threads, scratch)


def _sorted_csr(
    src: IntArray,
    dst: IntArray,
    identity_src: bool,
    n_dst: int,
    edge_time: IntArray,
    out_indptr: IntArray,
    out_indices: npt.NDArray[Any],
    out_time: IntArray,
    threads: int,
    scratch: Sequence[npt.NDArray[Any]] | None,
) -> None:
    if scratch is None:
        scratch = sort_scratch(dst.shape[0])
    done = radix_csr(
        dst, edge_time, src, identity_src, n_dst, scratch, out_indptr, out_indices, out_time,
        threads,
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
