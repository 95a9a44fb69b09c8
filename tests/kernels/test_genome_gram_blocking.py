"""The cache blocking and the 512-bit vectors of the popcount kernels: KING's IBS0 pass and the
fused distance pass equal numpy references across word chunks and right-row blocks."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from osler.kernels.bits import popcount64, prefer_wide_vectors
from osler.kernels.genome.gram import (
    DISTANCE_CHUNK,
    DISTANCE_ROW_BLOCK,
    distance_counts,
    opposite_counts,
)
from tests.kernels.genome_data import ref_counts
from tests.kernels.test_genome_gram import genotypes, planes


def ref_opposite(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """IBS0 from the definition: variants where one sample is 2 and the other a called 0."""
    two_l, zero_l = (left == 2).astype(np.float64), (left == 0).astype(np.float64)
    two_r, zero_r = (right == 2).astype(np.float64), (right == 0).astype(np.float64)
    return two_l @ zero_r.T + zero_l @ two_r.T


def king_planes(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, two, p = planes(g)
    return two, p & ~h


@pytest.mark.parametrize("missing_rate", [0.0, 0.02, 0.6])
def test_opposite_counts_equal_numpy_across_chunks_and_row_blocks(missing_rate: float) -> None:
    # Given 13 x 42 samples over more than one word chunk, with right-row blocks of 8
    m = 64 * 600 + 37
    left = genotypes(13, m, missing_rate, seed=5)
    right = genotypes(42, m, missing_rate, seed=6)
    expected = ref_opposite(left, right)
    for chunk, row_block in ((512, 96), (256, 8), (2048, 32)):
        got = opposite_counts(king_planes(left), king_planes(right), False, chunk, row_block)
        np.testing.assert_array_equal(got, expected)


def test_opposite_counts_upper_triangle() -> None:
    g = genotypes(23, 5000, 0.03, seed=7)
    got = opposite_counts(king_planes(g), king_planes(g), True, 64, 8)
    upper = np.triu_indices(23)
    np.testing.assert_array_equal(got[upper], ref_opposite(g, g)[upper])


@pytest.mark.parametrize("missing_rate", [0.02, 0.6])
def test_distance_counts_cross_the_distance_chunk_and_row_block(missing_rate: float) -> None:
    # Given more right rows than one row block and more variants than one distance chunk
    m = 64 * DISTANCE_CHUNK + 100
    left = genotypes(5, m, missing_rate, seed=8)
    right = genotypes(DISTANCE_ROW_BLOCK + 7, m, missing_rate, seed=9)
    diff, pairs = distance_counts(planes(left), planes(right), upper=False)
    ref_diff, ref_pairs = ref_counts(np.concatenate([left, right]))
    np.testing.assert_array_equal(diff, ref_diff[:5, 5:])
    np.testing.assert_array_equal(pairs, ref_pairs[:5, 5:])
    # and the previous blocking (512 words, 96 rows) gives the same counts
    old = distance_counts(planes(left), planes(right), False, 512, 96)
    np.testing.assert_array_equal(old[0], diff)
    np.testing.assert_array_equal(old[1], pairs)


@njit
def _wide_popcount(a, b):
    prefer_wide_vectors()
    s = np.uint64(0)
    for k in range(a.shape[0]):
        s += popcount64(a[k] & b[k])
    return s


def test_prefer_wide_vectors_keeps_results() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 2**63, size=1001, dtype=np.uint64) for _ in range(2))
    assert _wide_popcount(a, b) == int(np.bitwise_count(a & b).sum())
