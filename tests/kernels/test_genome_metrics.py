"""Each metric against a float64 numpy reference written from PLINK's definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from osler.kernels.errors import InputError
from osler.kernels.genome.distance import METRICS, PLINK_SUFFIX, run_genome_distance
from tests.kernels.genome_data import REFERENCES


@pytest.fixture(scope="module")
def expected(cohort: np.ndarray) -> dict[str, np.ndarray]:
    """Each metric's reference on the cohort, computed once."""
    return {metric: REFERENCES[metric](cohort) for metric in METRICS}


def run(tmp_path: Path, g: np.ndarray, metric: str = "dot", **kwargs) -> tuple[dict, Path]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "g.npy"
    np.save(src, g)
    out = tmp_path / "out"
    out.mkdir()
    summary = run_genome_distance(src, out, work_dir=tmp_path / "work", metric=metric, **kwargs)
    return summary, out


def check_outputs(out: Path, metric: str, expected: np.ndarray) -> None:
    n = expected.shape[0]
    matrix = np.load(out / "matrix.npy")
    assert matrix.dtype == np.float32 and matrix.shape == (n, n)
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(matrix, expected, rtol=1e-6, atol=1e-6 * scale)
    raw = np.fromfile(out / f"matrix.{PLINK_SUFFIX[metric]}.bin", dtype="<f8").reshape(n, n)
    # float64 output: exact for popcount metrics, float32-BLAS accuracy for grm
    atol = 1e-6 * scale if metric == "grm" else 1e-12 * scale
    np.testing.assert_allclose(raw, expected, rtol=1e-9, atol=atol)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("block_size", [None, 7, 25])
def test_metric_matches_reference_in_process(tmp_path: Path, cohort: np.ndarray,
                                             expected: dict, metric: str,
                                             block_size: int | None) -> None:
    # Given 60 simulated samples x 2000 variants with 3% missing calls (block sizes that do
    # and do not divide 60), when the kernel runs in-process, then it equals the reference.
    summary, out = run(tmp_path, cohort, metric, block_size=block_size, plots=False)
    check_outputs(out, metric, expected[metric])
    assert summary["n_samples"] == 60 and summary["n_variants_used"] == 2000
    assert summary["missing_fraction"] == pytest.approx(float((cohort < 0).mean()), abs=1e-6)


@pytest.mark.parametrize("metric", ["dot", "ibs", "grm", "king"])
def test_metric_matches_reference_on_dask(tmp_path: Path, cohort: np.ndarray,
                                          expected: dict, dask_client,
                                          metric: str) -> None:
    summary, out = run(tmp_path, cohort, metric, block_size=16, client=dask_client, plots=False)
    check_outputs(out, metric, expected[metric])
    assert summary["n_tiles"] == 10


@pytest.mark.parametrize("metric", ["ibs", "1-ibs", "allele-ct", "grm", "king"])
def test_without_missing_calls(tmp_path: Path, cohort: np.ndarray, metric: str) -> None:
    g = np.where(cohort < 0, 0, cohort).astype(np.int8)
    summary, out = run(tmp_path, g, metric, block_size=13, plots=False)
    check_outputs(out, metric, REFERENCES[metric](g))
    assert summary["missing_fraction"] == 0.0


def test_filters_follow_plink(tmp_path: Path, cohort: np.ndarray) -> None:
    g = cohort.copy()
    g[:30, :50] = -1  # 50 variants with 50% missing calls
    called = g >= 0
    freq = np.where(called, g, 0).sum(0) / (2 * called.sum(0))
    maf = np.minimum(freq, 1 - freq)
    keep = ((1 - called.mean(0)) <= 0.1) & (maf >= 0.05)
    summary, out = run(tmp_path, g, "ibs", maf=0.05, geno=0.1, plots=False)
    assert summary["n_variants_used"] == keep.sum()
    assert summary["skipped"]["geno"] == ((1 - called.mean(0)) > 0.1).sum() >= 50
    assert summary["n_variants_skipped"] == g.shape[1] - keep.sum()
    check_outputs(out, "ibs", REFERENCES["ibs"](g[:, keep]))


def test_artifacts_and_pcs(tmp_path: Path, cohort: np.ndarray,
                          expected: dict) -> None:
    summary, out = run(tmp_path, cohort, "grm", plots=True)
    names = {p.name for p in out.iterdir()}
    assert {"matrix.npy", "matrix.rel.bin", "matrix.rel.id", "samples.txt", "heatmap.png",
            "pcs.csv", "pcs.png"} <= names
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    lines = (out / "pcs.csv").read_text().splitlines()
    assert lines[0].startswith("FID,IID,PC1,PC2") and len(lines) == 61
    # PC1 is the leading eigenvector of the reference GRM (up to sign)
    values, vectors = np.linalg.eigh(expected["grm"])
    pc1 = np.array([float(row.split(",")[2]) for row in lines[1:]])
    assert abs(abs(pc1 @ vectors[:, -1]) - 1) < 1e-4
    assert summary["eigenvalues"][0] == pytest.approx(values[-1], rel=1e-4)
    assert (out / "samples.txt").read_text().split() == [f"sample_{i}" for i in range(1, 61)]


def test_progress_reaches_one_and_may_cancel(tmp_path: Path, cohort: np.ndarray) -> None:
    seen: list[float] = []
    run(tmp_path, cohort, "dot", block_size=20, plots=False,
        progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)

    def cancel(fraction: float, message: str) -> None:
        if "tiles" in message and fraction > 0.2:
            raise RuntimeError("cancelled by user")

    with pytest.raises(RuntimeError, match="cancelled"):
        run(tmp_path / "again", cohort, "dot", block_size=20, plots=False, progress=cancel)


@pytest.mark.parametrize("params,message", [
    ({"metric": "euclid"}, "unknown metric"),
    ({"maf": 0.7}, "maf"),
    ({"geno": -0.1}, "geno"),
    ({"block_size": 0}, "block_size"),
])
def test_bad_parameters(tmp_path: Path, params: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        run(tmp_path, np.zeros((3, 4), dtype=np.int8), **{"metric": "dot", **params})


def test_all_variants_filtered(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no variants left"):
        run(tmp_path, np.zeros((5, 8), dtype=np.int8), "ibs", maf=0.01)


@pytest.mark.parametrize("n", [50, 400])
def test_principal_components_equal_numpy_eigh(n):
    from osler.kernels.genome.plots import principal_components

    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 3 * n))
    x[: n // 2] += 1.5  # two groups: well-separated top eigenvalues, as in a GRM with structure
    matrix = x @ x.T / x.shape[1]
    values, vectors = principal_components(matrix, 10)
    ref_values, ref_vectors = np.linalg.eigh(matrix)
    np.testing.assert_allclose(values, ref_values[::-1][:10], rtol=1e-8)
    for k in range(3):  # the leading, well-separated components agree up to sign
        ref = ref_vectors[:, -1 - k]
        assert abs(abs(float(vectors[:, k] @ ref)) - 1.0) < 1e-6
