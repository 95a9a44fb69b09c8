"""The compiled pieces every fingerprint kernel shares: a pair's score from its bit counts, the
bits two rows share, popcounts, and the top-k heap (see :mod:`.scores` for the metrics).

A zero denominator gives 0, as RDKit does. Scores are computed in float64 and rounded once to
float32, so every kernel gives the same pair the same float32 score.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from osler.kernels.bits import popcount64
from osler.kernels.molecules.options import METRICS

# The index of a metric in METRICS is the code the compiled kernels use.

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
def pair_score(c, a, b, metric, n_bits):
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
def common_bits_of4(A, i, B, j0, j1, j2, j3):
    """Bits row i of A shares with each of rows j0..j3 of B: one pass over A's row for four."""
    c0 = 0
    c1 = 0
    c2 = 0
    c3 = 0
    for k in range(A.shape[1]):
        x = A[i, k]
        c0 += popcount64(x & B[j0, k])
        c1 += popcount64(x & B[j1, k])
        c2 += popcount64(x & B[j2, k])
        c3 += popcount64(x & B[j3, k])
    return c0, c1, c2, c3


@njit(cache=True, inline="always")
def common_bits4(A, i, B, j):
    """Bits row i of A shares with each of rows j..j+3 of B."""
    return common_bits_of4(A, i, B, j, j + 1, j + 2, j + 3)


@njit(cache=True, inline="always")
def common_bits(A, i, B, j):
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


@njit(cache=True, inline="always")
def ranks_below(s1, r1, s2, r2):
    """True when hit (s1, r1) ranks below hit (s2, r2)."""
    return s1 < s2 or (s1 == s2 and r1 > r2)


@njit(cache=True)
def heap_push(hs, hr, size, s, r):
    """Insert into a heap whose root (index 0) is the worst hit; return the new size."""
    k = hs.shape[0]
    if size < k:
        pos = size
        size += 1
        while pos > 0:  # sift up
            parent = (pos - 1) // 2
            if ranks_below(s, r, hs[parent], hr[parent]):
                hs[pos] = hs[parent]
                hr[pos] = hr[parent]
                pos = parent
            else:
                break
        hs[pos] = s
        hr[pos] = r
        return size
    if not ranks_below(hs[0], hr[0], s, r):
        return size
    pos = 0
    while True:  # sift down from the root
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and ranks_below(hs[child + 1], hr[child + 1], hs[child], hr[child]):
            child += 1
        if ranks_below(hs[child], hr[child], s, r):
            hs[pos] = hs[child]
            hr[pos] = hr[child]
            pos = child
        else:
            break
    hs[pos] = s
    hr[pos] = r
    return size


@njit(cache=True)
def heap_sort(hs, hr, size):
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
            if child + 1 < end and ranks_below(hs[child + 1], hr[child + 1], hs[child], hr[child]):
                child += 1
            if ranks_below(hs[child], hr[child], hs[pos], hr[pos]):
                hs[pos], hs[child] = hs[child], hs[pos]
                hr[pos], hr[child] = hr[child], hr[pos]
                pos = child
            else:
                break
    for t in range(size, hs.shape[0]):
        hs[t] = -np.inf
        hr[t] = -1


@njit(cache=True, inline="always")
def heap_offer(hs, hr, size, gate, s, r, own):
    """Offer hit (s, r) to a heap; ``gate`` is the lowest score that can still enter it."""
    if s >= gate and r != own:
        size = heap_push(hs, hr, size, s, r)
        if size == hs.shape[0]:
            gate = hs[0]
    return size, gate


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
    _popcounts(packed(fps), out)
    return out


@njit(parallel=True, nogil=True, cache=True)
def _word_counts(fps, out):
    for i in prange(fps.shape[0]):
        for w in range(fps.shape[1]):
            out[w, i] = popcount64(fps[i, w])


def word_counts(fps: np.ndarray) -> np.ndarray:
    """Bits set in each 64-bit word of each fingerprint, one row per word: uint8, shape
    (words, n). Column layout: the pruned kernels compare one word of a query with the same
    word of many library rows at once."""
    fps = packed(fps)
    out = np.empty((fps.shape[1], fps.shape[0]), np.uint8)
    _word_counts(fps, out)
    return out


def packed(fps: np.ndarray) -> np.ndarray:
    if fps.ndim != 2 or fps.dtype != np.uint64:
        raise ValueError(f"fingerprints must be a 2-D uint64 array, got {fps.dtype} {fps.shape}")
    return np.ascontiguousarray(fps)


def chunk_rows(library: np.ndarray) -> int:
    """Library rows per cache chunk: about 256 KiB, a multiple of 4 rows."""
    return max(4, (CACHE_CHUNK_BYTES // (8 * max(library.shape[1], 1))) // 4 * 4)


def check_widths(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"fingerprint widths differ: {a.shape[1]} and {b.shape[1]} words")
