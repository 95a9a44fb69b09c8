"""Popcount Gram matrix: ``out[i, j] = Σ_t Σ_k popcount(A[t,i,k] & B[t,j,k])``.

Every bit-packed genome metric is a sum of such terms (see :mod:`kernels.genome_metrics`): a
*term* t pairs one bit plane of the left samples with one bit plane of the right samples (for
example "genotype >= 1" of sample i with "call present" of sample j), and the kernel adds the
popcounts of their AND over all words.

The loop is register-blocked: 4 left rows x 4 right rows are computed together, so each word
loaded from memory feeds four popcounts instead of one, and LLVM vectorises the word loop (one
``vpopcntq`` per 8 words on AVX-512 cores, a nibble lookup on AVX2). Word chunks of
:data:`WORD_CHUNK` and right-row blocks of :data:`ROW_BLOCK` keep the operands in the L1/L2
caches. Measured on a 2-core Zen 4: 14-15 G words/s per core, 2.6x the unblocked loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .popcount import popcount64

BLOCK = 4
"""Rows per register block on each side; row counts are padded to a multiple of it."""

WORD_CHUNK = 512
"""Words (x64 bits) per cache chunk: 4 left rows x 512 words x 8 B = 16 KiB per term in L1."""

ROW_BLOCK = 96
"""Right rows per cache block: 96 x 512 words x 8 B = 384 KiB per term in L2."""


def padded_rows(rows: int) -> int:
    """``rows`` rounded up to a multiple of :data:`BLOCK`."""
    return -(-rows // BLOCK) * BLOCK


def stack_terms(planes: list[np.ndarray]) -> np.ndarray:
    """Stack equal-shape ``(rows, W)`` uint64 planes into a ``(terms, padded rows, W)`` array.

    Padding rows are zero, so they add nothing to any count.
    """
    rows, words = planes[0].shape
    out = np.zeros((len(planes), padded_rows(rows), words), dtype=np.uint64)
    for t, plane in enumerate(planes):
        out[t, :rows] = plane
    return out


@njit(nogil=True, cache=True)
def and_popcount_gram(left, right, out, upper):
    """Add ``Σ_t Σ_k popcount(left[t, i, k] & right[t, j, k])`` to ``out[i, j]``.

    Parameters
    ----------
    left, right : ndarray of uint64, shape (terms, rows, words)
        Row counts must be multiples of :data:`BLOCK` (see :func:`stack_terms`).
    out : ndarray of uint64, shape (left rows, right rows)
        Accumulated into.
    upper : bool
        Only 4 x 4 blocks on or above the diagonal (a diagonal tile of a symmetric matrix);
        entries below the diagonal inside diagonal blocks are computed too, others are not.
    """
    terms, n1, n_words = left.shape
    n2 = right.shape[1]
    for w0 in range(0, n_words, WORD_CHUNK):
        w1 = min(n_words, w0 + WORD_CHUNK)
        for jb in range(0, n2, ROW_BLOCK):
            je = min(n2, jb + ROW_BLOCK)
            for i in range(0, n1, BLOCK):
                start = max(jb, i) if upper else jb
                for j in range(start, je, BLOCK):
                    s00 = s01 = s02 = s03 = np.uint64(0)
                    s10 = s11 = s12 = s13 = np.uint64(0)
                    s20 = s21 = s22 = s23 = np.uint64(0)
                    s30 = s31 = s32 = s33 = np.uint64(0)
                    for t in range(terms):
                        a0 = left[t, i, w0:w1]
                        a1 = left[t, i + 1, w0:w1]
                        a2 = left[t, i + 2, w0:w1]
                        a3 = left[t, i + 3, w0:w1]
                        b0 = right[t, j, w0:w1]
                        b1 = right[t, j + 1, w0:w1]
                        b2 = right[t, j + 2, w0:w1]
                        b3 = right[t, j + 3, w0:w1]
                        for k in range(w1 - w0):
                            x0 = a0[k]
                            x1 = a1[k]
                            x2 = a2[k]
                            x3 = a3[k]
                            y0 = b0[k]
                            y1 = b1[k]
                            y2 = b2[k]
                            y3 = b3[k]
                            s00 += popcount64(x0 & y0)
                            s01 += popcount64(x0 & y1)
                            s02 += popcount64(x0 & y2)
                            s03 += popcount64(x0 & y3)
                            s10 += popcount64(x1 & y0)
                            s11 += popcount64(x1 & y1)
                            s12 += popcount64(x1 & y2)
                            s13 += popcount64(x1 & y3)
                            s20 += popcount64(x2 & y0)
                            s21 += popcount64(x2 & y1)
                            s22 += popcount64(x2 & y2)
                            s23 += popcount64(x2 & y3)
                            s30 += popcount64(x3 & y0)
                            s31 += popcount64(x3 & y1)
                            s32 += popcount64(x3 & y2)
                            s33 += popcount64(x3 & y3)
                    out[i, j] += s00
                    out[i, j + 1] += s01
                    out[i, j + 2] += s02
                    out[i, j + 3] += s03
                    out[i + 1, j] += s10
                    out[i + 1, j + 1] += s11
                    out[i + 1, j + 2] += s12
                    out[i + 1, j + 3] += s13
                    out[i + 2, j] += s20
                    out[i + 2, j + 1] += s21
                    out[i + 2, j + 2] += s22
                    out[i + 2, j + 3] += s23
                    out[i + 3, j] += s30
                    out[i + 3, j + 1] += s31
                    out[i + 3, j + 2] += s32
                    out[i + 3, j + 3] += s33


def gram_counts(left: list[np.ndarray], right: list[np.ndarray] | None,
                upper: bool) -> np.ndarray:
    """``Σ_t popcount(left[t]_i & right[t]_j)`` as an int64 (rows_left, rows_right) matrix.

    ``left`` and ``right`` are lists of ``(rows, W)`` uint64 planes paired term by term;
    ``right=None`` means the same planes as ``left`` (a diagonal tile, with ``upper``).
    """
    a = stack_terms(left)
    b = a if right is None else stack_terms(right)
    rows_a = left[0].shape[0]
    rows_b = rows_a if right is None else right[0].shape[0]
    out = np.zeros((a.shape[1], b.shape[1]), dtype=np.uint64)
    and_popcount_gram(a, b, out, upper)
    return out[:rows_a, :rows_b].view(np.int64)
