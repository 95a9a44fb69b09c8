"""The drug-similarity job kernel end to end: artifacts against RDKit, blocks, Dask, errors."""

from __future__ import annotations

import contextlib
import csv
import time
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.molecules import fingerprints
from osler.kernels.molecules.readers import count_records
from osler.kernels.molecules.scores import empty_top_k
from osler.kernels.molecules.similarity_job import run_drug_similarity
from osler.kernels.molecules.tiles import (
    INFLIGHT_PER_THREAD,
    BlockResult,
    SimilarityBlock,
    run_blocks,
)
from tests.kernels.molecule_data import (
    CHEMBL_SMI,
    brute_top_k,
    bulk,
    nci_lines,
    rdkit_fps,
    write_smi,
)

FLOAT32_EPS = float(np.finfo(np.float32).eps)
N_LIBRARY = 150


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """150 NCI lines plus invalid ones at lines 3 and 40 and a blank line 20."""
    lines = nci_lines(N_LIBRARY, start=100)
    lines.insert(2, "C1CC bad-ring")
    lines.insert(19, "")
    lines.insert(39, "N(C)(C)(C)(C)C bad-valence")
    # repeat molecules so that exact ties occur in the rankings
    lines += [lines[0].split()[0] + " dup-a", lines[5].split()[0] + " dup-b"]
    return write_smi(tmp_path_factory.mktemp("lib") / "library.smi", lines)


@pytest.fixture(scope="module")
def queries(tmp_path_factory) -> Path:
    lines = CHEMBL_SMI.read_text().splitlines()[:20]
    return write_smi(tmp_path_factory.mktemp("q") / "queries.smi", lines)


def _valid(path: Path) -> list[tuple[str, str]]:
    """(id, smiles) of lines RDKit parses, in order: the reference rows."""
    from rdkit import Chem

    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if parts and Chem.MolFromSmiles(parts[0]) is not None:
            out.append((parts[1] if len(parts) > 1 else str(number), parts[0]))
    return out


def _read_hits(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(library_path, out, tmp_path, **kw):
    out.mkdir()
    return run_drug_similarity(library_path, out, library_sha256=library_path.name,
                               cache_dir=tmp_path / "cache", plots=kw.pop("plots", False), **kw)


@pytest.mark.parametrize("metric", ["tanimoto", "dice"])
def test_top_k_hits_equal_rdkit_brute_force(library, queries, tmp_path, metric):
    # Given RDKit's scores for every query x library pair
    lib, qs = _valid(library), _valid(queries)
    lib_fps = rdkit_fps([s for _, s in lib])
    q_fps = rdkit_fps([s for _, s in qs])
    ref_scores = np.array([bulk(metric, fp, lib_fps) for fp in q_fps]).astype(np.float32)
    ref = brute_top_k(ref_scores, 5)
    # When the job runs in top-k mode
    summary = _run(library, tmp_path / "out", tmp_path, queries_path=queries, mode="top-k",
                   metric=metric, k=5)
    # Then hits.csv lists RDKit's top 5 per query, ties broken by the lower library row
    hits = _read_hits(tmp_path / "out" / "hits.csv")
    expected = [(qs[i][0], qs[i][1], lib[j][0], lib[j][1], f"{s:.6f}", str(rank))
                for i, row in enumerate(ref) for rank, (s, j) in enumerate(row, start=1)]
    got = [(h["query_id"], h["query_smiles"], h["hit_id"], h["hit_smiles"], h["similarity"],
            h["rank"]) for h in hits]
    assert got == expected
    assert summary["n_queries"] == 20 and summary["n_library"] == len(lib)
    assert summary["n_invalid_library"] == 2 and summary["n_invalid_queries"] == 0
    assert summary["comparisons"] == 20 * len(lib)


def test_all_pairs_matrix_equals_rdkit_and_hits_skip_self(library, tmp_path):
    lib = _valid(library)
    fps = rdkit_fps([s for _, s in lib])
    ref = np.array([bulk("tanimoto", fp, fps) for fp in fps])
    summary = _run(library, tmp_path / "out", tmp_path, mode="all-pairs", k=3, block_size=64)
    matrix = np.load(tmp_path / "out" / "matrix.npy")
    assert matrix.dtype == np.float32 and matrix.shape == (len(lib), len(lib))
    np.testing.assert_allclose(matrix, ref, rtol=FLOAT32_EPS, atol=0)
    hits = _read_hits(tmp_path / "out" / "hits.csv")
    top = brute_top_k(ref.astype(np.float32), 3, exclude_diagonal=True)
    assert [h["hit_id"] for h in hits] == [lib[j][0] for row in top for _, j in row]
    # the duplicated molecules find each other with similarity 1
    assert any(h["query_id"] == "dup-a" and h["similarity"] == "1.000000" for h in hits)
    assert summary["pairs_computed"] == len(lib) * (len(lib) - 1) // 2


@pytest.mark.parametrize("metric", ["tanimoto", "cosine"])
@pytest.mark.parametrize("threshold", [0.3, 0.7])
def test_threshold_mode_lists_every_pair_rdkit_scores_above_it(library, queries, tmp_path,
                                                               metric, threshold):
    # Given RDKit's scores for every query x library pair
    from scipy import sparse

    lib, qs = _valid(library), _valid(queries)
    lib_fps = rdkit_fps([s for _, s in lib])
    ref = np.array([bulk(metric, fp, lib_fps) for fp in rdkit_fps([s for _, s in qs])])
    ref = ref.astype(np.float32)
    # When the job runs in threshold mode
    summary = _run(library, tmp_path / "out", tmp_path, queries_path=queries, mode="threshold",
                   metric=metric, threshold=threshold)
    # Then matrix.npz holds exactly the pairs at or above the threshold, with RDKit's scores
    matrix = sparse.load_npz(tmp_path / "out" / "matrix.npz")
    assert matrix.format == "csr" and matrix.dtype == np.float32 and matrix.has_sorted_indices
    assert matrix.shape == ref.shape
    np.testing.assert_array_equal(matrix.toarray(), np.where(ref >= np.float32(threshold), ref, 0))
    # and hits.csv lists them per query, best first, ties by the lower library row
    keep = ref >= np.float32(threshold)
    expected = [(qs[i][0], lib[j][0], f"{s:.6f}", str(rank))
                for i, row in enumerate(brute_top_k(np.where(keep, ref, -1), len(lib), 0.0))
                for rank, (s, j) in enumerate(row, start=1)]
    got = [(h["query_id"], h["hit_id"], h["similarity"], h["rank"])
           for h in _read_hits(tmp_path / "out" / "hits.csv")]
    assert got == expected
    assert summary["n_hits"] == int(keep.sum()) and summary["k"] is None
    assert summary["pairs_computed"] <= summary["comparisons"]


def test_threshold_self_search_is_the_thresholded_all_pairs_matrix(library, tmp_path):
    from scipy import sparse

    _run(library, tmp_path / "all", tmp_path, mode="all-pairs", metric="dice")
    summary = _run(library, tmp_path / "thr", tmp_path, mode="threshold", metric="dice",
                   threshold=0.5, block_size=64)
    full = np.load(tmp_path / "all" / "matrix.npy")
    np.fill_diagonal(full, 0)  # a molecule is never its own hit
    matrix = sparse.load_npz(tmp_path / "thr" / "matrix.npz")
    np.testing.assert_array_equal(matrix.toarray(), np.where(full >= 0.5, full, 0))
    # the duplicated molecules find each other with similarity 1
    hits = _read_hits(tmp_path / "thr" / "hits.csv")
    assert any(h["query_id"] == "dup-a" and h["similarity"] == "1.000000" for h in hits)
    n = summary["n_library"]
    assert summary["pairs_computed"] <= n * (n - 1) // 2


def test_threshold_mode_needs_a_threshold_and_stops_at_max_hits(library, tmp_path):
    with pytest.raises(InputError, match="needs a threshold"):
        _run(library, tmp_path / "a", tmp_path, mode="threshold")
    with pytest.raises(InputError, match="more than 100 pairs"):
        _run(library, tmp_path / "b", tmp_path, mode="threshold", threshold=0.0, max_hits=100)


def test_cache_entries_written_before_the_index_still_load(library, tmp_path):
    # Given a cache entry as earlier versions wrote it (no row index, no popcount order)
    first = _run(library, tmp_path / "a", tmp_path, k=3)
    (entry,) = (tmp_path / "cache").iterdir()
    for name in ("molecules.index.npy", "molecules.numbers.npy", "by_popcount.npy",
                 "by_popcount.counts.npy", "by_popcount.word_columns.npy",
                 "by_popcount.rows.npy"):
        (entry / name).unlink()
    # When a job uses it again, Then the results are the same and the files are back
    again = _run(library, tmp_path / "b", tmp_path, k=3)
    assert again["library_cached"] and not first["library_cached"]
    assert (tmp_path / "a" / "hits.csv").read_text() == (tmp_path / "b" / "hits.csv").read_text()
    assert (entry / "molecules.index.npy").exists() and (entry / "by_popcount.rows.npy").exists()


def test_cache_entries_with_word_counts_by_row_get_them_by_column(library, tmp_path):
    # Given an entry whose popcount order kept its word counts by row (before the columns)
    first = _run(library, tmp_path / "a", tmp_path, k=3)
    (entry,) = (tmp_path / "cache").iterdir()
    columns = np.load(entry / "by_popcount.word_columns.npy")
    np.save(entry / "by_popcount.words.npy", columns.T)
    (entry / "by_popcount.word_columns.npy").unlink()
    # When a job uses it again, Then the columns are written, the row file goes, same results
    _run(library, tmp_path / "b", tmp_path, k=3)
    assert np.array_equal(np.load(entry / "by_popcount.word_columns.npy"), columns)
    assert not (entry / "by_popcount.words.npy").exists()
    assert (tmp_path / "a" / "hits.csv").read_text() == (tmp_path / "b" / "hits.csv").read_text()
    assert first["library_cached"] is False


@pytest.mark.parametrize("mode", ["top-k", "threshold", "all-pairs"])
def test_results_independent_of_block_size(library, queries, tmp_path, mode):
    kw = dict(mode=mode, metric="cosine", k=4, threshold=0.1)
    _run(library, tmp_path / "a", tmp_path, queries_path=queries, block_size=5, **kw)
    _run(library, tmp_path / "b", tmp_path, queries_path=queries, **kw)
    _run(library, tmp_path / "c", tmp_path, block_size=5, **kw)
    _run(library, tmp_path / "d", tmp_path, block_size=1000, **kw)
    for x, y in (("a", "b"), ("c", "d")):
        assert (tmp_path / x / "hits.csv").read_text() == (tmp_path / y / "hits.csv").read_text()
        if mode == "all-pairs":
            assert np.array_equal(np.load(tmp_path / x / "matrix.npy"),
                                  np.load(tmp_path / y / "matrix.npy"))
        if mode == "threshold":
            assert (tmp_path / x / "matrix.npz").read_bytes() == \
                (tmp_path / y / "matrix.npz").read_bytes()


def test_dask_client_gives_the_same_results(library, queries, tmp_path, dask_client,
                                            monkeypatch):
    # Small shards so that fingerprinting also goes through the workers
    monkeypatch.setattr(fingerprints, "SHARD_SIZE", 40)
    monkeypatch.setattr(fingerprints, "DASK_MIN_MOLECULES", 50)
    for mode in ("top-k", "threshold", "all-pairs"):
        here = _run(library, tmp_path / f"{mode}-here", tmp_path / "c1", mode=mode, k=5,
                    threshold=0.4 if mode == "threshold" else None, block_size=32)
        there = _run(library, tmp_path / f"{mode}-dask", tmp_path / "c2", mode=mode, k=5,
                     threshold=0.4 if mode == "threshold" else None, block_size=32,
                     client=dask_client)
        assert here["n_library"] == there["n_library"]
        assert (tmp_path / f"{mode}-here" / "hits.csv").read_text() == \
            (tmp_path / f"{mode}-dask" / "hits.csv").read_text()
        assert (tmp_path / f"{mode}-here" / "invalid.csv").read_text() == \
            (tmp_path / f"{mode}-dask" / "invalid.csv").read_text()
    assert np.array_equal(np.load(tmp_path / "all-pairs-here" / "matrix.npy"),
                          np.load(tmp_path / "all-pairs-dask" / "matrix.npy"))
    assert (tmp_path / "threshold-here" / "matrix.npz").read_bytes() == \
        (tmp_path / "threshold-dask" / "matrix.npz").read_bytes()


class Cancelled(Exception):
    pass


def test_progress_exception_propagates_and_cleans_up(library, tmp_path, dask_client):
    def progress(fraction, message):
        if "block 1/" in message:
            raise Cancelled

    with pytest.raises(Cancelled):
        _run(library, tmp_path / "out", tmp_path, mode="all-pairs", block_size=16,
             client=dask_client, progress=progress)
    assert not (tmp_path / "out" / "matrix.npy").exists()
    # Blocks already running finish (Dask cannot interrupt them); the rest were cancelled,
    # so the workers drain instead of working through all 55 tiles. On a fresh clone a running
    # block may first compile its numba kernels (tens of seconds on 2 busy cores): allow for it.
    # "Drained" is read on the scheduler: no task processing or queued, three times in a row
    # (processing() alone is briefly empty while a queued task moves to a freed worker).
    def busy() -> int:
        return dask_client.run_on_scheduler(lambda dask_scheduler: sum(
            ts.state in ("processing", "queued", "no-worker")
            for ts in dask_scheduler.tasks.values()))

    deadline = time.monotonic() + 120
    quiet = 0
    while quiet < 3 and time.monotonic() < deadline:
        quiet = quiet + 1 if busy() == 0 else 0
        time.sleep(0.05)
    assert quiet == 3, f"{busy()} tasks still processing or queued"
    assert len(dask_client.who_has()) == 0  # no results kept alive either


def _slow_block(block: SimilarityBlock) -> BlockResult:
    time.sleep(0.3)
    (Path(block.query_path) / f"ran-{block.q0}").touch()
    return BlockResult(block.q0, *empty_top_k(1, 1), np.zeros(100, np.int64), 0)


def test_stopping_early_cancels_blocks_not_yet_run(tmp_path, dask_client):
    # Given 40 slow blocks on 2 single-thread workers
    blocks = [SimilarityBlock(str(tmp_path), str(tmp_path), q0, q0 + 1, 0, 1, "tanimoto", 8, 1,
                              None, False) for q0 in range(40)]
    # When the consumer fails after the first result
    with pytest.raises(Cancelled), contextlib.closing(
            run_blocks(_slow_block, blocks, dask_client)) as results:
        for _ in results:
            raise Cancelled
    time.sleep(1.5)
    # Then only the few blocks submitted ahead ever ran
    assert len(list(tmp_path.glob("ran-*"))) <= 2 * INFLIGHT_PER_THREAD + 2


def test_invalid_csv_reports_lines_and_ids(library, tmp_path):
    summary = _run(library, tmp_path / "out", tmp_path, k=1)
    with open(tmp_path / "out" / "invalid.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["input"], r["unit"], r["number"], r["id"]) for r in rows] == [
        ("library", "line", "3", "bad-ring"), ("library", "line", "40", "bad-valence")]
    assert summary["n_invalid_library"] == 2


def test_plots_written(library, queries, tmp_path):
    summary = _run(library, tmp_path / "out", tmp_path, queries_path=queries, plots=True)
    for name in ("hits.png", "similarity_histogram.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"hits.csv", "hits.png", "similarity_histogram.png", "invalid.csv"} <= set(
        summary["artifacts"])


def test_precomputed_npy_fingerprints(tmp_path):
    rng = np.random.default_rng(3)
    bits = (rng.random((40, 200)) < 0.1).astype(np.uint8)
    np.save(tmp_path / "fps.npy", bits)
    summary = _run(tmp_path / "fps.npy", tmp_path / "out", tmp_path, mode="all-pairs",
                   metric="dot", k=2)
    matrix = np.load(tmp_path / "out" / "matrix.npy")
    ref = bits.astype(np.float64) @ bits.T.astype(np.float64) / 200
    np.testing.assert_allclose(matrix, ref, rtol=FLOAT32_EPS, atol=0)
    assert summary["n_bits"] == 200 and summary["fingerprint"] == {"fingerprint": "precomputed"}
    assert _read_hits(tmp_path / "out" / "hits.csv")[0]["query_id"] == "1"


def test_count_records(library, tmp_path):
    assert count_records(library) == N_LIBRARY + 4
    (tmp_path / "t.csv").write_text("id,smiles\na,CCO\nb,CCN\n")
    assert count_records(tmp_path / "t.csv") == 2
    with pytest.raises(InputError, match=r"no column 'smi'.*|t\.csv"):
        count_records(tmp_path / "t.csv", smiles_column="smi")


def test_all_invalid_file_and_bad_params_are_input_errors(tmp_path):
    bad = write_smi(tmp_path / "bad.smi", ["C1CC a", "xyz b"])
    with pytest.raises(InputError, match="no valid molecule"):
        _run(bad, tmp_path / "out", tmp_path)
    good = write_smi(tmp_path / "good.smi", ["CCO a", "CCN b"])
    for kw, match in ((dict(mode="matrix"), "mode"), (dict(metric="jaccard"), "metric"),
                      (dict(k=0), "k must"), (dict(threshold=1.5), "threshold"),
                      (dict(fingerprint="ecfp"), "fingerprint")):
        with pytest.raises(InputError, match=match):
            run_drug_similarity(good, tmp_path, library_sha256="g", cache_dir=tmp_path / "c",
                                **kw)


def test_molecule_table_reads_plain_and_quoted_rows(tmp_path):
    # Given ids with a comma, a quote and none, written as the cache writes its table
    ids = ["CHEMBL25", "drug, with comma", 'say "aspirin"', "x"]
    smiles = ["CC(=O)Oc1ccccc1C(=O)O", "C1CC1", "c1ccccc1", ""]
    fingerprints._write_molecules(tmp_path, np.array([2, 3, 5, 9]), ids, smiles)
    table = fingerprints.MoleculeTable(tmp_path / "molecules.csv",
                                       tmp_path / "molecules.index.npy")
    # Then every row reads back as written, plain rows and quoted ones alike, one at a time
    # or together (in any order, repeated), and a row past the end is an IndexError
    assert [table.row(i) for i in range(4)] == list(zip(ids, smiles, strict=True))
    assert table.rows(np.array([3, 1, 1, 0, 2])) == [(ids[i], smiles[i]) for i in (3, 1, 1, 0, 2)]
    assert table.rows(np.array([], np.int64)) == []
    with pytest.raises(IndexError):
        table.rows(np.array([0, 4]))
    with open(tmp_path / "molecules.csv", newline="", encoding="utf-8") as fh:
        assert [tuple(r[1:]) for r in csv.reader(fh)][1:] == list(zip(ids, smiles, strict=True))
