"""Popcount similarity kernels against RDKit's Bulk*Similarity and brute-force sorts."""

from __future__ import annotations

import numpy as np
import pytest

from osler.kernels.bits import pack_bits
from osler.kernels.molecules import primitives
from osler.kernels.molecules import scores as similarity
from osler.kernels.molecules.pruned import pruned_top_k
from tests.kernels.molecule_data import brute_top_k, bulk, nci_lines, rdkit_fps

FLOAT32_EPS = float(np.finfo(np.float32).eps)


def _packed(fps, n_bits: int) -> np.ndarray:
    bits = np.zeros((len(fps), n_bits), np.uint8)
    for i, fp in enumerate(fps):
        bits[i, list(fp.GetOnBits())] = 1
    return pack_bits(bits)


@pytest.fixture(scope="module")
def nci_fps():
    smiles = [line.split()[0] for line in nci_lines(400)]
    return [fp for fp in rdkit_fps(smiles) if fp is not None]


@pytest.mark.parametrize("metric", ["tanimoto", "dice", "cosine"])
@pytest.mark.parametrize("kind,fp_size", [("morgan", 2048), ("maccs", 0), ("rdkit", 1000)])
def test_scores_equal_rdkit_bulk(metric, kind, fp_size):
    # Given real NCI molecules fingerprinted by RDKit (2048, 167 and 1000 bits: odd widths too)
    smiles = [line.split()[0] for line in nci_lines(300)]
    fps = [fp for fp in rdkit_fps(smiles, kind, 2, fp_size or 2048) if fp is not None]
    n_bits = fps[0].GetNumBits()
    packed = _packed(fps, n_bits)
    rng = np.random.default_rng(1)
    queries = rng.choice(len(fps), size=12, replace=False)
    # When one tile scores the random queries against everything
    tile = similarity.similarity_tile(packed[queries], packed, metric=metric, n_bits=n_bits)
    # Then every score is RDKit's double rounded to float32
    for row, q in zip(tile, queries, strict=True):
        ref = bulk(metric, fps[q], fps)
        np.testing.assert_allclose(row, ref, rtol=FLOAT32_EPS, atol=0)


def test_dot_is_gram_over_bits(nci_fps):
    packed = _packed(nci_fps[:50], 2048)
    bits = np.array([list(fp) for fp in nci_fps[:50]], dtype=np.float64)
    ref = bits @ bits.T / 2048
    got = similarity.similarity_tile(packed, packed, metric="dot", n_bits=2048)
    np.testing.assert_allclose(got, ref, rtol=FLOAT32_EPS, atol=0)


def test_empty_fingerprints_score_zero_like_rdkit():
    from rdkit.DataStructs import ExplicitBitVect, TanimotoSimilarity

    empty = np.zeros((2, 2), np.uint64)
    one = np.array([[1, 0]], np.uint64)
    for metric in ("tanimoto", "dice", "cosine"):
        got = similarity.similarity_tile(empty, np.vstack([empty, one]), metric=metric)
        assert got.tolist() == [[0.0] * 3] * 2
    assert TanimotoSimilarity(ExplicitBitVect(8), ExplicitBitVect(8)) == 0.0


def test_unknown_metric_raises():
    with pytest.raises(ValueError, match="unknown metric"):
        similarity.metric_code("jaccard2")


def _tied_library(nci_fps) -> np.ndarray:
    # Duplicated rows make exact ties, so the lower-row rule is exercised.
    packed = _packed(nci_fps[:120], 2048)
    return np.vstack([packed, packed[::3], packed[5:40]])


def _sorted(library: np.ndarray):
    """The library in popcount order: (fingerprints, counts, file rows), as the cache keeps it."""
    counts = similarity.popcounts(library)
    order = np.argsort(counts, kind="stable")
    return library[order], counts[order], order


def _top_k(queries, library, k, *, self_search=False, **kw):
    lib, counts, rows = _sorted(library)
    skip = np.arange(len(queries)) if self_search else None
    s, r, _ = pruned_top_k(queries, similarity.popcounts(queries), lib, counts, rows, k,
                           skip_rows=skip, **kw)
    return s, r


@pytest.mark.parametrize("k,threshold", [(1, None), (10, None), (7, 0.3), (500, None)])
def test_top_k_equals_brute_force_with_ties(nci_fps, k, threshold):
    library = _tied_library(nci_fps)
    queries = library[[0, 4, 9, 130, 170]]
    scores = similarity.similarity_tile(queries, library)
    ref = brute_top_k(scores, k, threshold)
    got_s, got_r = _top_k(queries, library, k, threshold=threshold)
    for i, hits in enumerate(ref):
        n = len(hits)
        assert got_r[i, :n].tolist() == [j for _, j in hits]
        assert got_s[i, :n].tolist() == [s for s, _ in hits]
        assert (got_r[i, n:] == similarity.EMPTY_ROW).all()


@pytest.mark.parametrize("block", [3, 7, 64, 1000])
def test_top_k_independent_of_library_blocks(nci_fps, block):
    # Blocks of the popcount order merged one by one equal the whole library searched at once
    library = _tied_library(nci_fps)
    queries = library[:40]
    lib, counts, rows = _sorted(library)
    qc = similarity.popcounts(queries)
    skip = np.arange(40)
    whole_s, whole_r, _ = pruned_top_k(queries, qc, lib, counts, rows, 10, skip_rows=skip)
    acc_s, acc_r = similarity.empty_top_k(len(queries), 10)
    for l0 in range(0, len(library), block):
        s, r, _ = pruned_top_k(queries, qc, lib[l0:l0 + block], counts[l0:l0 + block],
                               rows[l0:l0 + block], 10, skip_rows=skip)
        acc_s, acc_r = similarity.merge_top_k(acc_s, acc_r, s, r)
    assert np.array_equal(acc_r, whole_r)
    assert np.array_equal(acc_s, whole_s)


def test_self_search_skips_own_row_only(nci_fps):
    library = _tied_library(nci_fps)
    scores = similarity.similarity_tile(library, library)
    ref = brute_top_k(scores, 5, exclude_diagonal=True)
    _, rows = _top_k(library, library, 5, self_search=True)
    assert rows.tolist() == [[j for _, j in hits] for hits in ref]
    # row 160 is a copy of row 5: each is the other's best hit, neither is its own
    assert rows[5, 0] == 160 and rows[160, 0] == 5


def test_tile_top_k_and_histogram_match_pruned_kernel(nci_fps):
    library = _tied_library(nci_fps)
    tile = similarity.similarity_tile(library, library)
    s1, r1 = similarity.top_k_of_tile(tile, 8, skip_self_offset=0, threshold=0.2)
    s2, r2 = _top_k(library, library, 8, self_search=True, threshold=0.2)
    assert np.array_equal(r1, r2) and np.array_equal(s1, s2)
    hist = np.zeros((len(library), similarity.HISTOGRAM_BINS), np.int64)
    similarity.top_k_of_tile(tile, 1, skip_self_offset=0, histogram=hist)
    off_diagonal = tile[~np.eye(len(library), dtype=bool)]
    ref = np.histogram(np.minimum(off_diagonal.astype(np.float64) * 100, 99.5),
                       bins=np.arange(101))[0]
    assert np.array_equal(hist.sum(axis=0), ref)


@pytest.mark.parametrize("n", [1, 5, 64, 130])
def test_self_tile_and_transpose_equal_plain_tile(nci_fps, n):
    packed = _packed(nci_fps[:n], 2048)
    full = similarity.similarity_tile(packed, packed, metric="dice")
    assert np.array_equal(similarity.self_similarity_tile(packed, metric="dice"), full)
    rect = similarity.similarity_tile(packed, _packed(nci_fps[n:n + 70], 2048))
    assert np.array_equal(similarity.transpose_tile(rect), rect.T)


def test_popcounts_match_rdkit(nci_fps):
    packed = _packed(nci_fps, 2048)
    assert similarity.popcounts(packed).tolist() == [fp.GetNumOnBits() for fp in nci_fps]


@pytest.mark.parametrize("chunk_rows", [4, 12, 100])
def test_cache_chunking_does_not_change_results(nci_fps, monkeypatch, chunk_rows):
    library = _tied_library(nci_fps)
    queries = library[::7]
    tile = similarity.similarity_tile(queries, library)
    self_tile = similarity.self_similarity_tile(library)
    top = _top_k(queries, library, 6, threshold=0.1)
    monkeypatch.setattr(primitives, "CACHE_CHUNK_BYTES", chunk_rows * library.shape[1] * 8)
    assert primitives.chunk_rows(library) == chunk_rows
    assert np.array_equal(similarity.similarity_tile(queries, library), tile)
    assert np.array_equal(similarity.self_similarity_tile(library), self_tile)
    chunked = _top_k(queries, library, 6, threshold=0.1)
    assert np.array_equal(chunked[0], top[0]) and np.array_equal(chunked[1], top[1])
