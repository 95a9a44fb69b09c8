"""Pruned top-k and threshold search against brute force over RDKit's Bulk*Similarity scores."""

from __future__ import annotations

import numpy as np
import pytest

from osler.kernels.bits import pack_bits, unpack_bits
from osler.kernels.molecules.popcount_order import popcount_order
from osler.kernels.molecules.primitives import chunk_rows, popcounts, word_counts
from osler.kernels.molecules.pruned import SPAN, pruned_threshold, pruned_top_k
from tests.kernels.molecule_data import brute_top_k, bulk, nci_lines, rdkit_fps

THRESHOLDS = [0.0, 0.3, 0.7, 1.0]
METRICS = ["tanimoto", "dice", "cosine", "dot"]


def _packed(fps, n_bits: int) -> np.ndarray:
    bits = np.zeros((len(fps), n_bits), np.uint8)
    for i, fp in enumerate(fps):
        bits[i, list(fp.GetOnBits())] = 1
    return pack_bits(bits)


@pytest.fixture(scope="module", params=[("morgan", 2048), ("maccs", 167)], ids=str)
def molecules(request):
    """Real NCI fingerprints with duplicated rows (exact ties), their RDKit vectors and bits."""
    kind, n_bits = request.param
    smiles = [line.split()[0] for line in nci_lines(260)]
    fps = [fp for fp in rdkit_fps(smiles, kind, 2, 2048) if fp is not None]
    fps = fps + fps[::5] + fps[10:30]
    return fps, _packed(fps, n_bits), n_bits


def _reference(metric, fps, packed, n_bits, queries):
    """float32 scores from RDKit (numpy float64 from the definition for dot)."""
    if metric == "dot":
        bits = np.array([list(fp) for fp in fps], np.float64)
        return (bits[queries] @ bits.T / n_bits).astype(np.float32)
    return np.array([bulk(metric, fps[q], fps) for q in queries]).astype(np.float32)


def _by_popcount(packed):
    counts = popcounts(packed)
    order = np.argsort(counts, kind="stable")
    return packed[order], counts[order], order


def _score(metric, c, a, b, n_bits):
    """The metrics' definitions in float64 (0 for a zero denominator), rounded to float32."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = {"tanimoto": c / (a + b - c), "dice": 2 * c / (a + b),
                 "cosine": c / np.sqrt(a * b), "dot": c / n_bits + 0 * a}[metric]
    return np.nan_to_num(value, nan=0.0, posinf=0.0).astype(np.float32)


def _bounds_pass(metric, queries, library, n_bits, threshold):
    """Pairs that both bounds let through: popcounts (min(a, b) shared bits) and words (the sum
    over 64-bit words of the smaller word popcount), from the unpacked bits."""
    def words(fps):
        bits = unpack_bits(fps, fps.shape[1] * 64).reshape(len(fps), fps.shape[1], 64)
        return bits.sum(axis=2).astype(np.float64)

    qw, lw = words(queries), words(library)
    a, b = qw.sum(axis=1)[:, None], lw.sum(axis=1)[None, :]
    shared_at_most = np.minimum(qw[:, None, :], lw[None, :, :]).sum(axis=2)
    gate = np.float32(threshold)
    return ((_score(metric, np.minimum(a, b), a, b, n_bits) >= gate)
            & (_score(metric, shared_at_most, a, b, n_bits) >= gate))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("threshold", [None, *THRESHOLDS])
def test_pruned_top_k_equals_brute_force(molecules, metric, threshold):
    fps, packed, n_bits = molecules
    queries = np.array([0, 3, 17, 40, 101, 250, len(fps) - 1])
    ref = brute_top_k(_reference(metric, fps, packed, n_bits, queries), 10, threshold)
    lib, counts, rows = _by_popcount(packed)
    got_s, got_r, computed = pruned_top_k(packed[queries], popcounts(packed[queries]), lib,
                                          counts, rows, 10, metric=metric, n_bits=n_bits,
                                          threshold=threshold)
    for i, hits in enumerate(ref):
        n = len(hits)
        assert got_r[i, :n].tolist() == [j for _, j in hits]
        np.testing.assert_array_equal(got_s[i, :n], np.float32([s for s, _ in hits]))
        assert (got_r[i, n:] == -1).all()
    assert computed <= len(queries) * len(fps)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_pruned_threshold_equals_brute_force_and_skips_what_the_bound_excludes(
        molecules, metric, threshold):
    fps, packed, n_bits = molecules
    queries = np.arange(0, len(fps), 7)
    ref_scores = _reference(metric, fps, packed, n_bits, queries)
    lib, counts, rows = _by_popcount(packed)
    qi, lj, s, computed = pruned_threshold(packed[queries], popcounts(packed[queries]), lib,
                                           counts, threshold, metric=metric, n_bits=n_bits)
    got = sorted(zip(qi.tolist(), rows[lj].tolist(), s.tolist(), strict=True))
    ii, jj = np.nonzero(ref_scores >= np.float32(threshold))
    assert got == sorted(zip(ii.tolist(), jj.tolist(), ref_scores[ii, jj].tolist(),
                             strict=True))
    # Exactly the pairs both bounds let through were scored, no more
    assert computed == int(_bounds_pass(metric, packed[queries], lib, n_bits, threshold).sum())
    if metric != "dot" and threshold >= 0.7 and n_bits == 2048:  # sparse Morgan bits
        assert computed < 0.2 * len(queries) * len(fps)


@pytest.mark.parametrize("metric", ["tanimoto", "cosine"])
@pytest.mark.parametrize("threshold", [0.3, 0.7])
@pytest.mark.parametrize("block", [37, 1000])
def test_self_threshold_blocks_above_the_diagonal_give_every_pair_once(molecules, metric,
                                                                       threshold, block):
    fps, packed, n_bits = molecules
    lib, counts, rows = _by_popcount(packed)
    n = len(lib)
    pairs = set()
    for q0 in range(0, n, block):
        for l0 in range(0, n, block):
            qi, lj, s, _ = pruned_threshold(lib[q0:q0 + block], counts[q0:q0 + block],
                                            lib[l0:l0 + block], counts[l0:l0 + block],
                                            threshold, metric=metric, n_bits=n_bits,
                                            upper_from=q0 - l0)
            for a, b, score in zip(qi.tolist(), lj.tolist(), s.tolist(), strict=True):
                key = (min(rows[q0 + a], rows[l0 + b]), max(rows[q0 + a], rows[l0 + b]))
                assert key not in pairs
                pairs.add((*key, score))
    ref = _reference(metric, fps, packed, n_bits, np.arange(n))
    ii, jj = np.nonzero(np.triu(ref >= np.float32(threshold), k=1))
    assert pairs == set(zip(ii.tolist(), jj.tolist(), ref[ii, jj].tolist(), strict=True))


def test_top_k_gate_rises_as_the_heap_fills(molecules):
    # Every query has an exact duplicate: once its heap holds it, k=1 needs no other popcount
    fps, packed, n_bits = molecules
    queries = np.arange(10, 30)
    lib, counts, rows = _by_popcount(packed)
    qc = popcounts(packed[queries])
    s, r, computed = pruned_top_k(packed[queries], qc, lib, counts, rows, 1, n_bits=n_bits,
                                  skip_rows=queries)
    assert (s[:, 0] == 1.0).all()
    assert computed < 0.5 * len(queries) * len(fps)


def test_max_hits_stops_a_threshold_search(molecules):
    from osler.kernels.molecules.pruned import TooManyHits

    fps, packed, n_bits = molecules
    lib, counts, _ = _by_popcount(packed)
    with pytest.raises(TooManyHits, match="more than 50 pairs"):
        pruned_threshold(packed, popcounts(packed), lib, counts, 0.0, n_bits=n_bits,
                         max_hits=50)


def test_popcount_order_files_keep_the_permutation(molecules, tmp_path):
    _, packed, _ = molecules
    np.save(tmp_path / "fingerprints.npy", packed)
    order = popcount_order(tmp_path / "fingerprints.npy")
    fps, _, counts, rows = order.load()
    assert sorted(rows.tolist()) == list(range(len(packed)))
    assert np.array_equal(np.asarray(fps), packed[rows])
    assert np.array_equal(counts, popcounts(packed)[rows]) and (np.diff(counts) >= 0).all()
    # stable: equal popcounts keep file order
    same = counts[1:] == counts[:-1]
    assert (np.diff(rows)[same] > 0).all()
    assert popcount_order(tmp_path / "fingerprints.npy") == order
    assert np.array_equal(order.load()[1], word_counts(packed[rows]))
    assert order.load()[1].shape == (packed.shape[1], len(packed))  # by column
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "by_popcount.counts.npy", "by_popcount.npy", "by_popcount.rows.npy",
        "by_popcount.word_columns.npy", "fingerprints.npy"]


@pytest.mark.parametrize("metric", ["tanimoto", "cosine"])
def test_dense_fingerprints_past_a_bytes_bound_equal_brute_force(metric):
    # Given fingerprints with 300-700 of 1024 bits set (their word bounds would not fit the
    # kernels' byte counters: those pairs are scored without the word bound) and duplicates
    rng = np.random.default_rng(7)
    bits = (rng.random((90, 1024)) < rng.uniform(0.3, 0.7, (90, 1))).astype(np.uint8)
    bits = np.concatenate([bits, bits[::9]])
    packed, n_bits = pack_bits(bits), 1024
    a = bits.sum(axis=1).astype(np.float64)
    shared = bits.astype(np.float64) @ bits.T.astype(np.float64)
    ref = _score(metric, shared, a[:, None], a[None, :], n_bits)  # the definition, float64
    lib, counts, rows = _by_popcount(packed)
    queries = np.arange(0, len(packed), 5)
    # When searched by top-k and by threshold, Then the results are brute force's
    for threshold in (None, 0.45):
        got_s, got_r, _ = pruned_top_k(packed[queries], popcounts(packed[queries]), lib,
                                       counts, rows, 6, metric=metric, n_bits=n_bits,
                                       threshold=threshold)
        for i, hits in enumerate(brute_top_k(ref[queries], 6, threshold)):
            assert got_r[i, :len(hits)].tolist() == [j for _, j in hits]
            np.testing.assert_array_equal(got_s[i, :len(hits)], np.float32([s for s, _ in hits]))
    qi, lj, s, _ = pruned_threshold(packed[queries], popcounts(packed[queries]), lib, counts,
                                    0.45, metric=metric, n_bits=n_bits)
    ii, jj = np.nonzero(ref[queries] >= np.float32(0.45))
    assert sorted(zip(qi.tolist(), rows[lj].tolist(), s.tolist(), strict=True)) == sorted(
        zip(ii.tolist(), jj.tolist(), ref[queries][ii, jj].tolist(), strict=True))
    assert len(ii) > 0


@pytest.mark.parametrize("metric", ["tanimoto", "dice"])
def test_popcount_groups_longer_than_a_span_and_a_chunk_equal_brute_force(metric):
    # Given 6,000 sparse 2048-bit fingerprints with 39-41 bits set (so each popcount group runs
    # over several spans and cache chunks), near-copies of 60 of them (high scores, rising
    # gates, late in their spans) and exact copies (ties)
    rng = np.random.default_rng(11)
    n_bits, n = 2048, 6000
    weights = rng.pareto(1.5, n_bits) + 0.05  # skewed bit frequencies, as Morgan bits are
    bits = np.zeros((n, n_bits), np.uint8)
    for i in range(n):
        bits[i, rng.choice(n_bits, 39 + i % 3, replace=False, p=weights / weights.sum())] = 1
    for i in range(60):  # near-copies spread over the file: a base row with two bits moved
        row = bits[i].copy()
        row[rng.choice(np.flatnonzero(row), 2, replace=False)] = 0
        row[rng.choice(np.flatnonzero(row == 0), 2, replace=False)] = 1
        bits[1000 + 79 * i] = row
    bits[5980:6000] = bits[0:20]
    packed = pack_bits(bits)
    lib, counts, rows = _by_popcount(packed)
    assert np.bincount(counts).max() > SPAN and len(lib) > 2 * chunk_rows(lib)
    a = bits.sum(axis=1).astype(np.float64)
    queries = np.arange(0, 60, 3)
    shared = bits[queries].astype(np.float64) @ bits.T.astype(np.float64)
    ref = _score(metric, shared, a[queries][:, None], a[None, :], n_bits)  # float64 definition
    # When searched by top-k and by threshold, Then the results are brute force's
    for threshold in (None, 0.6):
        got_s, got_r, _ = pruned_top_k(packed[queries], popcounts(packed[queries]), lib, counts,
                                       rows, 10, metric=metric, n_bits=n_bits,
                                       threshold=threshold)
        for i, hits in enumerate(brute_top_k(ref, 10, threshold)):
            assert got_r[i, :len(hits)].tolist() == [j for _, j in hits]
            np.testing.assert_array_equal(got_s[i, :len(hits)], np.float32([s for s, _ in hits]))
            assert (got_r[i, len(hits):] == -1).all()
    qi, lj, s, _ = pruned_threshold(packed[queries], popcounts(packed[queries]), lib, counts,
                                    0.5, metric=metric, n_bits=n_bits)
    ii, jj = np.nonzero(ref >= np.float32(0.5))
    assert len(ii) > len(queries)  # more than the queries' own rows pass
    assert sorted(zip(qi.tolist(), rows[lj].tolist(), s.tolist(), strict=True)) == sorted(
        zip(ii.tolist(), jj.tolist(), ref[ii, jj].tolist(), strict=True))
