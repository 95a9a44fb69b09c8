"""Drug similarity with Dask workers that share nothing with the job's process but an object store.

A real SeaweedFS S3 server holds the exchange; a 2-process Dask LocalCluster has its own
``OSLER_DATA_DIR`` (its input cache), and while a store run is going its workers may not open any
file under the job's folder (:func:`~tests.kernels.exchange_support.deny_files_under`). Top-k,
threshold and all-pairs must give byte-equal artifacts to the same job on the default ``LOCAL``
exchange, and every object the job shared must have reached the workers' cache.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osler.kernels.locations import LOCAL, Exchange
from osler.kernels.molecules import fingerprints
from osler.kernels.molecules.similarity_job import run_drug_similarity
from tests.kernels.exchange_support import (
    deny_files_under,
    fetched_by_workers,
    needs_weed,
)
from tests.kernels.molecule_data import CHEMBL_SMI, nci_lines, write_smi

pytestmark = needs_weed


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """150 NCI molecules with an invalid line and a duplicate (ties in the rankings)."""
    lines = nci_lines(150, start=300)
    lines.insert(7, "C1CC bad-ring")
    lines.append(lines[0].split()[0] + " dup-a")
    return write_smi(tmp_path_factory.mktemp("lib") / "library.smi", lines)


@pytest.fixture(scope="module")
def queries(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lines = CHEMBL_SMI.read_text().splitlines()[:20]
    return write_smi(tmp_path_factory.mktemp("q") / "queries.smi", lines)


def _run(client: Any, library: Path, queries: Path | None, root: Path, exchange: Exchange,
         **params: Any) -> Path:
    out = root / "out"
    out.mkdir(parents=True)
    run_drug_similarity(library, out, queries_path=queries, library_sha256="library",
                        queries_sha256="queries" if queries else None,
                        cache_dir=root / "cache", block_size=32, plots=False, client=client,
                        exchange=exchange, **params)
    return out


MODES = {
    "top-k": {"mode": "top-k", "k": 5},
    "threshold": {"mode": "threshold", "threshold": 0.3},
    "all-pairs": {"mode": "all-pairs", "k": 3},
}


@pytest.mark.parametrize("self_search", [True, False], ids=["self", "queries"])
@pytest.mark.parametrize("mode", list(MODES))
def test_store_exchange_gives_the_shared_disk_results(mode, self_search, library, queries,
                                                      workers, store, tmp_path, monkeypatch):
    client, worker_data = workers
    # Small shards, so that fingerprinting the library also runs on the workers
    monkeypatch.setattr(fingerprints, "SHARD_SIZE", 40)
    monkeypatch.setattr(fingerprints, "DASK_MIN_MOLECULES", 50)
    params = MODES[mode]
    query_file = None if self_search else queries
    # Given the job on workers that share its disk
    local = _run(client, library, query_file, tmp_path / "local", LOCAL, **params)
    # When the same job runs on workers that may open nothing under its folder
    prefix = f"{store}/{uuid.uuid4().hex}/exchange"
    root = tmp_path / "remote"
    root.mkdir()
    client.run(deny_files_under, os.path.realpath(root))
    try:
        remote = _run(client, library, query_file, root, Exchange(prefix), **params)
    finally:
        client.run(deny_files_under, None)
    # Then every artifact is the same, byte for byte
    names = sorted(p.name for p in local.iterdir())
    assert sorted(p.name for p in remote.iterdir()) == names
    for name in ("hits.csv", "invalid.csv", "matrix.npz"):
        if name in names:
            assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    if mode == "all-pairs":
        assert np.array_equal(np.load(remote / "matrix.npy"), np.load(local / "matrix.npy"))
    assert (remote / "hits.csv").read_text().count("\n") > 3  # a header and some hits
    # And the workers read what the job shared from the store: the fingerprint rows of a tile
    # by byte range (no copy on the worker), everything else through their own cache
    shared, missing = fetched_by_workers(worker_data, prefix)
    ranged = {loc for loc in shared if mode == "all-pairs" and loc.endswith("-fingerprints.npy")}
    assert bool(ranged) == (mode == "all-pairs")
    kinds = {Path(location).name.partition("-")[2] for location in shared}
    assert any(kind.startswith("shard-") for kind in kinds), kinds
    assert ({"fingerprints.npy"} if mode == "all-pairs" else
            {"by_popcount.npy", "by_popcount.word_columns.npy", "by_popcount.counts.npy",
             "by_popcount.rows.npy"}) <= kinds
    assert set(missing) == ranged, f"objects never fetched by a worker: {missing}"


def test_the_guard_stops_tasks_that_read_the_jobs_disk(library, workers, tmp_path, monkeypatch):
    # The check above means something: a LOCAL exchange's tasks open the job's files by path
    client, _ = workers
    monkeypatch.setattr(fingerprints, "SHARD_SIZE", 40)
    monkeypatch.setattr(fingerprints, "DASK_MIN_MOLECULES", 50)
    client.run(deny_files_under, os.path.realpath(tmp_path))
    try:
        with pytest.raises(PermissionError, match="a file of the job's disk"):
            _run(client, library, None, tmp_path, LOCAL, mode="top-k", k=3)
    finally:
        client.run(deny_files_under, None)
