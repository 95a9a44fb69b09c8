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
rows at a time, 32 for two planes summed, then a ripple into the higher bit planes), which
persists across the chunks and whose bit planes are finally transposed back into counts. Its
cost is proportional to the missing calls times the left rows / 64, plus one transposition of
the x planes: a fraction of one dense pass at these missing rates. Byte counters in place of
the bit-sliced one were slower (``bench/popcount_gram.py``).

Several corrections over the missing calls of the same rows share the transposition and the
scan of the missing calls (:func:`missing_corrections`): on a tile that starts on the diagonal,
whose left rows are the first right rows, KING's two corrections, or the PLINK distances'
three, are one pass over the right rows. :func:`missing_counts` and
:func:`missing_overlap_counts` are the single correction.

Planes are ``(rows, W)`` uint64, 64 variants per word, as in :mod:`osler.kernels.genome.metrics`;
``bench/popcount_gram.py`` measures the corrections against the dense passes they replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
the counter adds up to 8 words of 64 rows per vector operation."""

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


def _masked(builder, name):
    """The declaration of ``llvm.masked.load`` / ``llvm.masked.store`` on <LANES x i64>."""
    vector = ir.VectorType(_I64, LANES)
    mask = ir.VectorType(ir.IntType(1), LANES)
    i32 = ir.IntType(32)
    if name == "load":
        fnty = ir.FunctionType(vector, [vector.as_pointer(), i32, mask, vector])
    else:
        fnty = ir.FunctionType(ir.VoidType(), [vector, vector.as_pointer(), i32, mask])
    return cgutils.get_or_insert_function(builder.module, fnty, f"llvm.masked.{name}.v8i64.p0")


def _ripple(builder, load, store, plane_pointer, carry, first, depth):
    """Emit: add the bit vector ``carry`` into bit planes ``first``..``depth - 1`` (pointers
    from ``plane_pointer(d)``), a ripple of half adders."""
    slot = cgutils.alloca_once(builder, carry.type)
    builder.store(carry, slot)
    with cgutils.for_range(builder, depth, start=first) as loop:
        pointer = plane_pointer(loop.index)
        plane = load(pointer)
        c = builder.load(slot)
        store(builder.xor(plane, c), pointer)
        builder.store(builder.and_(plane, c), slot)


def _tree16(builder, state, x):
    """Emit the Harley-Seal carry-save tree adding the 16 bit vectors ``x`` to the counter's
    planes ``state`` = [ones, twos, fours, eights]: returns the new planes and the sixteens."""

    def csa(a, b, c):
        u = builder.xor(a, b)
        return builder.or_(builder.and_(a, b), builder.and_(u, c)), builder.xor(u, c)

    ones, twos, fours, eights = state
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
    return [ones, twos, fours, eights], sixteens, csa


def _counter_add(n_terms: int):
    """The intrinsic adding the rows of ``n_terms`` (1 or 2) terms of 16 variants into a
    bit-sliced counter."""

    @intrinsic
    def add(typingctx, rows, inputs, g, shifts, state, base, k0, k1, depth):
        """Add the rows ``rows[shift + inputs[g:g + 16]]`` of each ``shift`` in ``shifts``
        (words k0..k1) to the counter at ``state[base:]`` (bit plane d, weight 2**d, at
        ``base + d * rows.shape[1]``): Harley-Seal carry-save trees into planes 0-3 (ones,
        twos, fours, eights) and, for two terms, 4 (sixteens); the carry out of the top of the
        tree is rippled through the planes above it, up to depth - 1. The words go
        :data:`LANES` at a time, the last vector masked."""
        sig = types.none(rows, inputs, types.intp, shifts, state, types.intp, types.intp,
                         types.intp, types.intp)

        def codegen(context, builder, signature, args):
            rows_t, inputs_t, _, _, state_t, _, _, _, _ = signature.args
            rows_v, inputs_v, g_v, shifts_v, state_v, base_v, k0_v, k1_v, depth_v = args
            vector = ir.VectorType(_I64, LANES)
            i32 = ir.IntType(32)
            masked_load, masked_store = _masked(builder, "load"), _masked(builder, "store")
            source = context.make_array(rows_t)(context, builder, rows_v)
            n_cols = cgutils.unpack_tuple(builder, source.shape)[1]
            index = context.make_array(inputs_t)(context, builder, inputs_v)
            shift = cgutils.unpack_tuple(builder, shifts_v, n_terms)
            starts = []  # each input row's first word
            for t in range(n_terms):
                for q in range(16):
                    at = builder.gep(index.data, [builder.add(g_v, _I64(q))], inbounds=True)
                    starts.append(builder.mul(builder.add(shift[t], builder.load(at)), n_cols))
            top = 4 if n_terms == 1 else 5
            steps = builder.sdiv(builder.add(builder.sub(k1_v, k0_v), _I64(LANES - 1)),
                                 _I64(LANES))
            with cgutils.for_range(builder, steps) as loop:
                k = builder.add(k0_v, builder.mul(loop.index, _I64(LANES)))
                left = builder.insert_element(ir.Constant(vector, None), builder.sub(k1_v, k),
                                              _I64(0))
                left = builder.shuffle_vector(left, ir.Constant(vector, None),
                                              ir.Constant(ir.VectorType(i32, LANES),
                                                          [0] * LANES))
                mask = builder.icmp_signed("<", ir.Constant(vector, list(range(LANES))), left)
                zero = ir.Constant(vector, [0] * LANES)

                def load(pointer, mask=mask, zero=zero):
                    return builder.call(masked_load, [pointer, i32(8), mask, zero])

                def store(value, pointer, mask=mask):
                    builder.call(masked_store, [value, pointer, i32(8), mask])

                def plane_pointer(d, k=k):
                    offset = builder.add(base_v, builder.add(builder.mul(d, n_cols), k))
                    return _vector_at(context, builder, state_t, state_v, offset, LANES)

                x = [load(_vector_at(context, builder, rows_t, rows_v, builder.add(start, k),
                                     LANES)) for start in starts]
                pointers = [plane_pointer(_I64(d)) for d in range(top)]
                planes = [load(p) for p in pointers]
                low, carry, csa = _tree16(builder, planes[:4], x[:16])
                if n_terms == 2:
                    low, carry_b, _ = _tree16(builder, low, x[16:])
                    carry, sixteens = csa(planes[4], carry, carry_b)
                    low.append(sixteens)
                for pointer, value in zip(pointers, low, strict=True):
                    store(value, pointer)
                _ripple(builder, load, store, plane_pointer, carry, _I64(top), depth_v)
            return context.get_dummy_value()

        return sig, codegen

    return add


_add16, _add32 = _counter_add(1), _counter_add(2)


CHUNK_BYTES = 1 << 23
"""Bytes of transposed planes per variant chunk of :func:`missing_counts_kernel` (8 MiB, a
quarter of a 32 MiB L3). Every missing-call row's counters are read and written once per
chunk, so wide tiles (a band: 3 planes of 2000 rows) need big chunks; on 1000 x 1000 tiles 1 to
8 MiB measured the same, on a 586 x 2000 band 8 MiB was the fastest of 1 to 32 MiB."""


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
    """Bit planes a counter of n inputs needs: bit_length(n), at least the 5 of the trees."""
    depth = 5
    while (n >> depth) > 0:
        depth += 1
    return depth


@njit(nogil=True, cache=True)
def missing_counts_kernel(x, p, m, chunk, pair_term, pair_counter, side, n_x, n_p, x_major,
                          outs):
    """Counts over the missing calls of the rows of ``p``: for each counter c,
    ``outs[c][j, i] = Σ_{terms t of c} Σ_{v < m, p[j] bit v = 0} x[t][i] bit v`` for
    j < n_p[c] and i < n_x[c] (or ``outs[c][i, j]``).

    Parameters
    ----------
    x : tuple of ndarray of uint64, shape (rows_x, words)
        C-contiguous x planes, the *terms*.
    p : ndarray of uint64, shape (rows_p, words)
        Called-genotype plane of the missing-call rows (bit 0 = missing).
    m : int
        Variants; bits from m on are not missing calls.
    chunk : int
        Words (x 64 variants) transposed at a time (see :data:`CHUNK_BYTES`).
    pair_term, pair_counter : ndarray of int64, shape (pairs,)
        Term ``pair_term[k]`` is added into counter ``pair_counter[k]`` (the counts of a
        counter's terms are summed; a term may feed several counters).
    side : ndarray of int64, shape (counters,)
        :data:`ALL_ROWS`, :data:`X_NOT_AFTER` or :data:`X_NOT_BEFORE`: the x rows counter c
        counts for each row j, by 64-row words; entries of the words not counted are left as
        they are.
    n_x, n_p : ndarray of int64, shape (counters,)
        x rows (at most rows_x) and first rows of p (at most rows_p) of each counter.
    x_major : ndarray of bool, shape (counters,)
        Counter c writes ``outs[c][i, j]`` (shape (n_x, n_p)) instead of ``outs[c][j, i]``.
    outs : tuple of ndarray of int64
        Written.

    Notes
    -----
    Chunk by chunk of variants, the x planes are transposed into a cache-sized buffer
    (:func:`_transpose_words`, one row of ``blocks`` words per variant and term); then for each
    row j the variants missing in j within the chunk are listed (``tzcnt`` over ``~p[j]``) and
    the transposed rows of each counter's terms added into its bit-sliced counter of row j 16
    variants at a time, two terms together (the list padded with a zero row;
    :func:`_counter_add`, on 512-bit vectors, the last one of the words counted masked). The
    counters (``bit_length(terms x missing calls)`` bit planes of ``blocks`` words per row j)
    persist across chunks and are summed into counts at the end. One transposition and one scan
    of ``p`` serve every counter.
    """
    prefer_wide_vectors()
    terms = len(x)
    counters = side.shape[0]
    rows_x, words = x[0].shape
    rows_p = p.shape[0]
    blocks = (rows_x + 63) // 64
    n_words = min(words, (m + 63) // 64)
    last = np.uint64(0xFFFFFFFFFFFFFFFF)
    if m % 64:
        last = (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
    one = np.uint64(1)
    chunk = max(1, min(chunk, n_words))
    zero_row = 64 * chunk  # each term's rows, then a zero row (the groups' padding)
    stride = zero_row + 1
    buf = np.empty((terms * stride, blocks), dtype=np.uint64)
    for t in range(terms):
        buf[t * stride + zero_row] = 0
    tile = np.empty((64, LANES), dtype=np.uint64)
    n_chunks = (n_words + chunk - 1) // chunk
    # per row j: its missing calls (in all, per chunk); per counter and row: the 64-row words
    # counted, the counter's planes and their place in the state
    count = np.zeros((n_chunks, rows_p), dtype=np.int64)
    missing = np.zeros(rows_p, dtype=np.int64)
    for j in range(rows_p):
        for c in range(n_chunks):
            n_chunk = 0
            for w in range(c * chunk, min(n_words, (c + 1) * chunk)):
                word = ~p[j, w]
                if w == n_words - 1:
                    word &= last
                n_chunk += np.int64(popcount64(word))
            count[c, j] = n_chunk
            missing[j] += n_chunk
    n_terms = np.zeros(counters, dtype=np.int64)
    for a in range(pair_term.shape[0]):
        n_terms[pair_counter[a]] += 1
    term_start = np.zeros(counters + 1, dtype=np.int64)  # the terms of counter q, in order
    for q in range(counters):
        term_start[q + 1] = term_start[q] + n_terms[q]
    terms_of = np.empty(pair_term.shape[0], dtype=np.int64)
    filled = term_start[:counters].copy()
    for a in range(pair_term.shape[0]):
        terms_of[filled[pair_counter[a]]] = pair_term[a]
        filled[pair_counter[a]] += 1
    k_lo = np.zeros((counters, rows_p), dtype=np.int64)
    k_hi = np.zeros((counters, rows_p), dtype=np.int64)
    depth = np.zeros((counters, rows_p), dtype=np.int64)
    base = np.zeros((counters, rows_p), dtype=np.int64)
    size = 0
    for q in range(counters):
        x_blocks = min(blocks, (n_x[q] + 63) // 64)
        for j in range(min(rows_p, n_p[q])):
            k0, k1 = 0, x_blocks
            if side[q] == X_NOT_AFTER:
                k1 = min(k1, j // 64 + 1)
            elif side[q] == X_NOT_BEFORE:
                k0 = min(k1, j // 64)
            k_lo[q, j], k_hi[q, j] = k0, k1
            depth[q, j] = _depth(n_terms[q] * missing[j])
            base[q, j] = size
            size += depth[q, j] * blocks
    state = np.zeros(max(1, size), dtype=np.uint64)
    inputs = np.empty(zero_row + 32, dtype=np.int64)
    for c in range(n_chunks):
        c0, c1 = c * chunk, min(n_words, (c + 1) * chunk)
        for t in range(terms):
            _transpose_words(x[t], c0, c1, buf, t * stride, tile)
        for j in range(rows_p):
            if count[c, j] == 0:
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
            for q in range(16):
                inputs[n_v + q] = zero_row
            n_in = n_v + (-n_v) % 16
            for q in range(counters):
                if j >= n_p[q]:
                    continue
                k0, k1 = k_lo[q, j], k_hi[q, j]
                b, d = base[q, j], depth[q, j]
                for a in range(term_start[q], term_start[q + 1], 2):
                    two = a + 1 < term_start[q + 1]
                    shifts = (stride * terms_of[a], stride * terms_of[a + 1 if two else a])
                    for g in range(0, n_in, 16):
                        if two:
                            _add32(buf, inputs, g, shifts, state, b, k0, k1, d)
                        else:
                            _add16(buf, inputs, g, shifts, state, b, k0, k1, d)
    # the counts: the 64 x 64 bit block of planes 0..depth-1 of 64 rows, transposed, holds
    # the count of row s in word s (bit d of it from plane d)
    counts = np.empty((64 * LANES, 1), dtype=np.uint64)
    for q in range(counters):
        out = outs[q]
        for j in range(min(rows_p, n_p[q])):
            d, b = depth[q, j], base[q, j]
            for k in range(k_lo[q, j], k_hi[q, j], LANES):
                nl = min(LANES, k_hi[q, j] - k)
                tile[:] = 0
                for e in range(d):
                    for a in range(nl):
                        tile[e, a] = state[b + e * blocks + k + a]
                _transpose_block(tile, 0, 0, counts, 0, 0, nl)
                for a in range(nl):
                    at = 64 * (k + a)
                    if x_major[q]:
                        for r in range(min(64, n_x[q] - at)):
                            out[at + r, j] = np.int64(counts[64 * a + r, 0])
                    else:
                        for r in range(min(64, n_x[q] - at)):
                            out[j, at + r] = np.int64(counts[64 * a + r, 0])


def _read_only(plane: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only uint64 view, so every call shares one compiled array type."""
    view = np.ascontiguousarray(plane, dtype=np.uint64).view()
    view.flags.writeable = False
    return view


def transpose_plane(x: np.ndarray) -> np.ndarray:
    """The ``(64 * W, ceil(rows / 64))`` variant-major transposition of a ``(rows, W)``
    plane: bit r of word b of row ``64 w + c`` is bit c of ``x[64 b + r, w]``."""
    x = _read_only(x)
    out = np.empty((64 * x.shape[1], (x.shape[0] + 63) // 64), dtype=np.uint64)
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
    per_word = terms * 64 * ((rows + 63) // 64) * 8
    return max(LANES, CHUNK_BYTES // per_word // LANES * LANES)


@dataclass(frozen=True)
class Correction:
    """One count of :func:`missing_corrections`: the terms (indices of its x planes) summed,
    the x rows counted for each missing-call row j (``side``), the first ``n_x`` x rows and
    ``n_p`` missing-call rows, and the layout: ``(n_p, n_x)`` indexed [j, i], or with
    ``x_major`` ``(n_x, n_p)`` indexed [i, j]."""

    terms: tuple[int, ...]
    n_x: int
    n_p: int
    side: int = ALL_ROWS
    x_major: bool = False


def missing_corrections(x: Sequence[np.ndarray], p: np.ndarray, m: int,
                        corrections: Sequence[Correction],
                        chunk: int | None = None) -> list[np.ndarray]:
    """``Σ_{t in terms} Σ_{v < m, p_j[v] = 0} x_t[i, v]`` for each correction, int64 matrices.

    Parameters
    ----------
    x : sequence of ndarray of uint64, shape (rows_x, W)
        The x planes (the terms of the corrections).
    p : ndarray of uint64, shape (rows_p, W)
        Called-genotype plane of the rows whose missing calls are summed over.
    m : int
        Variants (bits from m on are padding, not missing calls).
    corrections : sequence of Correction
        The counts: every one shares the transposition of ``x`` and the scan of ``p``.
    chunk : int, optional
        Words per variant chunk; :func:`chunk_words` by default.
    """
    planes = tuple(_read_only(a) for a in x)
    if chunk is None:
        chunk = chunk_words(len(planes), planes[0].shape[0])
    pairs = [(t, q) for q, correction in enumerate(corrections) for t in correction.terms]
    pair_term, pair_counter = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    outs = tuple(np.zeros((c.n_x, c.n_p) if c.x_major else (c.n_p, c.n_x), dtype=np.int64)
                 for c in corrections)
    missing_counts_kernel(
        planes, _read_only(p), m, chunk, np.ascontiguousarray(pair_term),
        np.ascontiguousarray(pair_counter),
        np.array([c.side for c in corrections], dtype=np.int64),
        np.array([c.n_x for c in corrections], dtype=np.int64),
        np.array([c.n_p for c in corrections], dtype=np.int64),
        np.array([c.x_major for c in corrections], dtype=np.bool_), outs)
    return list(outs)


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
        only the 64-row words of x holding rows i <= j / i >= j are counted, the
        other entries are 0.
    chunk : int, optional
        Words per variant chunk; :func:`chunk_words` by default.
    x_major : bool
        Index the result by x row first.
    """
    planes = [x] if isinstance(x, np.ndarray) else list(x)
    correction = Correction(tuple(range(len(planes))), n_x, p.shape[0], side, x_major)
    return missing_corrections(planes, p, m, [correction], chunk)[0]


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
        j >= i are needed, and only the 64-row words of i holding such pairs are
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
