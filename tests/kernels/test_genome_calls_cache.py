"""A dataset's counts and digests, kept in its cache folder: a later job on the same dataset
takes them instead of reading the calls, and its matrices are those of a job that read them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.genome import calls_cache, incremental
from osler.kernels.genome import distance as genome_distance
from osler.kernels.genome.simulate import balding_nichols
from osler.kernels.incremental import INPUTS_ARTIFACT
from tests.kernels.test_incremental_genome import (
    N_OLD,
    N,
    assert_same_matrices,
    prior_job,
    write_input,
)

SHA = "ab" * 32  # the file's SHA-256 as the worker passes it; any fixed name will do here


@pytest.fixture(scope="module")
def genotypes() -> np.ndarray:
    g, _ = balding_nichols(N, 300, missing_rate=0.03, seed=12)
    return g


def run(path: Path, tmp: Path, label: str, cache: Path | None = None, **params) -> tuple[dict,
                                                                                       Path]:
    out = tmp / f"out-{label}"
    out.mkdir()
    summary = genome_distance.run_genome_distance(
        path, out, work_dir=tmp / f"work-{label}", plots=False, cache_dir=cache,
        dataset_sha256=SHA if cache is not None else None, **params)
    return summary, out


class CallsRead:
    """Records what a job reads of the calls: the counting calls and the digested ranges."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counted: list[int] = []
        self.digested: list[tuple[int, int]] = []
        counts, digest = genome_distance._variant_counts, incremental._digest_ranges

        def counting(cohort, client, exchange, first=0):
            self.counted.append(first)
            return counts(cohort, client, exchange, first)

        def digesting(cohort, ranges):
            self.digested.extend(ranges)
            return digest(cohort, ranges)

        monkeypatch.setattr(genome_distance, "_variant_counts", counting)
        monkeypatch.setattr(incremental, "_digest_ranges", digesting)

    def clear(self) -> None:
        self.counted.clear()
        self.digested.clear()


@pytest.mark.parametrize("fmt", ["npy", "bed"])
@pytest.mark.parametrize("metric", ["ibs", "king", "grm"])
def test_a_later_job_on_the_dataset_reads_no_calls_and_equals_one_that_did(
        genotypes, tmp_path, monkeypatch, fmt, metric) -> None:
    path = write_input(genotypes, tmp_path / "in", fmt)
    cache = tmp_path / "cache"
    reads = CallsRead(monkeypatch)
    # The first job reads the calls and leaves what it learned in the cache
    first, _ = run(path, tmp_path, "first", cache, metric="allele-ct")
    assert first["calls_cached"] is False and reads.counted == [0]
    entry = cache / calls_cache.entry_name(SHA)
    stored = np.load(entry / calls_cache.COUNTS_FILE)
    np.testing.assert_array_equal(stored[0], (genotypes >= 0).sum(axis=0))
    np.testing.assert_array_equal(stored[1], np.where(genotypes >= 0, genotypes, 0).sum(axis=0))
    # The next one, of any metric, reads none and computes what a job without a cache does
    reads.clear()
    summary, cached = run(path, tmp_path, "cached", cache, metric=metric)
    assert summary["calls_cached"] is True and reads.counted == [] and reads.digested == []
    plain_summary, plain = run(path, tmp_path, "plain", metric=metric)
    assert_same_matrices(cached, plain, metric)
    assert plain_summary["calls_cached"] is False
    if metric != "grm":  # the record a later extension checks is the same
        assert json.loads((cached / INPUTS_ARTIFACT).read_text()) == json.loads(
            (plain / INPUTS_ARTIFACT).read_text())


@pytest.mark.parametrize("fmt", ["npy", "bed"])
@pytest.mark.parametrize("n_old", [N_OLD, 40])
def test_an_extension_on_a_cached_dataset_digests_only_the_earlier_partial_block(
        genotypes, tmp_path, monkeypatch, fmt, n_old) -> None:
    monkeypatch.setattr(incremental, "DIGEST_BLOCK_SAMPLES", 8)
    monkeypatch.setattr(calls_cache, "DIGEST_BLOCK_SAMPLES", 8)
    _, old = run(write_input(genotypes[:n_old], tmp_path / "old", fmt), tmp_path, "old",
                 metric="ibs")
    grown = write_input(genotypes, tmp_path / "new", fmt)
    cache = tmp_path / "cache"
    _, full = run(grown, tmp_path, "full", cache, metric="ibs")
    reads = CallsRead(monkeypatch)
    summary, extended = run(grown, tmp_path, "ext", cache, metric="ibs", extends=prior_job(old))
    assert summary["calls_cached"] is True and summary["rows_computed"] == N - n_old
    assert reads.counted == []
    assert reads.digested == ([(32, n_old)] if n_old % 8 else [])
    assert_same_matrices(extended, full, "ibs")


def test_a_cached_dataset_whose_earlier_samples_differ_is_still_refused(genotypes,
                                                                        tmp_path) -> None:
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", "bed"), tmp_path, "old",
                 metric="ibs")
    changed = genotypes.copy()
    changed[2, 7] = (changed[2, 7] + 1) % 3
    path = write_input(changed, tmp_path / "new", "bed")
    cache = tmp_path / "cache"
    run(path, tmp_path, "full", cache, metric="ibs")
    with pytest.raises(InputError, match=f"genotypes of the first {N_OLD} samples differ"):
        run(path, tmp_path, "ext", cache, metric="ibs", extends=prior_job(old))


def no_meta(entry: Path) -> None:
    (entry / calls_cache.COMPLETE_MARK).unlink()


def counts_of_fewer_variants(entry: Path) -> None:
    np.save(entry / calls_cache.COUNTS_FILE, np.zeros((2, 299), dtype=np.int64))


def digests_missing_a_block(entry: Path) -> None:
    meta = json.loads((entry / calls_cache.COMPLETE_MARK).read_text())
    meta["genotype_blocks_sha256"] = meta["genotype_blocks_sha256"][:-1]
    (entry / calls_cache.COMPLETE_MARK).write_text(json.dumps(meta))


def another_cohort_size(entry: Path) -> None:
    meta = json.loads((entry / calls_cache.COMPLETE_MARK).read_text())
    meta["n_samples"] += 1
    (entry / calls_cache.COMPLETE_MARK).write_text(json.dumps(meta))


def not_json(entry: Path) -> None:
    (entry / calls_cache.COMPLETE_MARK).write_text("{")


@pytest.mark.parametrize("damage", [no_meta, counts_of_fewer_variants, digests_missing_a_block,
                                    another_cohort_size, not_json])
def test_a_damaged_entry_is_read_past_and_replaced(genotypes, tmp_path, monkeypatch,
                                                   damage) -> None:
    path = write_input(genotypes, tmp_path / "in", "bed")
    cache = tmp_path / "cache"
    _, first = run(path, tmp_path, "first", cache, metric="ibs")
    damage(cache / calls_cache.entry_name(SHA))
    reads = CallsRead(monkeypatch)
    summary, again = run(path, tmp_path, "again", cache, metric="ibs")
    assert summary["calls_cached"] is False and reads.counted == [0]
    assert_same_matrices(again, first, "ibs")
    reads.clear()
    summary, third = run(path, tmp_path, "third", cache, metric="ibs")
    assert summary["calls_cached"] is True and reads.counted == []
    assert_same_matrices(third, first, "ibs")


def test_an_unwritable_cache_costs_time_not_the_result(genotypes, tmp_path) -> None:
    path = write_input(genotypes, tmp_path / "in", "npy")
    cache = tmp_path / "cache"
    cache.write_text("a file where the folder should be")
    summary, out = run(path, tmp_path, "job", cache, metric="king")
    _, plain = run(path, tmp_path, "plain", metric="king")
    assert summary["calls_cached"] is False
    assert_same_matrices(out, plain, "king")
