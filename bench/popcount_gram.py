"""The register-blocked popcount Gram kernel against a one-pair-at-a-time loop, on one core.

Run from the repository root::

    python bench/popcount_gram.py

Two 1000-row blocks of random bit planes (1563 words = 100,000 variants, two planes: the IBS
terms of an off-diagonal tile). The baseline is the loop the kernel replaced: cache-blocked, one
pair at a time. Both run single-threaded in this process on the same arrays; the script checks
they agree and prints word pairs per second and the ratio.

Then the missing-call distance counts on the same rows with 2 % of calls missing: the fused pass
(:func:`~osler.kernels.genome.gram.masked_distance_gram`, three popcounts of masked XORs per
word pair) against the seven AND terms it replaced, against the two terms of a cohort without
missing calls and against its previous cache blocking (512 words x 96 rows); and KING's four
counts with IBS0 in one popcount per word pair against the five AND terms. Each group
alternates its variants in this process, so they see the same load. ``bench/gram_versus.py``
compares these kernels with those of an earlier git revision.

Then the sparse missing-call corrections (:mod:`osler.kernels.genome.sparse_missing`) on 1000 x
1000 samples x 100,000 variants with 2 % of calls missing: KING's four counts with N_het_i and
N_het_j as het counts minus sparse corrections against the four dense passes; the ibs distance
counts as the two AND terms plus corrections against the fused masked pass; and the bit-sliced
(Harley-Seal) counter of one correction against byte counters flushed before they overflow.
``--sections sparse`` runs only these::

    python bench/popcount_gram.py --sections sparse

``--sections shapes`` times the PLINK-distance counts of a Balding-Nichols cohort with 2 % of
calls missing on tiles of several shapes, the fused pass against the AND terms plus sparse
corrections, and KING's sparse corrections against its dense passes (the measurements behind
``uses_fused_pass`` in ``kernels/genome/metrics.py``; one core, best of ``--repeats``)::

    python bench/popcount_gram.py --sections shapes [--variants 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from osler.kernels.bits import popcount64, trailing_zeros64
from osler.kernels.genome.gram import (
    DISTANCE_CHUNK,
    DISTANCE_ROW_BLOCK,
    ROW_BLOCK,
    WORD_CHUNK,
    distance_counts,
    gram_counts,
    opposite_counts,
)
from osler.kernels.genome.metrics import king_counts, sparse_distance_counts
from osler.kernels.genome.sparse_missing import (
    _I64,
    LANES,
    _transpose_words,
    _vector_at,
    chunk_words,
    missing_counts,
)


@njit(nogil=True)
def pairwise_loop(h1, l1, h2, l2, out):
    """Σ popcount(h1 & h2) + popcount(l1 & l2), one pair at a time, cache-blocked (2048 words x
    16 rows), as osler's kernels were before the register-blocked one replaced them."""
    n_words = h1.shape[1]
    for w0 in range(0, n_words, 2048):
        w1 = min(n_words, w0 + 2048)
        for jb in range(0, h2.shape[0], 16):
            for i in range(h1.shape[0]):
                a = h1[i, w0:w1]
                b = l1[i, w0:w1]
                for j in range(jb, min(h2.shape[0], jb + 16)):
                    c = h2[j, w0:w1]
                    d = l2[j, w0:w1]
                    s = np.uint64(0)
                    for k in range(w1 - w0):
                        s += popcount64(a[k] & c[k]) + popcount64(b[k] & d[k])
                    out[i, j] += s


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=["gram", "sparse"],
                        choices=["gram", "sparse", "shapes"],
                        help="gram: the register-blocked kernels, the fused pass and KING's "
                             "IBS0; sparse: the sparse missing-call corrections; shapes: fused "
                             "pass against sparse corrections by tile shape")
    parser.add_argument("--variants", type=int, default=100_000, help="with shapes")
    parser.add_argument("--repeats", type=int, default=3, help="with shapes")
    args = parser.parse_args()
    if "shapes" in args.sections:
        tile_shapes(args.variants, args.repeats)
    if "gram" in args.sections:
        gram_sections()
    if "sparse" in args.sections:
        sparse_corrections(np.random.default_rng(1), repeats=5)


SHAPES = ((1000, 50), (1000, 100), (1000, 200), (1000, 400), (1000, 600), (1000, 1000),
          (3000, 300), (3000, 600), (3000, 1000))
"""Off-diagonal tiles (rows x columns) of :func:`tile_shapes`; then two bands."""


def tile_shapes(m: int, repeats: int) -> None:
    from osler.kernels.genome import metrics as gm
    from osler.kernels.genome.simulate import balding_nichols

    g, _ = balding_nichols(4200, m, seed=2, missing_rate=0.02)
    planes = np.zeros((3, g.shape[0], (m + 63) // 64), np.uint64)
    gm.pack_rows(g, np.arange(m, dtype=np.int64), planes)
    del g

    def best_ms(fn, *args) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn(*args)
            times.append(time.perf_counter() - start)
        return 1e3 * min(times)

    print(f"tiles of a Balding-Nichols cohort, {m} variants, 2 % missing calls, one core, "
          f"best of {repeats} (ms; µs per pair)")
    cases = [(f"{a} x {b}", planes[:, :a], planes[:, 3100:3100 + b], False, a * b)
             for a, b in SHAPES]
    for rows, cols in ((100, 200), (640, 2200)):
        square = np.ascontiguousarray(planes[:, :cols])
        cases.append((f"band {rows} x {cols}", square[:, :rows], square, True,
                      rows * cols - rows * (rows - 1) / 2))
    for label, left, right, upper, pairs in cases:
        left = np.ascontiguousarray(left)
        fused = best_ms(distance_counts, left, right, upper)
        sparse = best_ms(sparse_distance_counts, left, right, upper, m)
        king_sparse = best_ms(king_counts, left, right, upper, m, True)
        king_dense = best_ms(king_counts, left, right, upper, m, True, False)
        print(f"{label:>16}: distance fused {fused:7.1f} ({1e3 * fused / pairs:.3f}), "
              f"AND terms + sparse {sparse:7.1f} ({1e3 * sparse / pairs:.3f}); "
              f"KING sparse {king_sparse:7.1f}, dense {king_dense:7.1f}", flush=True)


def gram_sections() -> None:
    rows, words, repeats = 1000, 1563, 5
    rng = np.random.default_rng(0)
    h1, h2 = (rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64) for _ in range(2))
    l1 = h1 & rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)
    l2 = h2 & rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)
    out = np.zeros((rows, rows), dtype=np.uint64)
    pairwise_loop(h1[:4], l1[:4], h2[:4], l2[:4], out[:4, :4])  # compile
    gram_counts([h1[:4], l1[:4]], [h2[:4], l2[:4]], False)
    def baseline() -> None:
        out[:] = 0
        pairwise_loop(h1, l1, h2, l2, out)

    base = median_seconds(baseline, repeats)
    blocked = median_seconds(lambda: gram_counts([h1, l1], [h2, l2], False), repeats)
    assert np.array_equal(gram_counts([h1, l1], [h2, l2], False), out.view(np.int64))
    pairs = rows * rows * words * 2
    print(f"{rows} x {rows} rows, {words} words x 2 planes, one core, median of {repeats}")
    print(f"pair at a time      : {base:.3f} s  {pairs / base / 1e9:.1f} G word pairs/s")
    print(f"register-blocked    : {blocked:.3f} s  {pairs / blocked / 1e9:.1f} G word pairs/s"
          f"   {base / blocked:.2f}x")
    missing_calls(rng, h1, l1, h2, l2, repeats)
    king(rng, h1, l1, h2, l2, 3 * repeats)


def missing_calls(rng: np.random.Generator, h1: np.ndarray, l1: np.ndarray, h2: np.ndarray,
                  l2: np.ndarray, repeats: int) -> None:
    """Fused missing-call counts vs the seven AND terms, 2 % of calls missing."""
    p1, p2 = (~pack_missing(rng, h.shape) for h in (h1, h2))
    h1, l1, h2, l2 = h1 & p1, l1 & p1, h2 & p2, l2 & p2  # a missing call has h = l = 0
    left, right = np.stack([h1, l1, p1]), np.stack([h2, l2, p2])

    def seven_terms() -> tuple[np.ndarray, np.ndarray]:
        cross = gram_counts([h1, l1, p1, p1], [p2, p2, h2, l2], False)
        shared = gram_counts([h1, l1], [h2, l2], False)
        return cross - 2 * shared, gram_counts([p1], [p2], False)

    def two_terms() -> np.ndarray:
        return gram_counts([h1, l1], [h2, l2], False)

    def fused() -> tuple[np.ndarray, np.ndarray]:
        return distance_counts(left, right, False)

    def fused_512() -> tuple[np.ndarray, np.ndarray]:  # the blocking before DISTANCE_CHUNK
        return distance_counts(left, right, False, WORD_CHUNK, ROW_BLOCK)

    distance_counts(left[:, :4], right[:, :4], False)  # compile
    # interleaved, so the three see the same load on a shared machine
    times: dict[str, list[float]] = {"seven": [], "fused": [], "two": [], "512": []}
    for _ in range(repeats):
        for name, fn in (("seven", seven_terms), ("fused", fused), ("two", two_terms),
                         ("512", fused_512)):
            times[name].append(median_seconds(fn, 1))
    terms, fast, two, old = (statistics.median(times[k]) for k in ("seven", "fused", "two", "512"))
    for a, b in zip(seven_terms(), distance_counts(left, right, False), strict=True):
        assert np.array_equal(a, b)
    print(f"2 % missing calls, (difference, called in both) per pair, interleaved, median of "
          f"{repeats}:")
    print(f"seven AND terms     : {terms:.3f} s")
    print(f"fused masked XOR    : {fast:.3f} s   {terms / fast:.2f}x faster than seven terms")
    print(f"two terms, no calls missing: {two:.3f} s   fused = {fast / two:.2f}x its time")
    print(f"fused, 512 words x 96 rows blocks: {old:.3f} s   {DISTANCE_CHUNK} x "
          f"{DISTANCE_ROW_BLOCK} is {old / fast:.2f}x faster")


def king(rng: np.random.Generator, h1: np.ndarray, l1: np.ndarray, h2: np.ndarray,
         l2: np.ndarray, repeats: int) -> None:
    """KING counts with 2 % of calls missing: IBS0 in one popcount per word pair
    (:func:`~osler.kernels.genome.gram.opposite_counts`) plus three AND terms, against the five
    AND terms (IBS0 as two), alternating in this process."""
    p1, p2 = (~pack_missing(rng, h.shape) for h in (h1, h2))
    h1, l1, h2, l2 = h1 & p1, l1 & p1, h2 & p2, l2 & p2
    e1, r1, e2, r2 = h1 & ~l1, p1 & ~h1, h2 & ~l2, p2 & ~h2

    def het_terms() -> list[np.ndarray]:
        return [gram_counts([e1], [e2], False), gram_counts([e1], [p2], False),
                gram_counts([p1], [e2], False)]

    def five_terms() -> list[np.ndarray]:
        return [gram_counts([l1, r1], [r2, l2], False), *het_terms()]

    def one_pass_ibs0() -> list[np.ndarray]:
        return [opposite_counts((l1, r1), (l2, r2), False), *het_terms()]

    opposite_counts((l1[:4], r1[:4]), (l2[:4], r2[:4]), False)  # compile
    times: dict[str, list[float]] = {"five": [], "or": []}
    for _ in range(repeats):
        for name, fn in (("five", five_terms), ("or", one_pass_ibs0)):
            times[name].append(median_seconds(fn, 1))
    five, fast = (statistics.median(times[k]) for k in ("five", "or"))
    for a, b in zip(five_terms(), one_pass_ibs0(), strict=True):
        assert np.array_equal(a, b)
    print(f"KING, 2 % missing calls, (IBS0, both het, het_i, het_j), interleaved, median of "
          f"{repeats}:")
    print(f"five AND terms      : {five:.3f} s")
    print(f"IBS0 in one popcount: {fast:.3f} s   {five / fast:.2f}x faster than five terms")


def pack_missing(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Bit planes with each bit set with probability 0.02 (the missing calls)."""
    bits = rng.random((shape[0], shape[1] * 64)) < 0.02
    return np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)


# --------------------------------------------------------------------------- sparse corrections


_LSB = 0x0101010101010101


@intrinsic
def _byte_add16(typingctx, rows, inputs, g, state, base, k):
    """Add the 16 rows ``rows[inputs[g:g + 16]]`` (words k..k + 8) into 8 SWAR byte counters
    at ``state[base + b * rows.shape[1] + k]``: byte t of counter b counts bit 8 t + b (the
    alternative to the bit-sliced counter of :mod:`osler.kernels.genome.sparse_missing`)."""
    sig = types.none(rows, inputs, types.intp, state, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        rows_t, inputs_t, _, state_t, _, _ = signature.args
        rows_v, inputs_v, g_v, state_v, base_v, k_v = args
        vector = ir.VectorType(_I64, LANES)
        source = context.make_array(rows_t)(context, builder, rows_v)
        n_cols = cgutils.unpack_tuple(builder, source.shape)[1]
        index = context.make_array(inputs_t)(context, builder, inputs_v)
        x = []
        for q in range(16):
            at = builder.gep(index.data, [builder.add(g_v, _I64(q))], inbounds=True)
            offset = builder.add(builder.mul(builder.load(at), n_cols), k_v)
            x.append(builder.load(_vector_at(context, builder, rows_t, rows_v, offset, LANES),
                                  align=8))
        lsb = ir.Constant(vector, [_LSB] * LANES)
        for b in range(8):
            pointer = _vector_at(context, builder, state_t, state_v, builder.add(
                base_v, builder.add(builder.mul(_I64(b), n_cols), k_v)), LANES)
            acc = builder.load(pointer, align=8)
            shift = ir.Constant(vector, [b] * LANES)
            for q in range(16):
                acc = builder.add(acc, builder.and_(builder.lshr(x[q], shift), lsb))
            builder.store(acc, pointer, align=8)
        return context.get_dummy_value()

    return sig, codegen


@njit(nogil=True)
def _flush_bytes(state, base, blocks, n_x, out, j):
    """Add row j's byte counters into ``out[j]`` and clear them."""
    for b in range(8):
        for k in range(blocks):
            word = state[base + b * blocks + k]
            for t in range(8):
                i = 64 * k + 8 * t + b
                if i < n_x:
                    out[j, i] += np.int64((word >> np.uint64(8 * t)) & np.uint64(0xFF))
            state[base + b * blocks + k] = 0


@njit(nogil=True)
def byte_counter_counts(x, n_x, p, m, chunk, out):
    """``out[j, i] = Σ_{v < m missing in j} x[i, v]`` as
    :func:`~osler.kernels.genome.sparse_missing.missing_counts_kernel` (one plane, every row,
    ``blocks`` a multiple of 8), with SWAR byte counters flushed before a byte overflows in
    place of the bit-sliced counter."""
    rows_x, words = x.shape
    n_p = p.shape[0]
    blocks = (rows_x + 63) // 64
    n_words = min(words, (m + 63) // 64)
    last = np.uint64(0xFFFFFFFFFFFFFFFF)
    if m % 64:
        last = (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
    one = np.uint64(1)
    zero_row = 64 * chunk
    buf = np.empty((zero_row + 1, blocks), dtype=np.uint64)
    buf[zero_row] = 0
    tile = np.empty((64, LANES), dtype=np.uint64)
    state = np.zeros(n_p * 8 * blocks, dtype=np.uint64)
    pending = np.zeros(n_p, dtype=np.int64)
    inputs = np.empty(zero_row + 64, dtype=np.int64)
    for c0 in range(0, n_words, chunk):
        c1 = min(n_words, c0 + chunk)
        _transpose_words(x, c0, c1, buf, 0, tile)
        for j in range(n_p):
            n_v = 0
            for w in range(c0, c1):
                word = ~p[j, w]
                if w == n_words - 1:
                    word &= last
                n_word = np.int64(popcount64(word))
                v0 = 64 * (w - c0)
                for q in range(4):
                    inputs[n_v + q] = v0 + np.int64(trailing_zeros64(word))
                    word &= word - one
                for q in range(4, n_word):
                    inputs[n_v + q] = v0 + np.int64(trailing_zeros64(word))
                    word &= word - one
                n_v += n_word
            for q in range(16):
                inputs[n_v + q] = zero_row
            base = j * 8 * blocks
            for g in range(0, n_v + (-n_v) % 16, 16):
                if pending[j] + 16 > 255:  # a byte would overflow: flush into the counts
                    _flush_bytes(state, base, blocks, n_x, out, j)
                    pending[j] = 0
                for k in range(0, blocks, LANES):
                    _byte_add16(buf, inputs, g, state, base, k)
                pending[j] += 16
    for j in range(n_p):
        _flush_bytes(state, j * 8 * blocks, blocks, n_x, out, j)


def genotype_planes(rng: np.random.Generator, rows: int, m: int,
                    missing_rate: float) -> np.ndarray:
    """(3, rows, W) h, l, p planes of random genotypes with ``missing_rate`` of calls missing
    (h = l = 0 there) and the padding bits past m cleared."""
    words = (m + 63) // 64
    h = rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)
    two = h & rng.integers(0, 2**63, size=(rows, words), dtype=np.uint64)
    bits = rng.random((rows, words * 64)) < missing_rate
    p = ~np.packbits(bits, axis=1, bitorder="little").view("<u8").astype(np.uint64)
    if m % 64:
        p[:, -1] &= (np.uint64(1) << np.uint64(m % 64)) - np.uint64(1)
    return np.stack([h & p, two & p, p])


def alternate(variants: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each variant, run in turn ``repeats`` times (the same load)."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            times[name].append(median_seconds(fn, 1))
    return {name: statistics.median(t) for name, t in times.items()}


def sparse_corrections(rng: np.random.Generator, repeats: int) -> None:
    """KING and ibs with 2 % missing calls: dense passes against sparse corrections."""
    rows, m = 1000, 100_000
    left, right = genotype_planes(rng, rows, m, 0.02), genotype_planes(rng, rows, m, 0.02)
    small = (left[:, :8], right[:, :8])
    for sparse in (False, True):  # compile / load
        king_counts(*small, False, m, True, sparse)
    distance_counts(*small, False)
    sparse_distance_counts(*small, False, m)
    print(f"{rows} x {rows} rows, {m} variants, 2 % missing calls, one core, alternating, "
          f"median of {repeats}")

    t = alternate({"dense": lambda: king_counts(left, right, False, m, True, sparse=False),
                   "sparse": lambda: king_counts(left, right, False, m, True, sparse=True)},
                  repeats)
    for a, b in zip(king_counts(left, right, False, m, True, sparse=False),
                    king_counts(left, right, False, m, True, sparse=True), strict=True):
        assert np.array_equal(a, b)
    print(f"KING (IBS0, both het, N_het_i, N_het_j), four dense passes : {t['dense']:.3f} s")
    print(f"KING, two dense passes + sparse corrections            : {t['sparse']:.3f} s   "
          f"{t['dense'] / t['sparse']:.2f}x faster")

    t = alternate({"fused": lambda: distance_counts(left, right, False),
                   "sparse": lambda: sparse_distance_counts(left, right, False, m)}, repeats)
    for a, b in zip(distance_counts(left, right, False),
                    sparse_distance_counts(left, right, False, m), strict=True):
        assert np.array_equal(a, b)
    print(f"ibs (difference, called in both), fused masked pass     : {t['fused']:.3f} s")
    print(f"ibs, two AND terms + sparse corrections                : {t['sparse']:.3f} s   "
          f"{t['fused'] / t['sparse']:.2f}x faster")

    (h1, l1, _), (_, _, p2) = left, right
    e1 = np.ascontiguousarray(h1 & ~l1)
    p2 = np.ascontiguousarray(p2)
    chunk = chunk_words(1, rows)

    def bytes_() -> np.ndarray:
        out = np.zeros((rows, rows), dtype=np.int64)
        byte_counter_counts(e1, rows, p2, m, chunk, out)
        return out

    bytes_()
    t = alternate({"bits": lambda: missing_counts(e1, rows, p2, m), "bytes": bytes_}, repeats)
    assert np.array_equal(missing_counts(e1, rows, p2, m), bytes_())
    print(f"one correction (het over the other's missing calls), bit-sliced counter: "
          f"{t['bits']:.4f} s")
    print(f"one correction, byte counters flushed before overflow : {t['bytes']:.4f} s   "
          f"bit-sliced is {t['bytes'] / t['bits']:.2f}x faster")


if __name__ == "__main__":
    main()
