"""Genome distance with Dask workers that share nothing with the job's process but an object store.

The counterpart of ``test_molecules_exchange.py`` for the genome kernels: a real SeaweedFS S3
server holds the exchange, the 2-process LocalCluster has its own ``OSLER_DATA_DIR`` and may not
open any file under the job's folder while a store run is going; the matrices equal those of the
default ``LOCAL`` exchange exactly, and every object the job shared reached the workers' cache.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osler.kernels.genome import distance
from osler.kernels.genome.distance import PLINK_SUFFIX, run_genome_distance
from osler.kernels.locations import LOCAL, Exchange
from tests.kernels.exchange_support import (
    deny_files_under,
    fetched_by_workers,
    needs_weed,
)
from tests.kernels.genome_data import write_plink, zip_fileset

pytestmark = needs_weed


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, cohort: np.ndarray) -> dict[str, Path]:
    """The cohort as an int8 ``.npy`` and as a zipped PLINK fileset (its .bed read in place)."""
    folder = tmp_path_factory.mktemp("cohort")
    np.save(folder / "cohort.npy", cohort)
    files = write_plink(cohort, folder / "cohort")
    return {"npy": folder / "cohort.npy", "bed": zip_fileset(files, folder / "cohort.zip")}


def _run(client: Any, dataset: Path, root: Path, exchange: Exchange, metric: str) -> Path:
    out = root / "out"
    out.mkdir(parents=True)
    run_genome_distance(dataset, out, work_dir=root / "work", metric=metric, block_size=16,
                        plots=False, client=client, exchange=exchange)
    return out


@pytest.mark.parametrize("metric", ["ibs", "grm", "king"])
@pytest.mark.parametrize("fmt", ["npy", "bed"])
def test_store_exchange_gives_the_shared_disk_matrices(fmt, metric, inputs, workers, store,
                                                       tmp_path, monkeypatch):
    client, worker_data = workers
    # The per-variant counts also run on the workers, however small the cohort
    monkeypatch.setattr(distance, "IN_PROCESS_GENOTYPES", 0)
    # Given the matrices from workers that share the job's disk
    local = _run(client, inputs[fmt], tmp_path / "local", LOCAL, metric)
    # When the same job runs on workers that may open nothing under its folder
    prefix = f"{store}/{uuid.uuid4().hex}/exchange"
    root = tmp_path / "remote"
    root.mkdir()
    client.run(deny_files_under, os.path.realpath(root))
    try:
        remote = _run(client, inputs[fmt], root, Exchange(prefix), metric)
    finally:
        client.run(deny_files_under, None)
    # Then the matrices are the same, exactly
    assert np.array_equal(np.load(remote / "matrix.npy"), np.load(local / "matrix.npy"),
                          equal_nan=True)
    bin_name = f"matrix.{PLINK_SUFFIX[metric]}.bin"
    assert (remote / bin_name).read_bytes() == (local / bin_name).read_bytes()
    assert sorted(p.name for p in remote.iterdir()) == sorted(p.name for p in local.iterdir())
    # And the workers read what the job shared from the store: the rows of an int8 .npy by
    # byte range (no copy on the worker), everything else through their own cache
    shared, missing = fetched_by_workers(worker_data, prefix)
    ranged = {loc for loc in shared if fmt == "npy" and loc.endswith("-genotypes.npy")}
    assert bool(ranged) == (fmt == "npy"), shared
    kinds = {Path(location).name.partition("-")[2] for location in shared}
    assert "keep.npy" in kinds, kinds
    if metric == "grm":
        assert {"grm_center.npy", "grm_scale.npy"} <= kinds
    assert set(missing) == ranged, f"objects never fetched by a worker: {missing}"


def test_the_guard_stops_genome_tasks_that_read_the_jobs_disk(inputs, workers, tmp_path):
    client, _ = workers
    client.run(deny_files_under, os.path.realpath(tmp_path))
    try:
        with pytest.raises(PermissionError, match="a file of the job's disk"):
            _run(client, inputs["npy"], tmp_path, LOCAL, "ibs")
    finally:
        client.run(deny_files_under, None)
