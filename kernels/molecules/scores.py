"""Similarity of bit-packed fingerprints: compiled popcount kernels for tiles and top-k.

Fingerprints are rows of ``uint64`` words (bit ``b`` of a fingerprint is bit ``b % 64`` of word
``b // 64``). For two fingerprints with ``a`` and ``b`` bits set and ``c`` bits in common:

================  ==========================  ===============================
metric            formula                     RDKit equivalent
================  ==========================  ===============================
``tanimoto``      c / (a + b - c)             ``BulkTanimotoSimilarity``
``dice``          2c / (a + b)                ``BulkDiceSimilarity``
``cosine``        c / sqrt(a * b)             ``BulkCosineSimilarity``
``dot``           c / n_bits                  ``R = A·Aᵀ / n`` on 0/1 matrices
================  ==========================  ===============================

A zero denominator gives 0, as RDKit does. Scores are computed in float64 and rounded once to
float32, so they equal RDKit's doubles to float32 rounding, and the same pair always gets the same
float32 score whichever kernel (tile or top-k) computed it.

Top-k order: higher score first, ties broken by the lower library row.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from osler.kernels.bits import popcount64
from osler.kernels.blocked import mirror_upper
from osler.kernels.molecules.options import METRICS

# The index of a metric in METRICS is the code the compiled kernels use.

HISTOGRAM_BINS = 100
"""Number of equal-width bins over [0, 1] in similarity histograms."""

EMPTY_ROW = -1
"""Library row stored in top-k slots that hold no hit (fewer than k above the threshold)."""

CACHE_CHUNK_BYTES = 256 * 1024
"""Library bytes scored against all queries before moving on (stays in a 1-2 MiB L2 cache)."""


def metric_code(metric: str) -> int:
    """Return the compiled kernels' code for ``metric``; ValueError for an unknown name."""
    try:
        return METRICS.index(metric)
    except ValueError:
        expected = ", ".join(METRICS)
        raise ValueError(f"unknown metric {metric!r}; expected one of {expected}") from None


@njit(cache=True, inline="always")
def _score(c, a, b, metric, n_bits):
    if metric == 0:
        d = a + b - c
        return np.float32(c / d) if d > 0 else np.float32(0.0)
    if metric == 1:
        d = a + b
        return np.float32(2.0 * c / d) if d > 0 else np.float32(0.0)
    if metric == 2:
        d = a * b
        return np.float32(c / math.sqrt(d)) if d > 0 else np.float32(0.0)
    return np.float32(c / n_bits)


@njit(cache=True, inline="always")
def _common_bits4(A, i, B, j):
    """Bits row i of A shares with each of rows j..j+3 of B: one pass over A's row for four."""
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for k in range(A.shape[1]):
        x = A[i, k]
        c0 += popcount64(x & B[j, k])
        c1 += popcount64(x & B[j + 1, k])
        c2 += popcount64(x & B[j + 2, k])
        c3 += popcount64(x & B[j + 3, k])
    return c0, c1, c2, c3


@njit(cache=True, inline="always")
def _common_bits(A, i, B, j):
    """Bits row i of A shares with row j of B."""
    c = 0
    for k in range(A.shape[1]):
        c += popcount64(A[i, k] & B[j, k])
    return c


@njit(parallel=True, nogil=True, cache=True)
def _popcounts(fps, out):
    for i in prange(fps.shape[0]):
        s = 0
        for k in range(fps.shape[1]):
            s += popcount64(fps[i, k])
        out[i] = s


@njit(parallel=True, nogil=True, cache=True)
def _tile(A, B, pa, pb, metric, n_bits, upper, chunk, out):
    """Scores of rows of A against rows of B; with ``upper`` only columns j >= i (A is B).

    B is walked in chunks of ``chunk`` rows that stay in the L2 cache while every row of A
    passes over them: streaming all of a large B per row of A is memory-bound (10x slower).
    """
    n = A.shape[0]
    m = B.shape[0]
    for b0 in range(0, m, chunk):
        b1 = min(m, b0 + chunk)
        for i in prange(n):
            j = max(np.int64(i), np.int64(b0)) if upper else np.int64(b0)
            while j + 4 <= b1:
                c0, c1, c2, c3 = _common_bits4(A, i, B, j)
                out[i, j] = _score(c0, pa[i], pb[j], metric, n_bits)
                out[i, j + 1] = _score(c1, pa[i], pb[j + 1], metric, n_bits)
                out[i, j + 2] = _score(c2, pa[i], pb[j + 2], metric, n_bits)
                out[i, j + 3] = _score(c3, pa[i], pb[j + 3], metric, n_bits)
                j += 4
            while j < b1:
                out[i, j] = _score(_common_bits(A, i, B, j), pa[i], pb[j], metric, n_bits)
                j += 1


_BLOCK = 64  # cache blocking of transposes: 64 x 64 float32 = 16 KiB


@njit(parallel=True, nogil=True, cache=True)
def _transpose(a, out):
    n, m = a.shape
    for jb in prange((m + _BLOCK - 1) // _BLOCK):
        j0 = jb * _BLOCK
        j1 = min(m, j0 + _BLOCK)
        for i0 in range(0, n, _BLOCK):
            i1 = min(n, i0 + _BLOCK)
            for j in range(j0, j1):
                for i in range(i0, i1):
                    out[j, i] = a[i, j]



@njit(cache=True, inline="always")
def _worse(s1, r1, s2, r2):
    """True when hit (s1, r1) ranks below hit (s2, r2)."""
    return s1 < s2 or (s1 == s2 and r1 > r2)


@njit(cache=True)
def _heap_push(hs, hr, size, s, r):
    """Insert into a heap whose root (index 0) is the worst hit; return the new size."""
    k = hs.shape[0]
    if size < k:
        pos = size
        size += 1
        while pos > 0:  # sift up
            parent = (pos - 1) // 2
            if _worse(s, r, hs[parent], hr[parent]):
                hs[pos] = hs[parent]
                hr[pos] = hr[parent]
                pos = parent
            else:
                break
        hs[pos] = s
        hr[pos] = r
        return size
    if not _worse(hs[0], hr[0], s, r):
        return size
    pos = 0
    while True:  # sift down from the root
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _worse(hs[child + 1], hr[child + 1], hs[child], hr[child]):
            child += 1
        if _worse(hs[child], hr[child], s, r):
            hs[pos] = hs[child]
            hr[pos] = hr[child]
            pos = child
        else:
            break
    hs[pos] = s
    hr[pos] = r
    return size


@njit(cache=True)
def _heap_sort(hs, hr, size):
    """Sort a heap best first; slots past ``size`` become empty (-inf, EMPTY_ROW)."""
    for end in range(size - 1, 0, -1):
        s, r = hs[0], hr[0]  # the worst goes to the back
        hs[0], hr[0] = hs[end], hr[end]
        hs[end], hr[end] = s, r
        pos = 0
        while True:
            child = 2 * pos + 1
            if child >= end:
                break
            if child + 1 < end and _worse(hs[child + 1], hr[child + 1], hs[child], hr[child]):
                child += 1
            if _worse(hs[child], hr[child], hs[pos], hr[pos]):
                hs[pos], hs[child] = hs[child], hs[pos]
                hr[pos], hr[child] = hr[child], hr[pos]
                pos = child
            else:
                break
    for t in range(size, hs.shape[0]):
        hs[t] = -np.inf
        hr[t] = -1


@njit(cache=True, inline="always")
def _consider(hs, hr, size, gate, s, r, own):
    """Offer hit (s, r) to a heap; ``gate`` is the lowest score that can still enter it."""
    if s >= gate and r != own:
        size = _heap_push(hs, hr, size, s, r)
        if size == hs.shape[0]:
            gate = hs[0]
    return size, gate


@njit(cache=True, inline="always")
def _count(hist, i, s, r, own):
    if hist is not None and r != own:
        nb = hist.shape[1]
        hist[i, min(max(int(s * nb), 0), nb - 1)] += 1


@njit(parallel=True, nogil=True, cache=True)
def _top_k(Q, L, pq, pl, metric, n_bits, threshold, row0, skip_from, chunk, out_s, out_r, hist):
    """Per query row the best ``k`` library rows; ``row0`` is the block's first library row.

    Query ``i`` skips library row ``skip_from + i`` (its own row when a library is searched
    against itself; pass a huge ``skip_from`` to skip nothing). ``hist`` (or None) counts every
    score computed. The library is walked in cache-sized chunks (see ``_tile``); each query's
    heap lives in its output row between chunks.
    """
    n = Q.shape[0]
    m = L.shape[0]
    k = out_s.shape[1]
    sizes = np.zeros(n, np.int64)
    for b0 in range(0, m, chunk):
        b1 = min(m, b0 + chunk)
        for i in prange(n):
            hs = out_s[i]
            hr = out_r[i]
            size = sizes[i]
            gate = np.float32(threshold) if size < k else hs[0]
            own = skip_from + np.int64(i)
            a = pq[i]
            j = np.int64(b0)
            while j + 4 <= b1:
                c0, c1, c2, c3 = _common_bits4(Q, i, L, j)
                r = row0 + j
                s0 = _score(c0, a, pl[j], metric, n_bits)
                s1 = _score(c1, a, pl[j + 1], metric, n_bits)
                s2 = _score(c2, a, pl[j + 2], metric, n_bits)
                s3 = _score(c3, a, pl[j + 3], metric, n_bits)
                _count(hist, i, s0, r, own)
                _count(hist, i, s1, r + 1, own)
                _count(hist, i, s2, r + 2, own)
                _count(hist, i, s3, r + 3, own)
                size, gate = _consider(hs, hr, size, gate, s0, r, own)
                size, gate = _consider(hs, hr, size, gate, s1, r + 1, own)
                size, gate = _consider(hs, hr, size, gate, s2, r + 2, own)
                size, gate = _consider(hs, hr, size, gate, s3, r + 3, own)
                j += 4
            while j < b1:
                s = _score(_common_bits(Q, i, L, j), a, pl[j], metric, n_bits)
                _count(hist, i, s, row0 + j, own)
                size, gate = _consider(hs, hr, size, gate, s, row0 + j, own)
                j += 1
            sizes[i] = size
    for i in prange(n):
        _heap_sort(out_s[i], out_r[i], sizes[i])


@njit(parallel=True, nogil=True, cache=True)
def _tile_top_k(S, col0, threshold, skip_from, out_s, out_r, hist):
    """Per row of a computed score tile ``S`` the best ``k`` columns (global ``col0 + j``)."""
    n, m = S.shape
    for i in prange(n):
        hs = out_s[i]
        hr = out_r[i]
        size = 0
        gate = np.float32(threshold)
        own = skip_from + np.int64(i)
        for j in range(m):
            _count(hist, i, S[i, j], col0 + j, own)
            size, gate = _consider(hs, hr, size, gate, S[i, j], col0 + j, own)
        _heap_sort(hs, hr, size)


def popcounts(fps: np.ndarray) -> np.ndarray:
    """Bits set in each packed fingerprint row.

    Parameters
    ----------
    fps : ndarray of uint64, shape (n, words)

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    out = np.empty(fps.shape[0], np.int64)
    _popcounts(_packed(fps), out)
    return out


def _packed(fps: np.ndarray) -> np.ndarray:
    if fps.ndim != 2 or fps.dtype != np.uint64:
        raise ValueError(f"fingerprints must be a 2-D uint64 array, got {fps.dtype} {fps.shape}")
    return np.ascontiguousarray(fps)


def similarity_tile(
    queries: np.ndarray,
    library: np.ndarray,
    *,
    metric: str = "tanimoto",
    n_bits: int | None = None,
    query_counts: np.ndarray | None = None,
    library_counts: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """All scores between two sets of packed fingerprints.

    Parameters
    ----------
    queries, library : ndarray of uint64, shapes (n, words) and (m, words)
    metric : {"tanimoto", "dice", "cosine", "dot"}
    n_bits : int, optional
        Fingerprint length for ``dot`` (default ``64 * words``).
    query_counts, library_counts : ndarray of int64, optional
        Precomputed :func:`popcounts`.
    out : ndarray of float32, shape (n, m), optional
        Written in place when given (it may be a view into a memory-mapped matrix).

    Returns
    -------
    ndarray of float32, shape (n, m)

    Examples
    --------
    >>> fps = np.array([[0b1011], [0b0011]], dtype=np.uint64)
    >>> similarity_tile(fps, fps).tolist()
    [[1.0, 0.6666666865348816], [0.6666666865348816, 1.0]]
    """
    queries, library = _packed(queries), _packed(library)
    _check_widths(queries, library)
    pa = popcounts(queries) if query_counts is None else query_counts
    pb = popcounts(library) if library_counts is None else library_counts
    if out is None:
        out = np.empty((queries.shape[0], library.shape[0]), np.float32)
    bits = queries.shape[1] * 64 if n_bits is None else n_bits
    _tile(queries, library, pa, pb, metric_code(metric), bits, False, _chunk(library), out)
    return out


def self_similarity_tile(fps: np.ndarray, *, metric: str = "tanimoto", n_bits: int | None = None,
                         counts: np.ndarray | None = None) -> np.ndarray:
    """All scores among one set of fingerprints, computing each pair once and mirroring.

    Equals ``similarity_tile(fps, fps)`` at about half the kernel work.
    """
    fps = _packed(fps)
    pa = popcounts(fps) if counts is None else counts
    out = np.empty((fps.shape[0], fps.shape[0]), np.float32)
    bits = fps.shape[1] * 64 if n_bits is None else n_bits
    _tile(fps, fps, pa, pa, metric_code(metric), bits, True, _chunk(fps), out)
    mirror_upper(out)
    return out


def transpose_tile(tile: np.ndarray) -> np.ndarray:
    """A C-contiguous transpose of a float32 tile (cache-blocked; numpy's copy is 3-4x slower)."""
    out = np.empty((tile.shape[1], tile.shape[0]), np.float32)
    _transpose(np.ascontiguousarray(tile, dtype=np.float32), out)
    return out


def top_k_block(
    queries: np.ndarray,
    library: np.ndarray,
    k: int,
    *,
    metric: str = "tanimoto",
    n_bits: int | None = None,
    threshold: float | None = None,
    row_offset: int = 0,
    skip_self_offset: int | None = None,
    query_counts: np.ndarray | None = None,
    library_counts: np.ndarray | None = None,
    histogram: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best library rows of a block for each query, without a score matrix.

    Parameters
    ----------
    queries, library : ndarray of uint64
        Packed fingerprints; ``library`` is the block of global rows
        ``row_offset .. row_offset + len(library)``.
    k : int
        Hits kept per query.
    metric, n_bits : see :func:`similarity_tile`
    threshold : float, optional
        Keep only scores >= threshold.
    skip_self_offset : int, optional
        Query ``i`` is library row ``skip_self_offset + i`` and never its own hit (a library
        searched against itself).
    histogram : ndarray of int64, shape (n_queries, bins), optional
        Incremented with every score computed (before the threshold).

    Returns
    -------
    scores : ndarray of float32, shape (n_queries, k)
        Best first; empty slots are ``-inf``.
    rows : ndarray of int64, shape (n_queries, k)
        Global library rows; ties in score are broken by the lower row; empty slots ``-1``.
    """
    queries, library = _packed(queries), _packed(library)
    _check_widths(queries, library)
    if k < 1:
        raise ValueError("k must be at least 1")
    pq = popcounts(queries) if query_counts is None else query_counts
    pl = popcounts(library) if library_counts is None else library_counts
    out_s = np.empty((queries.shape[0], k), np.float32)
    out_r = np.empty((queries.shape[0], k), np.int64)
    skip = np.iinfo(np.int64).max // 2 if skip_self_offset is None else skip_self_offset
    bits = queries.shape[1] * 64 if n_bits is None else n_bits
    thr = -1.0 if threshold is None else float(threshold)
    _top_k(queries, library, pq, pl, metric_code(metric), bits, thr, row_offset, skip,
           _chunk(library), out_s, out_r, histogram)
    return out_s, out_r


def top_k_of_tile(
    scores: np.ndarray,
    k: int,
    *,
    col_offset: int = 0,
    threshold: float | None = None,
    skip_self_offset: int | None = None,
    histogram: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns per row of a computed score tile (see :func:`top_k_block`).

    ``histogram`` (n_rows, bins), when given, counts every score but a skipped own one.
    """
    out_s = np.empty((scores.shape[0], k), np.float32)
    out_r = np.empty((scores.shape[0], k), np.int64)
    skip = np.iinfo(np.int64).max // 2 if skip_self_offset is None else skip_self_offset
    thr = -1.0 if threshold is None else float(threshold)
    _tile_top_k(np.ascontiguousarray(scores, dtype=np.float32), col_offset, thr, skip, out_s,
                out_r, histogram)
    return out_s, out_r


def merge_top_k(
    scores_a: np.ndarray, rows_a: np.ndarray, scores_b: np.ndarray, rows_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two per-query top-k lists of equal ``k`` into one (best first, ties by lower row)."""
    k = scores_a.shape[1]
    s = np.concatenate([scores_a, scores_b], axis=1)
    r = np.concatenate([rows_a, rows_b], axis=1)
    # Empty slots (-inf, -1) must sort last among equal -inf scores: give them the largest row.
    r_key = np.where(r < 0, np.iinfo(np.int64).max, r)
    order = np.lexsort((r_key, -s), axis=-1)[:, :k]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(r, order, axis=1)


def empty_top_k(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k arrays holding no hit yet, to merge blocks into."""
    return np.full((n, k), -np.inf, np.float32), np.full((n, k), EMPTY_ROW, np.int64)


def set_threads(n: int | None) -> None:
    """Use ``n`` threads in the compiled kernels from the calling thread (None: all)."""
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS if n is None else
                          max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel signature the job uses.

    The first call in a process otherwise pays this inside the first job: seconds with a warm
    on-disk cache, about half a minute without one.
    """
    fps = np.zeros((8, 2), np.uint64)
    fps[:, 0] = np.arange(8, dtype=np.uint64)
    tile = similarity_tile(fps, fps)
    self_similarity_tile(fps)
    transpose_tile(tile)
    hist = np.zeros((8, HISTOGRAM_BINS), np.int64)
    top_k_block(fps, fps, 2)
    top_k_block(fps, fps, 2, histogram=hist)
    top_k_of_tile(tile, 2)
    top_k_of_tile(tile, 2, histogram=hist)


def max_threads() -> int:
    """Threads the compiled kernels may use in this process."""
    return int(numba.config.NUMBA_NUM_THREADS)


def _chunk(library: np.ndarray) -> int:
    """Library rows per cache chunk: about 256 KiB, a multiple of 4 rows."""
    return max(4, (CACHE_CHUNK_BYTES // (8 * max(library.shape[1], 1))) // 4 * 4)


def _check_widths(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"fingerprint widths differ: {a.shape[1]} and {b.shape[1]} words")
