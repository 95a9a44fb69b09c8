"""``genome.warmup.warm_up()`` (the Dask worker preload's and the compute pool's call) compiles
every kernel signature a genome-distance job's tiles use, so no job pays numba's compile or
cache load: a diagonal tile whose square is a whole C-contiguous array once cost a worker's first
job 0.43 s of loading ``mirror_upper`` for it."""

from __future__ import annotations

import pytest

from tests.kernels.signature_probe import check_warm_up

PROBE = """
import sys, tempfile
from pathlib import Path
import numpy as np
sys.path.insert(0, "tests/kernels")
from genome_data import write_plink, zip_fileset
from osler.kernels import blocked
from osler.kernels.genome import bed, gram, metrics, sparse_missing
from osler.kernels.genome.distance import run_genome_distance
from osler.kernels.genome.simulate import balding_nichols
from osler.kernels.genome.warmup import warm_up
from osler.kernels.incremental import PriorJob
from tests.kernels.signature_probe import print_changed, signature_counts

KERNELS = (blocked, bed, gram, metrics, sparse_missing)

with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    cohorts = []
    for k, rate in enumerate((0.0, 0.05)):
        g, _ = balding_nichols(70, 300, missing_rate=rate, seed=3)
        np.save(tmp / f"g{k}.npy", g)
        np.save(tmp / f"first{k}.npy", g[:50])
        cohorts.append((tmp / f"first{k}.npy", tmp / f"g{k}.npy"))
        old = zip_fileset(write_plink(g[:50], tmp / f"old{k}"), tmp / f"old{k}.zip")
        new = zip_fileset(write_plink(g, tmp / f"new{k}"), tmp / f"new{k}.zip")
        cohorts.append((old, new))
    if sys.argv[1] == "warm":
        warm_up()
    before = signature_counts(KERNELS)
    runs = 0
    for first, grown in cohorts:
        for metric in ("dot", "ibs", "king", "grm"):
            # one whole-matrix tile, square tiles and rectangles, and an extension
            for block in (None, 16):
                out = tmp / f"out{runs}"
                out.mkdir()
                run_genome_distance(first, out, work_dir=tmp / "w", metric=metric,
                                    block_size=block, plots=False)
                if metric != "grm":
                    prior = PriorJob(str(runs), lambda name, out=out: out / name)
                    (tmp / f"ext{runs}").mkdir()
                    run_genome_distance(grown, tmp / f"ext{runs}", work_dir=tmp / "w",
                                        metric=metric, block_size=block, plots=False,
                                        extends=prior)
                runs += 1
print_changed(before, KERNELS)
"""


@pytest.mark.parametrize("mode", ["warm", "cold"])
def test_warm_up_compiles_every_signature_a_genome_job_uses(mode):
    # the cold probe sees what the jobs compile when nothing warmed them up
    check_warm_up(PROBE, mode, ("osler.kernels.genome.gram.and_popcount_gram",
                                "osler.kernels.blocked.mirror_upper"))
