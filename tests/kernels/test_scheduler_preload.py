"""A Dask scheduler started with ``--preload osler.kernels.scheduler_preload`` has imported the
module of every function a genome-distance or drug-similarity job submits, so no job waits for
the scheduler to import it while unpickling the graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from osler.kernels.genome.distance import run_genome_distance
from osler.kernels.genome.simulate import balding_nichols
from osler.kernels.molecules.similarity_job import run_drug_similarity
from tests.kernels.dask_cli import dask_cli_client


def _probe():
    """``osler_modules()``, run on the scheduler: the osler modules it has imported. Defined
    outside any importable module so that it travels by value: unpickling it imports nothing
    (a function of this test module would import the module and, with it, the kernels)."""
    namespace: dict = {"__name__": "osler_modules_probe"}
    exec("import sys\n"
         "def osler_modules():\n"
         "    return sorted(n for n in sys.modules if n.startswith('osler.'))\n", namespace)
    return namespace["osler_modules"]


def test_preloaded_scheduler_imports_nothing_for_jobs(tmp_path: Path) -> None:
    # Given a scheduler started as the embedded stack and the compose file start it, and a worker,
    from osler.kernels.scheduler_preload import TASK_MODULES

    g, _ = balding_nichols(40, 300, missing_rate=0.02, seed=5)
    np.save(tmp_path / "g.npy", g)
    library = tmp_path / "lib.smi"
    library.write_text("CCO a\nCCN b\nc1ccccc1 c\nCC(=O)O d\nCCCC e\n")
    with dask_cli_client(scheduler_preload="osler.kernels.scheduler_preload") as client:
        osler_modules = _probe()
        before = client.run_on_scheduler(osler_modules)
        # when genome and drug jobs run their tasks through it,
        for k, metric in enumerate(("ibs", "king")):
            (tmp_path / f"g{k}").mkdir()
            run_genome_distance(tmp_path / "g.npy", tmp_path / f"g{k}", work_dir=tmp_path / "w",
                                metric=metric, block_size=16, plots=False, client=client)
        for k, mode in enumerate(("top-k", "threshold", "all-pairs")):
            (tmp_path / f"d{k}").mkdir()
            run_drug_similarity(library, tmp_path / f"d{k}", library_sha256="lib",
                                cache_dir=tmp_path / "cache", mode=mode, threshold=0.1,
                                plots=False, client=client)
        after = client.run_on_scheduler(osler_modules)
    # then the preload had imported every task's module, and the jobs imported nothing more
    assert set(TASK_MODULES) <= set(before), sorted(set(TASK_MODULES) - set(before))
    assert after == before, sorted(set(after) - set(before))
