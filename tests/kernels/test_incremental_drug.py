"""``extends`` for drug-similarity all-pairs: a grown library's matrix, hits and histogram equal
a full recompute's exactly, and inputs that do not extend the earlier job are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.incremental import INPUTS_ARTIFACT, PriorJob
from osler.kernels.molecules import similarity_job
from osler.kernels.molecules.similarity_job import run_drug_similarity
from tests.kernels.molecule_data import CHEMBL_SMI, nci_lines, write_smi

METRICS = ("tanimoto", "dice", "cosine", "dot")
JOB = "22222222-2222-4222-8222-222222222222"


def library_lines(n: int) -> list[str]:
    """NCI lines with invalid records and repeated molecules (exact ties, across the old and
    the new part)."""
    lines = nci_lines(n, start=300)
    lines.insert(2, "C1CC bad-ring")
    lines.insert(19, "")
    lines[50] = lines[4].split()[0] + " dup-old"
    return lines


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("molecules")
    old = library_lines(90)
    new = old + [old[7].split()[0] + " dup-new", "N(C)(C)(C)(C)C bad-valence"] + nci_lines(
        70, start=600)
    chembl = CHEMBL_SMI.read_text().splitlines()
    return {"old": write_smi(folder / "old.smi", old), "new": write_smi(folder / "new.smi", new),
            "q_old": write_smi(folder / "q_old.smi", chembl[:12]),
            "q_new": write_smi(folder / "q_new.smi", chembl[:20])}


def prior_job(out: Path) -> PriorJob:
    def artifact(name: str) -> Path:
        if not (out / name).is_file():
            raise InputError(f"job {JOB} has no artifact {name!r}")
        return out / name

    return PriorJob(JOB, artifact)


def run(tmp: Path, label: str, library: Path, **params) -> tuple[dict, Path]:
    out = tmp / label
    out.mkdir()
    if "queries" in params:
        params["queries_path"] = params.pop("queries")
    summary = run_drug_similarity(library, out, library_sha256=library.name,
                                  cache_dir=tmp / "cache", mode=params.pop("mode", "all-pairs"),
                                  plots=params.pop("plots", False), **params)
    return summary, out


def assert_same(a: Path, b: Path, summary_a: dict, summary_b: dict) -> None:
    np.testing.assert_array_equal(np.load(a / "matrix.npy"), np.load(b / "matrix.npy"))
    assert (a / "hits.csv").read_bytes() == (b / "hits.csv").read_bytes()
    for key in ("n_hits", "mean_best_similarity", "n_library", "n_queries", "comparisons"):
        assert summary_a[key] == summary_b[key], key
    assert json.loads((a / INPUTS_ARTIFACT).read_text()) == json.loads(
        (b / INPUTS_ARTIFACT).read_text())


@pytest.mark.parametrize("metric", METRICS)
def test_a_grown_library_against_itself_equals_a_full_recompute(files, tmp_path, metric,
                                                                  monkeypatch) -> None:
    histograms = {}

    def keep_histogram(out_dir, queries, library, hits, hist, metric):
        histograms[out_dir.name] = hist.copy()

    monkeypatch.setattr(similarity_job, "_plots", keep_histogram)
    _, old = run(tmp_path, "old", files["old"], metric=metric, k=3, block_size=40,
                 plots=True)
    full_summary, full = run(tmp_path, "full", files["new"], metric=metric, k=5,
                             block_size=64, plots=True)
    summary, grown = run(tmp_path, "grown", files["new"], metric=metric, k=5, block_size=24,
                         extends=prior_job(old), plots=True)
    assert_same(grown, full, summary, full_summary)
    np.testing.assert_array_equal(histograms["grown"], histograms["full"])
    n_old = np.load(old / "matrix.npy").shape[0]
    assert summary["extends"] == JOB
    assert summary["rows_computed"] == summary["n_library"] - n_old > 60
    # only the new pairs were scored: the new rows against the old ones, and among themselves
    new = summary["rows_computed"]
    assert summary["pairs_computed"] == new * n_old + new * (new - 1) // 2


def test_grown_queries_against_a_grown_library_on_dask(files, tmp_path, dask_client) -> None:
    _, old = run(tmp_path, "old", files["old"], queries=files["q_old"], metric="tanimoto")
    common = {"queries": files["q_new"], "metric": "tanimoto", "client": dask_client}
    full_summary, full = run(tmp_path, "full", files["new"], **common)
    summary, grown = run(tmp_path, "grown", files["new"], extends=prior_job(old),
                         block_size=32, **common)
    assert_same(grown, full, summary, full_summary)
    assert (summary["rows_computed"], summary["columns_computed"]) == (
        8, summary["n_library"] - np.load(old / "matrix.npy").shape[1])
    # An extension is extended in turn (here: nothing new, everything copied).
    again, copied = run(tmp_path, "again", files["new"], extends=prior_job(grown), **common)
    assert_same(copied, full, again, full_summary)
    assert again["pairs_computed"] == 0


def test_mismatches_are_named(files, tmp_path) -> None:
    _, old = run(tmp_path, "old", files["old"], metric="tanimoto")
    prior = prior_job(old)
    n_old = np.load(old / "matrix.npy").shape[0]
    folder = tmp_path / "inputs"
    folder.mkdir()
    lines = files["new"].read_text().splitlines()

    def refused(match: str, library: Path = files["new"], **params) -> None:
        params = {"metric": "tanimoto", **params}
        with pytest.raises(InputError, match=match):
            run(tmp_path, f"x{len(list(tmp_path.iterdir()))}", library, extends=prior, **params)

    refused("metric is 'dice' here and 'tanimoto' in that job", metric="dice")
    refused(r"the fingerprints differ \(fingerprint morgan, n_bits 2048, radius 3 here, "
            "fingerprint morgan, n_bits 2048, radius 2 in that job", radius=3)
    refused("only an all-pairs matrix can be extended, not mode top-k", mode="top-k")
    refused("this job compares queries with its library and that one does not",
            queries=files["q_new"])
    refused(f"the library has 40 molecules, fewer than that job's {n_old}",
            write_smi(folder / "short.smi", lines[:42]))
    swapped = lines.copy()
    swapped[10] = "c1ccccc1 " + swapped[10].split()[1]
    refused(f"the fingerprints of the first {n_old} library molecules differ",
            write_smi(folder / "swapped.smi", swapped))
    renamed = lines.copy()
    renamed[10] = renamed[10].split()[0] + " renamed"
    refused(f"the ids of the first {n_old} library molecules differ",
            write_smi(folder / "renamed.smi", renamed))


def test_a_top_k_job_records_nothing_to_extend(files, tmp_path) -> None:
    summary, out = run(tmp_path, "top", files["old"], mode="top-k")
    assert not (out / INPUTS_ARTIFACT).exists() and "extends" not in summary
    with pytest.raises(InputError, match="has no artifact 'inputs.json'"):
        run(tmp_path, "grown", files["new"], extends=prior_job(out))
