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
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from numba import njit

from osler.kernels.bits import popcount64
from osler.kernels.genome.gram import (
    DISTANCE_CHUNK,
    DISTANCE_ROW_BLOCK,
    ROW_BLOCK,
    WORD_CHUNK,
    distance_counts,
    gram_counts,
    opposite_counts,
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


if __name__ == "__main__":
    main()
