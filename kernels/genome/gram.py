"""Popcount Gram matrices: ``out[i, j] = Σ_t Σ_k popcount(A[t,i,k] & B[t,j,k])``, and the fused
distance counts of a cohort with missing calls.

Every bit-packed genome metric is a sum of such terms (see :mod:`osler.kernels.genome.metrics`): a
*term* t pairs one bit plane of the left samples with one bit plane of the right samples (for
example "genotype >= 1" of sample i with "call present" of sample j), and the kernel adds the
popcounts of their AND over all words.

The loop is register-blocked: 4 left rows x 4 right rows are computed together, so each word
loaded from memory feeds four popcounts instead of one, and LLVM vectorises the word loop. Every
kernel asks LLVM for 512-bit vectors (:func:`osler.kernels.bits.prefer_wide_vectors`: one
``vpopcntq zmm`` per 8 words on AVX-512 cores, whose default tuning here is 256-bit; AVX2 cores
keep 256-bit vectors). Word chunks and right-row blocks (:data:`WORD_CHUNK`, :data:`ROW_BLOCK`;
:data:`DISTANCE_CHUNK`, :data:`DISTANCE_ROW_BLOCK` for the fused distance pass) keep the operands
in the L1/L2 caches. The planes are used where they lie, not copied or padded.
``bench/popcount_gram.py`` compares the kernels with the loops they replaced (results in
``bench/README.md``).

KING's IBS0 takes one popcount per word pair instead of two (:func:`opposite_popcount_gram`).
With missing calls the tiles run the same dense passes as on a complete cohort (KING: IBS0 and
both het; the PLINK distances: the two AND terms) and correct them by sparse passes over the
missing calls (:mod:`osler.kernels.genome.sparse_missing`), instead of two more dense AND
terms (KING's N_het_i, N_het_j) or the fused distance pass. That pass,
:func:`masked_distance_gram`, computes a PLINK distance's allele-count difference over the
variants called in both samples and their number together from the same 4 x 4 register blocks
(per word, one AND for the pair's call mask, two masked XORs and three popcounts, where the sum
of AND terms needed seven popcounts). Tiles with a narrow side call it (where the corrections
would fill half-empty vectors), the others take the sparse corrections;
``bench/popcount_gram.py`` compares the two.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from osler.kernels.bits import popcount64, prefer_wide_vectors

BLOCK = 4
"""Rows per register block on each side."""

WORD_CHUNK = 512
"""Words (x64 bits) per cache chunk: 4 left rows x 512 words x 8 B = 16 KiB per term in L1."""

ROW_BLOCK = 96
"""Right rows per cache block (a multiple of BLOCK): 96 x 512 words x 8 B = 384 KiB per term."""

DISTANCE_CHUNK = 2048
"""Word chunk of :func:`masked_distance_gram` (three planes): 2048 words keep both packed
32-bit sums far below 2**32 (at most 2 x 64 x 2048); with :data:`DISTANCE_ROW_BLOCK` measured
faster than 512 x 96 (``bench/popcount_gram.py``, figures in ``bench/README.md``)."""

DISTANCE_ROW_BLOCK = 32
"""Right rows per cache block of :func:`masked_distance_gram`: 32 x 3 planes x 2048 words x 8 B
= 1.5 MiB, inside a 2 MiB L2."""


@njit(nogil=True, cache=True, inline="always")
def _add(out, i, j, value):
    """``out[i, j] += value`` inside ``out``; rows and columns past its edge are dropped."""
    if i < out.shape[0] and j < out.shape[1]:
        out[i, j] += value


@njit(nogil=True, cache=True)
def and_popcount_gram(left, right, out, upper, chunk, row_block):
    """Add ``Σ_t Σ_k popcount(left[t][i, k] & right[t][j, k])`` to ``out[i, j]``.

    Parameters
    ----------
    left, right : tuple of ndarray
        Equal-length tuples of C-contiguous uint64 ``(rows, words)`` arrays; term t pairs
        ``left[t]`` with ``right[t]``. Blocks at the last rows reuse the last row and drop the
        surplus results, so no padding copy is needed.
    out : ndarray of uint64, shape (left rows, right rows)
        Accumulated into.
    upper : bool
        Only 4 x 4 blocks on or above the diagonal (a diagonal tile of a symmetric matrix);
        entries below the diagonal inside diagonal blocks are computed too, others are not.
    chunk, row_block : int
        Words per cache chunk and right rows per cache block (a multiple of :data:`BLOCK`):
        :data:`WORD_CHUNK` and :data:`ROW_BLOCK` through :func:`gram_counts`.
    """
    prefer_wide_vectors()
    terms = len(left)
    n1, n_words = left[0].shape
    n2 = right[0].shape[0]
    for w0 in range(0, n_words, chunk):
        w1 = min(n_words, w0 + chunk)
        for jb in range(0, n2, row_block):
            je = min(n2, jb + row_block)
            for i in range(0, n1, BLOCK):
                ia, ib, ic = min(i + 1, n1 - 1), min(i + 2, n1 - 1), min(i + 3, n1 - 1)
                start = max(jb, i) if upper else jb
                for j in range(start, je, BLOCK):
                    ja, jb_, jc = min(j + 1, n2 - 1), min(j + 2, n2 - 1), min(j + 3, n2 - 1)
                    s00 = s01 = s02 = s03 = np.uint64(0)
                    s10 = s11 = s12 = s13 = np.uint64(0)
                    s20 = s21 = s22 = s23 = np.uint64(0)
                    s30 = s31 = s32 = s33 = np.uint64(0)
                    for t in range(terms):
                        x = left[t]
                        y = right[t]
                        a0 = x[i, w0:w1]
                        a1 = x[ia, w0:w1]
                        a2 = x[ib, w0:w1]
                        a3 = x[ic, w0:w1]
                        b0 = y[j, w0:w1]
                        b1 = y[ja, w0:w1]
                        b2 = y[jb_, w0:w1]
                        b3 = y[jc, w0:w1]
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
                    _add(out, i, j, s00)
                    _add(out, i, j + 1, s01)
                    _add(out, i, j + 2, s02)
                    _add(out, i, j + 3, s03)
                    _add(out, i + 1, j, s10)
                    _add(out, i + 1, j + 1, s11)
                    _add(out, i + 1, j + 2, s12)
                    _add(out, i + 1, j + 3, s13)
                    _add(out, i + 2, j, s20)
                    _add(out, i + 2, j + 1, s21)
                    _add(out, i + 2, j + 2, s22)
                    _add(out, i + 2, j + 3, s23)
                    _add(out, i + 3, j, s30)
                    _add(out, i + 3, j + 1, s31)
                    _add(out, i + 3, j + 2, s32)
                    _add(out, i + 3, j + 3, s33)


_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)


@njit(nogil=True, cache=True, inline="always")
def _diff_and_pairs(hx, lx, px, hy, ly, py):
    """One word pair: popcount of the differing h and l bits where both are called, plus the
    number called in both shifted to the high 32 bits (a word chunk keeps both below 2**32)."""
    mask = px & py
    return (popcount64((hx ^ hy) & mask) + popcount64((lx ^ ly) & mask)
            + (popcount64(mask) << _SHIFT32))


@njit(nogil=True, cache=True, inline="always")
def _split_add(diff, pairs, i, j, packed):
    """Add the low / high 32 bits of ``packed`` to ``diff[i, j]`` / ``pairs[i, j]`` inside them."""
    if i < diff.shape[0] and j < diff.shape[1]:
        diff[i, j] += packed & _LOW32
        pairs[i, j] += packed >> _SHIFT32


@njit(nogil=True, cache=True)
def masked_distance_gram(h1, l1, p1, h2, l2, p2, diff, pairs, upper, chunk, row_block):
    """Add ``Σ |g_i - g_j|`` and the count of variants called in both to ``diff`` and ``pairs``.

    Genotypes are thermometer-coded (h = g >= 1, l = g == 2, p = called; a missing call has
    h = l = 0), so over variants called in both ``|g_i - g_j| = [h_i != h_j] + [l_i != l_j]``:
    ``diff += popcount((h_i ^ h_j) & m) + popcount((l_i ^ l_j) & m)``, ``pairs += popcount(m)``
    with ``m = p_i & p_j``.

    Parameters
    ----------
    h1, l1, p1 : ndarray of uint64, shape (rows_left, words)
        C-contiguous planes of the left samples.
    h2, l2, p2 : ndarray of uint64, shape (rows_right, words)
        The same for the right samples.
    diff, pairs : ndarray of uint64, shape (rows_left, rows_right)
        Accumulated into.
    upper : bool
        As in :func:`and_popcount_gram`.
    chunk, row_block : int
        As there (:data:`DISTANCE_CHUNK`, :data:`DISTANCE_ROW_BLOCK` through
        :func:`distance_counts`); ``chunk`` below 2**25 keeps the packed halves apart.
    """
    prefer_wide_vectors()
    n1, n_words = h1.shape
    n2 = h2.shape[0]
    for w0 in range(0, n_words, chunk):
        w1 = min(n_words, w0 + chunk)
        for jb in range(0, n2, row_block):
            je = min(n2, jb + row_block)
            for i in range(0, n1, BLOCK):
                ia, ib, ic = min(i + 1, n1 - 1), min(i + 2, n1 - 1), min(i + 3, n1 - 1)
                start = max(jb, i) if upper else jb
                for j in range(start, je, BLOCK):
                    ja, jb_, jc = min(j + 1, n2 - 1), min(j + 2, n2 - 1), min(j + 3, n2 - 1)
                    s00 = s01 = s02 = s03 = np.uint64(0)
                    s10 = s11 = s12 = s13 = np.uint64(0)
                    s20 = s21 = s22 = s23 = np.uint64(0)
                    s30 = s31 = s32 = s33 = np.uint64(0)
                    xh0, xl0, xp0 = h1[i, w0:w1], l1[i, w0:w1], p1[i, w0:w1]
                    xh1, xl1, xp1 = h1[ia, w0:w1], l1[ia, w0:w1], p1[ia, w0:w1]
                    xh2, xl2, xp2 = h1[ib, w0:w1], l1[ib, w0:w1], p1[ib, w0:w1]
                    xh3, xl3, xp3 = h1[ic, w0:w1], l1[ic, w0:w1], p1[ic, w0:w1]
                    yh0, yl0, yp0 = h2[j, w0:w1], l2[j, w0:w1], p2[j, w0:w1]
                    yh1, yl1, yp1 = h2[ja, w0:w1], l2[ja, w0:w1], p2[ja, w0:w1]
                    yh2, yl2, yp2 = h2[jb_, w0:w1], l2[jb_, w0:w1], p2[jb_, w0:w1]
                    yh3, yl3, yp3 = h2[jc, w0:w1], l2[jc, w0:w1], p2[jc, w0:w1]
                    for k in range(w1 - w0):
                        ah0, al0, ap0 = xh0[k], xl0[k], xp0[k]
                        ah1, al1, ap1 = xh1[k], xl1[k], xp1[k]
                        ah2, al2, ap2 = xh2[k], xl2[k], xp2[k]
                        ah3, al3, ap3 = xh3[k], xl3[k], xp3[k]
                        bh0, bl0, bp0 = yh0[k], yl0[k], yp0[k]
                        bh1, bl1, bp1 = yh1[k], yl1[k], yp1[k]
                        bh2, bl2, bp2 = yh2[k], yl2[k], yp2[k]
                        bh3, bl3, bp3 = yh3[k], yl3[k], yp3[k]
                        s00 += _diff_and_pairs(ah0, al0, ap0, bh0, bl0, bp0)
                        s01 += _diff_and_pairs(ah0, al0, ap0, bh1, bl1, bp1)
                        s02 += _diff_and_pairs(ah0, al0, ap0, bh2, bl2, bp2)
                        s03 += _diff_and_pairs(ah0, al0, ap0, bh3, bl3, bp3)
                        s10 += _diff_and_pairs(ah1, al1, ap1, bh0, bl0, bp0)
                        s11 += _diff_and_pairs(ah1, al1, ap1, bh1, bl1, bp1)
                        s12 += _diff_and_pairs(ah1, al1, ap1, bh2, bl2, bp2)
                        s13 += _diff_and_pairs(ah1, al1, ap1, bh3, bl3, bp3)
                        s20 += _diff_and_pairs(ah2, al2, ap2, bh0, bl0, bp0)
                        s21 += _diff_and_pairs(ah2, al2, ap2, bh1, bl1, bp1)
                        s22 += _diff_and_pairs(ah2, al2, ap2, bh2, bl2, bp2)
                        s23 += _diff_and_pairs(ah2, al2, ap2, bh3, bl3, bp3)
                        s30 += _diff_and_pairs(ah3, al3, ap3, bh0, bl0, bp0)
                        s31 += _diff_and_pairs(ah3, al3, ap3, bh1, bl1, bp1)
                        s32 += _diff_and_pairs(ah3, al3, ap3, bh2, bl2, bp2)
                        s33 += _diff_and_pairs(ah3, al3, ap3, bh3, bl3, bp3)
                    _split_add(diff, pairs, i, j, s00)
                    _split_add(diff, pairs, i, j + 1, s01)
                    _split_add(diff, pairs, i, j + 2, s02)
                    _split_add(diff, pairs, i, j + 3, s03)
                    _split_add(diff, pairs, i + 1, j, s10)
                    _split_add(diff, pairs, i + 1, j + 1, s11)
                    _split_add(diff, pairs, i + 1, j + 2, s12)
                    _split_add(diff, pairs, i + 1, j + 3, s13)
                    _split_add(diff, pairs, i + 2, j, s20)
                    _split_add(diff, pairs, i + 2, j + 1, s21)
                    _split_add(diff, pairs, i + 2, j + 2, s22)
                    _split_add(diff, pairs, i + 2, j + 3, s23)
                    _split_add(diff, pairs, i + 3, j, s30)
                    _split_add(diff, pairs, i + 3, j + 1, s31)
                    _split_add(diff, pairs, i + 3, j + 2, s32)
                    _split_add(diff, pairs, i + 3, j + 3, s33)


def _read_only(plane: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only view: the terms of one call must share one numba array type,
    whether a plane is a read-only memory map or a writable buffer."""
    view = np.ascontiguousarray(plane).view()
    view.flags.writeable = False
    return view


def gram_counts(left: list[np.ndarray], right: list[np.ndarray], upper: bool,
                chunk: int = WORD_CHUNK, row_block: int = ROW_BLOCK) -> np.ndarray:
    """``Σ_t popcount(left[t]_i & right[t]_j)`` as an int64 (rows_left, rows_right) matrix.

    ``left`` and ``right`` are equal-length lists of ``(rows, W)`` uint64 planes paired term by
    term; ``upper`` for a diagonal tile (see :func:`and_popcount_gram`); ``chunk`` (words) and
    ``row_block`` (a multiple of :data:`BLOCK`) the cache blocking.
    """
    a = tuple(_read_only(x) for x in left)
    b = tuple(_read_only(y) for y in right)
    out = np.zeros((a[0].shape[0], b[0].shape[0]), dtype=np.uint64)
    and_popcount_gram(a, b, out, upper, chunk, row_block)
    return out.view(np.int64)


def distance_counts(
    left: np.ndarray, right: np.ndarray, upper: bool, chunk: int = DISTANCE_CHUNK,
    row_block: int = DISTANCE_ROW_BLOCK,
) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ |g_i - g_j|, variants called in both)`` as two int64 (rows_left, rows_right) matrices.

    ``left`` and ``right`` are ``(3, rows, W)`` h, l, p planes (see
    :mod:`osler.kernels.genome.metrics`); ``upper`` for a diagonal tile or a band; ``chunk``
    (words, below 2**25) and ``row_block`` (a multiple of :data:`BLOCK`) the cache blocking.
    """
    h1, l1, p1 = (_read_only(x) for x in left)
    h2, l2, p2 = (_read_only(y) for y in right)
    diff = np.zeros((h1.shape[0], h2.shape[0]), dtype=np.uint64)
    pairs = np.zeros_like(diff)
    masked_distance_gram(h1, l1, p1, h2, l2, p2, diff, pairs, upper, chunk, row_block)
    return diff.view(np.int64), pairs.view(np.int64)



@njit(nogil=True, cache=True)
def opposite_popcount_gram(l1, r1, l2, r2, out, upper, chunk, row_block):
    """Add ``Σ_k popcount((l1[i, k] & r2[j, k]) | (r1[i, k] & l2[j, k]))`` to ``out[i, j]``.

    For KING's IBS0 (l = genotype 2, r = called genotype 0): the two AND terms
    ``l_i r_j`` and ``r_i l_j`` never share a bit (l and r of one sample are disjoint), so one
    popcount of their OR counts both, one popcount per word pair where
    :func:`and_popcount_gram` spends two. Blocking, ``upper`` and ``chunk`` as there.
    """
    prefer_wide_vectors()
    n1, n_words = l1.shape
    n2 = l2.shape[0]
    for w0 in range(0, n_words, chunk):
        w1 = min(n_words, w0 + chunk)
        for jb in range(0, n2, row_block):
            je = min(n2, jb + row_block)
            for i in range(0, n1, BLOCK):
                ia, ib, ic = min(i + 1, n1 - 1), min(i + 2, n1 - 1), min(i + 3, n1 - 1)
                start = max(jb, i) if upper else jb
                for j in range(start, je, BLOCK):
                    ja, jb_, jc = min(j + 1, n2 - 1), min(j + 2, n2 - 1), min(j + 3, n2 - 1)
                    s00 = s01 = s02 = s03 = np.uint64(0)
                    s10 = s11 = s12 = s13 = np.uint64(0)
                    s20 = s21 = s22 = s23 = np.uint64(0)
                    s30 = s31 = s32 = s33 = np.uint64(0)
                    xl0, xr0 = l1[i, w0:w1], r1[i, w0:w1]
                    xl1, xr1 = l1[ia, w0:w1], r1[ia, w0:w1]
                    xl2, xr2 = l1[ib, w0:w1], r1[ib, w0:w1]
                    xl3, xr3 = l1[ic, w0:w1], r1[ic, w0:w1]
                    yl0, yr0 = l2[j, w0:w1], r2[j, w0:w1]
                    yl1, yr1 = l2[ja, w0:w1], r2[ja, w0:w1]
                    yl2, yr2 = l2[jb_, w0:w1], r2[jb_, w0:w1]
                    yl3, yr3 = l2[jc, w0:w1], r2[jc, w0:w1]
                    for k in range(w1 - w0):
                        al0, ar0, al1, ar1 = xl0[k], xr0[k], xl1[k], xr1[k]
                        al2, ar2, al3, ar3 = xl2[k], xr2[k], xl3[k], xr3[k]
                        bl0, br0, bl1, br1 = yl0[k], yr0[k], yl1[k], yr1[k]
                        bl2, br2, bl3, br3 = yl2[k], yr2[k], yl3[k], yr3[k]
                        s00 += popcount64((al0 & br0) | (ar0 & bl0))
                        s01 += popcount64((al0 & br1) | (ar0 & bl1))
                        s02 += popcount64((al0 & br2) | (ar0 & bl2))
                        s03 += popcount64((al0 & br3) | (ar0 & bl3))
                        s10 += popcount64((al1 & br0) | (ar1 & bl0))
                        s11 += popcount64((al1 & br1) | (ar1 & bl1))
                        s12 += popcount64((al1 & br2) | (ar1 & bl2))
                        s13 += popcount64((al1 & br3) | (ar1 & bl3))
                        s20 += popcount64((al2 & br0) | (ar2 & bl0))
                        s21 += popcount64((al2 & br1) | (ar2 & bl1))
                        s22 += popcount64((al2 & br2) | (ar2 & bl2))
                        s23 += popcount64((al2 & br3) | (ar2 & bl3))
                        s30 += popcount64((al3 & br0) | (ar3 & bl0))
                        s31 += popcount64((al3 & br1) | (ar3 & bl1))
                        s32 += popcount64((al3 & br2) | (ar3 & bl2))
                        s33 += popcount64((al3 & br3) | (ar3 & bl3))
                    _add(out, i, j, s00)
                    _add(out, i, j + 1, s01)
                    _add(out, i, j + 2, s02)
                    _add(out, i, j + 3, s03)
                    _add(out, i + 1, j, s10)
                    _add(out, i + 1, j + 1, s11)
                    _add(out, i + 1, j + 2, s12)
                    _add(out, i + 1, j + 3, s13)
                    _add(out, i + 2, j, s20)
                    _add(out, i + 2, j + 1, s21)
                    _add(out, i + 2, j + 2, s22)
                    _add(out, i + 2, j + 3, s23)
                    _add(out, i + 3, j, s30)
                    _add(out, i + 3, j + 1, s31)
                    _add(out, i + 3, j + 2, s32)
                    _add(out, i + 3, j + 3, s33)


def opposite_counts(left: tuple[np.ndarray, np.ndarray], right: tuple[np.ndarray, np.ndarray],
                    upper: bool, chunk: int = WORD_CHUNK, row_block: int = ROW_BLOCK) -> np.ndarray:
    """KING's IBS0, ``Σ l_i r_j + r_i l_j``, as an int64 (rows_left, rows_right) matrix from
    the (l, r) planes of each side (see :func:`opposite_popcount_gram`)."""
    l1, r1 = (_read_only(x) for x in left)
    l2, r2 = (_read_only(y) for y in right)
    out = np.zeros((l1.shape[0], l2.shape[0]), dtype=np.uint64)
    opposite_popcount_gram(l1, r1, l2, r2, out, upper, chunk, row_block)
    return out.view(np.int64)

