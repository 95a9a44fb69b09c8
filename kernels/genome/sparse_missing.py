"""Sparse missing-call corrections: ``C[i, j] = Σ_{v < m, v missing in j} x_i[v]``.

With missing calls a KING or PLINK-distance count runs over the variants called in both samples,
for example KING's ``N_het_i = Σ_v e_i[v] p_j[v]`` (e = het, p = called). Missing calls are rare
(1-5 %), so instead of a dense popcount pass over every word pair such a count is the per-sample
total minus a *correction* over the few variants missing in j::

    Σ_v e_i[v] p_j[v] = Σ_v e_i[v] - Σ_{v missing in j} e_i[v]

The correction is a sparse pass. The left rows' x planes are transposed to variant-major bits
(for variant v, ``ceil(rows / 64)`` words over the rows, by 64 x 64 bit block transposes,
Hacker's Delight's ``transpose64`` on 512-bit vectors), a cache-sized chunk of variants at a
time; then for each right row j the transposed rows ``x_T[v]`` of the variants missing in j are
added into a bit-sliced vertical counter of the left rows (a Harley-Seal carry-save tree over 16
inputs at a time, then a ripple into the higher bit planes), which persists across the chunks
and whose bit planes are finally turned into counts (:func:`missing_counts`). Its cost is
proportional to the missing calls times the left rows / 64 (plus one transposition of the x
planes), a fraction of one dense pass at these missing rates; byte counters in place of the
bit-sliced one were slower (``bench/popcount_gram.py``).

Planes are ``(rows, W)`` uint64, 64 variants per word, as in :mod:`osler.kernels.genome.metrics`;
``bench/popcount_gram.py`` measures the corrections against the dense passes they replace.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from osler.kernels.bits import popcount64, prefer_wide_vectors, trailing_zeros64

ALL_ROWS, X_NOT_AFTER, X_NOT_BEFORE = 0, 1, 2
"""``side`` of :func:`missing_counts`: every x row, or only the 64-row words of the x rows
``i <= j`` (``X_NOT_AFTER``) or ``i >= j`` (``X_NOT_BEFORE``) of missing-call row j (a tile on
the diagonal, where the x rows and the missing-call rows are the same samples)."""

LANES = 8
"""Words per vector (512 bits): the transposition handles 8 adjacent 64 x 64 blocks at once,
the counter adds 8 words of 64 rows per vector operation."""

_I64 = ir.IntType(64)


def _signed(value: int) -> int:
    """A uint64 constant as the signed i64 LLVM's assembly expects."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _vector_at(context, builder, array_type, array, offset, lanes):
    """A ``<lanes x i64>*`` to element ``offset`` of a C-contiguous uint64 array."""
    data = context.make_array(array_type)(context, builder, array).data
    pointer = builder.gep(data, [offset], inbounds=True)
    return builder.bitcast(pointer, ir.VectorType(_I64, lanes).as_pointer())


@intrinsic
def _transpose_block(typingctx, src, r0, a, dst, row0, b, n_lanes):
    """Transpose the :data:`LANES` 64 x 64 bit blocks ``src[r0:r0 + 64, a:a + LANES]`` (word
    q of row r: row r of block q, bit c = column c) into ``dst[row0 + 64 q + c, b]`` for the
    first ``n_lanes`` blocks q.

    Hacker's Delight's ``transpose64``, six rounds of masked swaps of the off-diagonal
    quarter-blocks, unrolled, on the 64 rows as vectors of the blocks' words: each swap is a
    few 512-bit operations on registers.
    """
    sig = types.none(src, types.intp, types.intp, dst, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        src_t, _, _, dst_t, _, _, _ = signature.args
        src_v, r0_v, a_v, dst_v, row0_v, b_v, lanes_v = args
        vector = ir.VectorType(_I64, LANES)
        source = context.make_array(src_t)(context, builder, src_v)
        src_cols = cgutils.unpack_tuple(builder, source.shape)[1]
        target = context.make_array(dst_t)(context, builder, dst_v)
        dst_cols = cgutils.unpack_tuple(builder, target.shape)[1]
        rows = []
        for r in range(64):
            offset = builder.add(builder.mul(builder.add(r0_v, _I64(r)), src_cols), a_v)
            rows.append(builder.load(_vector_at(context, builder, src_t, src_v, offset, LANES),
                                     align=8))
        half, mask = 32, 0x00000000FFFFFFFF
        while half:
            shift = ir.Constant(vector, [half] * LANES)
            keep = ir.Constant(vector, [_signed(mask)] * LANES)
            for base in range(0, 64, 2 * half):
                for r in range(base, base + half):
                    top, bottom = rows[r], rows[r + half]
                    swap = builder.and_(builder.xor(builder.lshr(top, shift), bottom), keep)
                    rows[r + half] = builder.xor(bottom, swap)
                    rows[r] = builder.xor(top, builder.shl(swap, shift))
            half //= 2
            mask ^= (mask << half) & 0xFFFFFFFFFFFFFFFF
        for q in range(LANES):
            with builder.if_then(builder.icmp_signed("<", _I64(q), lanes_v), likely=True):
                first = builder.add(row0_v, _I64(64 * q))
                for c in range(64):
                    offset = builder.add(builder.mul(builder.add(first, _I64(c)), dst_cols), b_v)
                    pointer = builder.gep(target.data, [offset], inbounds=True)
                    builder.store(builder.extract_element(rows[c], _I64(q)), pointer, align=8)
        return context.get_dummy_value()

    return sig, codegen


def _ripple(context, builder, state_type, state, base, n_cols, k, carry, first, depth, lanes):
    """Emit: add the bit vector ``carry`` into bit planes ``first``..``depth - 1`` of the
    counter at ``state[base:]`` (plane d at ``base + d * n_cols``), words k..k + lanes: a
    ripple of half adders."""
    slot = cgutils.alloca_once(builder, carry.type)
    builder.store(carry, slot)
    with cgutils.for_range(builder, depth, start=first) as loop:
        offset = builder.add(base, builder.add(builder.mul(loop.index, n_cols), k))
        pointer = _vector_at(context, builder, state_type, state, offset, lanes)
        plane = builder.load(pointer, align=8)
        c = builder.load(slot)
        builder.store(builder.xor(plane, c), pointer, align=8)
        builder.store(builder.and_(plane, c), slot)


def _counter_add(lanes: int):
    """The intrinsic adding 16 rows into a bit-sliced counter, for vectors of ``lanes`` words."""

    @intrinsic
    def add16(typingctx, rows, inputs, g, state, base, k, depth):
        """Add the 16 rows ``rows[inputs[g:g + 16]]`` (words k..k + lanes) to the counter at
        ``state[base:]`` (bit plane d, weight 2**d, at ``base + d * rows.shape[1]``): a
        Harley-Seal carry-save tree into planes 0-3 (ones, twos, fours, eights), its sixteens
        rippled into planes 4..depth-1."""
        sig = types.none(rows, inputs, types.intp, state, types.intp, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            rows_t, inputs_t, _, state_t, _, _, _ = signature.args
            rows_v, inputs_v, g_v, state_v, base_v, k_v, depth_v = args
            source = context.make_array(rows_t)(context, builder, rows_v)
            n_cols = cgutils.unpack_tuple(builder, source.shape)[1]
            index = context.make_array(inputs_t)(context, builder, inputs_v)
            x = []
            for q in range(16):
                at = builder.gep(index.data, [builder.add(g_v, _I64(q))], inbounds=True)
                offset = builder.add(builder.mul(builder.load(at), n_cols), k_v)
                x.append(builder.load(_vector_at(context, builder, rows_t, rows_v, offset,
                                                 lanes), align=8))
            pointers = [_vector_at(context, builder, state_t, state_v,
                                   builder.add(base_v, builder.add(
                                       builder.mul(_I64(d), n_cols), k_v)), lanes)
                        for d in range(4)]
            ones, twos, fours, eights = (builder.load(p, align=8) for p in pointers)

            def csa(a, b, c):
                u = builder.xor(a, b)
                return builder.or_(builder.and_(a, b), builder.and_(u, c)), builder.xor(u, c)

            twos_a, ones = csa(ones, x[0], x[1])
            twos_b, ones = csa(ones, x[2], x[3])
            fours_a, twos = csa(twos, twos_a, twos_b)
            twos_a, ones = csa(ones, x[4], x[5])
            twos_b, ones = csa(ones, x[6], x[7])
            fours_b, twos = csa(twos, twos_a, twos_b)
            eights_a, fours = csa(fours, fours_a, fours_b)
            twos_a, ones = csa(ones, x[8], x[9])
            twos_b, ones = csa(ones, x[10], x[11])
            fours_a, twos = csa(twos, twos_a, twos_b)
            twos_a, ones = csa(ones, x[12], x[13])
            twos_b, ones = csa(ones, x[14], x[15])
            fours_b, twos = csa(twos, twos_a, twos_b)
            eights_b, fours = csa(fours, fours_a, fours_b)
            sixteens, eights = csa(eights, eights_a, eights_b)
            for pointer, value in zip(pointers, (ones, twos, fours, eights), strict=True):
                builder.store(value, pointer, align=8)
            _ripple(context, builder, state_t, state_v, base_v, n_cols, k_v, sixteens, _I64(4),
                    depth_v, lanes)
            return context.get_dummy_value()

        return sig, codegen

    return add16


_add16_8 = _counter_add(8)
_add16_4 = _counter_add(4)
_add16_2 = _counter_add(2)
_add16_1 = _counter_add(1)


CHUNK_BYTES = 1 << 19
"""Bytes of transposed planes per variant chunk of :func:`missing_counts_kernel` (512 KiB: the
chunk stays in a 1 MiB L2 while every missing-call row adds its rows from it)."""


@njit(nogil=True, cache=True)
def padded_blocks(rows):
    """Words per transposed variant for ``rows`` rows: ceil(rows / 64) rounded up to a whole
    vector (1, 2, 4 or a multiple of :data:`LANES`), so the counter's loads need no tail."""
    blocks = (rows + 63) // 64
    if blocks > 4:
        return ((blocks + LANES - 1) // LANES) * LANES
    if blocks > 2:
        return 4
    return max(1, blocks)


@njit(nogil=True, cache=True)
def _transpose_words(x, w0, w1, out, row0, tile):
    """``out[row0 + 64 (w - w0) + c, b]`` bit r = ``x[64 b + r, w]`` bit c for w in w0:w1 and
    every column b of ``out`` (0 past x's rows); ``tile`` is a (64, LANES) scratch buffer
    for the blocks at the edges of x.

    Each 64 x 64 block is transposed by Hacker's Delight's ``transpose64``
    (:func:`_transpose_block`), :data:`LANES` adjacent words' blocks together. A 64-row block
    of x is read along its rows, the words of one chunk at a time.
    """
    prefer_wide_vectors()
    rows, words = x.shape
    blocks = out.shape[1]
    for b in range(blocks):
        r0 = 64 * b
        nr = max(0, min(64, rows - r0))
        for a in range(w0, w1, LANES):
            nl = min(LANES, w1 - a)
            if nr == 64 and a + LANES <= words:
                _transpose_block(x, r0, a, out, row0 + 64 * (a - w0), b, nl)
                continue
            tile[:] = 0
            for r in range(nr):
                for q in range(min(LANES, words - a)):
                    tile[r, q] = x[r0 + r, a + q]
            _transpose_block(tile, 0, 0, out, row0 + 64 * (a - w0), b, nl)


@njit(nogil=True, cache=True)
def transpose_plane_kernel(x, out):
    """``out[64 w + c, b]`` bit r = ``x[64 b + r, w]`` bit c: a bit plane, variant-major.

    Parameters
    ----------
    x : ndarray of uint64, shape (rows, words)
        Sample-major plane (64 variants per word).
    out : ndarray of uint64, shape (64 * words, blocks)
        ``blocks >= ceil(rows / 64)``; bits of rows from ``rows`` on are 0.
    """
    _transpose_words(x, 0, x.shape[1], out, 0, np.empty((64, LANES), dtype=np.uint64))


@njit(nogil=True, cache=True)
def _depth(n):
    """Bit planes a counter of n inputs needs: bit_length(n), at least the 4 of the tree."""
    depth = 4
    while (n >> depth) > 0:
        depth += 1
    return depth


@njit(nogil=True, cache=True)
def missing_counts_kernel(x, n_x, p, m, side, chunk, x_major, out):
    """``out[j, i] = Σ_t Σ_{v < m, p[j] bit v = 0} x[t][i] bit v`` for i < n_x (or
    ``out[i, j]``).

    Parameters
    ----------
    x : tuple of ndarray of uint64, shape (rows_x, words)
        C-contiguous x planes (the terms are added into one count), ``rows_x >= n_x``.
    n_x : int
        x rows to count.
    p : ndarray of uint64, shape (rows_p, words)
        Called-genotype plane of the missing-call rows (bit 0 = missing).
    m : int
        Variants; bits from m on are not missing calls.
    side : int
        :data:`ALL_ROWS`, :data:`X_NOT_AFTER` or :data:`X_NOT_BEFORE`: the x rows counted for
        each row j, by vectors of 64-row words; entries of the words not counted are left as
        they are.
    chunk : int
        Words (x 64 variants) transposed at a time (see :data:`CHUNK_BYTES`).
    x_major : bool
        Write ``out[i, j]`` (shape (n_x, rows_p)) instead of ``out[j, i]``.
    out : ndarray of int64, shape (rows_p, n_x), or (n_x, rows_p) with ``x_major``
        Written.

    Notes
    -----
    Chunk by chunk of variants, the x planes are transposed into a cache-sized buffer
    (:func:`_transpose_words`, one row of ``blocks`` words per variant and term); then for each
    row j the variants missing in j within the chunk are listed (``tzcnt`` over ``~p[j]``) and
    their transposed rows added into j's bit-sliced counter 16 at a time (the list padded with
    a zero row; :func:`_counter_add`). The counters (``bit_length(terms x missing calls)`` bit
    planes of ``blocks`` words per row j) persist across chunks and are summed into counts at
    the end.
    """
    prefer_wide_vectors()
    terms = len(x)
    rows_x, words = x[0].shape
    n_p = p.shape[0]
    blocks = padded_blocks(rows_x)
    lanes = min(LANES, blocks)
    x_blocks = min(blocks, (n_x + 63) // 64)
    n_words = min(words, (m + 63) // 64)
    last = np.uint64(0xFFFFFFFFFFFFFFFF)
    if m % 64:
        last = (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
    one = np.uint64(1)
    chunk = max(1, min(chunk, n_words))
    zero_row = terms * 64 * chunk
    buf = np.empty((zero_row + 1, blocks), dtype=np.uint64)
    buf[zero_row] = 0
    tile = np.empty((64, LANES), dtype=np.uint64)
    n_chunks = (n_words + chunk - 1) // chunk
    # per row j: the 64-row words counted, the counter's planes and their place in the state;
    # per chunk and row: the number of variants missing
    k_lo = np.zeros(n_p, dtype=np.int64)
    k_hi = np.zeros(n_p, dtype=np.int64)
    depth = np.zeros(n_p, dtype=np.int64)
    base = np.zeros(n_p + 1, dtype=np.int64)
    count = np.zeros((n_chunks, n_p), dtype=np.int64)
    for j in range(n_p):
        k0, k1 = 0, x_blocks
        if side == X_NOT_AFTER:
            k1 = min(k1, j // 64 + 1)
        elif side == X_NOT_BEFORE:
            k0 = min(k1, j // 64)
        if k0 < k1:
            k0 -= k0 % lanes
            k1 = min(blocks, k1 + (-k1) % lanes)
        k_lo[j], k_hi[j] = k0, max(k0, k1)
        missing = 0
        for c in range(n_chunks):
            n_chunk = 0
            for w in range(c * chunk, min(n_words, (c + 1) * chunk)):
                word = ~p[j, w]
                if w == n_words - 1:
                    word &= last
                n_chunk += np.int64(popcount64(word))
            count[c, j] = n_chunk
            missing += n_chunk
        depth[j] = _depth(terms * missing)
        base[j + 1] = base[j] + depth[j] * blocks
    state = np.zeros(base[n_p], dtype=np.uint64)
    inputs = np.empty(zero_row + 64, dtype=np.int64)
    for c in range(n_chunks):
        c0, c1 = c * chunk, min(n_words, (c + 1) * chunk)
        for t in range(terms):
            _transpose_words(x[t], c0, c1, buf, t * 64 * chunk, tile)
        for j in range(n_p):
            k0, k1 = k_lo[j], k_hi[j]
            if k0 >= k1:
                continue
            n_v = 0  # the variants missing in j, 4 written unconditionally per word
            for w in range(c0, c1):
                word = ~p[j, w]
                if w == n_words - 1:
                    word &= last
                n_word = np.int64(popcount64(word))
                v0 = 64 * (w - c0)
                for q in range(4):  # most words hold at most 4: no unpredictable branch
                    inputs[n_v + q] = v0 + np.int64(trailing_zeros64(word))
                    word &= word - one
                for q in range(4, n_word):
                    inputs[n_v + q] = v0 + np.int64(trailing_zeros64(word))
                    word &= word - one
                n_v += n_word
            for t in range(1, terms):  # the rows of the other terms of the same variants
                for q in range(n_v):
                    inputs[t * n_v + q] = inputs[q] + t * 64 * chunk
            n_in = terms * n_v
            n_pad = (-n_in) % 16
            for q in range(16):
                inputs[n_in + q] = zero_row
            n_in += n_pad
            b, d = base[j], depth[j]
            for g in range(0, n_in, 16):
                for k in range(k0, k1, lanes):
                    if lanes == 8:
                        _add16_8(buf, inputs, g, state, b, k, d)
                    elif lanes == 4:
                        _add16_4(buf, inputs, g, state, b, k, d)
                    elif lanes == 2:
                        _add16_2(buf, inputs, g, state, b, k, d)
                    else:
                        _add16_1(buf, inputs, g, state, b, k, d)
    acc = np.empty(64, dtype=np.int64)
    for j in range(n_p):
        for k in range(k_lo[j], min(k_hi[j], x_blocks)):  # bit plane d has weight 2**d
            acc[:] = 0
            for d in range(depth[j]):
                word = state[base[j] + d * blocks + k]
                for s in range(64):
                    acc[s] += np.int64((word >> np.uint64(s)) & one) << d
            at = 64 * k
            if x_major:
                for s in range(min(64, n_x - at)):
                    out[at + s, j] = acc[s]
            else:
                for s in range(min(64, n_x - at)):
                    out[j, at + s] = acc[s]


def _read_only(plane: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only uint64 view, so every call shares one compiled array type."""
    view = np.ascontiguousarray(plane, dtype=np.uint64).view()
    view.flags.writeable = False
    return view


def transpose_plane(x: np.ndarray) -> np.ndarray:
    """The ``(64 * W, padded_blocks(rows))`` variant-major transposition of a ``(rows, W)``
    plane: bit r of word b of row ``64 w + c`` is bit c of ``x[64 b + r, w]``."""
    x = _read_only(x)
    out = np.empty((64 * x.shape[1], padded_blocks(x.shape[0])), dtype=np.uint64)
    transpose_plane_kernel(x, out)
    return out


def missing_plane(p: np.ndarray, m: int) -> np.ndarray:
    """The missing calls ``~p`` of a called-genotype plane over the m variants (padding 0)."""
    out = ~np.asarray(p, dtype=np.uint64)
    if m % 64:
        out[:, -1] &= (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
    return out


def chunk_words(terms: int, rows: int) -> int:
    """Variant words per chunk of :func:`missing_counts_kernel`: :data:`CHUNK_BYTES` of
    transposed planes, a whole number of :data:`LANES`."""
    per_word = terms * 64 * padded_blocks(rows) * 8
    return max(LANES, CHUNK_BYTES // per_word // LANES * LANES)


def missing_counts(x: np.ndarray | Sequence[np.ndarray], n_x: int, p: np.ndarray, m: int,
                   side: int = ALL_ROWS, chunk: int | None = None,
                   x_major: bool = False) -> np.ndarray:
    """``out[j, i] = Σ_t Σ_{v < m, p_j[v] = 0} x_t[i, v]`` as an int64 ``(rows_p, n_x)`` matrix
    (``out[i, j]``, ``(n_x, rows_p)``, with ``x_major``).

    Parameters
    ----------
    x : ndarray of uint64, shape (rows_x, W), or a sequence of them
        The x plane (or planes, whose counts are added) of at least ``n_x`` rows.
    n_x : int
        The first x rows to count.
    p : ndarray of uint64, shape (rows_p, W)
        Called-genotype plane of the rows whose missing calls are summed over.
    m : int
        Variants (bits from m on are padding, not missing calls).
    side : int
        :data:`ALL_ROWS`, or on a diagonal tile :data:`X_NOT_AFTER` / :data:`X_NOT_BEFORE`:
        only the vectors of 64-row words of x holding rows i <= j / i >= j are counted, the
        other entries are 0.
    chunk : int, optional
        Words per variant chunk; :func:`chunk_words` by default.
    x_major : bool
        Index the result by x row first.
    """
    planes = tuple(_read_only(a) for a in ([x] if isinstance(x, np.ndarray) else x))
    if chunk is None:
        chunk = chunk_words(len(planes), planes[0].shape[0])
    out = np.zeros((n_x, p.shape[0]) if x_major else (p.shape[0], n_x), dtype=np.int64)
    missing_counts_kernel(planes, n_x, _read_only(p), m, side, chunk, x_major, out)
    return out


def missing_overlap_counts(x_left: np.ndarray | Sequence[np.ndarray], p_right: np.ndarray, m: int,
                           upper: bool = False) -> np.ndarray:
    """``C[i, j] = Σ_t Σ_{v < m} x_t[i, v] & ~p_right[j, v]``, an int64 (rows_left, rows_right).

    Parameters
    ----------
    x_left : ndarray of uint64, shape (rows_left, W), or a sequence of them
        The left rows' plane (or planes, whose counts are added).
    p_right : ndarray of uint64, shape (rows_right, W)
        The right rows' called-genotype plane.
    m : int
        Variants.
    upper : bool
        A tile on the diagonal (the left rows are the first right rows): only the pairs
        j >= i are needed, and only vectors of 64-row words of i holding such pairs are
        counted (0 elsewhere).

    Examples
    --------
    >>> x = np.array([[0b1011]], dtype=np.uint64)
    >>> p = np.array([[0b0110], [0b1111]], dtype=np.uint64)
    >>> missing_overlap_counts(x, p, 4).tolist()
    [[2, 0]]
    """
    n_left = (x_left if isinstance(x_left, np.ndarray) else x_left[0]).shape[0]
    side = X_NOT_AFTER if upper else ALL_ROWS
    return missing_counts(x_left, n_left, p_right, m, side, x_major=True)
