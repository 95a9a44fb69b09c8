"""The sparse missing-call corrections against numpy counts from their definition, and KING /
PLINK-distance tiles with them against the dense popcount passes they replace."""

from __future__ import annotations

import numpy as np
import pytest

from osler.kernels.bits import pack_bits
from osler.kernels.genome import metrics as gm
from osler.kernels.genome.gram import distance_counts, gram_counts
from osler.kernels.genome.sparse_missing import (
    ALL_ROWS,
    X_NOT_AFTER,
    X_NOT_BEFORE,
    Correction,
    missing_corrections,
    missing_counts,
    missing_overlap_counts,
    transpose_plane,
)
from tests.kernels.signature_probe import check_warm_up


def random_planes(rng: np.random.Generator, rows: int, m: int,
                  missing_rate: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x bits, missing bits) as booleans (rows, m) and as packed planes (x, p = called)."""
    x = rng.random((rows, m)) < 0.5
    missing = rng.random((rows, m)) < missing_rate
    return x, missing, pack_bits(x), pack_bits(~missing)


def reference(x: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """C[i, j] = Σ_v x[i, v] & missing[j, v]: an int64 matmul of the unpacked bits."""
    return x.astype(np.int64) @ missing.T.astype(np.int64)


def test_transpose_plane_is_the_bit_transpose() -> None:
    # Given 130 rows (not a multiple of 64) over 1000 variants (not a multiple of 64 x 8 words)
    rng = np.random.default_rng(0)
    x = rng.random((130, 1000)) < 0.5
    xt = transpose_plane(pack_bits(x))
    # then variant v's row holds the rows' bits (rows past 130 are 0)
    bits = np.unpackbits(xt.view(np.uint8), axis=1, bitorder="little")
    np.testing.assert_array_equal(bits[:1000, :130], x.T)
    assert not bits[:, 130:].any() and not bits[1000:].any()


@pytest.mark.parametrize("missing_rate", [0.0, 0.02, 0.3, 1.0])
@pytest.mark.parametrize(("rows_left", "rows_right", "m"),
                         [(70, 33, 1000), (5, 130, 64 * 3 + 5), (130, 7, 200),
                          (700, 21, 5000)])
def test_overlap_counts_equal_the_definition(missing_rate: float, rows_left: int,
                                             rows_right: int, m: int) -> None:
    # Given random planes with rows and m not multiples of 64 (or of the 4 x 4 blocks), and
    # padding bits set in the x plane (they must not count)
    rng = np.random.default_rng(rows_left + rows_right + m)
    x, _, x_packed, _ = random_planes(rng, rows_left, m, 0.0)
    _, missing, _, p = random_planes(rng, rows_right, m, missing_rate)
    x_packed[:, -1] |= ~np.uint64(0) << np.uint64(m % 64) if m % 64 else np.uint64(0)
    # when the corrections are counted, then they equal the int64 matmul of the bits
    np.testing.assert_array_equal(missing_overlap_counts(x_packed, p, m), reference(x, missing))


@pytest.mark.parametrize("chunk", [None, 8, 1])
def test_chunks_and_terms_add_up(chunk: int | None) -> None:
    # Given two x planes (their counts are summed) over several variant chunks
    rng = np.random.default_rng(5)
    m = 64 * 40 + 3
    xa, _, pa, _ = random_planes(rng, 90, m, 0.0)
    xb, _, pb, _ = random_planes(rng, 90, m, 0.0)
    _, missing, _, p = random_planes(rng, 50, m, 0.05)
    got = missing_counts([pa, pb], 90, p, m, ALL_ROWS, chunk)
    np.testing.assert_array_equal(got, (reference(xa, missing) + reference(xb, missing)).T)


@pytest.mark.parametrize("missing_rate", [0.0, 0.02, 0.3, 1.0])
@pytest.mark.parametrize(("rows_left", "rows_right"), [(150, 150), (70, 200), (5, 9)])
def test_upper_tiles_count_the_pairs_on_and_above_the_diagonal(
        missing_rate: float, rows_left: int, rows_right: int) -> None:
    # Given a tile on the diagonal: the left rows are the first right rows (a diagonal tile,
    # or a band)
    rng = np.random.default_rng(rows_left + rows_right)
    m = 777
    x, missing, x_packed, p = random_planes(rng, rows_right, m, missing_rate)
    pairs = np.triu(np.ones((rows_left, rows_right), dtype=bool))
    # when the correction of the left rows over the right rows' missing calls is counted
    upper = missing_overlap_counts(x_packed[:rows_left], p, m, upper=True)
    np.testing.assert_array_equal(upper[pairs], reference(x[:rows_left], missing)[pairs])
    # and the other way round (x of the right rows, missing calls of the left rows)
    low = missing_counts(x_packed, rows_right, p[:rows_left], m, X_NOT_BEFORE)
    np.testing.assert_array_equal(low[pairs], reference(missing[:rows_left], x)[pairs])
    above = missing_counts(x_packed[:rows_left], rows_left, p, m, X_NOT_AFTER).T
    np.testing.assert_array_equal(above[pairs], upper[pairs])


@pytest.mark.parametrize("missing_rate", [0.02, 0.3])
def test_corrections_sharing_one_pass_equal_each_alone(missing_rate: float) -> None:
    # Given three planes of 200 rows, whose first 70 rows are a band's left rows
    rng = np.random.default_rng(7)
    m, n1 = 1500, 70
    xa, missing, pa, p = random_planes(rng, 200, m, missing_rate)
    xb, _, pb, _ = random_planes(rng, 200, m, 0.0)
    xc, _, pc, _ = random_planes(rng, 200, m, 0.0)
    # when several corrections (a plane in two of them, one of two planes) share one pass
    got = missing_corrections(
        [pa, pb, pc], p, m,
        [Correction((0,), n1, 200, X_NOT_AFTER, x_major=True),
         Correction((0, 1, 2), 200, n1, X_NOT_BEFORE),
         Correction((1, 2), 33, 200, ALL_ROWS)])
    # then each equals its definition on the pairs it counts
    pairs = np.triu(np.ones((n1, 200), dtype=bool))
    np.testing.assert_array_equal(got[0][pairs], reference(xa[:n1], missing)[pairs])
    three = (reference(missing[:n1], xa) + reference(missing[:n1], xb)
             + reference(missing[:n1], xc))
    np.testing.assert_array_equal(got[1][pairs], three[pairs])
    np.testing.assert_array_equal(got[2], (reference(xb[:33], missing)
                                           + reference(xc[:33], missing)).T)


def genotypes(rng: np.random.Generator, n: int, m: int, missing_rate: float) -> np.ndarray:
    g = rng.integers(0, 3, size=(n, m), dtype=np.int8)
    g[rng.random((n, m)) < missing_rate] = -1
    return g


def planes(g: np.ndarray) -> np.ndarray:
    out = np.zeros((3, g.shape[0], (g.shape[1] + 63) // 64), dtype=np.uint64)
    gm.pack_rows(g, np.arange(g.shape[1], dtype=np.int64), out)
    return out


TILES = [(0, 37, 37, 101), (0, 45, 0, 45), (0, 30, 0, 101), (64, 101, 64, 101),
         (10, 75, 80, 101)]
"""(i0, i1, j0, j1): off-diagonal, diagonal, a band, a diagonal tile past row 64, another."""


@pytest.mark.parametrize("missing_rate", [0.0, 0.02, 0.3, 1.0])
@pytest.mark.parametrize("tile", TILES)
def test_king_counts_equal_the_dense_passes(missing_rate: float,
                                            tile: tuple[int, int, int, int]) -> None:
    # Given 101 samples x 3000 variants and a tile of them
    rng = np.random.default_rng(11)
    m = 3000
    p = planes(genotypes(rng, 101, m, missing_rate))
    i0, i1, j0, j1 = tile
    left, right, upper = p[:, i0:i1], p[:, j0:j1], i0 == j0
    pairs = np.triu(np.ones((i1 - i0, j1 - j0), dtype=bool)) if upper else slice(None)
    # when KING's counts use the sparse corrections, then they equal the four dense passes
    sparse = gm.king_counts(left, right, upper, m, True, sparse=True)
    dense = gm.king_counts(left, right, upper, m, True, sparse=False)
    for a, b in zip(sparse, dense, strict=True):
        np.testing.assert_array_equal(np.broadcast_to(a, b.shape)[pairs], b[pairs])


@pytest.mark.parametrize("missing_rate", [0.02, 0.3, 1.0])
@pytest.mark.parametrize("tile", TILES)
def test_distance_counts_equal_the_fused_pass(missing_rate: float,
                                              tile: tuple[int, int, int, int]) -> None:
    # Given 101 samples x 3000 variants and a tile of them
    rng = np.random.default_rng(12)
    m = 3000
    p = planes(genotypes(rng, 101, m, missing_rate))
    i0, i1, j0, j1 = tile
    left, right, upper = p[:, i0:i1], p[:, j0:j1], i0 == j0
    pairs = np.triu(np.ones((i1 - i0, j1 - j0), dtype=bool)) if upper else slice(None)
    # when (difference, called in both) use the sparse corrections, then they equal the fused
    # masked pass and the AND terms
    diff, called = gm.sparse_distance_counts(left, right, upper, m)
    fused = distance_counts(left, right, upper)
    np.testing.assert_array_equal(diff[pairs], fused[0][pairs])
    np.testing.assert_array_equal(called[pairs], fused[1][pairs])
    np.testing.assert_array_equal(called[pairs],
                                  gram_counts([left[2]], [right[2]], upper)[pairs])


def plink_distance(g: np.ndarray, rows: slice, cols: slice, metric: str) -> np.ndarray:
    """PLINK 1.9's flat-missing distance from its definition, in float64: d = Σ |g_i - g_j|
    and M_ij over the variants called in both samples."""
    a, b = g[rows].astype(np.float64), g[cols].astype(np.float64)
    both = (a[:, None, :] >= 0) & (b[None, :, :] >= 0)
    d = np.where(both, np.abs(a[:, None, :] - b[None, :, :]), 0.0).sum(axis=2)
    m_pair = both.sum(axis=2)
    if metric == "allele-ct":
        return d * g.shape[1] / m_pair
    return 1.0 - d / (2.0 * m_pair) if metric == "ibs" else d / (2.0 * m_pair)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("metric", ["king", "ibs", "allele-ct"])
def test_tiles_with_missing_calls_equal_the_definition(tmp_path, monkeypatch, metric: str,
                                                       fused: bool) -> None:
    # Given an int8 genotype file with 5 % missing calls, and the PLINK distances' tiles taking
    # the fused pass or the sparse corrections
    monkeypatch.setattr(gm, "uses_fused_pass", lambda rows, cols, upper: fused)
    rng = np.random.default_rng(13)
    n, m = 101, 2500
    g = genotypes(rng, n, m, 0.05)
    np.save(tmp_path / "g.npy", g)
    np.save(tmp_path / "keep.npy", np.arange(m, dtype=np.int64))
    source = gm.genotype_source(str(tmp_path / "g.npy"), str(tmp_path / "keep.npy"), None)
    p = planes(g)
    for i0, i1, j0, j1 in TILES[:3]:
        left, right, upper = p[:, i0:i1], p[:, j0:j1], i0 == j0
        pairs = np.triu(np.ones((i1 - i0, j1 - j0), dtype=bool)) if upper else slice(None)
        if metric == "king":  # then KING equals its dense passes (its own definition test:
            # tests/kernels/test_genome_metrics.py)
            got = gm.king_tile(i0, i1, j0, j1, source=source, has_missing=True)
            counts = gm.king_counts(left, right, upper, m, True, sparse=False)
            expected = np.empty_like(got)
            gm._finish_king(*counts, expected)
            np.testing.assert_array_equal(got[pairs], expected[pairs])
        else:  # and a PLINK distance its definition
            got = gm.distance_tile(i0, i1, j0, j1, source=source, n_variants=m, metric=metric,
                                   has_missing=True)
            expected = plink_distance(g, slice(i0, i1), slice(j0, j1), metric)
            np.testing.assert_allclose(got[pairs], expected[pairs], rtol=1e-12, atol=0)


@pytest.mark.parametrize("vector_popcount", [True, False])
@pytest.mark.parametrize("tile", [(0, 300, 300, 560), (0, 40, 300, 560), (0, 300, 0, 560),
                                  (0, 40, 0, 560)])
def test_distance_tiles_pick_the_kernel_by_shape_and_cpu(tile, vector_popcount: bool,
                                                         monkeypatch) -> None:
    # Given a tile of 560 samples x 1000 variants with 3 % missing calls, on a CPU with or
    # without a vector popcount
    monkeypatch.setattr(gm, "VECTOR_POPCOUNT", vector_popcount)
    rng = np.random.default_rng(21)
    m = 1000
    p = planes(genotypes(rng, 560, m, 0.03))
    i0, i1, j0, j1 = tile
    left, right, upper = p[:, i0:i1], p[:, j0:j1], i0 == j0
    calls = []
    for name in ("distance_counts", "sparse_distance_counts"):
        real = getattr(gm, name)
        monkeypatch.setattr(gm, name, lambda *a, real=real, name=name: (calls.append(name),
                                                                        real(*a))[1])
    # when its counts are taken, then only an off-diagonal tile whose sides both exceed
    # FUSED_MAX_ROWS samples, on a CPU with a vector popcount, takes the sparse corrections;
    # the rest the fused pass; both give the fused pass's integers
    got = gm.missing_distance_counts(left, right, upper, m)
    sparse = vector_popcount and tile == (0, 300, 300, 560)
    assert calls == ["sparse_distance_counts" if sparse else "distance_counts"]
    fused = distance_counts(left, right, upper)
    pairs = np.triu(np.ones((i1 - i0, j1 - j0), dtype=bool)) if upper else slice(None)
    for a, b in zip(got, fused, strict=True):
        np.testing.assert_array_equal(a[pairs], b[pairs])


WARM_PROBE = """
import sys, tempfile
from pathlib import Path
import numpy as np
from osler.kernels.genome import gram, metrics, sparse_missing
from osler.kernels.genome.distance import run_genome_distance
from osler.kernels.genome.warmup import warm_up
from tests.kernels.signature_probe import print_changed, signature_counts

KERNELS = (gram, metrics, sparse_missing)
metrics.VECTOR_POPCOUNT = True  # the off-diagonal ibs tile takes the sparse path on any CPU
if sys.argv[1] == "warm":
    warm_up()
before = signature_counts(KERNELS)
rng = np.random.default_rng(0)
g = rng.integers(0, 3, size=(600, 400), dtype=np.int8)
g[rng.random(g.shape) < 0.03] = -1
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    np.save(tmp / "g.npy", g)
    for metric in ("king", "ibs"):
        for block_size in (300, 70):
            out = tmp / f"{metric}{block_size}"
            out.mkdir()
            run_genome_distance(tmp / "g.npy", out, work_dir=tmp / f"w{metric}{block_size}",
                                metric=metric, block_size=block_size, plots=False)
print_changed(before, KERNELS)
"""


@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_warm_up_loads_the_sparse_kernels_a_job_uses(mode: str) -> None:
    # Given a fresh process, with or without the genome warm-up, when king and ibs jobs with
    # missing calls run on 600 samples, as on a CPU with a vector popcount (tiles of 300 rows:
    # KING's sparse corrections, and ibs's for the off-diagonal tile; tiles of 70 rows: ibs
    # takes the fused pass), then warm, the warm-up had already loaded every kernel signature
    # they use; cold, the probe sees the sparse kernels
    check_warm_up(WARM_PROBE, mode, ("osler.kernels.genome.sparse_missing.missing_counts_kernel",))
