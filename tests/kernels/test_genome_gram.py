"""The fused missing-call distance kernel against numpy float64 counts from the definition."""

from __future__ import annotations

import numpy as np
import pytest

from osler.kernels.genome.gram import WORD_CHUNK, distance_counts
from osler.kernels.genome.metrics import pack_rows
from tests.kernels.genome_data import ref_counts


def planes(g: np.ndarray) -> np.ndarray:
    out = np.zeros((3, g.shape[0], (g.shape[1] + 63) // 64), dtype=np.uint64)
    pack_rows(g, np.arange(g.shape[1], dtype=np.int64), out)
    return out


def genotypes(n: int, m: int, missing_rate: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 3, size=(n, m), dtype=np.int8)
    g[rng.random((n, m)) < missing_rate] = -1
    return g


@pytest.mark.parametrize("missing_rate", [0.0, 0.02, 0.05, 0.6])
def test_counts_equal_numpy_across_word_chunks(missing_rate: float) -> None:
    # Given 11 x 6 samples (not multiples of the 4 x 4 blocks) over more variants than one word
    # chunk holds (so the packed 32-bit halves are split and carried between chunks)
    m = 64 * WORD_CHUNK + 1000
    left = genotypes(11, m, missing_rate, seed=1)
    right = genotypes(6, m, missing_rate, seed=2)
    diff, pairs = distance_counts(planes(left), planes(right), upper=False)
    ref_diff, ref_pairs = ref_counts(np.concatenate([left, right]))
    np.testing.assert_array_equal(diff, ref_diff[:11, 11:])
    np.testing.assert_array_equal(pairs, ref_pairs[:11, 11:])


def test_diagonal_tile_fills_the_upper_triangle() -> None:
    g = genotypes(10, 3000, 0.03, seed=3)
    p = planes(g)
    diff, pairs = distance_counts(p, p, upper=True)
    ref_diff, ref_pairs = ref_counts(g)
    upper = np.triu_indices(10)
    np.testing.assert_array_equal(diff[upper], ref_diff[upper])
    np.testing.assert_array_equal(pairs[upper], ref_pairs[upper])


def test_all_missing_pair_counts_nothing() -> None:
    g = genotypes(5, 200, 0.0, seed=4)
    g[2] = -1
    p = planes(g)
    diff, pairs = distance_counts(p, p, upper=False)
    assert (diff[2] == 0).all() and (pairs[2] == 0).all() and (pairs[:, 2] == 0).all()
    assert pairs[0, 1] == 200
