"""Sparse missing-call corrections: ``C[i, j] = Σ_{v < m, v missing in j} x_i[v]``.

With missing calls a KING or PLINK-distance count runs over the variants called in both samples,
for example KING's ``N_het_i = Σ_v e_i[v] p_j[v]`` (e = het, p = called). Missing calls are rare
(1-5 %), so instead of a dense popcount pass over every word pair such a count is the per-sample
total minus a *correction* over the few variants missing in j::

    Σ_v e_i[v] p_j[v] = Σ_v e_i[v] - Σ_{v missing in j} e_i[v]

The correction is a sparse pass. The left rows' x planes are transposed to variant-major bits
(:func:`transpose_plane`: for variant v, ``ceil(rows / 64)`` words over the rows, by 64 x 64 bit
block transposes), then for each right row j the transposed rows ``x_T[v]`` of the variants
missing in j are added into a bit-sliced vertical counter of the left rows (a Harley-Seal
carry-save tree over 16 inputs at a time, then a ripple into the higher bit planes), whose bit
planes are finally turned into counts (:func:`missing_counts`). Its cost is proportional to the
missing calls times the left rows / 64, a fraction of one dense pass at these missing rates.

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

from osler.kernels.bits import prefer_wide_vectors, trailing_zeros64

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
def _transpose_tile(typingctx, tile):
    """Transpose in place the :data:`LANES` 64 x 64 bit blocks of ``tile`` (64 * LANES,):
    word ``LANES * r + q`` is row r of block q (bit c = column c).

    Hacker's Delight's ``transpose64``, six rounds of masked swaps of the off-diagonal
    quarter-blocks, unrolled, with the 64 rows as vectors of the blocks' words: each swap is
    a few 512-bit operations on registers.
    """
    sig = types.none(tile)

    def codegen(context, builder, signature, args):
        vector = ir.VectorType(_I64, LANES)
        pointers = [_vector_at(context, builder, signature.args[0], args[0],
                               _I64(LANES * r), LANES) for r in range(64)]
        rows = [builder.load(p, align=8) for p in pointers]
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
        for pointer, row in zip(pointers, rows, strict=True):
            builder.store(row, pointer, align=8)
        return context.get_dummy_value()

    return sig, codegen


def _ripple(context, builder, planes_type, planes, n_cols, k, carry, first, depth, lanes):
    """Emit: add the bit vector ``carry`` into bit planes ``first``..``depth - 1`` of the
    counter at words k..k + lanes (a ripple of half adders)."""
    slot = cgutils.alloca_once(builder, carry.type)
    builder.store(carry, slot)
    with cgutils.for_range(builder, depth, start=first) as loop:
        offset = builder.add(builder.mul(loop.index, n_cols), k)
        pointer = _vector_at(context, builder, planes_type, planes, offset, lanes)
        plane = builder.load(pointer, align=8)
        c = builder.load(slot)
        builder.store(builder.xor(plane, c), pointer, align=8)
        builder.store(builder.and_(plane, c), slot)


def _counter_adds(lanes: int):
    """The two counter intrinsics for vectors of ``lanes`` words: (add16, add1)."""

    @intrinsic
    def add16(typingctx, flat, inputs, g, planes, k, depth):
        """Add the 16 rows ``flat[inputs[g:g + 16]]`` (words k..k + lanes) to the counter
        ``planes`` (bit plane d, words k.., weight 2**d): a Harley-Seal carry-save tree into
        planes 0-3 (ones, twos, fours, eights), its sixteens rippled into planes 4..depth-1."""
        sig = types.none(flat, inputs, types.intp, planes, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            flat_t, inputs_t, _, planes_t, _, _ = signature.args
            flat_v, inputs_v, g_v, planes_v, k_v, depth_v = args
            source = context.make_array(flat_t)(context, builder, flat_v)
            width = cgutils.unpack_tuple(builder, source.shape)[1]
            index = context.make_array(inputs_t)(context, builder, inputs_v)
            counter = context.make_array(planes_t)(context, builder, planes_v)
            n_cols = cgutils.unpack_tuple(builder, counter.shape)[1]
            x = []
            for q in range(16):
                at = builder.gep(index.data, [builder.add(g_v, _I64(q))], inbounds=True)
                offset = builder.add(builder.mul(builder.load(at), width), k_v)
                x.append(builder.load(_vector_at(context, builder, flat_t, flat_v, offset,
                                                 lanes), align=8))
            pointers = [_vector_at(context, builder, planes_t, planes_v,
                                   builder.add(builder.mul(_I64(d), n_cols), k_v), lanes)
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
            _ripple(context, builder, planes_t, planes_v, n_cols, k_v, sixteens, _I64(4),
                    depth_v, lanes)
            return context.get_dummy_value()

        return sig, codegen

    @intrinsic
    def add1(typingctx, flat, row, planes, k, depth):
        """Add the row ``flat[row]`` (words k..k + lanes) to the counter: a ripple through
        planes 0..depth-1."""
        sig = types.none(flat, types.intp, planes, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            flat_t, _, planes_t, _, _ = signature.args
            flat_v, row_v, planes_v, k_v, depth_v = args
            source = context.make_array(flat_t)(context, builder, flat_v)
            width = cgutils.unpack_tuple(builder, source.shape)[1]
            counter = context.make_array(planes_t)(context, builder, planes_v)
            n_cols = cgutils.unpack_tuple(builder, counter.shape)[1]
            offset = builder.add(builder.mul(row_v, width), k_v)
            value = builder.load(_vector_at(context, builder, flat_t, flat_v, offset, lanes),
                                 align=8)
            _ripple(context, builder, planes_t, planes_v, n_cols, k_v, value, _I64(0), depth_v,
                    lanes)
            return context.get_dummy_value()

        return sig, codegen

    return add16, add1


_add16_8, _add1_8 = _counter_adds(8)
_add16_4, _add1_4 = _counter_adds(4)
_add16_2, _add1_2 = _counter_adds(2)
_add16_1, _add1_1 = _counter_adds(1)


@intrinsic
def _prefetch_group(typingctx, flat, inputs, g):
    """Prefetch (into L1) every cache line of the 16 rows ``flat[inputs[g:g + 16]]``: the
    missing variants of a row are scattered over the transposed plane, beyond the reach of the
    hardware prefetchers."""
    sig = types.none(flat, inputs, types.intp)

    def codegen(context, builder, signature, args):
        flat_t, inputs_t, _ = signature.args
        source = context.make_array(flat_t)(context, builder, args[0])
        width = cgutils.unpack_tuple(builder, source.shape)[1]
        index = context.make_array(inputs_t)(context, builder, args[1])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        prefetch = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        lines = builder.udiv(builder.add(width, _I64(7)), _I64(8))
        for q in range(16):
            at = builder.gep(index.data, [builder.add(args[2], _I64(q))], inbounds=True)
            start = builder.mul(builder.load(at), width)
            with cgutils.for_range(builder, lines) as loop:
                offset = builder.add(start, builder.mul(loop.index, _I64(8)))
                pointer = builder.gep(source.data, [offset], inbounds=True)
                builder.call(prefetch, [builder.bitcast(pointer, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


PREFETCH_GROUPS = 2
"""Groups of 16 rows ahead whose lines :func:`missing_counts_kernel` prefetches."""


def padded_blocks(rows: int) -> int:
    """Words per transposed variant for ``rows`` rows: ceil(rows / 64) rounded up to a whole
    vector (1, 2, 4 or a multiple of :data:`LANES`), so the counter's loads need no tail."""
    blocks = (rows + 63) // 64
    if blocks <= 4:
        return max(1, 1 << (blocks - 1).bit_length())
    return -(-blocks // LANES) * LANES


@njit(nogil=True, cache=True)
def transpose_plane_kernel(x, out):
    """``out[64 w + c, b]`` bit r = ``x[64 b + r, w]`` bit c: a bit plane, variant-major.

    Parameters
    ----------
    x : ndarray of uint64, shape (rows, words)
        Sample-major plane (64 variants per word).
    out : ndarray of uint64, shape (64 * words, blocks), C-contiguous
        ``blocks >= ceil(rows / 64)``; bits of rows from ``rows`` on are 0.

    Notes
    -----
    Each 64 x 64 block is transposed by Hacker's Delight's ``transpose64``
    (:func:`_transpose_tile`), :data:`LANES` adjacent words' blocks together. The words of
    :data:`LANES` variant words are finished before the next ones, so the output rows being
    written stay in cache.
    """
    rows, words = x.shape
    blocks = out.shape[1]
    tile = np.empty(64 * LANES, dtype=np.uint64)
    for w0 in range(0, words, LANES):
        nl = min(LANES, words - w0)
        for b in range(blocks):
            r0 = 64 * b
            nr = max(0, min(64, rows - r0))
            if nr == 0:
                for q in range(nl):
                    for c in range(64):
                        out[64 * (w0 + q) + c, b] = 0
                continue
            if nr < 64 or nl < LANES:
                tile[:] = 0
            for r in range(nr):
                row = x[r0 + r]
                for q in range(nl):
                    tile[LANES * r + q] = row[w0 + q]
            _transpose_tile(tile)
            for q in range(nl):
                for c in range(64):
                    out[64 * (w0 + q) + c, b] = tile[LANES * c + q]


@njit(nogil=True, cache=True)
def missing_counts_kernel(xt, n_x, p, m, side, out):
    """``out[j, i] = Σ_t Σ_{v < m, p[j] bit v = 0} xt[t, v] bit i`` for i < n_x.

    Parameters
    ----------
    xt : ndarray of uint64, shape (terms, 64 * words, blocks)
        Transposed x planes (:func:`transpose_plane_kernel`), C-contiguous, ``blocks`` a
        :func:`padded_blocks` count; the terms are added into one count.
    n_x : int
        x rows to count (at most ``64 * blocks``).
    p : ndarray of uint64, shape (rows_p, words)
        Called-genotype plane of the missing-call rows (bit 0 = missing).
    m : int
        Variants; bits from m on are not missing calls.
    side : int
        :data:`ALL_ROWS`, :data:`X_NOT_AFTER` or :data:`X_NOT_BEFORE`: the x rows counted for
        each row j, by vectors of 64-row words; entries of the words not counted are left as
        they are.
    out : ndarray of int64, shape (rows_p, n_x)
        Written.

    Notes
    -----
    Per row j the variants missing in j are listed (``tzcnt`` over ``~p[j]``), then their
    transposed rows are added into a bit-sliced counter, 16 at a time (:func:`_counter_adds`),
    whose ``depth = bit_length(inputs)`` bit planes are then summed into counts.
    """
    terms, n_bits, blocks = xt.shape
    flat = xt.reshape(terms * n_bits, blocks)
    n_p, words = p.shape
    lanes = min(LANES, blocks)
    x_blocks = min(blocks, (n_x + 63) // 64)
    last = np.uint64(0xFFFFFFFFFFFFFFFF)
    if m % 64:
        last = (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
    one = np.uint64(1)
    n_words = min(words, (m + 63) // 64)
    inputs = np.empty(max(1, terms * 64 * n_words), dtype=np.int64)
    planes = np.zeros((64, blocks), dtype=np.uint64)
    acc = np.empty(64, dtype=np.int64)
    for j in range(n_p):
        k0, k1 = 0, x_blocks
        if side == X_NOT_AFTER:
            k1 = min(k1, j // 64 + 1)
        elif side == X_NOT_BEFORE:
            k0 = min(k1, j // 64)
        if k0 >= k1:
            continue
        k0 -= k0 % lanes
        k1 = min(blocks, k1 + (-k1) % lanes)
        n_in = 0
        for w in range(n_words):
            word = ~p[j, w]
            if w == n_words - 1:
                word &= last
            while word:
                v = 64 * w + np.int64(trailing_zeros64(word))
                word &= word - one
                for t in range(terms):
                    inputs[n_in] = t * n_bits + v
                    n_in += 1
        depth = 4  # planes 0-3 are the carry-save tree's ones, twos, fours, eights
        while (n_in >> depth) > 0:
            depth += 1
        for d in range(depth):
            planes[d, k0:k1] = 0
        n_full = n_in - n_in % 16
        for g in range(0, n_full, 16):
            if g + 16 * PREFETCH_GROUPS < n_full:
                _prefetch_group(flat, inputs, g + 16 * PREFETCH_GROUPS)
            for k in range(k0, k1, lanes):
                if lanes == 8:
                    _add16_8(flat, inputs, g, planes, k, depth)
                elif lanes == 4:
                    _add16_4(flat, inputs, g, planes, k, depth)
                elif lanes == 2:
                    _add16_2(flat, inputs, g, planes, k, depth)
                else:
                    _add16_1(flat, inputs, g, planes, k, depth)
        for q in range(n_full, n_in):
            for k in range(k0, k1, lanes):
                if lanes == 8:
                    _add1_8(flat, inputs[q], planes, k, depth)
                elif lanes == 4:
                    _add1_4(flat, inputs[q], planes, k, depth)
                elif lanes == 2:
                    _add1_2(flat, inputs[q], planes, k, depth)
                else:
                    _add1_1(flat, inputs[q], planes, k, depth)
        for k in range(k0, min(k1, x_blocks)):  # bit plane d has weight 2**d
            acc[:] = 0
            for d in range(depth):
                word = planes[d, k]
                for s in range(64):
                    acc[s] += np.int64((word >> np.uint64(s)) & one) << d
            base = 64 * k
            for s in range(min(64, n_x - base)):
                out[j, base + s] = acc[s]


def transpose_plane(x: np.ndarray) -> np.ndarray:
    """The ``(64 * W, ceil(rows / 64))`` variant-major transposition of a ``(rows, W)`` plane."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    out = np.empty((64 * x.shape[1], padded_blocks(x.shape[0])), dtype=np.uint64)
    transpose_plane_kernel(x, out)
    return out


def transpose_planes(planes: Sequence[np.ndarray]) -> np.ndarray:
    """``(terms, 64 * W, ceil(rows / 64))``: :func:`transpose_plane` of each plane, whose counts
    :func:`missing_counts` adds together."""
    rows, words = planes[0].shape
    out = np.empty((len(planes), 64 * words, padded_blocks(rows)), dtype=np.uint64)
    for t, x in enumerate(planes):
        transpose_plane_kernel(np.ascontiguousarray(x, dtype=np.uint64), out[t])
    return out


def missing_counts(xt: np.ndarray, n_x: int, p: np.ndarray, m: int,
                   side: int = ALL_ROWS) -> np.ndarray:
    """``out[j, i] = Σ_t Σ_{v < m, p_j[v] = 0} x_t[i, v]`` as an int64 ``(rows_p, n_x)`` matrix.

    Parameters
    ----------
    xt : ndarray of uint64, shape (terms, 64 * W, blocks)
        Transposed x planes (:func:`transpose_planes`) of at least ``n_x`` rows.
    n_x : int
        The first x rows to count.
    p : ndarray of uint64, shape (rows_p, W)
        Called-genotype plane of the rows whose missing calls are summed over.
    m : int
        Variants (bits from m on are padding, not missing calls).
    side : int
        :data:`ALL_ROWS`, or on a diagonal tile :data:`X_NOT_AFTER` / :data:`X_NOT_BEFORE`:
        only the 64-row words of x holding rows i <= j / i >= j are counted, the others are 0.
    """
    out = np.zeros((p.shape[0], n_x), dtype=np.int64)
    missing_counts_kernel(np.ascontiguousarray(xt), n_x, np.ascontiguousarray(p), m, side, out)
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
        j >= i are needed, and only 64-row words of i holding such pairs are counted (0
        elsewhere).

    Examples
    --------
    >>> x = np.array([[0b1011]], dtype=np.uint64)
    >>> p = np.array([[0b0110], [0b1111]], dtype=np.uint64)
    >>> missing_overlap_counts(x, p, 4).tolist()
    [[2, 0]]
    """
    planes = [x_left] if isinstance(x_left, np.ndarray) else list(x_left)
    xt = transpose_planes(planes)
    side = X_NOT_AFTER if upper else ALL_ROWS
    return missing_counts(xt, planes[0].shape[0], p_right, m, side).T
