"""osler's matrices equal PLINK's own binary output (skipped where plink1.9 / plink2 are absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from osler.kernels.genome.distance import PLINK_SUFFIX, run_genome_distance
from tests.kernels.genome_data import write_plink, zip_fileset

PLINK19 = shutil.which("plink1.9") or shutil.which("plink")
PLINK2 = shutil.which("plink2")

CASES = [
    # metric, binary, PLINK arguments, PLINK's output suffix, extra osler params
    ("ibs", PLINK19, ["--distance", "square", "bin", "ibs", "flat-missing"], "mibs", {}),
    ("1-ibs", PLINK19, ["--distance", "square", "bin", "1-ibs", "flat-missing"], "mdist", {}),
    ("allele-ct", PLINK19, ["--distance", "square", "bin", "allele-ct", "flat-missing"], "dist",
     {}),
    ("grm", PLINK19, ["--make-rel", "square", "bin"], "rel", {}),
    ("grm", PLINK2, ["--make-rel", "square", "bin"], "rel", {}),
    ("king", PLINK2, ["--make-king", "square", "bin"], "king", {}),
    ("ibs", PLINK19, ["--distance", "square", "bin", "ibs", "flat-missing", "--maf", "0.05",
                      "--geno", "0.04"], "mibs", {"maf": 0.05, "geno": 0.04}),
]


def iids(path: Path) -> list[str]:
    """The IID column of a PLINK .id file (PLINK 2 adds a '#' header, sometimes no FID)."""
    return [line.split()[-1] for line in path.read_text().splitlines()
            if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def fileset(tmp_path_factory: pytest.TempPathFactory, cohort: np.ndarray):
    folder = tmp_path_factory.mktemp("plink")
    files = write_plink(cohort, folder / "cohort")
    return files, zip_fileset(files, folder / "cohort.zip")


@pytest.mark.parametrize("metric,binary,args,suffix,params", CASES,
                         ids=[f"{c[0]}-{Path(c[1] or 'absent').name}-{len(c[4])}" for c in CASES])
def test_equals_plink(tmp_path: Path, fileset, metric: str, binary: str | None, args: list[str],
                      suffix: str, params: dict) -> None:
    if binary is None:
        pytest.skip("PLINK binary not on PATH")
    files, archive = fileset
    prefix = tmp_path / "plink"
    cmd = [binary, "--bfile", str(files["bed"].with_suffix("")), *args, "--out", str(prefix),
           "--threads", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]
    out = tmp_path / "out"
    out.mkdir()
    run_genome_distance(archive, out, work_dir=tmp_path / "work", metric=metric, plots=False,
                        **params)
    assert iids(out / f"matrix.{PLINK_SUFFIX[metric]}.id") == iids(Path(f"{prefix}.{suffix}.id"))
    n = len((out / "samples.txt").read_text().split())
    theirs = np.fromfile(f"{prefix}.{suffix}.bin", dtype="<f8").reshape(n, n)
    ours = np.fromfile(out / f"matrix.{PLINK_SUFFIX[metric]}.bin", dtype="<f8").reshape(n, n)
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * scale)


@pytest.fixture(scope="module")
def complete_fileset(tmp_path_factory: pytest.TempPathFactory, cohort: np.ndarray):
    """The cohort with every missing call set to 0: the kernels' path without a call mask."""
    folder = tmp_path_factory.mktemp("plink-complete")
    files = write_plink(np.where(cohort < 0, 0, cohort).astype(np.int8), folder / "cohort")
    return files, zip_fileset(files, folder / "cohort.zip")


@pytest.mark.parametrize("metric,binary,args,suffix,params", CASES[:1] + CASES[5:6],
                         ids=["ibs-complete", "king-complete"])
def test_equals_plink_without_missing_calls(tmp_path: Path, complete_fileset, metric: str,
                                            binary: str | None, args: list[str], suffix: str,
                                            params: dict) -> None:
    test_equals_plink(tmp_path, complete_fileset, metric, binary, args, suffix, params)
