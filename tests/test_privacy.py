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
