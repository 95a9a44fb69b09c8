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

import numba
import numpy as np
from numba import njit, prange

from osler.kernels.blocked import mirror_upper
from osler.kernels.molecules import pruned
from osler.kernels.molecules.options import METRICS
from osler.kernels.molecules.primitives import (
    EMPTY_ROW,
    check_widths,
    chunk_rows,
    common_bits,
    common_bits4,
    heap_offer,
    heap_sort,
    metric_code,
    packed,
    pair_score,
    popcounts,
)

__all__ = ["EMPTY_ROW", "METRICS", "metric_code", "popcounts"]

HISTOGRAM_BINS = 100
"""Number of equal-width bins over [0, 1] in similarity histograms."""


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
                c0, c1, c2, c3 = common_bits4(A, i, B, j)
                out[i, j] = pair_score(c0, pa[i], pb[j], metric, n_bits)
                out[i, j + 1] = pair_score(c1, pa[i], pb[j + 1], metric, n_bits)
                out[i, j + 2] = pair_score(c2, pa[i], pb[j + 2], metric, n_bits)
                out[i, j + 3] = pair_score(c3, pa[i], pb[j + 3], metric, n_bits)
                j += 4
            while j < b1:
                out[i, j] = pair_score(common_bits(A, i, B, j), pa[i], pb[j], metric, n_bits)
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
def _count(hist, i, s, r, own):
    if hist is not None and r != own:
        nb = hist.shape[1]
        hist[i, min(max(int(s * nb), 0), nb - 1)] += 1


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
            size, gate = heap_offer(hs, hr, size, gate, S[i, j], col0 + j, own)
        heap_sort(hs, hr, size)


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
    queries, library = packed(queries), packed(library)
    check_widths(queries, library)
    pa = popcounts(queries) if query_counts is None else query_counts
    pb = popcounts(library) if library_counts is None else library_counts
    if out is None:
        out = np.empty((queries.shape[0], library.shape[0]), np.float32)
    bits = queries.shape[1] * 64 if n_bits is None else n_bits
    _tile(queries, library, pa, pb, metric_code(metric), bits, False, chunk_rows(library), out)
    return out


def self_similarity_tile(fps: np.ndarray, *, metric: str = "tanimoto", n_bits: int | None = None,
                         counts: np.ndarray | None = None) -> np.ndarray:
    """All scores among one set of fingerprints, computing each pair once and mirroring.

    Equals ``similarity_tile(fps, fps)`` at about half the kernel work.
    """
    fps = packed(fps)
    pa = popcounts(fps) if counts is None else counts
    out = np.empty((fps.shape[0], fps.shape[0]), np.float32)
    bits = fps.shape[1] * 64 if n_bits is None else n_bits
    _tile(fps, fps, pa, pa, metric_code(metric), bits, True, chunk_rows(fps), out)
    mirror_upper(out)
    return out


def transpose_tile(tile: np.ndarray) -> np.ndarray:
    """A C-contiguous transpose of a float32 tile (cache-blocked; numpy's copy is 3-4x slower)."""
    out = np.empty((tile.shape[1], tile.shape[0]), np.float32)
    _transpose(np.ascontiguousarray(tile, dtype=np.float32), out)
    return out


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
    """Compile (or load from numba's cache) every kernel signature the drug-similarity job uses.

    The first call in a process otherwise pays this inside the first job: seconds with a warm
    on-disk cache, about half a minute without one. A Dask worker preload calls it when the
    worker starts.
    """
    fps = np.zeros((8, 2), np.uint64)
    fps[:, 0] = np.arange(8, dtype=np.uint64)
    readonly = fps.copy()
    readonly.setflags(write=False)  # what tasks pass: rows of a read-only memory map
    for rows in (fps, readonly):
        tile = similarity_tile(rows, rows)
        self_similarity_tile(rows)
    transpose_tile(tile)
    hist = np.zeros((8, HISTOGRAM_BINS), np.int64)
    top_k_of_tile(tile, 2)
    top_k_of_tile(tile, 2, histogram=hist)
    pruned.warm_up()


def max_threads() -> int:
    """Threads the compiled kernels may use in this process."""
    return int(numba.config.NUMBA_NUM_THREADS)


