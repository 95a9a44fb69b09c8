"""No identifiers outside the tenant's own data: canary words sent to a model and canary
molecule ids in a library appear in no log, and in no file outside the tenant's folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from osler.workers.settings import Settings
from tests.conftest import WorkerProcess, auth, upload, wait_for_job

pytest.importorskip("gensim")
pytest.importorskip("rdkit")

WORD_CANARY = "zqcanaryword"
MOLECULE_CANARY = "PATIENT-CANARY-4711"


def _files_holding(root: Path, needle: bytes, *, outside: Path | None = None) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or (outside is not None and outside in path.parents):
            continue
        try:
            if needle in path.read_bytes():
                found.append(path)
        except OSError:
            continue
    return found


def _tenant_dir(settings: Settings, token_tenant: str) -> Path:
    return settings.data_dir / "tenants" / token_tenant


def test_inference_words_and_molecule_ids_stay_inside_the_tenant(
    client, settings: Settings, worker: WorkerProcess, tmp_path: Path
):
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    tenant = "privacy-canary"
    token = TenantStore(connect(settings)).create_token(tenant)
    # Given a word2vec model, queried with a canary word (known and unknown forms)
    corpus = ("\n".join(f"heart kidney {WORD_CANARY} lung liver" for _ in range(50)) + "\n")
    dataset = upload(client, token, "corpus.txt", corpus.encode()).get_json()
    job = client.post("/v1/jobs", json={"kind": "train-word2vec", "params": {
        "dataset": dataset["id"], "vector_size": 8, "min_count": 1, "epochs": 1, "workers": 1}},
        headers=auth(token)).get_json()
    model_id = wait_for_job(client, token, job["id"], timeout=120)["result"]["model_id"]
    for body, operation in (({"word": WORD_CANARY, "topn": 2}, "similar"),
                            ({"words": [WORD_CANARY]}, "vectors"),
                            ({"word": WORD_CANARY + "x"}, "similar")):
        response = client.post(f"/v1/models/{model_id}/{operation}", json=body,
                               headers=auth(token))
        assert response.status_code in (200, 404)
    # And a molecule library with a canary id, searched with itself
    library = "".join(f"{smi} {MOLECULE_CANARY}-{i}\n"
                      for i, smi in enumerate(["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O"]))
    library_id = upload(client, token, "library.smi", library.encode()).get_json()["id"]
    search = client.post("/v1/jobs", json={"kind": "drug-similarity", "params": {
        "library": library_id, "k": 2, "plots": False}}, headers=auth(token)).get_json()
    assert wait_for_job(client, token, search["id"], timeout=120)["state"] == "succeeded"
    # Then neither canary is in the worker's log
    log = worker.log_path.read_bytes()
    assert WORD_CANARY.encode() not in log
    assert MOLECULE_CANARY.encode() not in log
    # Nor in any file of the data directory outside the tenant's own folder (caches included)
    tenant_dir = _tenant_dir(settings, tenant)
    assert _files_holding(settings.data_dir, MOLECULE_CANARY.encode(), outside=tenant_dir) == []
    assert _files_holding(settings.data_dir, WORD_CANARY.encode(), outside=tenant_dir) == []
    # And deleting the library deletes what was derived from it (its fingerprint cache)
    assert _files_holding(tenant_dir / "datasets", MOLECULE_CANARY.encode())
    assert client.delete(f"/v1/datasets/{library_id}", headers=auth(token)).status_code == 204
    assert _files_holding(tenant_dir / "datasets", MOLECULE_CANARY.encode()) == []


GENOME_CANARY = "SAMPLE-CANARY-0815"


def _redis_values_holding(client, needle: str) -> list[str]:
    """Keys of every Redis value (of any type) that holds ``needle``."""
    found = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = list(client.hgetall(key).items())
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = client.zrange(key, 0, -1)
        elif kind == "stream":
            values = client.xrange(key)
        else:
            continue
        if needle in str(values):
            found.append(key)
    return found


def test_genome_sample_ids_reach_no_log_no_redis_value_and_no_error(
    client, settings: Settings, worker: WorkerProcess, tmp_path: Path
):
    import numpy as np

    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore
    from tests.kernels.genome_data import write_plink, write_vcf, zip_fileset

    tenant = "privacy-genome"
    token = TenantStore(connect(settings)).create_token(tenant)
    ids = [f"{GENOME_CANARY}-{i}" for i in range(12)]
    g = np.random.default_rng(8).integers(0, 3, (12, 40)).astype(np.int8)
    g[0, 3] = -1
    # Given a PLINK fileset and a VCF whose sample ids are canaries, and a VCF that fails
    files = write_plink(g, tmp_path / "cohort", ids=ids)
    plink = zip_fileset(files, tmp_path / "cohort.zip").read_bytes()
    vcf = write_vcf(g, tmp_path / "cohort.vcf", ids=ids).read_bytes()
    haploid = vcf.replace(b"0/1", b"1", 1)  # a haploid call: the job is refused
    jobs = []
    for name, data in (("cohort.zip", plink), ("cohort.vcf", vcf), ("bad.vcf", haploid)):
        dataset = upload(client, token, name, data).get_json()
        response = client.post("/v1/jobs", json={"kind": "genome-distance", "params": {
            "dataset": dataset["id"], "metric": "ibs"}}, headers=auth(token))
        if response.status_code == 202:
            jobs.append(wait_for_job(client, token, response.get_json()["id"], timeout=120))
        else:
            assert response.status_code == 422
            assert GENOME_CANARY not in response.get_data(as_text=True)
    assert [j["state"] for j in jobs][:2] == ["succeeded", "succeeded"]
    # Then the canary is in no job record, error, log, audit record or other Redis value...
    for job in jobs:
        assert GENOME_CANARY not in str(job)
        logs = client.get(f"/v1/jobs/{job['id']}/logs", headers=auth(token)).get_data()
        assert GENOME_CANARY.encode() not in logs
    assert GENOME_CANARY.encode() not in worker.log_path.read_bytes()
    assert _redis_values_holding(connect(settings), GENOME_CANARY) == []
    # ...and in no file outside the tenant's folder (samples.txt and the .id file are its own)
    tenant_dir = _tenant_dir(settings, tenant)
    assert _files_holding(settings.data_dir, GENOME_CANARY.encode(), outside=tenant_dir) == []
