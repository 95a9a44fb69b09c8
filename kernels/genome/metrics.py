"""Per-tile genome metrics on bit-packed genotypes (numba popcount) and on float32 BLAS.

Genotypes (allele counts 0/1/2, -1 missing) are packed sample-major into three bit planes of
64 variants per ``uint64`` word, a ``(3, rows, W)`` array each tile packs for its own rows:

- plane 0, ``h``: genotype >= 1 (carries at least one counted allele),
- plane 1, ``l``: genotype == 2,
- plane 2, ``p``: the call is present (not missing).

A missing call has h = l = 0. Since g = h + l with h >= l, ``min(g_i, g_j) = h_i h_j + l_i l_j``
and ``g_i g_j`` is the sum of the four and-products, so every count a PLINK distance needs is a
sum of *terms* ``Σ popcount(plane_a(i) & plane_b(j))``: one register-blocked kernel,
:func:`osler.kernels.genome.gram.and_popcount_gram`, computes them. With missing calls, the
counts over the variants called in both are the counts of a complete cohort minus sparse
corrections over the missing calls (:mod:`osler.kernels.genome.sparse_missing`): KING's
N_het_i and N_het_j (:func:`king_counts`), the PLINK distances' d and M_ij
(:func:`sparse_distance_counts`; the fused masked pass where it is faster:
:func:`uses_fused_pass`), so a
cohort with 1-5 % missing calls costs little more than a complete one.

Tile functions (``*_tile``) follow :mod:`osler.kernels.blocked`:
``fn(i0, i1, j0, j1, **paths)`` packs
its rows from the genotype file (see :func:`packed_rows`) and returns a float64 tile; on a tile
that starts on the diagonal (i0 == j0: a diagonal tile or a band) only the pairs with j >= i are
computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from osler.kernels.bits import VECTOR_POPCOUNT
from osler.kernels.genome import packed_memo
from osler.kernels.genome.bed import bed_rows, pack_bed_samples
from osler.kernels.genome.gram import distance_counts, gram_counts, opposite_counts
from osler.kernels.genome.sparse_missing import (
    X_NOT_AFTER,
    X_NOT_BEFORE,
    Correction,
    missing_corrections,
    missing_plane,
)
from osler.kernels.locations import npy_rows, readable

GRM_COLUMN_CHUNK = 8192
"""Variants standardised at a time in a GRM tile, which bounds its float32 buffers."""

FUSED_MAX_ROWS = 256
"""On a CPU with a vector popcount, an off-diagonal PLINK-distance tile with missing calls whose
narrower side has more samples than this takes the AND terms plus sparse corrections; every other
tile takes the fused masked pass (:func:`uses_fused_pass`)."""


# --------------------------------------------------------------------------- packing and stats


_LSB = np.uint64(0x0101010101010101)
_GATHER = np.uint64(0x0102040810204080)  # moves the low bit of byte k to bit 56 + k


@njit(nogil=True, cache=True, inline="always")
def _byte_bits(y):
    """The low bit of each of the 8 bytes of y, as an 8-bit number (byte k -> bit k)."""
    return (y * _GATHER) >> np.uint64(56)


@njit(nogil=True, cache=True)
def pack_row(row, out_h, out_l, out_p):
    """Pack one int8 row (-1 missing) into the three planes, 8 genotypes per 64-bit load.

    Per byte b of a genotype: called = top bit clear; h = (b | b >> 1) & 1; l = (b >> 1) & 1.
    """
    m = row.shape[0]
    m8 = m // 8
    words = row[: m8 * 8].view(np.uint64)
    n_words = out_h.shape[0]
    for w in range(n_words):
        h = np.uint64(0)
        lo = np.uint64(0)
        p = np.uint64(0)
        first = w * 8
        stop = min(m8, first + 8)
        for q in range(first, stop):
            x = words[q]
            called = (~x >> np.uint64(7)) & _LSB
            shift = np.uint64(8 * (q - first))
            h |= _byte_bits(((x | (x >> np.uint64(1))) & called) & _LSB) << shift
            lo |= _byte_bits((x >> np.uint64(1)) & called & _LSB) << shift
            p |= _byte_bits(called) << shift
        out_h[w] = h
        out_l[w] = lo
        out_p[w] = p
    one = np.uint64(1)
    for v in range(m8 * 8, m):  # the last m % 8 genotypes
        g = row[v]
        bit = one << np.uint64(v % 64)
        w = v // 64
        if g >= 0:
            out_p[w] |= bit
        if g >= 1:
            out_h[w] |= bit
        if g == 2:
            out_l[w] |= bit


@njit(nogil=True, cache=True)
def pack_rows(genotypes, keep, out):
    """Pack int8 rows (-1 missing) into ``out`` (3, rows, W); ``keep`` selects columns if given."""
    rows = genotypes.shape[0]
    gather = keep.shape[0] != genotypes.shape[1]
    buf = np.empty(keep.shape[0], dtype=np.int8)
    for i in range(rows):
        if gather:
            for v in range(keep.shape[0]):
                buf[v] = genotypes[i, keep[v]]
            row = buf
        else:
            row = genotypes[i]
        pack_row(row, out[0, i], out[1, i], out[2, i])


@njit(nogil=True, cache=True)
def count_rows(genotypes, called, allele_sum):
    """Add, per variant, the called genotypes and the sum of allele counts of ``genotypes``."""
    rows, m = genotypes.shape
    step = 4096  # the two int32 accumulators of a chunk stay in L1 while the rows stream by
    for v0 in range(0, m, step):
        v1 = min(m, v0 + step)
        c_acc = called[v0:v1]
        s_acc = allele_sum[v0:v1]
        for i in range(rows):
            row = genotypes[i, v0:v1]
            for v in range(v1 - v0):
                g = np.int32(row[v])
                c = np.int32(g >= 0)
                c_acc[v] += c
                s_acc[v] += g * c


_BIT32 = np.array([1 << b for b in range(32)], dtype=np.uint32)


@njit(nogil=True, cache=True)
def _standardise_planes(h, two, present, center, scale, bit, out):
    """``out[i, 64 k + b] = (g - center) * scale`` from the planes' words, 0 where missing.

    g = bit b of h + bit b of l. ``center`` and ``scale`` cover ``64 * words`` variants (zero
    past the last one, so padding bits give 0). Each 32-bit half-word is tested against the
    constant ``bit`` masks, a form LLVM turns into 16-lane vector compares.
    """
    rows, words = h.shape
    low = np.uint64(0xFFFFFFFF)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for i in range(rows):
        for k in range(words):
            for half in range(2):
                shift = np.uint64(32 * half)
                hw = np.uint32((h[i, k] >> shift) & low)
                lw = np.uint32((two[i, k] >> shift) & low)
                pw = np.uint32((present[i, k] >> shift) & low)
                base = 64 * k + 32 * half
                for b in range(32):
                    g = (one if hw & bit[b] else zero) + (one if lw & bit[b] else zero)
                    z = (g - center[base + b]) * scale[base + b]
                    out[i, base + b] = z if pw & bit[b] else zero


# --------------------------------------------------------------------------- tile functions


def packed_rows(source: dict[str, Any], r0: int, r1: int) -> np.ndarray:
    """The ``(3, r1 - r0, W)`` planes of samples r0:r1 over the kept variants (read only).

    ``source`` describes the genotypes by location (see :func:`genotype_source`): a PLINK .bed is
    packed from its 2-bit codes, an int8 matrix row by row. Packing inside the tile saves
    writing and re-reading a planes file of the whole cohort; a worker keeps what it packed for
    the job's next tiles that need the same rows (:mod:`~osler.kernels.genome.packed_memo`).
    """
    return packed_memo.packed(source.get("token"), r0, r1,
                              lambda a, b: _pack_source(source, a, b))


def _pack_source(source: dict[str, Any], r0: int, r1: int) -> np.ndarray:
    keep = np.load(readable(source["keep"]))
    out = np.zeros((3, r1 - r0, (keep.size + 63) // 64), dtype=np.uint64)
    if "bed" in source:
        rows = bed_rows(readable(source["bed"]), source["n"], 0, source["m"], source["offset"])
        pack_bed_samples(np.asarray(rows), source["n"], keep, r0, r1, out)
        del rows
    else:
        pack_rows(npy_rows(source["genotypes"], r0, r1), keep, out)
    return out


def n_kept(source: dict[str, Any]) -> int:
    """The number of variants a tile packs (the kept ones), from the header of ``keep``."""
    return int(np.load(readable(source["keep"]), mmap_mode="r").shape[0])


def genotype_source(path: str, keep: str, bed: tuple[int, int, int] | None,
                    token: str | None = None) -> dict[str, Any]:
    """What a tile needs to pack its rows: ``bed`` = (n, m, offset) of a .bed, None for int8;
    ``token``, a random id of the job, lets its tiles share packed rows (none without)."""
    source: dict[str, Any] = {"genotypes": path, "keep": keep}
    if bed is not None:
        n, m, offset = bed
        source = {"bed": path, "n": n, "m": m, "offset": offset, "keep": keep}
    if token is not None:
        source["token"] = token
    return source


def _plane_rows(source: dict[str, Any], i0: int, i1: int, j0: int,
                j1: int) -> tuple[np.ndarray, np.ndarray]:
    """Planes of rows i0:i1 and of rows j0:j1, packed once when the tile starts on the diagonal
    (a diagonal tile or a band: rows i0:i1 are the first rows of j0:j1)."""
    if i0 == j0:
        second = packed_rows(source, j0, j1)
        return second[:, : i1 - i0], second
    return packed_rows(source, i0, i1), packed_rows(source, j0, j1)


DISTANCE_METRICS = ("ibs", "1-ibs", "allele-ct")
"""The metrics :func:`distance_tile` computes, in the order :func:`_finish_distance` codes them."""


@njit(nogil=True, cache=True, error_model="numpy")
def _finish_distance(shared, sum_i, sum_j, diff, pairs, m, metric, out):
    """One pass from counts to the metric (no n x n temporaries).

    d = S_i + S_j - 2 shared without missing calls, ``diff`` (counted over the variants called
    in both) with them; M_ij = m, or ``pairs`` with missing calls. Metric 0 ibs = 1 - d / 2M_ij,
    1 1-ibs = d / 2M_ij, 2 allele-ct = d m / M_ij. A pair with no variant called in both gets
    NaN / inf, as in numpy.
    """
    missing = diff.shape[0] > 0
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            if missing:
                d = np.float64(diff[i, j])
                m_pair = np.float64(pairs[i, j])
            else:
                d = np.float64(sum_i[i] + sum_j[j] - 2 * shared[i, j])
                m_pair = np.float64(m)
            if metric == 2:
                out[i, j] = d * (m / m_pair)
            elif metric == 1:
                out[i, j] = d / (2.0 * m_pair)
            else:
                out[i, j] = 1.0 - d / (2.0 * m_pair)


def _row_sums(h: np.ndarray, two: np.ndarray) -> np.ndarray:
    """Σ_v g over each row (missing calls count 0): popcount(h) + popcount(l)."""
    return (np.bitwise_count(h).sum(axis=1, dtype=np.int64)
            + np.bitwise_count(two).sum(axis=1, dtype=np.int64))


@njit(nogil=True, cache=True)
def _correct_distance(shared, sum_i, sum_j, missing_i, missing_j, n_missing_i, n_missing_j,
                      both, m):
    """In place: ``shared`` becomes d = S_i + S_j - 2 shared - missing_i - missing_j and
    ``both`` M = m - n_missing_i - n_missing_j + both (see :func:`sparse_distance_counts`)."""
    for i in range(shared.shape[0]):
        for j in range(shared.shape[1]):
            shared[i, j] = (sum_i[i] + sum_j[j] - 2 * shared[i, j] - missing_i[i, j]
                            - missing_j[i, j])
            both[i, j] = m - n_missing_i[i] - n_missing_j[j] + both[i, j]


def uses_fused_pass(rows: int, cols: int, upper: bool) -> bool:
    """Whether a PLINK-distance tile with missing calls takes the fused masked pass
    (:func:`~osler.kernels.genome.gram.distance_counts`) rather than the AND terms plus sparse
    corrections (:func:`sparse_distance_counts`); both give the same integers.

    ``python bench/popcount_gram.py --sections shapes`` (one core, 100,000 variants, 2 % missing;
    figures in ``bench/README.md``) found the fused pass faster on every tile that starts on
    the diagonal (a full job's band of 640 x 2,200 samples: 1.19x on the AVX-512 Xeon, 1.71x on
    an AVX2 Zen 3), on tiles with a narrow side (the sparse corrections transpose the wider
    side's planes and fill half-empty vectors: 1,000 x 200, 1.54x on the Xeon) and, without
    :data:`~osler.kernels.bits.VECTOR_POPCOUNT`, on wide tiles too (their popcounts cost several
    instructions there, so the fewer passes of the sparse path no longer pay for its
    corrections: 3,000 x 1,000, 1.15x on the Zen 3, where the Xeon ran the sparse path 1.18x
    faster).
    """
    return upper or not VECTOR_POPCOUNT or min(rows, cols) <= FUSED_MAX_ROWS


def missing_distance_counts(left: np.ndarray, right: np.ndarray, upper: bool,
                            n_variants: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ |g_i - g_j|, variants called in both)`` of a tile with missing calls, by the pass
    :func:`uses_fused_pass` picks."""
    if uses_fused_pass(left.shape[1], right.shape[1], upper):
        return distance_counts(left, right, upper)
    return sparse_distance_counts(left, right, upper, n_variants)


def sparse_distance_counts(left: np.ndarray, right: np.ndarray, upper: bool,
                           n_variants: int) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ |g_i - g_j|, variants called in both)`` over the variants called in both, as
    :func:`~osler.kernels.genome.gram.distance_counts`, from the two AND terms of a cohort
    without missing calls plus sparse corrections over the missing calls.

    With g = h + l (0 at a missing call), S_i = Σ_v g_i and miss_i the calls missing in i::

        d_ij = S_i + S_j - 2 Σ (h_i h_j + l_i l_j) - Σ_{v ∈ miss_j} g_i - Σ_{v ∈ miss_i} g_j
        M_ij = m - |miss_i| - |miss_j| + |miss_i ∩ miss_j|

    The two sums over missing calls and the intersection are
    :func:`~osler.kernels.genome.sparse_missing.missing_counts` (x = h and l added into one
    counter; x = the missing calls). ``upper`` for a tile that starts on the diagonal (only
    the pairs j >= i are computed).
    """
    (h1, l1, p1), (h2, l2, p2) = left, right
    n1, n2, m = h1.shape[0], h2.shape[0], n_variants
    miss1, miss2 = missing_plane(p1, m), missing_plane(p2, m)
    shared = gram_counts([h1, l1], [h2, l2], upper)
    if upper:  # the left rows are the first right rows: one pass over the right ones
        missing_i, both, missing_j = missing_corrections(
            [h2, l2, miss2], p2, m,
            [Correction((0, 1), n1, n2, X_NOT_AFTER, x_major=True),
             Correction((2,), n1, n2, X_NOT_AFTER, x_major=True),
             Correction((0, 1), n2, n1, X_NOT_BEFORE)])
    else:
        missing_i, both = missing_corrections(
            [h1, l1, miss1], p2, m,
            [Correction((0, 1), n1, n2, x_major=True), Correction((2,), n1, n2, x_major=True)])
        (missing_j,) = missing_corrections([h2, l2], p1, m, [Correction((0, 1), n2, n1)])
    _correct_distance(shared, _row_sums(h1, l1), _row_sums(h2, l2), missing_i, missing_j,
                      _row_totals(miss1), _row_totals(miss2), both, m)
    return shared, both


def dot_tile(i0: int, i1: int, j0: int, j1: int, *, source: dict[str, Any],
             n_variants: int) -> np.ndarray:
    """``A_I · A_Jᵀ / m`` with missing calls counted as 0 (the seed formula).

    g_i g_j = (h_i + l_i)(h_j + l_j): four popcount terms.
    """
    (h1, l1, _), (h2, l2, _) = _plane_rows(source, i0, i1, j0, j1)
    counts = gram_counts([h1, h1, l1, l1], [h2, l2, h2, l2], upper=i0 == j0)
    return counts / float(n_variants)


def distance_tile(
    i0: int, i1: int, j0: int, j1: int, *, source: dict[str, Any], n_variants: int, metric: str,
    has_missing: bool,
) -> np.ndarray:
    """PLINK 1.9 ``--distance ... flat-missing``: ``ibs``, ``1-ibs`` or ``allele-ct``.

    With d = sum of |g_i - g_j| and M_ij = variants called in both:
    allele-ct = d * M / M_ij, 1-ibs = d / (2 M_ij), ibs = 1 - d / (2 M_ij).

    Without missing calls, |g_i - g_j| = g_i + g_j - 2 min(g_i, g_j) and min(g_i, g_j) =
    h_i h_j + l_i l_j, so d = S_i + S_j - 2 G with G = Σ (h_i h_j + l_i l_j): two popcount terms.
    With missing calls the sums run over the variants called in both: the same two terms plus
    sparse corrections over the missing calls give d and M_ij
    (:func:`sparse_distance_counts`), or the fused masked pass
    (:func:`~osler.kernels.genome.gram.masked_distance_gram`, three popcounts per word pair)
    computes both, whichever :func:`uses_fused_pass` finds faster for the tile and the CPU.
    """
    upper = i0 == j0
    left, right = _plane_rows(source, i0, i1, j0, j1)
    empty = np.zeros((0, 0), dtype=np.int64)
    if has_missing:
        diff, pairs = missing_distance_counts(left, right, upper, n_variants)
        shared, sum_i, sum_j = empty, np.zeros(0, np.int64), np.zeros(0, np.int64)
    else:
        (h1, l1, _), (h2, l2, _) = left, right
        diff = pairs = empty
        shared = gram_counts([h1, l1], [h2, l2], upper)
        sum_i, sum_j = _row_sums(h1, l1), _row_sums(h2, l2)
    out = np.empty((i1 - i0, j1 - j0), dtype=np.float64)
    _finish_distance(shared, sum_i, sum_j, diff, pairs, n_variants,
                     DISTANCE_METRICS.index(metric), out)
    return out


@njit(nogil=True, cache=True, error_model="numpy")
def _finish_king(opposite, both_het, het_i, het_j, out):
    """phi = 1/2 - (4 IBS0 + N_het_mismatch) / (4 min(N_het_i, N_het_j)) in one pass.

    ``het_i`` / ``het_j`` are (rows, cols) counts over the variants called in both, or, on a
    cohort without missing calls, (rows, 1) / (1, cols) per-sample het counts (broadcast).
    A pair without a het call gets NaN / inf, as in numpy.
    """
    rows_i = het_i.shape[1] > 1
    cols_j = het_j.shape[0] > 1
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            a = np.float64(het_i[i, j if rows_i else 0])
            b = np.float64(het_j[i if cols_j else 0, j])
            mismatch = a + b - 2.0 * np.float64(both_het[i, j])
            out[i, j] = 0.5 - (4.0 * np.float64(opposite[i, j]) + mismatch) / (4.0 * min(a, b))


def _row_totals(plane: np.ndarray) -> np.ndarray:
    """Set bits of each row of a plane, int64."""
    return np.bitwise_count(plane).sum(axis=1, dtype=np.int64)


def king_counts(left: np.ndarray, right: np.ndarray, upper: bool, n_variants: int,
                has_missing: bool = True, sparse: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KING's counts of a tile: (IBS0, both het, N_het_i, N_het_j), int64.

    ``left`` and ``right`` are ``(3, rows, W)`` h, l, p planes; ``upper`` for a tile that
    starts on the diagonal (only the pairs j >= i are computed). With e = het (h and not l)
    and r = called hom-ref (p and not h): IBS0 = Σ l_i r_j + r_i l_j (one popcount of
    ``(l_i & r_j) | (r_i & l_j)``: :func:`~osler.kernels.genome.gram.opposite_counts`), both
    het = Σ e_i e_j, N_het_i = Σ e_i p_j, N_het_j = Σ p_i e_j.

    Without missing calls N_het_i is sample i's het count (broadcast shapes (rows, 1) and
    (1, cols)). With them, ``sparse`` gives N_het_i = het_i - Σ_{v missing in j} e_i[v] and
    N_het_j = het_j - Σ_{v missing in i} e_j[v], sparse corrections
    (:func:`~osler.kernels.genome.sparse_missing.missing_counts`) in place of two dense
    popcount passes; ``sparse=False`` keeps the two AND terms ``e_i p_j`` and ``p_i e_j`` (the
    same integers).
    """
    (h1, l1, p1), (h2, l2, p2) = left, right
    e1, r1 = h1 & ~l1, p1 & ~h1
    square = upper and h1.shape[0] == h2.shape[0]
    e2, r2 = (e1, r1) if square else (h2 & ~l2, p2 & ~h2)
    opposite = opposite_counts((l1, r1), (l2, r2), upper)
    both_het = gram_counts([e1], [e2], upper)
    if not has_missing:
        return opposite, both_het, _row_totals(e1)[:, None], _row_totals(e2)[None, :]
    if not sparse:
        return (opposite, both_het, gram_counts([e1], [p2], upper),
                gram_counts([p1], [e2], upper))
    n1, n2, m = h1.shape[0], h2.shape[0], n_variants
    if upper:  # the left rows are the first right rows: one pass over the right ones
        het_i, het_j = missing_corrections(
            [e2], p2, m, [Correction((0,), n1, n2, X_NOT_AFTER, x_major=True),
                          Correction((0,), n2, n1, X_NOT_BEFORE)])
    else:
        (het_i,) = missing_corrections([e1], p2, m, [Correction((0,), n1, n2, x_major=True)])
        (het_j,) = missing_corrections([e2], p1, m, [Correction((0,), n2, n1)])
    return (opposite, both_het, _row_totals(e1)[:, None] - het_i,
            _row_totals(e2)[None, :] - het_j)


def king_tile(i0: int, i1: int, j0: int, j1: int, *, source: dict[str, Any],
              has_missing: bool = True) -> np.ndarray:
    """KING-robust kinship as ``plink2 --make-king``.

    phi = 1/2 - (4 * IBS0 + N_het_mismatch) / (4 * min(N_het_i, N_het_j)), counted over
    variants called in both samples (equal to the KING paper's between-family estimator),
    with N_het_mismatch = N_het_i + N_het_j - 2 Σ e_i e_j (see :func:`king_counts`). Two dense
    popcount passes (IBS0 and both het); with missing calls N_het_i and N_het_j are the
    samples' het counts minus sparse corrections over the calls missing in the other sample,
    not two more dense passes.
    """
    upper = i0 == j0
    left, right = _plane_rows(source, i0, i1, j0, j1)
    opposite, both_het, het_i, het_j = king_counts(left, right, upper, n_kept(source),
                                                   has_missing)
    out = np.empty((i1 - i0, j1 - j0), dtype=np.float64)
    _finish_king(opposite, both_het, np.ascontiguousarray(het_i), np.ascontiguousarray(het_j),
                 out)
    return out


def grm_tile(
    i0: int, i1: int, j0: int, j1: int, *, source: dict[str, Any], center: str, scale: str,
    n_variants: int, has_missing: bool,
) -> np.ndarray:
    """The variance-standardised relationship matrix of ``plink --make-rel``.

    z = (g - 2p) / sqrt(2p(1-p)) with p from the called genotypes, z = 0 for missing calls and
    monomorphic variants; A_ij = sum z_i z_j / M_ij, M_ij = variants called in both (monomorphic
    ones included, as PLINK counts them). z is unpacked from the bit planes a chunk of variants
    at a time; products are float32 BLAS (SYRK on the diagonal part) summed in float64.
    """
    upper = i0 == j0  # a diagonal tile or a band: rows i0:i1 are the first rows of j0:j1
    rows = i1 - i0
    (h1, l1, p1), (h2, l2, p2) = _plane_rows(source, i0, i1, j0, j1)
    mu = np.load(readable(center))
    inv = np.load(readable(scale))
    words = h1.shape[1]
    step = GRM_COLUMN_CHUNK // 64
    acc = np.zeros((rows, j1 - j0), dtype=np.float64)
    zj = np.empty((j1 - j0, 64 * min(step, words)), dtype=np.float32)
    zi = None if upper else np.empty((rows, zj.shape[1]), dtype=np.float32)
    for w0 in range(0, words, step):
        w1 = min(words, w0 + step)
        cols = slice(64 * w0, 64 * w1)
        b = zj[:, : 64 * (w1 - w0)]
        _standardise_planes(h2[:, w0:w1], l2[:, w0:w1], p2[:, w0:w1], mu[cols], inv[cols],
                            _BIT32, b)
        if upper:  # one standardisation: SYRK on the square part, GEMM on the rest
            a = b[:rows]
            acc[:, :rows] += a @ a.T
            if j1 > i1:
                acc[:, rows:] += a @ b[rows:].T
        else:
            a = zi[:, : b.shape[1]]
            _standardise_planes(h1[:, w0:w1], l1[:, w0:w1], p1[:, w0:w1], mu[cols], inv[cols],
                                _BIT32, a)
            acc += a @ b.T
    if has_missing:
        pairs = gram_counts([p1], [p2], upper)
        with np.errstate(divide="ignore", invalid="ignore"):
            return acc / pairs
    return acc / float(n_variants)


# --------------------------------------------------------------------------- row-block passes


def count_block(r0: int, r1: int, *, genotypes: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-variant (called genotypes, allele count sum) over rows r0:r1."""
    rows = npy_rows(genotypes, r0, r1)
    m = rows.shape[1]
    called = np.zeros(m, dtype=np.int32)
    allele_sum = np.zeros(m, dtype=np.int32)
    count_rows(rows, called, allele_sum)
    return called.astype(np.int64), allele_sum.astype(np.int64)
