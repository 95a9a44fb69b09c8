"""PLINK 1 ``.bed`` rows straight to bit planes and per-variant counts, without an int8 matrix.

A SNP-major ``.bed`` holds 3 header bytes, then one row of ``B = ceil(n / 4)`` bytes per variant;
sample ``s`` sits in byte ``s // 4``, its low code bit at bit ``2 (s % 4)`` and its high bit just
above. Codes (low + 2 high) count A1 as 00 -> 2, 01 -> missing, 10 -> 1, 11 -> 0, so with
``lo`` / ``hi`` the two bits the planes of :mod:`osler.kernels.genome.metrics` are

- ``h`` (genotype >= 1) = not lo,
- ``l`` (genotype == 2) = not lo and not hi,
- ``p`` (called) = not lo or hi.

Packing is a 64 x 64 bit-matrix transpose per block of 64 kept variants x 32 samples: the 64
bits of a little-endian ``uint64`` read from a row are the 32 samples' interleaved (lo, hi)
bits, so after the transpose row ``2j`` is the ``lo`` word of sample ``j`` over the 64 variants
and row ``2j + 1`` its ``hi`` word; the even/odd de-interleave comes for free. Bits of padding
samples (>= n) only reach rows that are never written, so they need no masking.

The transposes run ``WORD_GROUP`` words x ``COLUMN_CHUNK`` matrices at a time, interleaved so that
every stage is a contiguous, vectorised loop and each sample's output words of a group are one
contiguous run. A tile of the distance matrix packs only its own samples
(:func:`pack_bed_samples`), so no int8 copy and no planes file of the cohort is ever written.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from osler.kernels.locations import readable
from osler.kernels.prefetch import CACHE_LINE, ROWS_AHEAD, prefetch

WORD_GROUP = 32
"""Plane words built together: each sample's output words of a group are one 256-byte run."""

COLUMN_CHUNK = 64
"""uint64 words of a .bed row (32 samples each) per pass; the buffer is at most
64 rows x 64 x 32 words x 8 B = 1 MiB (one Zen 4 L2)."""

_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_ONE = np.uint64(1)


def _bed_lut() -> np.ndarray:
    """Per byte of a .bed row: called calls in the low 32 bits, their A1 count in the high 32."""
    lut = np.zeros(256, dtype=np.uint64)
    per_code = ((1, 2), (0, 0), (1, 1), (1, 0))  # (called, A1 count) by code 00, 01, 10, 11
    for byte in range(256):
        called = total = 0
        for k in range(4):
            c, a = per_code[(byte >> (2 * k)) & 3]
            called += c
            total += a
        lut[byte] = called | (total << 32)
    return lut


_COUNT_LUT = _bed_lut()


def bed_rows(bed_path: str, n: int, v0: int, v1: int, offset: int = 0) -> np.ndarray:
    """Memory-map rows v0:v1 of a .bed file.

    Parameters
    ----------
    bed_path : str
        A SNP-major PLINK 1 .bed (3 header bytes, then ``ceil(n / 4)`` bytes per variant), or a
        file holding one at byte ``offset`` (an uncompressed member of a ``.zip``).
    n : int
        Number of samples.
    v0, v1 : int
        First and one-past-last variant.
    offset : int
        Where the .bed's first byte sits in the file.

    Returns
    -------
    np.ndarray
        ``uint8`` of shape ``(v1 - v0, ceil(n / 4))`` (a read-only ``np.memmap`` when not empty).
    """
    per_variant = (n + 3) // 4
    if v1 <= v0:
        return np.empty((0, per_variant), dtype=np.uint8)
    return np.memmap(bed_path, dtype=np.uint8, mode="r", offset=offset + 3 + v0 * per_variant,
                     shape=(v1 - v0, per_variant))


@njit(nogil=True, cache=True, inline="always")
def _edge_byte(b, s0, s1):
    """(keep mask, fill) of byte b of a row: the codes of samples outside s0:s1 become 01
    (missing, which the table counts as nothing)."""
    mask = 0
    fill = 0
    for k in range(4):
        s = 4 * b + k
        if s0 <= s < s1:
            mask |= 3 << (2 * k)
        else:
            fill |= 1 << (2 * k)
    return np.uint8(mask), np.uint8(fill)


@njit(nogil=True, cache=True, inline="always")
def _prefetch_bytes(rows, row_start, b0, b1):
    """Prefetch bytes b0:b1 of the row starting at flat byte ``row_start`` of ``rows`` (a
    C-contiguous 2-D array; a row past its end is harmless, see :mod:`~osler.kernels.
    prefetch`)."""
    for b in range(b0, b1 + CACHE_LINE - 1, CACHE_LINE):
        prefetch(rows, row_start + min(b, b1 - 1))


@njit(nogil=True, cache=True)
def _count_rows_lut(rows, s0, s1, called, allele_sum, lut):
    """:func:`count_bed_rows` with its table (one add per byte; n < 2**31 fits the fields).

    The inner bytes are summed over a slice of each row, which LLVM unrolls (a loop from the
    first inner byte's index took twice as long); the two edge bytes are masked.
    """
    b0, b1 = s0 // 4, (s1 + 3) // 4
    mask0, fill0 = _edge_byte(b0, s0, s1)
    mask1, fill1 = _edge_byte(b1 - 1, s0, s1)
    if b1 - b0 == 1:  # one byte holds every sample counted: both edges' masks apply
        mask0 &= mask1
        fill0 |= fill1
    inner0 = b0 + 1
    inner1 = max(inner0, b1 - 1)
    two_edges = b1 - b0 > 1
    low = np.uint64(0xFFFFFFFF)
    width = rows.shape[1]
    for r in range(rows.shape[0]):
        _prefetch_bytes(rows, (r + ROWS_AHEAD) * width, b0, b1)
        inner = rows[r, inner0:inner1]
        acc = np.uint64(0)
        for b in range(inner.shape[0]):
            acc += lut[inner[b]]
        if b1 > b0:
            acc += lut[(rows[r, b0] & mask0) | fill0]
        if two_edges:
            acc += lut[(rows[r, b1 - 1] & mask1) | fill1]
        called[r] = np.int64(acc & low)
        allele_sum[r] = np.int64(acc >> np.uint64(32))


@njit(nogil=True, cache=True)
def count_bed_rows(rows, n, called, allele_sum, first):
    """Per variant row: the called calls of samples ``first:n`` and their sum of A1 counts.

    Parameters
    ----------
    rows : uint8[:, :]
        .bed variant rows, ``ceil(n / 4)`` bytes each; padding bits of the last byte are ignored.
    n : int
        Number of samples.
    called, allele_sum : int64[:]
        Outputs, one entry per row (overwritten).
    first : int
        The first sample counted (an extension counts only its new samples).
    """
    _count_rows_lut(rows, first, n, called, allele_sum, _COUNT_LUT)


@njit(nogil=True, cache=True, inline="always")
def _swap(a, j, mask, e):
    """One transpose stage: swap the off-diagonal j x j blocks of all e interleaved matrices."""
    shift = np.uint64(j)
    for b in range(0, 64, 2 * j):
        for k in range(b, b + j):
            x = a[k * e: (k + 1) * e]
            y = a[(k + j) * e: (k + j + 1) * e]
            for c in range(e):
                t = ((x[c] >> shift) ^ y[c]) & mask
                y[c] ^= t
                x[c] ^= t << shift


@njit(nogil=True, cache=True)
def _transpose64(a, e):
    """Transpose, in place, the e 64 x 64 bit matrices interleaved in ``a``.

    Row r of matrix i is ``a[r * e + i]``; bit c of row r becomes bit r of row c. Each stage
    runs along the e matrices, so the innermost loops are contiguous (SIMD across matrices).
    """
    _swap(a, 32, np.uint64(0x00000000FFFFFFFF), e)
    _swap(a, 16, np.uint64(0x0000FFFF0000FFFF), e)
    _swap(a, 8, np.uint64(0x00FF00FF00FF00FF), e)
    _swap(a, 4, np.uint64(0x0F0F0F0F0F0F0F0F), e)
    _swap(a, 2, np.uint64(0x3333333333333333), e)
    _swap(a, 1, np.uint64(0x5555555555555555), e)


@njit(nogil=True, cache=True, inline="always")
def _word_at(row, b):
    """The little-endian uint64 at byte ``b`` of ``row``, from its bytes: LLVM merges them into
    one unaligned load. A ``uint64`` view of each variant's row (whose start is rarely 8-byte
    aligned) cost more per row than the words read from it."""
    x = np.uint64(0)
    for k in range(8):
        x |= np.uint64(row[b + k]) << np.uint64(8 * k)
    return x


@njit(nogil=True, cache=True)
def _gather(bed, keep, t0, valid, c0, c1, buf, first, step):
    """Words c0:c1 of rows keep[t0:t0 + valid] into ``buf[first + v * e + (c - c0) * step]``.

    A row's last, partial word is zero-padded; ``e = (c1 - c0) * step``.
    """
    per_variant = bed.shape[1]
    full = per_variant // 8
    e = (c1 - c0) * step
    stop = min(c1, full)
    last = keep.shape[0] - 1
    for v in range(valid):
        _prefetch_bytes(bed, keep[min(last, t0 + v + ROWS_AHEAD)] * per_variant, 8 * c0,
                        min(8 * c1, per_variant))
        row = bed[keep[t0 + v]]
        base = first + v * e - c0 * step
        for c in range(c0, stop):
            buf[base + c * step] = _word_at(row, 8 * c)
        if c1 > full:
            x = np.uint64(0)
            for b in range(full * 8, per_variant):
                x |= np.uint64(row[b]) << np.uint64(8 * (b - full * 8))
            buf[base + full * step] = x


@njit(nogil=True, cache=True)
def _pack_bed(bed, n, keep, w0, w1, s0, s1, out):
    """Plane words w0:w1 of samples s0:s1 into ``out[:, s - s0, :w1 - w0]``.

    Words go ``WORD_GROUP`` at a time, samples ``32 * COLUMN_CHUNK`` at a time. The buffer
    interleaves the group's matrices as ``[row][column][word]``, so one transpose call covers
    them all and each sample's output words for the group are read and written contiguously.
    """
    m_kept = keep.shape[0]
    col_first = s0 // 32  # 32 samples = one uint64 of a .bed row = one matrix column
    col_end = (s1 + 31) // 32
    buf = np.zeros(64 * max(1, min(COLUMN_CHUNK, col_end - col_first)) * WORD_GROUP,
                   dtype=np.uint64)
    vmask = np.empty(WORD_GROUP, dtype=np.uint64)
    for g0 in range(w0, w1, WORD_GROUP):
        groups = min(WORD_GROUP, w1 - g0)
        for g in range(groups):
            valid = min(64, max(0, m_kept - (g0 + g) * 64))
            vmask[g] = _ALL if valid == 64 else (_ONE << np.uint64(valid)) - _ONE
        for c0 in range(col_first, col_end, COLUMN_CHUNK):
            c1 = min(col_end, c0 + COLUMN_CHUNK)
            e = (c1 - c0) * WORD_GROUP
            for g in range(groups):
                t0 = (g0 + g) * 64
                valid = min(64, max(0, m_kept - t0))
                # rows past the last kept variant keep stale words: vmask clears their bits
                _gather(bed, keep, t0, valid, c0, c1, buf, g, WORD_GROUP)
            _transpose64(buf, e)
            # row 2j of a transposed column holds lo of its sample j, row 2j + 1 its hi
            for s in range(max(s0, c0 * 32), min(s1, c1 * 32)):
                col = (s // 32 - c0) * WORD_GROUP
                j = s % 32
                lo = buf[2 * j * e + col:]
                hi = buf[(2 * j + 1) * e + col:]
                h = out[0, s - s0, g0 - w0:]
                two = out[1, s - s0, g0 - w0:]
                p = out[2, s - s0, g0 - w0:]
                for g in range(groups):
                    h[g] = ~lo[g] & vmask[g]
                    two[g] = ~(lo[g] | hi[g]) & vmask[g]
                    p[g] = (~lo[g] | hi[g]) & vmask[g]


@njit(nogil=True, cache=True)
def pack_bed_words(bed, n, keep, w0, w1, out):
    """Plane words w0:w1 of the kept variants, for all samples, straight from .bed rows.

    Parameters
    ----------
    bed : uint8[:, :]
        All variant rows of the .bed (header skipped), ``ceil(n / 4)`` bytes each; C-contiguous
        (a memmap from :func:`bed_rows` is).
    n : int
        Number of samples.
    keep : int64[:]
        Sorted indices of the kept variants; kept variant t goes to word t // 64, bit t % 64.
    w0, w1 : int
        Word range to fill.
    out : uint64[:, :, :]
        ``(3, n, >= w1 - w0)``; ``out[:, :, :w1 - w0]`` is overwritten (h, l, p planes), with
        bits past the last kept variant zero.
    """
    _pack_bed(bed, n, keep, w0, w1, 0, n, out)


@njit(nogil=True, cache=True)
def pack_bed_samples(bed, n, keep, s0, s1, out):
    """Every plane word of samples s0:s1 into ``out`` ``(3, s1 - s0, W)`` (see pack_bed_words).

    This is what a tile of the distance matrix calls for its rows: it reads only the bytes of
    those samples from each kept variant's row.
    """
    _pack_bed(bed, n, keep, 0, out.shape[2], s0, s1, out)


def count_bed_block(v0: int, v1: int, *, bed: str, n: int, offset: int = 0,
                    first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-variant (called calls, A1 count sum) of samples ``first:n`` for variants v0:v1 of a
    .bed (at ``offset``).

    Returns
    -------
    tuple of np.ndarray
        Two ``int64`` arrays of length ``v1 - v0``.
    """
    rows = bed_rows(readable(bed), n, v0, v1, offset)
    called = np.zeros(v1 - v0, dtype=np.int64)
    allele_sum = np.zeros(v1 - v0, dtype=np.int64)
    count_bed_rows(np.asarray(rows), n, called, allele_sum, int(first))
    del rows
    return called, allele_sum
