"""``extends`` for genome-distance: a grown cohort's matrix equals a full recompute, bit for bit,
and a cohort that does not extend the earlier one is refused with the difference named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.blocked import extension_grid
from osler.kernels.errors import InputError
from osler.kernels.genome import incremental
from osler.kernels.genome.distance import PLINK_SUFFIX, run_genome_distance
from osler.kernels.genome.simulate import balding_nichols
from osler.kernels.incremental import INPUTS_ARTIFACT, PriorJob
from tests.kernels.genome_data import write_plink, write_vcf, zip_fileset

METRICS = ("dot", "ibs", "1-ibs", "allele-ct", "king")
N_OLD, N = 37, 53  # neither a multiple of 4: the .bed's last byte holds padding bits


@pytest.fixture(scope="module")
def genotypes() -> np.ndarray:
    g, _ = balding_nichols(N, 300, missing_rate=0.03, seed=11)
    return g


def write_input(g: np.ndarray, folder: Path, fmt: str, ids: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        path = folder / "cohort.npy"
        np.save(path, g)
        return path
    if fmt == "vcf":
        return write_vcf(g, folder / "cohort.vcf", ids)
    return zip_fileset(write_plink(g, folder / "cohort", ids), folder / "cohort.zip")


def prior_job(out: Path, job_id: str = "11111111-1111-4111-8111-111111111111") -> PriorJob:
    def artifact(name: str) -> Path:
        path = out / name
        if not path.is_file():
            raise InputError(f"job {job_id} has no artifact {name!r}")
        return path

    return PriorJob(job_id, artifact)


def run(path: Path, tmp: Path, label: str, **params) -> tuple[dict, Path]:
    out = tmp / f"out-{label}"
    out.mkdir()
    summary = run_genome_distance(path, out, work_dir=tmp / f"work-{label}", plots=False,
                                  **params)
    return summary, out


def assert_same_matrices(a: Path, b: Path, metric: str) -> None:
    assert np.array_equal(np.load(a / "matrix.npy"), np.load(b / "matrix.npy"), equal_nan=True)
    suffix = PLINK_SUFFIX[metric]
    for name in (f"matrix.{suffix}.bin", f"matrix.{suffix}.id", "samples.txt"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.mark.parametrize("fmt", ["npy", "bed"])
@pytest.mark.parametrize("metric", METRICS)
def test_an_extension_equals_a_full_recompute(genotypes, tmp_path, metric, fmt) -> None:
    old_input = write_input(genotypes[:N_OLD], tmp_path / "old", fmt)
    new_input = write_input(genotypes, tmp_path / "new", fmt)
    _, old = run(old_input, tmp_path, "old", metric=metric, block_size=16)
    full_summary, full = run(new_input, tmp_path, "full", metric=metric, block_size=24)
    summary, grown = run(new_input, tmp_path, "grown", metric=metric, block_size=8,
                         extends=prior_job(old))
    assert_same_matrices(grown, full, metric)
    assert summary["extends"] == "11111111-1111-4111-8111-111111111111"
    assert summary["rows_computed"] == N - N_OLD
    assert "extends" not in full_summary and summary["missing_fraction"] > 0
    assert summary["files"]["inputs"] == INPUTS_ARTIFACT
    # The grown job records its own inputs, so it can be extended in turn.
    assert json.loads((grown / INPUTS_ARTIFACT).read_text()) == json.loads(
        (full / INPUTS_ARTIFACT).read_text())


def test_an_extension_of_an_extension_on_dask_equals_a_full_recompute(genotypes, tmp_path,
                                                                        dask_client) -> None:
    inputs = [write_input(genotypes[:n], tmp_path / f"in{n}", "bed") for n in (20, N_OLD, N)]
    _, first = run(inputs[0], tmp_path, "first", metric="ibs")
    _, second = run(inputs[1], tmp_path, "second", metric="ibs", extends=prior_job(first),
                    client=dask_client)
    summary, third = run(inputs[2], tmp_path, "third", metric="ibs", extends=prior_job(second),
                         client=dask_client)
    _, full = run(inputs[2], tmp_path, "full", metric="ibs", client=dask_client)
    assert_same_matrices(third, full, "ibs")
    assert summary["rows_computed"] == N - N_OLD


@pytest.mark.parametrize("fmt", ["npy", "bed"])
@pytest.mark.parametrize("n_old", [N_OLD, 40])
def test_digest_blocks_and_counts_of_extensions(genotypes, tmp_path, monkeypatch, fmt,
                                                n_old) -> None:
    # Given digest blocks of 8 samples, so the earlier cohort ends inside a block (37) or on
    # its edge (40), and a grown cohort extending an extension of it
    monkeypatch.setattr(incremental, "DIGEST_BLOCK_SAMPLES", 8)
    inputs = [write_input(genotypes[:n], tmp_path / f"in{n}", fmt) for n in (20, n_old, N)]
    _, first = run(inputs[0], tmp_path, "first", metric="ibs")
    _, second = run(inputs[1], tmp_path, "second", metric="ibs", extends=prior_job(first))
    summary, third = run(inputs[2], tmp_path, "third", metric="ibs", extends=prior_job(second))
    _, full = run(inputs[2], tmp_path, "full", metric="ibs")
    # then the result equals a full recompute, its record the full job's (a block's digest does
    # not depend on the samples after it) with one digest per block
    assert_same_matrices(third, full, "ibs")
    record = json.loads((third / INPUTS_ARTIFACT).read_text())
    assert record == json.loads((full / INPUTS_ARTIFACT).read_text())
    assert len(record["genotype_blocks_sha256"]) == (N + 7) // 8
    # and its per-variant counts, its new samples' added to the earlier job's, are the counts
    # of all its samples
    counts = np.load(third / summary["files"]["variant_counts"])
    np.testing.assert_array_equal(counts[0], (genotypes >= 0).sum(axis=0))
    np.testing.assert_array_equal(counts[1], np.where(genotypes >= 0, genotypes, 0).sum(axis=0))


@pytest.mark.parametrize("fmt", ["npy", "bed"])
def test_other_calls_in_any_earlier_block_are_refused(genotypes, tmp_path, monkeypatch,
                                                      fmt) -> None:
    monkeypatch.setattr(incremental, "DIGEST_BLOCK_SAMPLES", 8)
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", fmt), tmp_path, "old",
                 metric="king")
    for sample in (3, 17, N_OLD - 1):  # the first block, an inner one, the last partial one
        changed = genotypes.copy()
        changed[sample, 9] = (changed[sample, 9] + 2) % 3
        with pytest.raises(InputError, match=f"genotypes of the first {N_OLD} samples differ"):
            run(write_input(changed, tmp_path / f"new{sample}", fmt), tmp_path, f"n{sample}",
                metric="king", extends=prior_job(old))


def counts_of_fewer_variants(out: Path) -> None:
    np.save(out / incremental.COUNTS_ARTIFACT, np.zeros((2, 299), dtype=np.int64))


def record_of_version_1(out: Path) -> None:
    record = json.loads((out / INPUTS_ARTIFACT).read_text())
    record["version"] = 1
    (out / INPUTS_ARTIFACT).write_text(json.dumps(record))


@pytest.mark.parametrize("alter, message", [
    (counts_of_fewer_variants, "variant_counts.npy does not hold the counts of 300"),
    (record_of_version_1, "recorded by another version of osler"),
])
def test_an_earlier_job_recorded_otherwise_is_refused(genotypes, tmp_path, alter,
                                                       message) -> None:
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", "bed"), tmp_path, "old",
                 metric="ibs")
    alter(old)
    with pytest.raises(InputError, match=message):
        run(write_input(genotypes, tmp_path / "new", "bed"), tmp_path, "new", metric="ibs",
            extends=prior_job(old))


def test_a_grown_vcf_extends_its_earlier_records(genotypes, tmp_path) -> None:
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", "vcf"), tmp_path, "old",
                 metric="allele-ct")
    new = write_input(genotypes, tmp_path / "new", "vcf")
    summary, grown = run(new, tmp_path, "grown", metric="allele-ct", extends=prior_job(old))
    _, full = run(new, tmp_path, "full", metric="allele-ct")
    assert_same_matrices(grown, full, "allele-ct")
    assert summary["rows_computed"] == N - N_OLD


def test_the_same_cohort_again_copies_everything(genotypes, tmp_path) -> None:
    path = write_input(genotypes, tmp_path / "in", "npy")
    _, old = run(path, tmp_path, "old", metric="king")
    summary, again = run(path, tmp_path, "again", metric="king", extends=prior_job(old))
    assert summary["rows_computed"] == 0 and summary["n_tiles"] == 0
    assert_same_matrices(again, old, "king")


@pytest.mark.parametrize("fmt", ["npy", "bed"])
def test_other_calls_in_the_earlier_samples_are_refused(genotypes, tmp_path, fmt) -> None:
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", fmt), tmp_path, "old",
                 metric="ibs")
    changed = genotypes.copy()
    changed[N_OLD - 1, 5] = (changed[N_OLD - 1, 5] + 2) % 3  # the last earlier sample's call
    with pytest.raises(InputError, match=f"genotypes of the first {N_OLD} samples differ"):
        run(write_input(changed, tmp_path / "new", fmt), tmp_path, "new", metric="ibs",
            extends=prior_job(old))


def test_mismatches_are_named(genotypes, tmp_path) -> None:
    ids = [f"s{i}" for i in range(N)]
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", "bed", ids[:N_OLD]),
                 tmp_path, "old", metric="ibs", maf=0.01)
    prior = prior_job(old)
    bed = write_input(genotypes, tmp_path / "new", "bed", ids)

    def refused(path: Path, match: str, **params) -> None:
        params = {"metric": "ibs", "maf": 0.01, **params}
        with pytest.raises(InputError, match=match):
            run(path, tmp_path, f"x{len(list(tmp_path.iterdir()))}", extends=prior, **params)

    refused(bed, "metric is 'king' here and 'ibs' in that job", metric="king")
    refused(bed, "maf is 0.05 here and 0.01 in that job", maf=0.05)
    refused(bed, "grm matrix cannot be extended: its standardisation uses the allele "
                 "frequencies of all samples", metric="grm")
    refused(write_input(genotypes[:30], tmp_path / "fewer", "bed"),
            f"this cohort has 30 samples, fewer than that job's {N_OLD}")
    refused(write_input(genotypes, tmp_path / "npy", "npy"),
            "that job read a PLINK .bed and this one an int8 matrix")
    refused(write_input(genotypes[:, :299], tmp_path / "m", "bed"),
            "this cohort has 299 variants and that job's 300")
    other = ids.copy()
    other[3] = "someone-else"
    refused(write_input(genotypes, tmp_path / "ids", "bed", other),
            r"sample 4 \(FID, IID\) is not that job's sample 4")
    bim = tmp_path / "bim"
    bim.mkdir()
    files = write_plink(genotypes, bim / "cohort", ids)
    lines = files["bim"].read_text().splitlines()
    lines[7] = lines[7].replace("\t800\t", "\t801\t")
    files["bim"].write_text("\n".join(lines) + "\n")
    refused(zip_fileset(files, bim / "cohort.zip"), r"the variants \(chromosome, id, position")


def test_new_samples_that_move_a_variant_across_the_maf_threshold_are_refused(
        genotypes, tmp_path) -> None:
    # One het call in 37 samples is a frequency of 1/74 >= 0.01; in 53 it is 1/106 < 0.01.
    g = genotypes.copy()
    g[:, 0] = 0
    g[0, 0] = 1
    _, old = run(write_input(g[:N_OLD], tmp_path / "old", "bed"), tmp_path, "old",
                 metric="ibs", maf=0.01)
    with pytest.raises(InputError, match="the maf/geno filters keep other variants of the "
                                         "grown cohort"):
        run(write_input(g, tmp_path / "new", "bed"), tmp_path, "new", metric="ibs", maf=0.01,
            extends=prior_job(old))
    # and when an earlier sample's calls changed too, that is the difference named
    g[5, 9] = (g[5, 9] + 2) % 3
    with pytest.raises(InputError, match=f"genotypes of the first {N_OLD} samples differ"):
        run(write_input(g, tmp_path / "changed", "bed"), tmp_path, "changed", metric="ibs",
            maf=0.01, extends=prior_job(old))


def test_a_job_without_an_inputs_record_cannot_be_extended(genotypes, tmp_path) -> None:
    _, old = run(write_input(genotypes[:N_OLD], tmp_path / "old", "npy"), tmp_path, "old",
                 metric="grm")
    assert not (old / INPUTS_ARTIFACT).exists()  # grm matrices are never extended
    with pytest.raises(InputError, match="has no artifact 'inputs.json'"):
        run(write_input(genotypes, tmp_path / "new", "npy"), tmp_path, "new", metric="ibs",
            extends=prior_job(old))


@pytest.mark.parametrize("n_old, n, workers, block", [
    (0, 10, 1, None), (7, 10, 1, None), (2000, 2200, 2, None), (37, 53, 2, 8), (5, 300, 3, None),
    (100, 9000, 2, None), (9000, 9100, 4, None), (53, 53, 2, None),
])
def test_the_extension_grid_covers_each_new_pair_once(n_old, n, workers, block) -> None:
    covered = np.zeros((n, n), np.int32)
    for i0, i1, j0, j1 in extension_grid(n_old, n, workers, block):
        assert i0 <= j0 and j1 - j0 <= 4096 and i1 - i0 <= 4096
        part = covered[i0:i1, j0:j1]
        if i0 == j0:
            part[np.triu_indices(i1 - i0, m=j1 - j0)] += 1
        else:
            part += 1
    upper = np.triu(np.ones((n, n), bool))
    wanted = upper & (np.arange(n)[None, :] >= n_old)
    assert (covered[wanted] == 1).all() and (covered[~wanted] == 0).all()
